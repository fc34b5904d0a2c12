// Loads the addon built by `node-gyp rebuild` at install. Throws when it was not
// built (no compiler): rackboot then keeps the Node data path.
'use strict';
module.exports = require('./build/Release/tftp_pump.node');
