/** Runs the gpu-maint CLI in-process with captured output. */

import type { CliIo } from '../../bin/cli/context';
import { main } from '../../bin/cli/main';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliRunOptions {
  readonly isTty?: boolean;
  readonly color?: boolean;
  readonly columns?: number;
  /** Receives the status (progress) lines a terminal's stderr would show; none when absent. */
  readonly status?: (line: string, done?: boolean) => void;
  /** A fixed current time (ages in reports). */
  readonly now?: Date;
}

export async function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => err.push(t.endsWith('\n') ? t : `${t}\n`),
    isTty: options.isTty ?? false,
    color: options.color,
    columns: options.columns,
    status: options.status,
    ...(options.now ? { now: () => options.now as Date } : {}),
  };
  const code = await main(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}
