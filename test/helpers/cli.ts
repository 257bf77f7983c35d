/** Runs the gpu-maint CLI in-process with captured output. */

import type { CliIo } from '../../bin/cli/context';
import { main } from '../../bin/cli/main';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function runCli(args: readonly string[], options: { isTty?: boolean } = {}): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    out: (t) => out.push(t.endsWith('\n') ? t : `${t}\n`),
    err: (t) => err.push(t.endsWith('\n') ? t : `${t}\n`),
    isTty: options.isTty ?? false,
  };
  const code = await main(args, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
}
