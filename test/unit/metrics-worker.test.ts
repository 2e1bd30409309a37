import * as path from 'node:path';
import { appPromClient } from '../../src/worker/metrics';

const ROOT = path.resolve(__dirname, '..', '..');
const fakeClient = { register: { getMetricsAsJSON: () => [] } };
const mod = (exports: unknown) => ({ exports }) as NodeModule;

describe("a worker finds the app's own prom-client", () => {
  const app = path.join(ROOT, 'test', 'fixtures', 'metrics', 'app.js');
  const resolved = require.resolve('prom-client', { paths: [path.dirname(app)] });

  test('only when the app loaded it: nothing is loaded on its behalf', () => {
    expect(appPromClient({}, app)).toBeUndefined();
  });

  test('the copy the app resolves from its own directory', () => {
    expect(appPromClient({ [resolved]: mod(fakeClient) }, app)).toBe(fakeClient);
  });

  test('or a copy it loaded from elsewhere (a workspace package)', () => {
    const elsewhere = '/srv/monorepo/packages/web/node_modules/prom-client/index.js';
    expect(appPromClient({ [elsewhere]: mod(fakeClient) }, '/srv/monorepo/main.js')).toBe(fakeClient);
  });

  test('never something that is not a prom-client', () => {
    expect(appPromClient({ [resolved]: mod({ register: {} }) }, app)).toBeUndefined();
  });
});
