/**
 * Manifest parsing and the backup / restore-test evaluators on hand-written script outputs.
 */
import { describe, expect, test } from 'vitest';
import { evaluateRestore } from '../../lambda/core/backup/evaluate';
import { manifestTotals, parseManifest, snapshotTime } from '../../lambda/core/backup/manifest';
import { parseResult } from '../../lambda/core/contract';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { TaskName } from '../../lambda/core/types';
import { taskDefinition } from '../../lambda/tasks/registry';
import { parseConfigForTest } from '../helpers/config';
import { manifestJson } from './manifests';

describe('manifest', () => {
  test('a manifest parses and totals its units', () => {
    const m = parseManifest(
      manifestJson('20261128T020000Z', [
        { id: 'a-1', bytes: 10 },
        { id: 'b-2', bytes: 20 },
      ]),
      'm',
    );
    expect(manifestTotals(m)).toEqual({ units: 2, files: 6, bytes: 30, sourceBytes: 400 });
  });

  test.each([
    ['not json', 'backups/h/snapshots/x.json: not JSON'],
    ['{"format":"other","version":1}', 'backups/h/snapshots/x.json: not a gpu-maint-backup v1 manifest (format:'],
    [manifestJson('20261128T020000Z', [{ id: 'a/../b' }]), 'units.0.id'],
  ])('%s is rejected with a message naming the manifest and the problem', (text, message) => {
    expect(() => parseManifest(text, 'backups/h/snapshots/x.json')).toThrow(message);
  });

  test.each([
    [manifestJson('20261128T020000Z', [{ id: 'a', bytes: -1 }]), 'units.0.bytes: got -1; expected a number of at least 0'],
    [manifestJson('20261128T020000Z', []).replace('"unitDepth":1', '"unitDepth":"1"'), 'unitDepth: got "1"; expected a number'],
  ])('a field out of range is worded with the value and what was expected, not the schema library words', (text, message) => {
    expect(() => parseManifest(text, 'm')).toThrow(message);
    expect(() => parseManifest(text, 'm')).not.toThrow(/Too small|Invalid input/);
  });

  test('a snapshot id names its UTC time', () => {
    expect(snapshotTime('20261128T020304Z').toISOString()).toBe('2026-11-28T02:03:04.000Z');
    expect(() => snapshotTime('2026-11-28')).toThrow('snapshot id "2026-11-28" is not of the form 20261128T020000Z');
  });
});

const NOW = new Date('2026-11-28T12:00:00Z');
const settings = evaluationSettings(parseConfigForTest({ backup: { maxAgeHours: 26 } }));

function output(task: TaskName, section: string, kv: Record<string, string>, exitCode = 0) {
  const lines = Object.entries(kv).map(([k, v]) => `${k}=${v}`);
  const stdout = [
    `@@gpu-maint v1 begin task=${task} host=i-0abc at=2026-11-28T11:59:00Z`,
    `@@gpu-maint section ${section}`,
    ...lines,
    `@@gpu-maint status ${section} exit=0 seconds=0`,
    `@@gpu-maint v1 end task=${task}`,
    '',
  ].join('\n');
  return evaluateTaskOutput({ task, stdout, exitCode }, taskDefinition(task).evaluate, settings, NOW);
}

const okBackup = {
  status: 'ok',
  snapshot: '20261128T115900Z',
  units_total: '3',
  units_uploaded: '1',
  units_reused: '2',
  files: '40',
  bytes_read: '1048576',
  bytes_uploaded: '1000000',
  duration_seconds: '12.5',
  sources_missing: '',
  warnings: '0',
  warning: '',
  previous_snapshot: '20261127T020000Z',
  previous_snapshot_at: '2026-11-27T02:00:00Z',
  error: '',
};

describe('backup evaluation', () => {
  test('a written snapshot is backup.run ok with its details and the three backup metrics', () => {
    const r = output('backup', 'backup', okBackup);
    expect(r.status).toBe('ok');
    expect(r.snapshot).toEqual({
      id: '20261128T115900Z',
      unitsTotal: 3,
      unitsUploaded: 1,
      unitsReused: 2,
      files: 40,
      bytesRead: 1048576,
      bytesUploaded: 1000000,
      durationSeconds: 12.5,
    });
    expect(r.metrics.filter((m) => m.name.startsWith('Backup')).map((m) => [m.name, m.value])).toEqual([
      ['BackupSuccess', 1],
      ['BackupBytesUploaded', 1000000],
      ['BackupDurationSeconds', 12.5],
    ]);
  });

  test('a failed run is backup.run critical, BackupSuccess 0, and ages the previous snapshot', () => {
    const r = output('backup', 'backup', { ...okBackup, status: 'failed', snapshot: '', error: 'upload of unit x failed' }, 1);
    expect(r.findings).toContainEqual(
      expect.objectContaining({ check: 'backup.run', severity: 'critical', message: 'backup failed: upload of unit x failed' }),
    );
    expect(r.findings).toContainEqual(expect.objectContaining({ check: 'backup.age', severity: 'warning', reading: 34 }));
    expect(r.metrics).toContainEqual(expect.objectContaining({ name: 'BackupSuccess', value: 0 }));
  });

  test('a failed run on a host without any snapshot is backup.age critical', () => {
    const r = output('backup', 'backup', { ...okBackup, status: 'failed', previous_snapshot: '', previous_snapshot_at: '', error: 'x' }, 1);
    expect(r.findings).toContainEqual(expect.objectContaining({ check: 'backup.age', severity: 'critical' }));
  });

  test('a missing source with nothing to back up is a warning that says so, and no metric', () => {
    const r = output('backup', 'backup', {
      status: 'empty',
      sources_missing: '/opt/ml/models',
      previous_snapshot: '',
      previous_snapshot_at: '',
      error: 'nothing to back up: /opt/ml/models does not exist (backup.sources)',
    });
    expect(r.status).toBe('warning');
    expect(r.findings).toEqual([
      { check: 'backup.run', severity: 'warning', message: 'nothing to back up: /opt/ml/models does not exist (backup.sources)' },
    ]);
    expect(r.metrics.find((m) => m.name === 'BackupSuccess')).toBeUndefined();
  });

  test('a run that found another one running is a warning', () => {
    const r = output(
      'backup',
      'backup',
      { status: 'busy', error: 'already running: another backup holds /var/lib/gpu-maint/backup.lock' },
      1,
    );
    expect(r.findings).toContainEqual(expect.objectContaining({ check: 'backup.run', severity: 'warning' }));
  });

  test('an unknown status is an unusable output, not a crash', () => {
    const r = output('backup', 'backup', { status: 'weird' });
    expect(r.status).toBe('failed');
    expect(r.findings).toContainEqual(expect.objectContaining({ check: 'task.output' }));
  });
});

