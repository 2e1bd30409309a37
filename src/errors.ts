/**
 * Stable error codes and the process exit codes they map to.
 *
 * Codes are never reused or renumbered: scripts and unit files (`RestartPreventExitStatus=`)
 * depend on them. README.md has the same table; test/unit/errors.test.ts checks the two agree.
 */
export const ExitCode = {
  /** Clean exit: drained (or stopped) with nothing killed. */
  OK: 0,
  /** An unexpected internal error (a bug): the message and stack are logged. */
  INTERNAL: 1,
  /** Bad command line, environment variable or config file value. */
  USAGE: 2,
  /** The app file does not exist or cannot be read. */
  APP_NOT_FOUND: 3,
  /** A --listen address is already in use. */
  PORT_BUSY: 4,
  /** A --listen address cannot be bound for another reason (permission, no such address). */
  BIND_FAILED: 5,
  /** A --fd (or systemd) descriptor is not open, or is not a listening stream socket. */
  BAD_FD: 6,
  /** LISTEN_FDS / LISTEN_FDNAMES hold garbage while LISTEN_PID names this process. */
  BAD_LISTEN_FDS: 7,
  /** No worker of the first generation could boot (the app's error is logged). */
  BOOT_FAILED: 8,
  /** A drain had to kill workers still busy at --graceful-timeout. */
  DRAIN_FORCED: 9,
  /** A control command found no running master (missing/stale pid file, dead pid, not sockrun). */
  NO_MASTER: 10,
  /** `sockrun reload` ran but the rollout was aborted (a new worker failed to boot). */
  RELOAD_FAILED: 11,
  /** A control command could not talk to the master (timeout, refused). */
  CONTROL_FAILED: 12,
  /** --pid-file or the control socket cannot be created, or its path is not sockrun's to use (another user's). */
  PATH_UNUSABLE: 13,
  /** A control command the master cannot carry out in its state (reload while STARTING or DRAINING); nothing changed. */
  NOT_READY: 14,
} as const;

export type ExitCodeName = keyof typeof ExitCode;

/** Error codes with the exit code each one ends the process with. */
export const ErrorCodes = {
  SOCKRUN_ERR_USAGE: ExitCode.USAGE,
  SOCKRUN_ERR_APP_NOT_FOUND: ExitCode.APP_NOT_FOUND,
  SOCKRUN_ERR_PORT_BUSY: ExitCode.PORT_BUSY,
  SOCKRUN_ERR_BIND: ExitCode.BIND_FAILED,
  SOCKRUN_ERR_BAD_FD: ExitCode.BAD_FD,
  SOCKRUN_ERR_LISTEN_FDS: ExitCode.BAD_LISTEN_FDS,
  SOCKRUN_ERR_BOOT: ExitCode.BOOT_FAILED,
  SOCKRUN_ERR_NO_MASTER: ExitCode.NO_MASTER,
  SOCKRUN_ERR_RELOAD: ExitCode.RELOAD_FAILED,
  SOCKRUN_ERR_CONTROL: ExitCode.CONTROL_FAILED,
  SOCKRUN_ERR_PATH: ExitCode.PATH_UNUSABLE,
  SOCKRUN_ERR_NOT_READY: ExitCode.NOT_READY,
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

/** An expected failure: one line for the user, a stable code, a documented exit code. */
export class SockrunError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'SockrunError';
    this.code = code;
    this.exitCode = ErrorCodes[code];
  }
}

export const usageError = (message: string): SockrunError => new SockrunError('SOCKRUN_ERR_USAGE', message);
