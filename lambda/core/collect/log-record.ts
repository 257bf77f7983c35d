/**
 * The one structured log line per result (Logs Insights reads it; see lib/constructs/monitoring.ts).
 */
import type { MetricDatum, TaskResult } from '../types';
import type { InvocationRef } from './event';

/** Names of the host-level readings on the fleet series, e.g. { GpuTemperatureMax: 71 }. */
function hostReadings(metrics: readonly MetricDatum[]): Record<string, number> {
  const readings: Record<string, number> = {};
  for (const m of metrics) {
    const dims = Object.keys(m.dimensions);
    if (dims.length === 1 && dims[0] === 'Fleet') readings[m.name] = m.value;
  }
  return readings;
}

/**
 * One result's log line. A healthy result of a fleet check (gpu-check, health-check: every host, every
 * few minutes) logs only the identifying fields, the hottest GPU and its non-zero readings, at most
 * {@link HEALTHY_LINE_BUDGET_BYTES} with the logger's envelope; zero counters and empty fields are left
 * out (a Logs Insights filter such as `result.xidCount > 0` treats an absent field as not matching, and
 * an absent reading of a healthy line is 0). Everything else (findings, Xids, per-GPU details, the SSM
 * status) is logged when the result is not ok, and always for the occasional tasks.
 */
export interface ResultLogRecord {
  readonly task: string;
  readonly host: string;
  readonly status: string;
  readonly at?: string;
  readonly commandId: string;
  /** SSM's status, when it is not Success. */
  readonly invocationStatus?: string;
  readonly critical?: number;
  readonly warning?: number;
  /** Space-separated checks with non-ok findings, for Logs Insights filters. */
  readonly checks?: string;
  readonly hottestGpu?: number;
  readonly hottestGpuTemperatureC?: number;
  readonly xidCount?: number;
  /** e.g. `GPU 3 Xid 79 (critical); GPU 0 Xid 13 (warning)`. */
  readonly xidSummary?: string;
  readonly readings: Record<string, number>;
  /** Non-ok findings only: ok findings restate what `readings` and `details` already hold. */
  readonly findings?: TaskResult['findings'];
  readonly okChecks?: number;
  readonly details?: Record<string, unknown>;
}

/**
 * Bytes of a healthy fleet-check line as the collector writes it (record plus the logger's JSON
 * envelope): log ingestion was the largest cost of the default setting at 4 KB a line (bench/collect).
 */
export const HEALTHY_LINE_BUDGET_BYTES = 512;

/** Deleted paths kept in the log line; the full list stays in the command's S3 output. */
export const LOGGED_DELETED_PATHS = 100;

/**
 * Keeps the log line under CloudWatch's 256 KB event limit: a cleanup that deleted thousands of paths
 * logs the first LOGGED_DELETED_PATHS and how many were left out.
 */
function boundedDetails(details: Record<string, unknown>): Record<string, unknown> {
  const cleanup = details.cleanup as { deleted?: unknown } | undefined;
  if (!cleanup || !Array.isArray(cleanup.deleted) || cleanup.deleted.length <= LOGGED_DELETED_PATHS) return details;
  return {
    ...details,
    cleanup: {
      ...cleanup,
      deleted: cleanup.deleted.slice(0, LOGGED_DELETED_PATHS),
      deletedNotLogged: cleanup.deleted.length - LOGGED_DELETED_PATHS,
    },
  };
}

/**
 * The structured line the collector logs per result: flat fields for Logs Insights queries (hottest
 * GPUs, hosts with findings, latest Xids) plus, unless the result is a healthy fleet check, the result's
 * details (per-GPU readings, Xids, ...) and its non-ok findings. Ok findings and metrics are left out:
 * they repeat what is there, and log ingestion is the largest cost of the default (fleet) metrics setting.
 */
export function resultLogRecord(result: TaskResult, ref: InvocationRef, fleetCheck: boolean): ResultLogRecord {
  const { task, host, status, at, findings, metrics, ...details } = result;
  const nonOk = findings.filter((f) => f.severity !== 'ok');
  let hottest: { index: number; temperatureC: number } | undefined;
  for (const gpu of result.gpus ?? []) {
    if (gpu.temperatureC !== null && (!hottest || gpu.temperatureC > hottest.temperatureC)) {
      hottest = { index: gpu.index, temperatureC: gpu.temperatureC };
    }
  }
  const xids = result.xids ?? [];
  const readings = hostReadings(metrics);
  const identity = { task, host, status, ...(at ? { at } : {}), commandId: ref.commandId };
  const hottestFields = hottest ? { hottestGpu: hottest.index, hottestGpuTemperatureC: hottest.temperatureC } : {};
  if (status === 'ok' && fleetCheck && xids.length === 0 && ref.status === 'Success') {
    return { ...identity, ...hottestFields, readings: Object.fromEntries(Object.entries(readings).filter(([, v]) => v !== 0)) };
  }
  return {
    ...identity,
    ...(ref.status !== 'Success' ? { invocationStatus: ref.status } : {}),
    critical: findings.filter((f) => f.severity === 'critical').length,
    warning: findings.filter((f) => f.severity === 'warning').length,
    checks: [...new Set(nonOk.map((f) => f.check))].join(' '),
    ...hottestFields,
    xidCount: xids.length,
    ...(xids.length
      ? { xidSummary: xids.map((x) => `${x.gpu === null ? `bus ${x.busId}` : `GPU ${x.gpu}`} Xid ${x.code} (${x.severity})`).join('; ') }
      : {}),
    readings,
    findings: nonOk,
    okChecks: findings.length - nonOk.length,
    details: boundedDetails(details),
  };
}
