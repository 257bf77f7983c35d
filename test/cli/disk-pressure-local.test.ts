/**
 * cleanup.onDiskPressure in local mode: `gpu-maint run health-check` with real bash, real df and the
 * real cleanup script over temp roots. The disk levels are set to 1 % so this machine's disk is
 * critical; cleanup stays in dry-run (the default), so nothing is deleted.
 */
import { existsSync, mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cleanupCooldownFilePath } from '../../lambda/adapters/local/cleanup-cooldown-file';
import { type CliRun, runCli } from '../helpers/cli';
import { tempDir } from '../helpers/temp';

const previousImds = process.env.GPU_MAINT_IMDS;
beforeAll(() => {
  process.env.GPU_MAINT_IMDS = 'off';
});
afterAll(() => {
  if (previousImds === undefined) delete process.env.GPU_MAINT_IMDS;
  else process.env.GPU_MAINT_IMDS = previousImds;
});

/** A config file over fresh temp roots: one 60-day-old experiment run and one fresh, docker and caches off. */
function setup(onDiskPressure: boolean): { config: string; stateDir: string } {
  const root = tempDir('gpu-maint-pressure-');
  const experiments = path.join(root, 'experiments');
  const checkpoints = path.join(root, 'checkpoints');
  for (const run of ['old-run', 'new-run']) mkdirSync(path.join(experiments, run), { recursive: true });
  mkdirSync(checkpoints);
  writeFileSync(path.join(experiments, 'old-run', 'metrics.json'), 'x'.repeat(1000));
  writeFileSync(path.join(experiments, 'new-run', 'metrics.json'), 'x'.repeat(3000));
  const old = new Date(Date.now() - 60 * 86_400_000);
  utimesSync(path.join(experiments, 'old-run', 'metrics.json'), old, old);
  utimesSync(path.join(experiments, 'old-run'), old, old);
  // Stamped from the test's clock, not left to the kernel's: under `npm run test:future` they differ by a year.
  const now = new Date();
  utimesSync(path.join(experiments, 'new-run', 'metrics.json'), now, now);
  utimesSync(path.join(experiments, 'new-run'), now, now);
  const stateDir = path.join(root, 'state');
  const config = path.join(root, 'gpu-maint.json');
  writeFileSync(
    config,
    JSON.stringify({
      local: { stateDir },
      thresholds: { diskUsedPct: { warning: 1, critical: 1 } },
      cleanup: {
        onDiskPressure,
        cooldownHours: 6,
        experiments: { paths: [experiments] },
        checkpoints: { paths: [checkpoints] },
        docker: { enabled: false },
        caches: { pip: false, conda: false, apt: false, huggingface: false },
      },
    }),
  );
  return { config, stateDir };
}

const diskLine = (r: CliRun) => r.stdout.split('\n').find((l) => /[✗!✓] health\.disk/.test(l)) ?? '';
const cleanupReports = (r: CliRun) => r.stdout.split('\n').filter((l) => l.startsWith('cleanup on ')).length;

describe('cleanup.onDiskPressure on', () => {
  let setupPaths: ReturnType<typeof setup>;
  let first: CliRun;
  let second: CliRun;

  beforeAll(async () => {
    setupPaths = setup(true);
    first = await runCli(['--config', setupPaths.config, 'run', 'health-check']);
    second = await runCli(['--config', setupPaths.config, 'run', 'health-check']);
  });

  test('a critical disk runs cleanup on this machine and prints its report', () => {
    expect(first.stderr).toBe('');
    expect(first.stdout).toContain('disk critical: ran cleanup on this machine (cleanup.onDiskPressure, at most once per 6 h)');
    expect(cleanupReports(first)).toBe(1);
    expect(first.stdout).toMatch(/cleanup\.run +dry run: would free .* in 1 path/);
  });

  test('the critical disk finding says the cleanup ran', () => {
    expect(diskLine(first)).toMatch(
      /^ {2}✗ health\.disk .*; disk critical: cleanup dispatched to .+ in dry-run mode .*\(ran here, status ok\)/,
    );
  });

  test('the cooldown is kept per host in the state dir', () => {
    const cooldown = JSON.parse(readFileSync(cleanupCooldownFilePath(setupPaths.stateDir), 'utf8'));
    expect(Object.values(cooldown)).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT/)]);
  });

  test('a second critical result within the cooldown does not run cleanup again and says so', () => {
    expect(cleanupReports(second)).toBe(0);
    expect(diskLine(second)).toMatch(
      /cleanup not dispatched again: one was dispatched to .+ within the last 6 h \(cleanup\.cooldownHours\)/,
    );
  });
});

test('a cleanup the disk pressure already ran is not run again by the same command', async () => {
  const { config } = setup(true);
  const r = await runCli(['--config', config, 'run', 'health-check', 'cleanup']);
  expect(cleanupReports(r)).toBe(1);
});

test('an unreadable cooldown file is reported in the disk finding instead of failing the run', async () => {
  const { config, stateDir } = setup(true);
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(cleanupCooldownFilePath(stateDir), 'not json');
  const run = await runCli(['--config', config, 'run', 'health-check']);
  expect(cleanupReports(run)).toBe(0);
  expect(diskLine(run)).toMatch(/disk critical: cleanup not dispatched to .+: the cooldown store failed: .*not JSON/);
  expect(run.stdout).toContain('health-check');
});

test('with cleanup.onDiskPressure off a critical disk runs no cleanup', async () => {
  const { config, stateDir } = setup(false);
  const r = await runCli(['--config', config, 'run', 'health-check']);
  expect(diskLine(r)).toMatch(/^ {2}✗ health\.disk/);
  expect(r.stdout).not.toContain('cleanup');
  expect(existsSync(cleanupCooldownFilePath(stateDir))).toBe(false);
});
