/**
 * scripts/cleanup.sh on adversarial trees in temp dirs, with real find and rm: fresh data and
 * protected data survive, every deletion is accounted for, unsafe roots stop the run.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { parseConfigForTest } from '../helpers/config';
import { age, type CleanupHost, cleanupConfig, exists, makeCleanupHost, put, runCleanup } from './harness';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** Keeps a file open in another process (its stdin) until the test ends. */
async function holdOpen(file: string): Promise<void> {
  const fd = openSync(file, 'r');
  const child = spawn('sleep', ['300'], { stdio: [fd, 'ignore', 'ignore'] });
  closeSync(fd);
  children.push(child);
  await new Promise((resolve) => child.once('spawn', resolve));
}

function experimentsHost(): { host: CleanupHost; root: string } {
  const host = makeCleanupHost();
  const root = path.join(host.root, 'experiments');
  mkdirSync(root);
  return { host, root };
}

describe('experiments', () => {
  test('an old run directory holding a file written today is kept', async () => {
    // GIVEN a run whose directories and files are 90 days old except one file written today
    const { host, root } = experimentsHost();
    put(path.join(root, 'run-1', 'old', 'metrics.json'), 100, 90);
    put(path.join(root, 'run-1', 'old', 'today.log'), 10, 0);
    age(path.join(root, 'run-1', 'old'), 90);
    age(path.join(root, 'run-1'), 90);
    // WHEN a real run cleans experiments older than 30 days
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, experiments: { paths: [root], maxAgeDays: 30 } }));
    // THEN the run directory is intact
    expect(exists(path.join(root, 'run-1', 'old', 'metrics.json'))).toBe(true);
    expect(details.deleted).toEqual([]);
  });

  test('a run directory whose newest entry is older than maxAgeDays is deleted, the root never', async () => {
    const { host, root } = experimentsHost();
    put(path.join(root, 'run-old', 'ckpt', 'a.bin'), 300, 60);
    age(path.join(root, 'run-old', 'ckpt'), 60);
    age(path.join(root, 'run-old'), 60);
    age(root, 60);
    const { details, output } = await runCleanup(
      host,
      cleanupConfig(host, { dryRun: false, experiments: { paths: [root], maxAgeDays: 30 } }),
    );
    expect(output.exitCode).toBe(0);
    expect(exists(path.join(root, 'run-old'))).toBe(false);
    expect(exists(root)).toBe(true);
    expect(details.deleted).toEqual([
      { path: path.join(root, 'run-old'), bytes: 300, category: 'experiments', modifiedAt: expect.any(String) },
    ]);
    expect(details.bytesFreed).toBe(300);
  });

  test('each deleted run directory carries when its newest entry was modified, for the report', async () => {
    const { host, root } = experimentsHost();
    put(path.join(root, 'run-old', 'ckpt', 'a.bin'), 300, 45);
    age(path.join(root, 'run-old', 'ckpt'), 60);
    age(path.join(root, 'run-old'), 60);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: true, experiments: { paths: [root], maxAgeDays: 30 } }));
    const modifiedAt = details.deleted[0]?.modifiedAt;
    expect(Math.round((Date.now() - Date.parse(modifiedAt ?? '')) / 86_400_000)).toBe(45);
  });

  test('a marker file deep inside a run directory protects the whole run', async () => {
    const { host, root } = experimentsHost();
    put(path.join(root, 'golden', 'sub', 'weights.bin'), 50, 90);
    put(path.join(root, 'golden', 'sub', '.keep'), 0, 90);
    age(path.join(root, 'golden', 'sub'), 90);
    age(path.join(root, 'golden'), 90);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, experiments: { paths: [root], maxAgeDays: 30 } }));
    expect(exists(path.join(root, 'golden', 'sub', 'weights.bin'))).toBe(true);
    expect(details.areas[0].skippedProtected).toBe(1);
  });

  test('a protect glob keeps matching run directories', async () => {
    const { host, root } = experimentsHost();
    put(path.join(root, 'baseline-2024', 'x.bin'), 50, 90);
    age(path.join(root, 'baseline-2024'), 90);
    put(path.join(root, 'other', 'x.bin'), 50, 90);
    age(path.join(root, 'other'), 90);
    await runCleanup(
      host,
      cleanupConfig(host, { dryRun: false, protect: [`${root}/baseline-*`], experiments: { paths: [root], maxAgeDays: 30 } }),
    );
    expect(exists(path.join(root, 'baseline-2024', 'x.bin'))).toBe(true);
    expect(exists(path.join(root, 'other'))).toBe(false);
  });

  test('a symlink to a directory outside the root leaves the target untouched', async () => {
    const { host, root } = experimentsHost();
    const target = put(path.join(host.outside, 'precious', 'data.bin'), 70, 400);
    age(path.join(host.outside, 'precious'), 400);
    symlinkSync(path.join(host.outside, 'precious'), path.join(root, 'link-run'));
    put(path.join(root, 'run-old', 'f'), 10, 90);
    age(path.join(root, 'run-old'), 90);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, experiments: { paths: [root], maxAgeDays: 30 } }));
    expect(exists(target)).toBe(true);
    expect(lstatSync(path.join(root, 'link-run')).isSymbolicLink()).toBe(true);
    expect(details.deleted.map((d) => d.path)).toEqual([path.join(root, 'run-old')]);
  });

  test('a run directory with a file held open by a process is skipped', async () => {
    const { host, root } = experimentsHost();
    const busy = put(path.join(root, 'run-busy', 'train.log'), 20, 90);
    age(path.join(root, 'run-busy'), 90);
    await holdOpen(busy);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, experiments: { paths: [root], maxAgeDays: 30 } }));
    expect(exists(busy)).toBe(true);
    expect(details.notDeleted).toContainEqual({
      action: 'skipped-open',
      category: 'experiments',
      bytes: 20,
      path: path.join(root, 'run-busy'),
    });
  });
});

