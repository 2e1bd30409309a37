'use strict'; module.exports = { name: 'startup', title: 'startup', async run() { throw new Error('todo'); } };
