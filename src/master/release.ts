/**
 * Which code a generation runs, and where (issue 12 §3, symlinked releases).
 *
 * Capistrano/Deployer layouts swap `current -> releases/N` and then reload. The master keeps
 * the paths as the user gave them (the *logical* ones: `current/server.js`, a `--cwd` of
 * `/srv/app/current`) and resolves them afresh when a generation starts: the workers of that
 * generation then run the release's code *in the release's directory* (its config files, .env,
 * static assets). A generation's resolved paths are pinned: a worker of it that is respawned
 * later (a crash, a recycle, the old generation after an aborted reload) runs the same release,
 * not whatever `current` points to by then.
 */
import fs = require('node:fs');
import path = require('node:path');

/** The paths as the user gave them. */
export interface LogicalPaths {
  /** The working directory to follow: `--cwd`, the shell's `$PWD`, or what we can infer. */
  cwd: string;
  /** The app as given: relative to `cwd`, or absolute (possibly through a symlink). */
  app: string;
}

/** One generation's paths, resolved when it started. */
export interface Release {
  /** The physical directory the workers run in (`/srv/app/releases/2`). */
  cwd: string;
  /** The physical path of the app's entry file. */
  app: string;
}

/**
 * The working directory to follow across reloads: `--cwd` when given; else the shell's `$PWD`
 * when it names this directory (a shell keeps the path through the symlink there, the kernel
 * does not); else, when the app was given by an absolute path whose directory *is* this one
 * (`WorkingDirectory=/srv/app/current`, `sockrun /srv/app/current/server.js` — systemd sets no
 * $PWD), that directory as given; else the physical working directory.
 */
export function logicalPaths(app: string, cwdOption: string | undefined, env: NodeJS.ProcessEnv = process.env, physical = process.cwd()): LogicalPaths {
  if (cwdOption !== undefined) return { cwd: path.resolve(physical, cwdOption), app };
  const pwd = env.PWD;
  if (pwd && path.isAbsolute(pwd) && sameDir(pwd, physical)) return { cwd: pwd, app };
  if (path.isAbsolute(app) && sameDir(path.dirname(app), physical)) return { cwd: path.dirname(app), app };
  return { cwd: physical, app };
}

/** Resolves the logical paths now. Throws a one-line Error when the directory or the app is gone. */
export function resolveRelease(logical: LogicalPaths): Release {
  let cwd: string;
  try {
    cwd = fs.realpathSync(logical.cwd);
  } catch (err) {
    throw new Error(`working directory ${logical.cwd}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const given = path.resolve(logical.cwd, logical.app);
  let app: string;
  try {
    app = fs.realpathSync(given);
  } catch (err) {
    throw new Error(`app ${given}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!fs.statSync(app).isFile()) throw new Error(`app ${given}: not a file`);
  return { cwd, app };
}

function sameDir(a: string, b: string): boolean {
  try {
    const x = fs.statSync(a);
    const y = fs.statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
