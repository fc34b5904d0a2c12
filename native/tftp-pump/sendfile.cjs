// HTTP response bodies with sendfile(2) from a few threads (the boot route's
// kernels and RAM disks), built with the TFTP pump by `node-gyp rebuild` at
// install. Throws when it was not built: the route then reads and writes in Node.
'use strict';
module.exports = require('./build/Release/http_sendfile.node');