describe('restore-test evaluation', () => {
  const base = {
    snapshot: '20261128T020000Z',
    units_total: '5',
    units_done: '5',
    units_failed: '0',
    failed_units: '',
    files: '50',
    bytes: '2048',
    duration_seconds: '3.1',
    error: '',
  };

  test('verified units are backup.restore-test ok and RestoreTestSuccess 1', () => {
    const r = output('restore-test', 'restore-test', { ...base, status: 'ok' });
    expect(r.findings).toEqual([expect.objectContaining({ check: 'backup.restore-test', severity: 'ok' })]);
    expect(r.metrics).toContainEqual(expect.objectContaining({ name: 'RestoreTestSuccess', value: 1 }));
    expect(r.restoreTest).toMatchObject({ unitsTested: 5, unitsFailed: 0 });
  });

  test('a unit that fails verification is critical and RestoreTestSuccess 0', () => {
    const r = output('restore-test', 'restore-test', {
      ...base,
      status: 'failed',
      units_done: '4',
      units_failed: '1',
      failed_units: 'llama-abc',
      error: '1 unit(s) failed verification: llama-abc',
    });
    expect(r.findings).toEqual([
      expect.objectContaining({ check: 'backup.restore-test', severity: 'critical', message: expect.stringContaining('llama-abc') }),
    ]);
    expect(r.metrics).toContainEqual(expect.objectContaining({ name: 'RestoreTestSuccess', value: 0 }));
  });

  test('no snapshot to test is a warning without a success metric', () => {
    const r = output('restore-test', 'restore-test', {
      ...base,
      status: 'empty',
      snapshot: '',
      units_total: '0',
      units_done: '0',
      error: 'no snapshot of host i-0abc',
    });
    expect(r.findings).toEqual([expect.objectContaining({ severity: 'warning' })]);
    expect(r.metrics.find((m) => m.name === 'RestoreTestSuccess')).toBeUndefined();
  });
});

describe('restore evaluation', () => {
  const restoreOutput = (kv: Record<string, string>) =>
    parseResult(
      [
        '@@gpu-maint v1 begin task=restore host=i-0abc at=2026-11-28T11:59:00Z',
        '@@gpu-maint section restore',
        ...Object.entries(kv).map(([k, v]) => `${k}=${v}`),
        '@@gpu-maint status restore exit=0 seconds=0',
        '@@gpu-maint v1 end task=restore',
        '',
      ].join('\n'),
    );
  const base = {
    snapshot: '20261128T020000Z',
    host_key: 'i-0abc',
    target: '/opt/ml/models',
    units_total: '3',
    units_done: '3',
    units_failed: '0',
    failed_units: '',
    files: '9',
    bytes: '4096',
    duration_seconds: '1.5',
    error: '',
  };
  const ctx = { settings, now: NOW, host: 'i-0abc' };

  test('a verified restore is backup.restore ok naming snapshot and target', () => {
    const e = evaluateRestore(restoreOutput({ ...base, status: 'ok' }), ctx);
    expect(e.findings).toEqual([
      {
        check: 'backup.restore',
        severity: 'ok',
        message: 'restored 3 of 3 units of snapshot 20261128T020000Z (i-0abc) into /opt/ml/models: 9 entries, 4.0 KiB, verified',
      },
    ]);
  });

  test('a failed restore is backup.restore critical with the reason', () => {
    const e = evaluateRestore(
      restoreOutput({
        ...base,
        status: 'failed',
        units_done: '2',
        units_failed: '1',
        failed_units: 'bert-1',
        error: '1 unit(s) failed verification or extraction: bert-1',
      }),
      ctx,
    );
    expect(e.findings[0]).toMatchObject({
      severity: 'critical',
      message: 'restore failed: 1 unit(s) failed verification or extraction: bert-1',
    });
    expect(e.details).toMatchObject({ restore: { failedUnits: ['bert-1'] } });
  });
});
