/** gpu.ecc: uncorrectable ECC errors since the driver loaded, per GPU. */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import { classify, describeLevels } from '../../thresholds';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, perGpuFindings } from './per-gpu';

export function eccCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const levels = input.settings.thresholds.eccUncorrectedVolatile;
  const out = emptyOutcome();
  const reported = rows.filter((r) => r.reading.eccUncorrectedVolatile !== null);
  const sum = reported.reduce((acc, r) => acc + (r.reading.eccUncorrectedVolatile ?? 0), 0);
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.ecc',
      fields: ['ecc.errors.uncorrected.volatile.total'],
      evaluateGpu: (row) => {
        const count = row.reading.eccUncorrectedVolatile;
        const severity = classify(count, levels);
        if (severity === 'ok') return null;
        return {
          severity,
          message: `${gpuLabel(row.reading)} has ${count} uncorrectable ECC error${count === 1 ? '' : 's'} since the driver loaded: drain and reset the GPU; replace it if they recur`,
          reading: count,
        };
      },
      ok:
        reported.length > 0
          ? {
              message: `no uncorrectable ECC errors since the driver loaded (${reported.length} GPU${reported.length === 1 ? ' reports' : 's report'} ECC)`,
              reading: sum,
            }
          : { message: 'ECC not reported (ECC off or not supported by these GPUs)', reading: null },
      threshold: describeLevels(levels, 'above', 'errors'),
    }),
  );
  addReading(out, 'EccUncorrectedVolatileSum', reported.length ? sum : null, 'Count');
  return out;
}
