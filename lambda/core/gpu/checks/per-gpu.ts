/**
 * The rule every per-GPU check follows: one finding per affected GPU, a warning for a GPU whose fields
 * for this check the driver failed to read, and one ok finding for the host when no GPU is affected (its
 * reading is the worst value among the GPUs). A value the driver does not report is never a breach.
 */
import type { CheckName, Finding, GpuReading, Severity } from '../../types';
import type { GpuRow } from '../nvidia-smi';

export interface GpuVerdict {
  readonly severity: Severity;
  readonly message: string;
  readonly reading?: number | string | null;
}

export interface PerGpuCheck {
  readonly check: CheckName;
  /** Query fields the check reads: a failed read of one of them is a warning under this check. */
  readonly fields: readonly string[];
  /** The GPU's verdict; null (or ok) when it is fine. */
  readonly evaluateGpu: (row: GpuRow) => GpuVerdict | null;
  /** The host's ok finding when no GPU is affected. */
  readonly ok: { readonly message: string; readonly reading?: number | string | null };
  readonly threshold: string;
}

export function gpuLabel(gpu: GpuReading): string {
  return `GPU ${gpu.index}`;
}

export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

/** The findings of one per-GPU check over the host's GPUs. */
export function perGpuFindings(rows: readonly GpuRow[], spec: PerGpuCheck): Finding[] {
  const { check, threshold } = spec;
  const findings: Finding[] = [];
  for (const row of rows) {
    const result = spec.evaluateGpu(row);
    const unreadable = spec.fields.filter((f) => row.unreadable[f] !== undefined);
    if (result && result.severity !== 'ok') {
      findings.push({
        check,
        severity: result.severity,
        message: result.message,
        gpu: row.reading.index,
        reading: result.reading ?? null,
        threshold,
      });
    } else if (unreadable.length > 0) {
      findings.push({
        check,
        severity: 'warning',
        message: `${gpuLabel(row.reading)}: ${unreadable.join(', ')} unreadable (${row.unreadable[unreadable[0]]}); the GPU may be failing`,
        gpu: row.reading.index,
        reading: null,
        threshold,
      });
    }
  }
  if (findings.length === 0) {
    findings.push({ check, severity: 'ok', message: spec.ok.message, reading: spec.ok.reading ?? null, threshold });
  }
  return findings;
}

/** The item with the largest value, or null when no item has one. */
export function maxBy<T>(items: readonly T[], value: (item: T) => number | null): { item: T; value: number } | null {
  let best: { item: T; value: number } | null = null;
  for (const item of items) {
    const v = value(item);
    if (v !== null && (best === null || v > best.value)) best = { item, value: v };
  }
  return best;
}

export function memoryUsedPct(gpu: GpuReading): number | null {
  if (gpu.memoryUsedMiB === null || gpu.memoryTotalMiB === null || gpu.memoryTotalMiB <= 0) return null;
  return round1((gpu.memoryUsedMiB / gpu.memoryTotalMiB) * 100);
}

export function powerPctOfLimit(gpu: GpuReading): number | null {
  if (gpu.powerDrawW === null || gpu.powerLimitW === null || gpu.powerLimitW <= 0) return null;
  return round1((gpu.powerDrawW / gpu.powerLimitW) * 100);
}
