/**
 * Evaluates the output of scripts/backup.sh (finding backup.run, and backup.age from the snapshot it
 * wrote or the newest one before it) and of scripts/restore-test.sh (finding backup.restore-test).
 * Metrics: BackupSuccess, BackupBytesUploaded, BackupDurationSeconds, RestoreTestSuccess.
 */
import { type ParsedResult, parseKeyValues } from '../contract';
import { formatBytes } from '../format';
import { METRICS } from '../metric-names';
import type { Reading } from '../metrics';
import type { Evaluation, EvaluationContext, TaskEvaluator } from '../task-evaluation';
import type { Finding, Severity } from '../types';
import { futureSnapshotMessage, isSnapshotId } from './manifest';

/** `details.snapshot` of a backup result (the snapshot this run wrote). */
export interface SnapshotDetails {
  readonly id: string;
  readonly unitsTotal: number;
  readonly unitsUploaded: number;
  readonly unitsReused: number;
  readonly files: number;
  readonly bytesRead: number;
  readonly bytesUploaded: number;
  readonly durationSeconds: number;
}

/** `details.restoreTest` of a restore-test result. */
export interface RestoreTestDetails {
  readonly status: string;
  readonly snapshot: string | null;
  readonly unitsTotal: number;
  readonly unitsTested: number;
  readonly unitsFailed: number;
  readonly failedUnits: readonly string[];
  readonly files: number;
  readonly bytes: number;
  readonly durationSeconds: number;
}

function section(parsed: ParsedResult, name: string): Record<string, string> {
  const s = parsed.sections.get(name);
  if (!s) throw new Error(`no "${name}" section in the output`);
  return parseKeyValues(s.stdout);
}

function int(kv: Record<string, string>, key: string): number {
  const raw = kv[key] ?? '';
  if (!/^\d+(\.\d+)?$/.test(raw)) throw new Error(`${key}=${JSON.stringify(raw)} is not a number`);
  return Number(raw);
}

const duration = (s: number) => (s < 120 ? `${s.toFixed(1)} s` : `${(s / 60).toFixed(1)} min`);

/**
 * backup.age from the time of the host's newest snapshot (null: it has none). A snapshot id dated in the
 * future (the host's clock runs ahead) is a warning, never a fresh backup: its age is unknown.
 */
export function snapshotAgeFinding(newestAt: Date | null, now: Date, maxAgeHours: number, context: string, snapshotId?: string): Finding {
  const threshold = `warn > ${maxAgeHours} h, crit > ${2 * maxAgeHours} h`;
  if (newestAt === null) {
    return { check: 'backup.age', severity: 'critical', message: `no snapshot of this host exists${context}`, reading: null, threshold };
  }
  const skew = snapshotId && isSnapshotId(snapshotId) ? futureSnapshotMessage(snapshotId, now) : null;
  if (skew) return { check: 'backup.age', severity: 'warning', message: `${skew}${context}`, reading: null, threshold };
  const age = Math.max(0, (now.getTime() - newestAt.getTime()) / 3_600_000);
  const severity: Severity = age > 2 * maxAgeHours ? 'critical' : age > maxAgeHours ? 'warning' : 'ok';
  return {
    check: 'backup.age',
    severity,
    message: `newest snapshot is ${age.toFixed(1)} h old${context}`,
    reading: Math.round(age * 10) / 10,
    threshold,
  };
}

export const evaluateBackup: TaskEvaluator = (parsed: ParsedResult, ctx: EvaluationContext): Evaluation => {
  const kv = section(parsed, 'backup');
  const status = kv.status ?? '';
  const findings: Finding[] = [];
  const readings: Reading[] = [];
  const maxAgeHours = ctx.settings.backup.maxAgeHours;
  const previousAt = kv.previous_snapshot_at ? new Date(kv.previous_snapshot_at) : null;
  const missing = (kv.sources_missing ?? '').split(',').filter(Boolean);

  if (status === 'busy') {
    findings.push({
      check: 'backup.run',
      severity: 'warning',
      message: `backup not started: ${kv.error || 'another backup is already running'}`,
    });
    return { findings, readings };
  }
  if (status === 'ok') {
    const snapshot: SnapshotDetails = {
      id: kv.snapshot ?? '',
      unitsTotal: int(kv, 'units_total'),
      unitsUploaded: int(kv, 'units_uploaded'),
      unitsReused: int(kv, 'units_reused'),
      files: int(kv, 'files'),
      bytesRead: int(kv, 'bytes_read'),
      bytesUploaded: int(kv, 'bytes_uploaded'),
      durationSeconds: int(kv, 'duration_seconds'),
    };
    findings.push({
      check: 'backup.run',
      severity: missing.length > 0 ? 'warning' : 'ok',
      message:
        `snapshot ${snapshot.id}: ${snapshot.unitsTotal} units (${snapshot.unitsUploaded} uploaded, ${snapshot.unitsReused} reused), ` +
        `${formatBytes(snapshot.bytesRead)} read, ${formatBytes(snapshot.bytesUploaded)} sent in ${duration(snapshot.durationSeconds)}` +
        (missing.length > 0 ? `; source missing: ${missing.join(', ')}` : '') +
        (Number(kv.warnings ?? 0) > 0 ? `; ${kv.warning}` : ''),
    });
    findings.push(snapshotAgeFinding(ctx.now, ctx.now, maxAgeHours, ` (${snapshot.id} written now)`, snapshot.id));
    readings.push(
      { name: METRICS.BackupSuccess, value: 1, unit: 'Count' },
      { name: METRICS.BackupBytesUploaded, value: snapshot.bytesUploaded, unit: 'Bytes' },
      { name: METRICS.BackupDurationSeconds, value: snapshot.durationSeconds, unit: 'Seconds' },
    );
    return { findings, readings, details: { snapshot } };
  }
  if (status === 'empty') {
    findings.push({
      check: 'backup.run',
      // A configured source that does not exist is worth a look (an unmounted volume); an empty one is not.
      severity: missing.length > 0 ? 'warning' : 'ok',
      message: kv.error || 'nothing to back up',
    });
    if (previousAt)
      findings.push(
        snapshotAgeFinding(previousAt, ctx.now, maxAgeHours, ` (${kv.previous_snapshot}; nothing to back up now)`, kv.previous_snapshot),
      );
    return { findings, readings, details: { snapshot: null } };
  }
  if (status === 'failed') {
    findings.push({ check: 'backup.run', severity: 'critical', message: `backup failed: ${kv.error || 'no reason given'}` });
    findings.push(
      snapshotAgeFinding(
        previousAt,
        ctx.now,
        maxAgeHours,
        previousAt ? ` (${kv.previous_snapshot}; this run failed)` : ' (this run failed)',
        kv.previous_snapshot,
      ),
    );
    readings.push({ name: METRICS.BackupSuccess, value: 0, unit: 'Count' });
    return { findings, readings, details: { snapshot: null } };
  }
  throw new Error(`backup status=${JSON.stringify(status)} is not one of ok, empty, failed, busy`);
};

