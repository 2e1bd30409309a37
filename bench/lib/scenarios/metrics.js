'use strict'; module.exports = { name: 'metrics', title: 'metrics', async run() { throw new Error('todo'); } };
