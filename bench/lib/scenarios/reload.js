'use strict'; module.exports = { name: 'reload', title: 'reload', async run() { throw new Error('todo'); } };
