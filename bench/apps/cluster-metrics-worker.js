'use strict';
// Preloaded (-r) into cluster workers in the metrics scenario: prom-client's cluster aggregation
// answers the primary only in processes that constructed an AggregatorRegistry.
const { AggregatorRegistry } = require('prom-client');
new AggregatorRegistry();
