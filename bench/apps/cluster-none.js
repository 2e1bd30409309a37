'use strict';
// Contender "cluster-none": Node's cluster module with SCHED_NONE: the primary creates the
// listening socket and sends it to the workers, which accept on it themselves.
const cluster = require('cluster');
cluster.schedulingPolicy = cluster.SCHED_NONE;
require('./cluster-primary.js');
