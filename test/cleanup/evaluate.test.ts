/** The cleanup evaluator on hand-written script output: accounting, findings and metrics. */
import { describe, expect, test } from 'vitest';
import { type CleanupDetails, decodeEscapedPath, evaluateCleanup } from '../../lambda/core/cleanup/evaluate';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import { parseConfigForTest } from '../helpers/config';

const settings = evaluationSettings(parseConfigForTest());
const NOW = new Date('2026-11-29T03:00:00Z');

function output(body: string, dryRun: boolean): string {
  return [
    '@@gpu-maint v1 begin task=cleanup host=i-0abc at=2026-11-29T03:00:00Z',
    '@@gpu-maint section cleanup-config',
    `dry_run=${dryRun}`,
    'force=false',
    'max_delete_fraction=0.5',
    '@@gpu-maint status cleanup-config exit=0 seconds=0',
    body,
    '@@gpu-maint v1 end task=cleanup',
    '',
  ].join('\n');
}

function area(n: number, kv: Record<string, string | number>): string {
  return [
    `@@gpu-maint section area-${n}`,
    ...Object.entries(kv).map(([k, v]) => `${k}=${v}`),
    `@@gpu-maint status area-${n} exit=0 seconds=0`,
  ].join('\n');
}

const DISK_AFTER = [
  '@@gpu-maint section disk-after',
  'Filesystem         1-blocks        Used   Available Capacity Mounted on',
  '/dev/nvme1n1    1000000000   700000000   300000000      70% /data',
  '/dev/root        100000000    50000000    50000000      50% /',
  '@@gpu-maint status disk-after exit=0 seconds=0.01',
].join('\n');

function evaluate(text: string, exitCode = 0) {
  const result = evaluateTaskOutput({ task: 'cleanup', stdout: text, exitCode }, evaluateCleanup, settings, NOW);
  return { result, details: result.cleanup as CleanupDetails };
}

describe('decodeEscapedPath', () => {
  test.each([
    ['/data/plain name.pt', '/data/plain name.pt'],
    ['/data/a\\x0ab', '/data/a\nb'],
    ['/data/back\\\\slash', '/data/back\\slash'],
    ['/data/\\xc3\\xa9t\\xc3\\xa9', '/data/été'],
    ['/data/literal\\x', '/data/literal\\x'],
  ])('%j decodes to %j', (escaped, expected) => {
    expect(decodeEscapedPath(escaped)).toBe(expected);
  });
});