export const evaluateRestoreTest: TaskEvaluator = (parsed: ParsedResult): Evaluation => {
  const kv = section(parsed, 'restore-test');
  const status = kv.status ?? '';
  if (!['ok', 'failed', 'empty'].includes(status)) {
    throw new Error(`restore-test status=${JSON.stringify(status)} is not one of ok, failed, empty`);
  }
  const details: RestoreTestDetails = {
    status,
    snapshot: kv.snapshot || null,
    unitsTotal: int(kv, 'units_total'),
    unitsTested: int(kv, 'units_done'),
    unitsFailed: int(kv, 'units_failed'),
    failedUnits: (kv.failed_units ?? '').split(' ').filter(Boolean),
    files: int(kv, 'files'),
    bytes: int(kv, 'bytes'),
    durationSeconds: int(kv, 'duration_seconds'),
  };
  const readings: Reading[] = [];
  let finding: Finding;
  if (status === 'empty') {
    finding = { check: 'backup.restore-test', severity: 'warning', message: `nothing to test: ${kv.error || 'no snapshot'}` };
  } else if (status === 'ok') {
    const sample = details.unitsTested < details.unitsTotal ? ` (a sample within restoreTest.maxBytes)` : '';
    finding = {
      check: 'backup.restore-test',
      severity: 'ok',
      message:
        `snapshot ${details.snapshot}: ${details.unitsTested} of ${details.unitsTotal} units restored and verified${sample}, ` +
        `${details.files} entries, ${formatBytes(details.bytes)} in ${duration(details.durationSeconds)}`,
    };
    readings.push({ name: METRICS.RestoreTestSuccess, value: 1, unit: 'Count' });
  } else {
    finding = {
      check: 'backup.restore-test',
      severity: 'critical',
      message: `restore test of snapshot ${details.snapshot ?? '(none)'} failed: ${kv.error || 'no reason given'}`,
    };
    readings.push({ name: METRICS.RestoreTestSuccess, value: 0, unit: 'Count' });
  }
  return { findings: [finding], readings, details: { restoreTest: details } };
};

/** `details.restore` of a restore result. */
export interface RestoreDetails {
  readonly status: string;
  readonly snapshot: string | null;
  readonly hostKey: string | null;
  readonly target: string | null;
  readonly unitsTotal: number;
  readonly unitsRestored: number;
  readonly unitsFailed: number;
  readonly failedUnits: readonly string[];
  readonly files: number;
  readonly bytes: number;
  readonly durationSeconds: number;
}

/** Evaluates scripts/restore.sh output (an on-demand restore, e.g. through its SSM document): finding backup.restore. */
export const evaluateRestore: TaskEvaluator = (parsed: ParsedResult): Evaluation => {
  const kv = section(parsed, 'restore');
  const status = kv.status ?? '';
  if (!['ok', 'failed'].includes(status)) throw new Error(`restore status=${JSON.stringify(status)} is not one of ok, failed`);
  const details: RestoreDetails = {
    status,
    snapshot: kv.snapshot || null,
    hostKey: kv.host_key || null,
    target: kv.target || null,
    unitsTotal: int(kv, 'units_total'),
    unitsRestored: int(kv, 'units_done'),
    unitsFailed: int(kv, 'units_failed'),
    failedUnits: (kv.failed_units ?? '').split(' ').filter(Boolean),
    files: int(kv, 'files'),
    bytes: int(kv, 'bytes'),
    durationSeconds: int(kv, 'duration_seconds'),
  };
  const finding: Finding =
    status === 'ok'
      ? {
          check: 'backup.restore',
          severity: 'ok',
          message: `restored ${details.unitsRestored} of ${details.unitsTotal} units of snapshot ${details.snapshot} (${details.hostKey}) into ${details.target}: ${details.files} entries, ${formatBytes(details.bytes)}, verified`,
        }
      : { check: 'backup.restore', severity: 'critical', message: `restore failed: ${kv.error || 'no reason given'}` };
  return { findings: [finding], readings: [], details: { restore: details } };
};
