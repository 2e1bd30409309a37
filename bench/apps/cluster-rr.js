'use strict';
// Contender "cluster-rr": Node's cluster module with its default scheduling on Linux
// (SCHED_RR): the primary accepts every connection and passes it to a worker over IPC.
const cluster = require('cluster');
cluster.schedulingPolicy = cluster.SCHED_RR;
require('./cluster-primary.js');
