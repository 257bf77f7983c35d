/** gpu.power: power draw as a share of the enforced limit (capping that does not hold). */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import { classify, describeLevels } from '../../thresholds';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, maxBy, perGpuFindings, powerPctOfLimit, round1 } from './per-gpu';

export function powerCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const levels = input.settings.thresholds.gpuPowerDrawPctOfLimit;
  const out = emptyOutcome();
  const highest = maxBy(rows, (r) => powerPctOfLimit(r.reading));
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.power',
      fields: ['power.draw', 'enforced.power.limit', 'power.limit'],
      evaluateGpu: (row) => {
        const pct = powerPctOfLimit(row.reading);
        const severity = classify(pct, levels);
        if (severity === 'ok') return null;
        return {
          severity,
          message: `${gpuLabel(row.reading)} draws ${row.reading.powerDrawW} W, ${pct}% of its ${row.reading.powerLimitW} W limit: power capping is not holding`,
          reading: pct,
        };
      },
      ok: highest
        ? {
            message: `power draw within limits (highest: GPU ${highest.item.reading.index} at ${highest.value}% of its limit)`,
            reading: highest.value,
          }
        : { message: 'no GPU reports power draw against a limit', reading: null },
      threshold: describeLevels(levels, 'above', '% of the power limit'),
    }),
  );
  const draws = rows.map((r) => r.reading.powerDrawW).filter((p): p is number => p !== null);
  addReading(out, 'GpuPowerDrawW', draws.length ? round1(draws.reduce((a, b) => a + b, 0)) : null, 'None');
  return out;
}
