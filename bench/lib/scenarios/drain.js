'use strict'; module.exports = { name: 'drain', title: 'drain', async run() { throw new Error('todo'); } };
