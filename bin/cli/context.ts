/**
 * What every CLI command shares: global options, config loading, output streams and exit codes.
 * Exit codes: 0 ran (whatever it found), 1 a task could not run, 2 usage or config error,
 * 3 findings at or above --fail-on.
 */
import type { Command } from 'commander';
import { localStateDir } from '../../lambda/adapters/local/paths';
import { loadConfig } from '../../lambda/config/load';
import type { Config } from '../../lambda/config/schema';

export const EXIT = { ok: 0, taskFailed: 1, usage: 2, findings: 3 } as const;

/** A mistake in how the command was called; exits 2 with the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** An error that carries its own exit code (e.g. 1 when a task could not run). */
export class ExitError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

export interface GlobalOptions {
  readonly config?: string;
  readonly set: string[];
}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readonly isTty: boolean;
}

export const processIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  isTty: Boolean(process.stdout.isTTY),
};

/** Loads and validates the config from the global --config/--set options of this command. */
export function configFor(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig({ file: opts.config, set: opts.set ?? [] });
}

export function stateDirOf(config: Config): string {
  return localStateDir(config);
}

/** A CLI command module: adds its command(s) to the program. */
export type RegisterCommand = (program: Command, io: CliIo) => void;
