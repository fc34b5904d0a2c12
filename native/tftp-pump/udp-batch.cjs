// Batched UDP I/O for the DHCP server (recvmmsg/sendmmsg), built with the
// TFTP pump by `node-gyp rebuild` at install. Throws when it was not built:
// the DHCP server then keeps Node's dgram.
'use strict';
module.exports = require('./build/Release/udp_batch.node');