describe('evaluateCleanup', () => {
  const realRun = output(
    [
      area(1, {
        category: 'experiments',
        status: 'ok',
        path: '/data/exp',
        total_bytes: 5000,
        selected_bytes: 1000,
        freed_bytes: 1000,
        selected_items: 1,
      }),
      area(2, {
        category: 'checkpoints',
        status: 'ok',
        path: '/data/ck',
        total_bytes: 900,
        selected_bytes: 300,
        freed_bytes: 300,
        selected_items: 2,
        skipped_protected: 1,
      }),
      area(3, {
        category: 'docker',
        status: 'ok',
        path: 'docker',
        total_bytes: 9000,
        selected_bytes: 3000,
        freed_bytes: 2500,
        selected_items: 1,
      }),
      area(4, {
        category: 'pip',
        status: 'ok',
        path: '/root/.cache/pip',
        total_bytes: 40,
        selected_bytes: 40,
        freed_bytes: 40,
        selected_items: 1,
      }),
      DISK_AFTER,
      '@@gpu-maint section cleanup-items',
      'deleted experiments 1000 /data/exp/run 1',
      'deleted checkpoints 100 /data/ck/a\\x0ab.pt',
      'deleted checkpoints 200 /data/ck/c.pt',
      'skipped-open checkpoints 50 /data/ck/busy.pt',
      'deleted docker 3000 image:old:1',
      'deleted pip 40 /root/.cache/pip/http',
      '@@gpu-maint status cleanup-items exit=0 seconds=0',
    ].join('\n'),
    false,
  );

  test('a real run lists every deleted path with its bytes and category', () => {
    const { details } = evaluate(realRun);
    expect(details.dryRun).toBe(false);
    expect(details.deleted).toEqual([
      { path: '/data/exp/run 1', bytes: 1000, category: 'experiments' },
      { path: '/data/ck/a\nb.pt', bytes: 100, category: 'checkpoints' },
      { path: '/data/ck/c.pt', bytes: 200, category: 'checkpoints' },
      { path: 'image:old:1', bytes: 3000, category: 'docker' },
      { path: '/root/.cache/pip/http', bytes: 40, category: 'pip' },
    ]);
    expect(details.notDeleted).toEqual([{ action: 'skipped-open', category: 'checkpoints', bytes: 50, path: '/data/ck/busy.pt' }]);
  });

  test("bytes freed count docker's reclaimed space, not the sum of image sizes", () => {
    const { details } = evaluate(realRun);
    expect(details.bytesFreed).toBe(1000 + 300 + 2500 + 40);
  });

  test.each([
    ['BytesFreed', 3840],
    ['BytesFreedExperiments', 1000],
    ['BytesFreedCheckpoints', 300],
    ['BytesFreedDocker', 2500],
    ['BytesFreedCaches', 40],
    ['CleanupDeletedFiles', 5],
    ['DiskUsedPctAfter', 70],
  ])('metric %s is %d', (name, value) => {
    const { result } = evaluate(realRun);
    expect(result.metrics.find((m) => m.name === name)).toEqual(expect.objectContaining({ value, dimensions: { Fleet: 'default' } }));
  });

  test('disk usage before and after is reported per filesystem', () => {
    const { details } = evaluate(realRun);
    expect(details.diskAfter).toEqual([
      { mount: '/data', sizeBytes: 1000000000, usedBytes: 700000000, availBytes: 300000000, usedPct: 70 },
      { mount: '/', sizeBytes: 100000000, usedBytes: 50000000, availBytes: 50000000, usedPct: 50 },
    ]);
  });

  test('the summary finding names what was freed and what was skipped', () => {
    const { result } = evaluate(realRun);
    expect(result.findings).toEqual([
      expect.objectContaining({
        check: 'cleanup.run',
        severity: 'ok',
        message:
          'freed 3.8 KiB in 5 paths (experiments 1000 B, checkpoints 300 B, docker 2.9 KiB, pip 40 B); skipped 1 in use, 1 protected',
      }),
    ]);
  });

  test('a dry run reports what it would free and emits no freed bytes', () => {
    const { result, details } = evaluate(
      output(
        [
          area(1, {
            category: 'checkpoints',
            status: 'ok',
            path: '/data/ck',
            total_bytes: 900,
            selected_bytes: 300,
            freed_bytes: 0,
            selected_items: 1,
          }),
          '@@gpu-maint section cleanup-items',
          'would-delete checkpoints 300 /data/ck/c.pt',
          '@@gpu-maint status cleanup-items exit=0 seconds=0',
        ].join('\n'),
        true,
      ),
    );
    expect(details.deleted).toEqual([{ path: '/data/ck/c.pt', bytes: 300, category: 'checkpoints' }]);
    expect(details.bytesFreed).toBe(0);
    expect(details.bytesToFree).toBe(300);
    expect(result.findings[0].message).toMatch(/^dry run: would free 300 B in 1 path \(checkpoints 300 B\); nothing deleted/);
    expect(result.metrics.find((m) => m.name === 'BytesFreed')?.value).toBe(0);
    expect(result.metrics.find((m) => m.name === 'BytesReclaimable')?.value).toBe(300);
  });

  test('roots that do not exist and an unreachable docker daemon are named in the summary', () => {
    const { result } = evaluate(
      output(
        [
          area(1, { category: 'experiments', status: 'missing', path: '/opt/ml/experiments', message: 'does not exist: nothing to clean' }),
          area(2, { category: 'docker', status: 'unreachable', path: 'docker', message: 'docker daemon not reachable: Cannot connect' }),
        ].join('\n'),
        true,
      ),
    );
    expect(result.findings[0].message).toBe(
      'dry run: would free 0 B in 0 paths; skipped not present: /opt/ml/experiments, docker daemon not reachable; nothing deleted (set cleanup.dryRun=false to delete)',
    );
  });

  test('a refused root is a critical cleanup.guard finding and the task failed', () => {
    const { result } = evaluate(
      output(
        area(1, { category: 'experiments', status: 'refused', path: '/home', message: 'refused: /home is the system path /home' }),
        false,
      ),
      1,
    );
    expect(result.status).toBe('failed');
    expect(result.findings).toContainEqual(
      expect.objectContaining({
        check: 'cleanup.guard',
        severity: 'critical',
        message: 'cleanup refused experiments root /home: is the system path /home; nothing was deleted on this host',
      }),
    );
    expect(result.metrics.find((m) => m.name === 'BytesFreed')).toBeUndefined();
  });

  test('a tripped deletion guard is a warning with the fraction as reading', () => {
    const { result } = evaluate(
      output(
        area(1, {
          category: 'checkpoints',
          status: 'guard',
          path: '/data/ck',
          total_bytes: 1000,
          selected_bytes: 800,
          freed_bytes: 0,
          message: 'selection is 80%',
        }),
        false,
      ),
    );
    expect(result.findings).toContainEqual(
      expect.objectContaining({ check: 'cleanup.guard', severity: 'warning', reading: 0.8, threshold: 'maxDeleteFraction 0.5' }),
    );
  });

  test('failed deletions are a cleanup.run warning', () => {
    const { result } = evaluate(
      output(
        area(1, {
          category: 'experiments',
          status: 'error',
          path: '/data/exp',
          message: '1 deletions failed: rm: cannot remove x: Operation not permitted',
        }),
        false,
      ),
    );
    expect(result.findings).toContainEqual(
      expect.objectContaining({ check: 'cleanup.run', severity: 'warning', message: expect.stringContaining('Operation not permitted') }),
    );
  });

  test('output without the config section cannot be evaluated', () => {
    const { result } = evaluate('@@gpu-maint v1 begin task=cleanup host=h at=x\n@@gpu-maint v1 end task=cleanup\n');
    expect(result.status).toBe('failed');
    expect(result.findings[0].message).toContain('no cleanup-config section');
  });
});
