/** gpu.row-remap: pending (reset to apply) or failed (no spare rows) row remapping, per GPU. */
import { type CheckOutcome, emptyOutcome } from '../../check-outcome';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, perGpuFindings } from './per-gpu';

export function rowRemapCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const out = emptyOutcome();
  const reported = rows.filter((r) => r.reading.remappedRowsPending !== null || r.reading.remappedRowsFailure !== null);
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.row-remap',
      fields: ['remapped_rows.pending', 'remapped_rows.failure'],
      evaluateGpu: (row) => {
        if (row.reading.remappedRowsFailure) {
          return {
            severity: 'critical',
            message: `${gpuLabel(row.reading)}: row remapping failed (no spare rows left): replace the GPU`,
            reading: 'failure',
          };
        }
        if (row.reading.remappedRowsPending) {
          return {
            severity: 'warning',
            message: `${gpuLabel(row.reading)}: row remapping pending: reset the GPU at the next drain to apply it`,
            reading: 'pending',
          };
        }
        return null;
      },
      ok:
        reported.length > 0
          ? { message: 'no pending or failed row remapping', reading: 'none' }
          : { message: 'row remapping not reported (MIG mode, or GPUs without row remapping)', reading: null },
      threshold: 'warn on pending, crit on failure',
    }),
  );
  return out;
}
