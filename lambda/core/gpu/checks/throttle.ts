/** gpu.throttle: clocks slowed by a fault or by heat, not by policy (idle, application clocks). */
import { type CheckOutcome, emptyOutcome } from '../../check-outcome';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, perGpuFindings } from './per-gpu';

/** Clock event reasons that mean the GPU is being slowed by a fault or by heat, not by policy. */
export const HARMFUL_THROTTLE_REASONS: readonly string[] = [
  'hw_slowdown',
  'hw_thermal_slowdown',
  'hw_power_brake_slowdown',
  'sw_thermal_slowdown',
];

export function throttleCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const out = emptyOutcome();
  const active = new Set(rows.flatMap((r) => r.reading.throttleReasonsActive ?? []));
  const reported = rows.some((r) => r.reading.throttleReasonsActive !== null);
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.throttle',
      fields: ['clocks_event_reasons.active', 'clocks_throttle_reasons.active'],
      evaluateGpu: (row) => {
        const harmful = (row.reading.throttleReasonsActive ?? []).filter((r) => HARMFUL_THROTTLE_REASONS.includes(r));
        if (harmful.length === 0) return null;
        const thermal = harmful.some((r) => r.includes('thermal'));
        return {
          severity: 'warning',
          message: `${gpuLabel(row.reading)} clocks slowed by ${harmful.join(', ')}: ${thermal ? 'check cooling' : 'check power delivery'}`,
          reading: harmful.join(','),
        };
      },
      ok: reported
        ? {
            message: `no hardware or thermal slowdown${active.size ? ` (active: ${[...active].join(', ')})` : ''}`,
            reading: [...active].join(','),
          }
        : { message: 'clock event reasons not reported', reading: null },
      threshold: `warn on ${HARMFUL_THROTTLE_REASONS.join(', ')}`,
    }),
  );
  return out;
}
