/**
 * The thread a --validator module runs in (see validator.ts for why a thread). Protocol with
 * the master's main thread: first `{type:'loaded', error?}`, then one `{type:'result', id, ok,
 * message}` per `{id}` received.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

type ValidatorFn = (context: unknown) => unknown;
interface Data { file: string; context: unknown }

const { file, context } = workerData as Data;
const port = parentPort!;

// tsc (module: commonjs) would turn import() into require(); an ES module validator needs the
// real dynamic import, so it is built at run time.
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<Record<string, unknown>>;

async function load(): Promise<ValidatorFn> {
  let mod: unknown;
  try {
    mod = require(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_REQUIRE_ESM') throw err;
    mod = await dynamicImport(pathToFileURL(file).href);
  }
  const m = mod as Record<string, unknown> | ValidatorFn;
  const fn = typeof m === 'function' ? m : [m.default, m.validate].find((f) => typeof f === 'function');
  if (typeof fn !== 'function') throw new Error('it exports no function (module.exports = async () => {…}, export default, or validate)');
  return fn as ValidatorFn;
}

load().then((fn) => {
  port.postMessage({ type: 'loaded' });
  port.on('message', ({ id }: { id: number }) => {
    const started = Date.now();
    Promise.resolve()
      .then(() => fn(context))
      .then(
        (r) => port.postMessage({ type: 'result', id, ok: r !== false, message: r === false ? 'returned false' : `passed in ${Date.now() - started} ms` }),
        (err) => port.postMessage({ type: 'result', id, ok: false, message: String((err as Error)?.message ?? err) || 'failed' }),
      );
  });
}, (err) => port.postMessage({ type: 'loaded', error: String((err as Error)?.message ?? err) }));
