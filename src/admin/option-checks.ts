/**
 * The admin options' own consistency, checked by cli/run.ts before the first workers are
 * spawned: a usage error must come before the app runs. What needs the file system or the
 * network (the token file, the validator, binding --admin) is found by attachAdmin, after the
 * spawn; the master then drains those workers before it reports the error (Master.abandon).
 */
import type { Configuration } from '../config/resolve';
import { usageError } from '../errors';

export function checkAdminOptions(config: Configuration, workers: number): void {
  if (config.admin === undefined && !config.ecvOnAppPort) return; // attachAdmin warns that they do nothing
  if (config.minReady !== undefined && (config.minReady < 1 || config.minReady > workers)) {
    throw usageError(`--min-ready ${config.minReady}: must be between 1 and the number of workers (${workers})`);
  }
  if (config.ecvMonitor !== undefined && !/^\/[\x21-\x7e]*$/.test(config.ecvMonitor)) {
    throw usageError(`--ecv-monitor ${config.ecvMonitor}: expected a path such as /health`);
  }
  if ((config.ecvMonitor !== undefined || config.validator !== undefined) && (config.ecvMonitorIntervalMs <= 0 || config.ecvMonitorTimeoutMs <= 0)) {
    throw usageError('--ecv-monitor-interval and --ecv-monitor-timeout must be more than 0');
  }
}
