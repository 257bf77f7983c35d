/**
 * Turns evaluated readings into CloudWatch-shaped metrics whose cost does not grow with the fleet.
 *
 * Default (`fleet`): every metric has the single dimension set {Fleet} (plus Task for task-level
 * counters), and each host's value is one datapoint of that series. CloudWatch's Maximum, Sum and
 * SampleCount then give the hottest GPU, the unhealthy GPUs and the hosts reporting, at a price that
 * is the same for 1 host or 1,000. `instance` adds {Fleet, InstanceId} series; `gpu` also adds
 * {Fleet, InstanceId, Gpu} series for per-GPU readings. Per-host detail is always in the result itself.
 */

import { METRICS, type MetricName } from './metric-names';
import type { MetricDatum, MetricUnit } from './types';

export type MetricDetail = 'fleet' | 'instance' | 'gpu';

/** A host-level reading, e.g. GpuTemperatureMax = 59 on this host. */
export interface Reading {
  /** One of METRICS (lambda/core/metric-names.ts). */
  readonly name: MetricName;
  readonly value: number;
  readonly unit: MetricUnit;
}

/** A per-GPU reading, emitted as its own series only with detail `gpu`. */
export interface GpuMetricReading extends Reading {
  readonly gpu: number;
}

export interface MetricScope {
  readonly fleet: string;
  readonly host: string;
  readonly task: string;
  readonly detail: MetricDetail;
}

/**
 * Task-level counters every result produces, success or not. ResultsReported is 0 for an invocation
 * that never ran (e.g. DeliveryTimedOut): the coverage alarm counts hosts that reported, not events.
 */
export function taskMetrics(
  scope: MetricScope,
  outcome: { failed: boolean; critical: number; warning: number; reported?: boolean },
): MetricDatum[] {
  const dims = { Fleet: scope.fleet, Task: scope.task };
  return [
    { name: METRICS.ResultsReported, value: outcome.reported === false ? 0 : 1, unit: 'Count', dimensions: dims },
    { name: METRICS.TaskFailed, value: outcome.failed ? 1 : 0, unit: 'Count', dimensions: dims },
    { name: METRICS.FindingsCritical, value: outcome.critical, unit: 'Count', dimensions: dims },
    { name: METRICS.FindingsWarning, value: outcome.warning, unit: 'Count', dimensions: dims },
  ];
}

export function buildMetrics(
  scope: MetricScope,
  readings: readonly Reading[],
  gpuReadings: readonly GpuMetricReading[] = [],
): MetricDatum[] {
  const out: MetricDatum[] = [];
  for (const r of readings) {
    if (!Number.isFinite(r.value)) continue;
    out.push({ name: r.name, value: r.value, unit: r.unit, dimensions: { Fleet: scope.fleet } });
    if (scope.detail !== 'fleet') {
      out.push({ name: r.name, value: r.value, unit: r.unit, dimensions: { Fleet: scope.fleet, InstanceId: scope.host } });
    }
  }
  if (scope.detail === 'gpu') {
    for (const r of gpuReadings) {
      if (!Number.isFinite(r.value)) continue;
      out.push({
        name: r.name,
        value: r.value,
        unit: r.unit,
        dimensions: { Fleet: scope.fleet, InstanceId: scope.host, Gpu: String(r.gpu) },
      });
    }
  }
  return out;
}

/** Stable key of a metric series (name + dimension set), e.g. for counting billed series. */
export function seriesKey(m: MetricDatum): string {
  const dims = Object.entries(m.dimensions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return `${m.name}{${dims}}`;
}
