/**
 * `npm start` as a newcomer meets it: `gpu-maint run all` through the real launcher, on a machine with
 * no NVIDIA driver and not on EC2, with the built-in defaults.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { inheritedClockEnv } from '../helpers/clock-env';
import { REPO_ROOT } from '../helpers/fixtures';
import { tempDir } from '../helpers/temp';

/** PATH without any directory that holds an nvidia-smi (CI machines have none; be sure). */
function pathWithoutNvidiaSmi(): string {
  return (process.env.PATH ?? '')
    .split(':')
    .filter((dir) => dir && !existsSync(path.join(dir, 'nvidia-smi')))
    .join(':');
}

describe('gpu-maint run all with defaults on a machine without a GPU', () => {
  let home: string;
  let run: ReturnType<typeof spawnSync>;
  let stdout: string;

  beforeAll(() => {
    home = tempDir('gpu-maint-home-');
    run = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs'), 'run', 'all'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      env: { ...inheritedClockEnv(), PATH: pathWithoutNvidiaSmi(), HOME: home, GPU_MAINT_IMDS: 'off', LANG: 'C.UTF-8' },
      timeout: 120_000,
    });
    stdout = String(run.stdout);
  });

  test('exits 0', () => {
    expect(run.stderr).not.toMatch(/Error:|at .*\.ts:\d+/);
    expect(run.status).toBe(0);
  });

  test('reports every task of run all with one line per check', () => {
    for (const task of ['gpu-check', 'health-check', 'backup', 'cleanup']) expect(stdout).toContain(`${task} on `);
    expect(stdout).toMatch(/^ {2}[✓!✗] health\.disk +.+$/m);
    expect(stdout).toMatch(/task\(s\): \d+ critical, \d+ warning, \d+ ok/);
  });

  test('says clearly that there is no NVIDIA driver, as a warning, without a stack trace', () => {
    expect(stdout).toMatch(/^ {2}! gpu\.driver +.*nvidia-smi not found/m);
  });

  test('does not run logrotate, which changes system configuration', () => {
    expect(stdout).not.toContain('logrotate on ');
  });

  test('writes JSON-lines metrics and a Prometheus textfile per task under the default state dir', () => {
    const stateDir = path.join(home, '.local', 'state', 'gpu-maint');
    const lines = readFileSync(path.join(stateDir, 'metrics.jsonl'), 'utf8').trim().split('\n');
    expect(lines.map((l) => JSON.parse(l).name)).toContain('ResultsReported');
    expect(readdirSync(path.join(stateDir, 'textfile')).sort()).toEqual(
      expect.arrayContaining(['gpu_maint_gpu_check.prom', 'gpu_maint_health_check.prom']),
    );
  });
});
