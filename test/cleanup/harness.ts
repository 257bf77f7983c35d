/**
 * Runs the bundled cleanup script the way local mode does (runTaskScript: bundle, bash, GPU_MAINT_*
 * variables from config) against trees in a temp dir, with real find/rm, and evaluates its output with
 * the core. Each host has its own bin dir for fakes (docker) put first on PATH, its own state dir and a
 * sysroot under which the well-known cache locations are looked up.
 */
import { existsSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { runTaskScript } from '../../lambda/adapters/local/script-runner';
import type { ConfigInput } from '../../lambda/config/schema';
import { type CleanupDetails, evaluateCleanup } from '../../lambda/core/cleanup/evaluate';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import type { TaskOutput } from '../../lambda/core/ports';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';
import { fakeHostEnv, writeFakeTool } from '../helpers/fake-host';
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

export { age, put } from '../helpers/fake-host';

/** Writes an executable bash script into the host's bin dir. */
export function fakeTool(host: CleanupHost, name: string, body: string): void {
  writeFakeTool(host.bin, name, body);
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
      ...fakeHostEnv('test-host'),
      PATH: `${host.bin}:/usr/sbin:/usr/bin:/sbin:/bin`,
      GPU_MAINT_CLEANUP_SYSROOT: host.sysroot,
      ...env,
    },
  });
  const result = evaluateTaskOutput(output, evaluateCleanup, evaluationSettings(config), new Date());
  return { output, result, details: result.cleanup as CleanupDetails };
}

export const exists = (p: string): boolean => existsSync(p);
