/** gpu.memory: share of each GPU's memory in use against its levels. */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import { classify, describeLevels } from '../../thresholds';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, maxBy, memoryUsedPct, perGpuFindings } from './per-gpu';

export function memoryCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const levels = input.settings.thresholds.gpuMemoryUsedPct;
  const out = emptyOutcome();
  const fullest = maxBy(rows, (r) => memoryUsedPct(r.reading));
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.memory',
      fields: ['memory.used', 'memory.total'],
      evaluateGpu: (row) => {
        const pct = memoryUsedPct(row.reading);
        const severity = classify(pct, levels);
        if (severity === 'ok') return null;
        return {
          severity,
          message: `${gpuLabel(row.reading)} memory ${pct}% used (${row.reading.memoryUsedMiB} of ${row.reading.memoryTotalMiB} MiB)`,
          reading: pct,
        };
      },
      ok: fullest
        ? {
            message: `GPU memory use within limits (fullest: GPU ${fullest.item.reading.index} at ${fullest.value}%)`,
            reading: fullest.value,
          }
        : { message: 'no GPU reports its memory use', reading: null },
      threshold: describeLevels(levels, 'above', '%'),
    }),
  );
  addReading(out, 'GpuMemoryUsedPctMax', fullest?.value ?? null, 'Percent');
  return out;
}
