/**
 * gpu.unresponsive: nvidia-smi that does not answer in time, a GPU that reports itself lost, a GPU that
 * nvidia-smi cannot open. Any of these means drain and reset or reboot.
 */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import { type GpuCheckInput, notRun } from '../check-input';
import { parseGpuList } from '../nvidia-smi';
import { gpuLabel } from './per-gpu';

export function unresponsiveCheck(input: GpuCheckInput): CheckOutcome {
  const out = emptyOutcome();
  const { nvsmiSections, seen } = input;
  let unresponsive = false;
  if (input.nvidiaSmiInstalled) {
    const timedOut = nvsmiSections.find((s) => s.timedOut);
    if (timedOut) {
      unresponsive = true;
      out.findings.push({
        check: 'gpu.unresponsive',
        severity: 'critical',
        message: `nvidia-smi did not answer within ${timedOut.seconds ?? '?'} s (${timedOut.name}): the driver may be wedged; drain the node, then reset the GPUs or reboot`,
        reading: timedOut.seconds,
      });
    } else {
      const skipped = nvsmiSections.filter((s) => notRun(s) && /time budget/.test(s.stderr));
      if (skipped.length > 0) {
        out.findings.push({
          check: 'gpu.unresponsive',
          severity: 'warning',
          message: `nvidia-smi is slow: ${skipped.map((s) => s.name).join(', ')} not run within the check's time budget`,
          reading: Math.max(0, ...nvsmiSections.map((s) => s.seconds ?? 0)),
        });
      }
    }
    for (const row of input.rows) {
      const lost = Object.entries(row.lost);
      if (lost.length > 0) {
        unresponsive = true;
        out.findings.push({
          check: 'gpu.unresponsive',
          severity: 'critical',
          message: `${gpuLabel(row.reading)} reports ${lost[0][1]}: drain the node and reset the GPU or reboot`,
          gpu: row.reading.index,
          reading: lost[0][1],
        });
      }
    }
    const inaccessible = new Set([
      ...(input.listParsed?.inaccessibleBusIds ?? parseGpuList(input.list?.stdout ?? '').inaccessibleBusIds),
      ...input.failures.filter((f) => f.kind === 'gpu-inaccessible').map((f) => f.subject ?? ''),
    ]);
    inaccessible.delete('');
    for (const busId of inaccessible) {
      unresponsive = true;
      const index = seen.get(busId);
      out.findings.push({
        check: 'gpu.unresponsive',
        severity: 'critical',
        message: `nvidia-smi cannot open the GPU at ${busId}${index !== undefined ? ` (GPU ${index} earlier this boot)` : ''}: drain the node and reboot`,
        ...(index !== undefined ? { gpu: index } : {}),
        reading: busId,
      });
    }
    if (out.findings.length === 0) {
      const slowest = Math.max(0, ...nvsmiSections.map((s) => s.seconds ?? 0));
      out.findings.push({
        check: 'gpu.unresponsive',
        severity: 'ok',
        message: `nvidia-smi answered (slowest call ${slowest} s)`,
        reading: slowest,
      });
    }
  }
  addReading(out, 'GpuUnresponsive', unresponsive ? 1 : 0, 'Count');
  return out;
}
