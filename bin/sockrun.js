#!/usr/bin/env node
'use strict';
// First, so that the rest of sockrun loads from Node's compile cache (22.1+; src/compile-cache.ts).
// The directory goes to the workers in the environment.
const cacheDir = require('../dist/compile-cache.js').enableCompileCache();
if (cacheDir) process.env.SOCKRUN_COMPILE_CACHE = cacheDir;
require('../dist/cli/main.js').main(process.argv.slice(2));
