/**
 * Runs the bundled cleanup script the way local mode does (runTaskScript: bundle, bash, GPU_MAINT_*
 * variables from config) against trees in a temp dir, with real find/rm, and evaluates its output with
 * the core. Each host has its own bin dir for fakes (docker) put first on PATH, its own state dir and a
 * sysroot under which the well-known cache locations are looked up.
 */
import { chmodSync, existsSync, mkdirSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { runTaskScript } from '../../lambda/adapters/local/script-runner';
import type { ConfigInput } from '../../lambda/config/schema';
import { type CleanupDetails, evaluateCleanup } from '../../lambda/core/cleanup/evaluate';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import type { TaskOutput } from '../../lambda/core/ports';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';
import { tempDir } from '../helpers/temp';

export interface CleanupHost {
  readonly root: string;
  readonly bin: string;
  readonly state: string;
  /** Prefix of /root, /home, /var/cache and /opt/conda for the cache cleanup. */
  readonly sysroot: string;
  /** A directory outside every cleanup root. */
  readonly outside: string;
}

export interface CleanupRun {
  readonly output: TaskOutput;
  readonly result: TaskResult;
  readonly details: CleanupDetails;
}

const DAY_MS = 86_400_000;

export function makeCleanupHost(): CleanupHost {
  const root = tempDir('gpu-maint-cleanup-');
  const host = {
    root,
    bin: path.join(root, 'bin'),
    state: path.join(root, 'state'),
    sysroot: path.join(root, 'sysroot'),
    outside: path.join(root, 'outside'),
  };
  for (const dir of [host.bin, host.state, host.sysroot, host.outside]) mkdirSync(dir, { recursive: true });
  return host;
}

/** Sets a path's mtime (and atime) to `days` ago, without following a symlink's target. */
export function age(file: string, days: number): void {
  const when = new Date(Date.now() - days * DAY_MS);
  utimesSync(file, when, when);
}

/** Writes a file (creating its directories) of `bytes` bytes, `days` old. */
export function put(file: string, bytes: number, days = 0): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, Buffer.alloc(bytes, 0x61));
  age(file, days);
  return file;
}

/** Writes an executable bash script into the host's bin dir. */
export function fakeTool(host: CleanupHost, name: string, body: string): void {
  const file = path.join(host.bin, name);
  writeFileSync(file, `#!/usr/bin/env bash\n${body}\n`);
  chmodSync(file, 0o755);
}

/**
 * Test defaults: nothing outside the host's dirs; docker and caches off unless a test turns them on;
 * the deletion guard lifted (maxDeleteFraction 1) except where a test sets it.
 */
export function cleanupConfig(_host: CleanupHost, input: NonNullable<ConfigInput['cleanup']>): ConfigInput {
  return {
    cleanup: {
      experiments: { paths: [], ...input.experiments },
      checkpoints: { paths: [], ...input.checkpoints },
      docker: { enabled: false, ...input.docker },
      caches: { pip: false, conda: false, apt: false, huggingface: false, ...input.caches },
      maxDeleteFraction: 1,
      ...Object.fromEntries(Object.entries(input).filter(([k]) => !['experiments', 'checkpoints', 'docker', 'caches'].includes(k))),
    },
  };
}

export async function runCleanup(host: CleanupHost, input: ConfigInput, env: Record<string, string> = {}): Promise<CleanupRun> {
  const config = parseConfigForTest(input);
  const output = await runTaskScript('cleanup', config, {
    stateDir: host.state,
    timeoutMs: 60_000,
    env: {
      PATH: `${host.bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
      GPU_MAINT_IMDS: 'off',
      GPU_MAINT_HOST_ID: 'test-host',
      GPU_MAINT_CLEANUP_SYSROOT: host.sysroot,
      ...env,
    },
  });
  const result = evaluateTaskOutput(output, evaluateCleanup, evaluationSettings(config), new Date());
  return { output, result, details: result.cleanup as CleanupDetails };
}

export const exists = (p: string): boolean => existsSync(p);
