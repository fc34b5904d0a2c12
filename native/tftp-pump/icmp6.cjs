// A raw ICMPv6 socket for rackboot's router advertisements, built with the
// TFTP pump by `node-gyp rebuild` at install. Throws when it was not built:
// rackboot then sends no router advertisements (and says so at start).
'use strict';
module.exports = require('./build/Release/icmp6.node');