describe('checkpoints', () => {
  function checkpointsHost(): { host: CleanupHost; root: string } {
    const host = makeCleanupHost();
    const root = path.join(host.root, 'checkpoints');
    mkdirSync(root);
    return { host, root };
  }

  test('the newest keepNewest checkpoints per directory are kept even when old, and non-matching files are never touched', async () => {
    // GIVEN 5 checkpoints 10..50 days old and an old non-matching file in one directory, 2 in another
    const { host, root } = checkpointsHost();
    for (const [i, days] of [10, 20, 30, 40, 50].entries()) put(path.join(root, 'job-a', `step-${i}.pt`), 10, days);
    put(path.join(root, 'job-a', 'notes.txt'), 10, 365);
    put(path.join(root, 'job-b', 'x.ckpt'), 10, 100);
    put(path.join(root, 'job-b', 'y.ckpt'), 10, 200);
    // WHEN a real run keeps the newest 3 and deletes the rest older than 7 days
    const { details } = await runCleanup(
      host,
      cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], maxAgeDays: 7, keepNewest: 3 } }),
    );
    // THEN only the two oldest of job-a are gone
    expect(readdirSync(path.join(root, 'job-a')).sort()).toEqual(['notes.txt', 'step-0.pt', 'step-1.pt', 'step-2.pt']);
    expect(readdirSync(path.join(root, 'job-b')).sort()).toEqual(['x.ckpt', 'y.ckpt']);
    expect(details.deleted.map((d) => path.basename(d.path)).sort()).toEqual(['step-3.pt', 'step-4.pt']);
  });

  test('checkpoints younger than maxAgeDays are kept beyond keepNewest', async () => {
    const { host, root } = checkpointsHost();
    for (const i of [1, 2, 3, 4]) put(path.join(root, `m${i}.safetensors`), 5, i);
    await runCleanup(host, cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], maxAgeDays: 7, keepNewest: 1 } }));
    expect(readdirSync(root)).toHaveLength(4);
  });

  test('a .keep file protects its directory and everything under it', async () => {
    const { host, root } = checkpointsHost();
    put(path.join(root, 'release', '.keep'), 0);
    put(path.join(root, 'release', 'v1', 'a.pt'), 5, 100);
    put(path.join(root, 'release', 'v1', 'b.pt'), 5, 101);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], keepNewest: 0 } }));
    expect(readdirSync(path.join(root, 'release', 'v1')).sort()).toEqual(['a.pt', 'b.pt']);
    expect(details.areas[0].skippedProtected).toBe(2);
  });

  test('a checkpoint held open by a process is skipped', async () => {
    const { host, root } = checkpointsHost();
    const busy = put(path.join(root, 'busy.pt'), 5, 100);
    const idle = put(path.join(root, 'idle.pt'), 5, 100);
    await holdOpen(busy);
    const { details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], keepNewest: 0 } }));
    expect(exists(busy)).toBe(true);
    expect(exists(idle)).toBe(false);
    expect(details.notDeleted.map((i) => [i.action, i.path])).toEqual([['skipped-open', busy]]);
  });

  test('a symlinked directory and a symlinked checkpoint pointing outside leave their targets untouched', async () => {
    const { host, root } = checkpointsHost();
    const outsideDir = path.join(host.outside, 'models');
    const outsideFile = put(path.join(outsideDir, 'prod.pt'), 5, 300);
    symlinkSync(outsideDir, path.join(root, 'models-link'));
    symlinkSync(outsideFile, path.join(root, 'prod-link.pt'));
    await runCleanup(host, cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], keepNewest: 0, maxAgeDays: 0 } }));
    expect(exists(outsideFile)).toBe(true);
    expect(lstatSync(path.join(root, 'prod-link.pt')).isSymbolicLink()).toBe(true);
  });

  test('names with spaces and newlines are deleted and reported exactly', async () => {
    const { host, root } = checkpointsHost();
    const weird = put(path.join(root, 'dir with space', 'a\nb c.pt'), 7, 100);
    const tabbed = put(path.join(root, 'dir with space', 'tab\there\\x41.pt'), 3, 100);
    const { details, output } = await runCleanup(
      host,
      cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], keepNewest: 0 } }),
    );
    expect(exists(weird)).toBe(false);
    expect(exists(tabbed)).toBe(false);
    expect(details.deleted.map((d) => d.path).sort()).toEqual([weird, tabbed].sort());
    // Each deleted path is one line of the script's own output (kept with the command output).
    expect(output.stdout).toContain(`deleted checkpoints 7 ${root}/dir with space/a\\x0ab c.pt\n`);
    expect(output.stdout).toContain(`deleted checkpoints 3 ${root}/dir with space/tab\\x09here\\\\x41.pt\n`);
  });
});

