/**
 * What every CLI command shares: global options, config loading, output streams and exit codes.
 * Exit codes: 0 ran (whatever it found), 1 a task could not run, 2 usage or config error,
 * 3 findings at or above --fail-on.
 */
import type { Command } from 'commander';
import { localStateDir } from '../../lambda/adapters/local/paths';
import { colorEnabled, type ReportStyle } from '../../lambda/adapters/local/report';
import { loadConfig } from '../../lambda/config/load';
import type { Config } from '../../lambda/config/schema';
import { FileValidationMemo } from './config-memo';

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
  /** Standard output is a terminal. */
  readonly isTty: boolean;
  /** Colour on standard output (NO_COLOR, FORCE_COLOR, terminal); false when absent. */
  readonly color?: boolean;
  /** Terminal width of standard output; absent when it is not a terminal (no wrapping). */
  readonly columns?: number;
  /**
   * Rewrites one status line on standard error in place (progress); absent when standard error is not
   * a terminal, so progress is never written to a pipe or a log. `done` ends the line.
   */
  readonly status?: (line: string, done?: boolean) => void;
  /** The current time (ages in reports); tests give a fixed one. @default the system clock */
  readonly now?: () => Date;
}

/** The current time as this io sees it. */
export function nowOf(io: CliIo): Date {
  return io.now?.() ?? new Date();
}

/**
 * A whole-number option value of at least `min`.
 * @throws UsageError naming the option, the value and what was expected.
 */
export function wholeNumberOption(flag: string, raw: string, min: number): number {
  if (!/^\d{1,9}$/.test(raw) || Number(raw) < min) {
    throw new UsageError(`${flag} ${JSON.stringify(raw)}: expected a whole number of at least ${min}`);
  }
  return Number(raw);
}

/** A status line on a terminal: carriage return, the line cut to the width, erase to end of line. */
function terminalStatus(stream: NodeJS.WriteStream): (line: string, done?: boolean) => void {
  return (line, done) => {
    const width = stream.columns || 80;
    const text = line.length >= width ? `${line.slice(0, width - 2)}…` : line;
    stream.write(`\r${text}\x1b[K${done ? '\n' : ''}`);
  };
}

export const processIo: CliIo = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  isTty: Boolean(process.stdout.isTTY),
  color: colorEnabled(process.env, Boolean(process.stdout.isTTY)),
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  status: process.stderr.isTTY ? terminalStatus(process.stderr) : undefined,
};

/** How to render reports on this io. */
export function reportStyle(io: CliIo, verbose = false): ReportStyle {
  return { color: io.color ?? false, width: io.columns, verbose };
}

let configMemo: FileValidationMemo | undefined;

/**
 * Keeps the schema's verdict on each config input in `file` (bin/cli/config-memo.ts). The launcher
 * names the file by the bundle's build; the CLI run from its sources keeps none.
 */
export function useConfigMemo(file: string): void {
  configMemo = new FileValidationMemo(file);
}

/** Loads and validates the config from the global --config/--set options of this command. */
export function configFor(cmd: Command): Config {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  return loadConfig({ file: opts.config, set: opts.set ?? [], memo: configMemo });
}

export function stateDirOf(config: Config): string {
  return localStateDir(config);
}

/** A CLI command module: adds its command(s) to the program. */
export type RegisterCommand = (program: Command, io: CliIo) => void;
