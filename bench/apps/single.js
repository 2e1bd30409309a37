'use strict';
// Contender "single": the app in one process, exactly as `node hello.js` would run it.
require('./hello.js');
