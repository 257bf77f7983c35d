/**
 * Runs the bundled backup, restore and restore-test scripts (the bytes SSM and local mode run) with
 * real bash and real tools, asynchronously (an S3 server may run in this process's event loop's
 * neighbourhood), and parses their key=value sections.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseKeyValues, parseResult } from '../../lambda/core/contract';
import { awsCliBinDir, fakeBinDir, fakeHostEnv, runBash, S3RVER_AWS_CLI_ENV, writeTaskScript } from '../helpers/fake-host';

export type BackupScript = 'backup' | 'restore' | 'restore-test';

export interface ScriptRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** The main key=value section (`backup`, `restore` or `restore-test`). */
  readonly kv: Record<string, string>;
  /** Lines of the per-unit section of restore and restore-test. */
  readonly units: readonly string[];
}

/** The calls a loggingBin tool made, a line each (none when it never ran). */
export function loggedCalls(log: string): string[] {
  return fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : [];
}

export class ScriptHarness {
  readonly root: string;
  private readonly bundles = new Map<BackupScript, string>();
  private readonly awsDir: string;

  constructor(prefix = 'gpu-maint-backup-') {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.awsDir = awsCliBinDir(this.root);
    for (const script of ['backup', 'restore', 'restore-test'] as const) {
      this.bundles.set(script, writeTaskScript(this.root, script));
    }
  }

  /** Base environment: no IMDS, a fixed host id, dummy AWS credentials, no instance metadata. */
  env(extra: Record<string, string> = {}, pathPrefix: readonly string[] = []): Record<string, string> {
    return {
      ...fakeHostEnv('test-host'),
      HOME: process.env.HOME ?? this.root,
      PATH: [...pathPrefix, this.awsDir, process.env.PATH ?? '/usr/bin:/bin'].join(':'),
      LC_ALL: 'C',
      TMPDIR: os.tmpdir(),
      GPU_MAINT_STATE_DIR: path.join(this.root, 'state'),
      ...S3RVER_AWS_CLI_ENV,
      ...extra,
    };
  }

  /**
   * Runs a script. `onStderr` sees stderr as it arrives (to start a second run while the first one works).
   */
  async run(
    script: BackupScript,
    env: Record<string, string>,
    options: { pathPrefix?: readonly string[]; onStderr?: (text: string) => void } = {},
  ): Promise<ScriptRun> {
    const file = this.bundles.get(script) as string;
    const run = await runBash(file, this.env(env, options.pathPrefix), { onStderr: options.onStderr });
    const parsed = parseResult(run.stdout);
    const kv = parseKeyValues(parsed.sections.get(script)?.stdout ?? '');
    const units = (parsed.sections.get(`${script}-units`)?.stdout ?? '').split('\n').filter(Boolean);
    return { code: run.code ?? -1, stdout: run.stdout, stderr: run.stderr, kv, units };
  }

  /** A directory with executables that shadow real tools (first on PATH for one run). */
  fakeBin(name: string, tools: Record<string, string>): string {
    return fakeBinDir(this.root, name, tools);
  }

  /** A directory whose `tool` appends its arguments to `log` (a line per call), then runs /usr/bin/<tool>. */
  loggingBin(tool: string, log: string): string {
    return this.fakeBin(`logging-${path.basename(log)}`, { [tool]: `printf '%s\\n' "$*" >> '${log}'\nexec /usr/bin/${tool} "$@"` });
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
