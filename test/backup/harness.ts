/**
 * Runs the bundled backup, restore and restore-test scripts (the bytes SSM and local mode run) with
 * real bash and real tools, asynchronously (an S3 server may run in this process's event loop's
 * neighbourhood), and parses their key=value sections.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseKeyValues, parseResult } from '../../lambda/core/contract';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import { awsCliBinDir, fakeBinDir, fakeHostEnv, S3RVER_AWS_CLI_ENV } from '../helpers/fake-host';

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

export class ScriptHarness {
  readonly root: string;
  private readonly bundles = new Map<BackupScript, string>();
  private readonly awsDir: string;

  constructor(prefix = 'gpu-maint-backup-') {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    this.awsDir = awsCliBinDir(this.root);
    for (const script of ['backup', 'restore', 'restore-test'] as const) {
      const file = path.join(this.root, `${script}.sh`);
      fs.writeFileSync(file, bundleTaskScript(script), { mode: 0o700 });
      this.bundles.set(script, file);
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
  run(
    script: BackupScript,
    env: Record<string, string>,
    options: { pathPrefix?: readonly string[]; onStderr?: (text: string) => void } = {},
  ): Promise<ScriptRun> {
    const file = this.bundles.get(script) as string;
    return new Promise((resolve, reject) => {
      const child = spawn('bash', [file], { env: this.env(env, options.pathPrefix), stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString('utf8');
        options.onStderr?.(err);
      });
      child.on('error', reject);
      child.on('close', (code) => {
        const stdout = Buffer.concat(out).toString('utf8');
        const parsed = parseResult(stdout);
        const kv = parseKeyValues(parsed.sections.get(script)?.stdout ?? '');
        const units = (parsed.sections.get(`${script}-units`)?.stdout ?? '').split('\n').filter(Boolean);
        resolve({ code: code ?? -1, stdout, stderr: err, kv, units });
      });
    });
  }

  /** A directory with executables that shadow real tools (first on PATH for one run). */
  fakeBin(name: string, tools: Record<string, string>): string {
    return fakeBinDir(this.root, name, tools);
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
