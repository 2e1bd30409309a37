/**
 * Lifecycle and system tests run real processes and real clients on a 2-core machine, next to
 * another test file (jest runs two at a time): a bound such as "every probe within 1 s" can be
 * missed once when the machine stalls. They are retried up to twice, with the failure printed;
 * a test that fails for a real reason still fails every time. Unit tests are never retried.
 */
const testPath = expect.getState().testPath ?? '';
if (/[\\/]test[\\/](integration|system)[\\/]/.test(testPath)) jest.retryTimes(2, { logErrorsBeforeRetry: true });
