/** gpu.pcie: a PCIe link running below its maximum width (reseat or replace). */
import { type CheckOutcome, emptyOutcome } from '../../check-outcome';
import type { GpuCheckInput } from '../check-input';
import { gpuLabel, maxBy, perGpuFindings } from './per-gpu';

export function pcieCheck(input: GpuCheckInput): CheckOutcome {
  const { rows } = input;
  const out = emptyOutcome();
  const narrowest = maxBy(rows, (r) => (r.reading.pcieLinkWidthCurrent === null ? null : -r.reading.pcieLinkWidthCurrent));
  out.findings.push(
    ...perGpuFindings(rows, {
      check: 'gpu.pcie',
      fields: ['pcie.link.width.current', 'pcie.link.width.max'],
      evaluateGpu: (row) => {
        const width = row.reading.pcieLinkWidthCurrent;
        const max = row.pcieLinkWidthMax;
        if (width === null || max === null || width >= max) return null;
        const gen =
          row.reading.pcieLinkGenCurrent !== null && row.pcieLinkGenMax !== null
            ? ` (gen ${row.reading.pcieLinkGenCurrent} of ${row.pcieLinkGenMax})`
            : '';
        return {
          severity: 'warning',
          message: `${gpuLabel(row.reading)} PCIe link at x${width} of x${max}${gen}: reseat or replace (host-to-GPU bandwidth reduced)`,
          reading: width,
        };
      },
      ok: narrowest
        ? { message: 'every PCIe link at its full width', reading: -narrowest.value }
        : { message: 'PCIe link width not reported', reading: null },
      threshold: 'warn when the link width is below its maximum',
    }),
  );
  return out;
}
