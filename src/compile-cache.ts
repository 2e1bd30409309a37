/**
 * Node's on-disk compile cache (`module.enableCompileCache()`, Node 22.1+): V8 code cache for
 * every module loaded after it is enabled, so a second start compiles nothing again. The master
 * enables it before loading the rest of sockrun (bin/sockrun.js), and each worker before its
 * runtime and the app (worker/preload.ts): with 16 workers the saving counts 17 times (issue 16).
 * On Node 20 and 22.0 there is no such API and nothing happens.
 *
 * Where: `NODE_COMPILE_CACHE` if the user set it (Node then enabled it already, also in workers);
 * else a private directory: `$CACHE_DIRECTORY` (systemd `CacheDirectory=`), `$XDG_CACHE_HOME` or
 * `~/.cache`, under `sockrun/compile-cache`. Never the shared temp directory (Node's own default):
 * V8 trusts what it loads from there, so it must be a directory only this user can write, which
 * is checked. `NODE_DISABLE_COMPILE_CACHE=1` turns it off. Failing to enable it is silent: it is
 * an optimization, never a reason not to start.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Set by the master for its workers: the directory it checked and uses. */
export const COMPILE_CACHE_ENV = 'SOCKRUN_COMPILE_CACHE';

interface ModuleWithCache {
  enableCompileCache?: (dir?: string) => { status: number; directory?: string };
}

/**
 * Enables the compile cache in this process, in `env[COMPILE_CACHE_ENV]` when set (a worker),
 * else in the default private directory. Returns the directory in use, or undefined.
 */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const mod = require('node:module') as ModuleWithCache;
  if (typeof mod.enableCompileCache !== 'function' || env.NODE_DISABLE_COMPILE_CACHE) return undefined;
  try {
    if (env.NODE_COMPILE_CACHE) return mod.enableCompileCache().directory; // the user's choice, already on
    const dir = privateDirectory(env[COMPILE_CACHE_ENV] || defaultDirectory(env));
    return dir === undefined ? undefined : mod.enableCompileCache(dir).directory;
  } catch {
    return undefined;
  }
}

function defaultDirectory(env: NodeJS.ProcessEnv): string | undefined {
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  const base = systemd || env.XDG_CACHE_HOME || (env.HOME ? path.join(env.HOME, '.cache') : undefined);
  return base && path.isAbsolute(base) ? path.join(base, 'sockrun', 'compile-cache') : undefined;
}

/**
 * `dir`, created if missing (0700), when it is a real directory owned by this user that no one
 * else can write, in a parent no one else can write either (so it cannot be swapped); else undefined.
 */
export function privateDirectory(dir: string | undefined, uid = process.getuid?.()): string | undefined {
  if (!dir || !path.isAbsolute(dir) || uid === undefined) return undefined;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const own = fs.lstatSync(dir);
    const parent = fs.statSync(path.dirname(dir));
    const safe = (st: fs.Stats) => (st.uid === uid || st.uid === 0) && (st.mode & 0o022) === 0;
    return own.isDirectory() && own.uid === uid && safe(own) && safe(parent) ? dir : undefined;
  } catch {
    return undefined;
  }
}
