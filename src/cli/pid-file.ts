/**
 * `--pid-file`: written once the master answers control commands, removed at exit only while it
 * still names this process (a successor may have written its own by then).
 */
import fs = require('node:fs');
import path = require('node:path');
import { SockrunError, usageError } from '../errors';
import { isAlive } from '../control/client';

/** Writes this process's pid to `file` (atomically: readers never see it half written); returns its remover. */
export function writePidFile(file: string): () => void {
  let old: string | undefined;
  try {
    old = fs.readFileSync(file, 'utf8').trim();
  } catch {
    // none yet
  }
  if (old && /^\d+$/.test(old) && Number(old) !== process.pid && isAlive(Number(old)) && isSockrun(Number(old))) {
    throw usageError(`--pid-file ${file}: another sockrun master (pid ${old}) is running`);
  }
  const temp = `${file}.${process.pid}.tmp`;
  try {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(temp, `${process.pid}\n`);
    fs.renameSync(temp, file);
  } catch (err) {
    try {
      fs.unlinkSync(temp);
    } catch {
      // never written
    }
    throw new SockrunError('SOCKRUN_ERR_PATH', `--pid-file ${file}: cannot write it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return () => {
    try {
      if (fs.readFileSync(file, 'utf8').trim() === String(process.pid)) fs.rmSync(file);
    } catch {
      // gone already
    }
  };
}

function isSockrun(pid: number): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sockrun');
  } catch {
    return false;
  }
}
