'use strict'; module.exports = { name: 'respawn', title: 'respawn', async run() { throw new Error('todo'); } };
