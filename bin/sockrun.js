#!/usr/bin/env node
'use strict';
const argv = process.argv.slice(2);
// First, before anything else loads: a signal sent while sockrun starts is queued, not lost.
require('../dist/cli/early-signals.js').catchSignalsEarly(argv);
require('../dist/cli/main.js').main(argv);
