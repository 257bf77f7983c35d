/**
 * What one check of an evaluator yields. Every evaluator (health-check, gpu-check) runs its checks as
 * separate functions returning this shape and concatenates them, so a check decides its own `ok`
 * finding from its own findings, never by counting what other checks added.
 */
import type { Reading } from './metrics';
import type { Finding } from './types';

export interface CheckOutcome {
  readonly findings: Finding[];
  readonly readings: Reading[];
  /** Merged into the task result (mounts, services, xids, ...). */
  readonly details: Record<string, unknown>;
}

export const emptyOutcome = (): CheckOutcome => ({ findings: [], readings: [], details: {} });

/** The findings, readings and details of several checks, in the order given. */
export function combineOutcomes(outcomes: readonly CheckOutcome[]): CheckOutcome {
  return {
    findings: outcomes.flatMap((o) => o.findings),
    readings: outcomes.flatMap((o) => o.readings),
    details: Object.assign({}, ...outcomes.map((o) => o.details)),
  };
}

/** Adds a reading when the value is a finite number (a value the host did not report is no datapoint). */
export function addReading(out: CheckOutcome, name: Reading['name'], value: number | null, unit: Reading['unit']): void {
  if (value !== null && Number.isFinite(value)) out.readings.push({ name, value, unit });
}
