/** gpu.retired-pages: pages retired for ECC errors (NVIDIA advises replacement at 60), and pending retirement. */
import { type CheckOutcome, emptyOutcome } from '../../check-outcome';
import { classify, describeLevels } from '../../thresholds';
import { worstSeverity } from '../../types';
import type { GpuCheckInput } from '../check-input';
import type { GpuRow } from '../nvidia-smi';
import { gpuLabel, maxBy, perGpuFindings } from './per-gpu';

function retiredPagesTotal(row: GpuRow): number | null {
  if (row.retiredPagesSingleBit === null && row.retiredPagesDoubleBit === null) return null;
  return (row.retiredPagesSingleBit ?? 0) + (row.retiredPagesDoubleBit ?? 0);
}

export function retiredPagesCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const levels = input.settings.thresholds.retiredPagesTotal;
  const out = emptyOutcome();
  const most = maxBy(rows, retiredPagesTotal);
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.retired-pages',
      fields: [
        'retired_pages.pending',
        'retired_pages.single_bit_ecc.count',
        'retired_pages.double_bit.count',
        'retired_pages.sbe',
        'retired_pages.dbe',
      ],
      evaluateGpu: (row) => {
        const total = retiredPagesTotal(row);
        let severity = classify(total, levels);
        const parts: string[] = [];
        if (severity !== 'ok') parts.push(`${total} retired pages (NVIDIA advises replacement at 60)`);
        if (row.reading.retiredPagesPending) {
          severity = worstSeverity([severity, 'warning']);
          parts.push('page retirement pending: reset the GPU or reboot to retire them');
        }
        if (severity === 'ok') return null;
        return { severity, message: `${gpuLabel(row.reading)}: ${parts.join('; ')}`, reading: total };
      },
      ok: most
        ? { message: `retired pages within limits (most: GPU ${most.item.reading.index} with ${most.value})`, reading: most.value }
        : { message: 'page retirement not reported (GPUs that use row remapping, or without ECC)', reading: null },
      threshold: `${describeLevels(levels, 'above', 'pages')}; warn on pending`,
    }),
  );
  return out;
}