describe('safety', () => {
  test('root / is refused by the config already: it contains the state dir and the backup sources', () => {
    const host = makeCleanupHost();
    expect(() => parseConfigForTest(cleanupConfig(host, { experiments: { paths: ['/'] } }))).toThrow(
      /cleanup\.experiments\.paths\.0: got "\/"; expected a cleanup root apart from .*which it contains/,
    );
  });

  test.each([
    ['/home', 'is the system path /home'],
    ['/etc/ssl', 'is inside the system tree /etc'],
    ['/var/log', 'is the system path /var/log'],
  ])('root %s is refused, the run exits non-zero and deletes nothing anywhere', async (unsafe, reason) => {
    // GIVEN a safe root with an old run and an unsafe root in the same config
    const { host, root } = experimentsHost();
    const run = put(path.join(root, 'run-old', 'f'), 10, 90);
    age(path.join(root, 'run-old'), 90);
    // WHEN a real run is asked to clean both
    const { output, result } = await runCleanup(
      host,
      cleanupConfig(host, { dryRun: false, experiments: { paths: [root, unsafe], maxAgeDays: 30 } }),
    );
    // THEN it exits 1, says why, and the safe root was not touched either
    expect(output.exitCode).toBe(1);
    expect(exists(run)).toBe(true);
    expect(result.findings).toContainEqual(
      expect.objectContaining({
        check: 'cleanup.guard',
        severity: 'critical',
        message: expect.stringContaining(`root ${unsafe}: ${reason}`),
      }),
    );
  });

  test.each([
    [
      'a symlink',
      (host: CleanupHost) => {
        const link = path.join(host.root, 'link-root');
        symlinkSync(host.outside, link);
        return link;
      },
      'is a symlink',
    ],
    ['a file', (host: CleanupHost) => put(path.join(host.root, 'file-root'), 1), 'is not a directory'],
    ['not normalized', (host: CleanupHost) => `${host.root}/../${path.basename(host.root)}/x`, 'not a normalized path'],
  ])('a root that is %s is refused', async (_what, make, reason) => {
    const host = makeCleanupHost();
    const { output, result } = await runCleanup(host, cleanupConfig(host, { dryRun: false, checkpoints: { paths: [make(host)] } }));
    expect(output.exitCode).toBe(1);
    expect(result.findings.find((f) => f.check === 'cleanup.guard')?.message).toContain(reason);
  });

  test('a root that does not exist is reported and skipped, not an error', async () => {
    const host = makeCleanupHost();
    const missing = path.join(host.root, 'no-such-dir');
    const { output, details } = await runCleanup(host, cleanupConfig(host, { dryRun: false, experiments: { paths: [missing] } }));
    expect(output.exitCode).toBe(0);
    expect(details.areas).toContainEqual(expect.objectContaining({ category: 'experiments', status: 'missing', path: missing }));
  });

  test('the deletion guard trips when a run would delete more than maxDeleteFraction of a root', async () => {
    // GIVEN 900 old bytes and 100 fresh bytes: deleting would remove 90% of the root
    const host = makeCleanupHost();
    const root = path.join(host.root, 'ck');
    put(path.join(root, 'old.pt'), 900, 100);
    put(path.join(root, 'new.pt'), 100, 0);
    const config = cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], keepNewest: 0 } });
    // WHEN the limit is 0.5
    const { result, details } = await runCleanup(host, { cleanup: { ...config.cleanup, maxDeleteFraction: 0.5 } });
    // THEN nothing is deleted there, the guard says so and lists what it blocked
    expect(exists(path.join(root, 'old.pt'))).toBe(true);
    expect(result.findings).toContainEqual(expect.objectContaining({ check: 'cleanup.guard', severity: 'warning', reading: 0.9 }));
    expect(details.notDeleted).toEqual([{ action: 'blocked', category: 'checkpoints', bytes: 900, path: path.join(root, 'old.pt') }]);
    expect(details.deleted).toEqual([]);
  });

  test('cleanup.force lets one run past the deletion guard', async () => {
    const host = makeCleanupHost();
    const root = path.join(host.root, 'ck');
    put(path.join(root, 'old.pt'), 900, 100);
    put(path.join(root, 'new.pt'), 100, 0);
    const config = cleanupConfig(host, { dryRun: false, checkpoints: { paths: [root], keepNewest: 0 } });
    await runCleanup(host, { cleanup: { ...config.cleanup, maxDeleteFraction: 0.5, force: true } });
    expect(exists(path.join(root, 'old.pt'))).toBe(false);
    expect(exists(path.join(root, 'new.pt'))).toBe(true);
  });

  test('the default run deletes nothing and says what it would free', async () => {
    // GIVEN old experiments and checkpoints, and a config that does not mention dryRun
    const host = makeCleanupHost();
    const exp = path.join(host.root, 'exp');
    const ck = path.join(host.root, 'ck');
    put(path.join(exp, 'run-1', 'f'), 1000, 90);
    age(path.join(exp, 'run-1'), 90);
    put(path.join(exp, 'run-2', 'f'), 1500, 0);
    for (const i of [1, 2, 3, 4, 5]) put(path.join(ck, `c${i}.pt`), 100, 30 + i);
    // WHEN cleanup runs with the defaults otherwise
    const { result, details } = await runCleanup(host, {
      cleanup: { experiments: { paths: [exp] }, checkpoints: { paths: [ck] }, docker: { enabled: false } },
    });
    // THEN every file is still there and the report says what a real run would free
    expect(exists(path.join(exp, 'run-1', 'f'))).toBe(true);
    expect(readdirSync(ck)).toHaveLength(5);
    expect(details.dryRun).toBe(true);
    expect(details.bytesFreed).toBe(0);
    expect(details.bytesToFree).toBe(1200);
    expect(result.findings.find((f) => f.check === 'cleanup.run')?.message).toMatch(/^dry run: would free 1\.2 KiB in 3 paths/);
    expect(result.metrics.find((m) => m.name === 'CleanupDeletedFiles')?.value).toBe(0);
    expect(result.metrics.find((m) => m.name === 'BytesReclaimable')?.value).toBe(1200);
  });

  test('a second cleanup while one holds the lock exits 0 with a cleanup.run warning under the real host', async () => {
    const host = makeCleanupHost();
    mkdirSync(path.join(host.state, 'host'), { recursive: true });
    const lock = path.join(host.state, 'host', 'cleanup.lock');
    writeFileSync(lock, '');
    const holder = spawn('flock', [lock, 'sleep', '300'], { stdio: 'ignore' });
    children.push(holder);
    await new Promise((r) => setTimeout(r, 300));
    const { output, result } = await runCleanup(host, cleanupConfig(host, {}));
    expect(output.exitCode).toBe(0);
    expect(result.host).toBe('test-host');
    expect(result.findings).toEqual([
      expect.objectContaining({
        check: 'cleanup.run',
        severity: 'warning',
        message: expect.stringContaining('another cleanup is already running'),
      }),
    ]);
  });
});
