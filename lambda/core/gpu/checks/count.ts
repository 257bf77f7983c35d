/**
 * gpu.count: GPUs visible against those the host should have and those seen earlier this boot. Right
 * after boot NVML can briefly list fewer GPUs, so a shortfall then is a warning; a GPU already seen this
 * boot has no such excuse.
 */
import { addReading, type CheckOutcome, emptyOutcome } from '../../check-outcome';
import type { Severity } from '../../types';
import type { GpuCheckInput } from '../check-input';

export interface GpuCount {
  /** GPUs nvidia-smi lists; null when it gave no usable answer. */
  readonly visible: number | null;
  /** GPUs short of the expected count or gone since earlier this boot (0 without nvidia-smi). */
  readonly missing: number;
  /** Bus id and index of the GPUs seen earlier this boot that nvidia-smi no longer lists. */
  readonly gone: ReadonlyArray<readonly [string, number]>;
  readonly haveTable: boolean;
}

export function countGpus(input: GpuCheckInput): GpuCount {
  const { rows, listParsed, expected } = input;
  const query = input.queryOutcome.query;
  const haveTable = query !== null && query.fields.length > 0;
  // nvidia-smi with no GPUs says "No devices were found" (exit 6): an empty answer with exit 0 counts nothing.
  const visible =
    haveTable && rows.length > 0
      ? rows.length
      : input.noDevices
        ? 0
        : listParsed && listParsed.gpus.length > 0
          ? listParsed.gpus.length
          : null;
  if (!input.nvidiaSmiInstalled || visible === null) return { visible, missing: 0, gone: [], haveTable };
  const currentBusIds = new Set(rows.map((r) => r.reading.busId).filter((b): b is string => b !== null));
  const gone = haveTable ? [...input.seen.entries()].filter(([busId]) => !currentBusIds.has(busId)) : [];
  const shortBy = expected !== null ? expected - visible : 0;
  return { visible, missing: Math.max(shortBy, gone.length, 0), gone, haveTable };
}

export function countCheck(input: GpuCheckInput): CheckOutcome {
  const out = emptyOutcome();
  const { expected, instanceType, pciGpus, noDevices } = input;
  const { expectedGpuCount, bootGraceMinutes } = input.settings.gpuCheck;
  const { visible, missing, gone } = countGpus(input);
  addReading(out, 'GpusReported', visible ?? 0, 'Count');
  addReading(out, 'GpusMissing', input.nvidiaSmiInstalled ? missing : (expected ?? 0), 'Count');
  if (!input.nvidiaSmiInstalled || visible === null) return out;

  const goneText = gone.map(([busId, index]) => `GPU ${index} (${busId})`).join(', ');
  const shortBy = expected !== null ? expected - visible : 0;
  const expectation =
    expected !== null ? `${expected} expected${expectedGpuCount === 'auto' && instanceType ? ` for ${instanceType}` : ''}` : null;
  const threshold =
    expected !== null
      ? `crit below ${expected} (warning within ${bootGraceMinutes} min of boot)`
      : 'crit when a GPU seen this boot is gone';
  if (shortBy > 0 || gone.length > 0) {
    const severity: Severity = gone.length === 0 && input.inBootGrace ? 'warning' : 'critical';
    const parts = [`${visible} GPU${visible === 1 ? '' : 's'} visible${expectation ? `, ${expectation}` : ''}`];
    if (gone.length > 0) parts.push(`gone since earlier this boot: ${goneText}`);
    if (severity === 'warning') parts.push(`up ${Math.round((input.uptimeS ?? 0) / 60)} min: recheck before acting`);
    else
      parts.push(
        noDevices
          ? 'nvidia-smi found no devices'
          : 'a GPU fell off the bus or failed to initialise: drain the node and reboot; replace the instance if it persists',
      );
    out.findings.push({
      check: 'gpu.count',
      severity,
      message: parts.join('; '),
      ...(gone.length === 1 ? { gpu: gone[0][1] } : {}),
      reading: visible,
      threshold,
    });
  } else if (expected !== null && visible > expected) {
    out.findings.push({
      check: 'gpu.count',
      severity: 'warning',
      message: `${visible} GPUs visible, more than the ${expectation}: check gpuCheck.expectedGpuCount`,
      reading: visible,
      threshold,
    });
  } else if (noDevices) {
    const onBus = pciGpus !== null && pciGpus > 0;
    out.findings.push({
      check: 'gpu.count',
      severity: onBus ? 'critical' : 'warning',
      message: onBus
        ? `nvidia-smi found no devices, but ${pciGpus} NVIDIA GPU${pciGpus === 1 ? ' is' : 's are'} on the PCI bus: the driver failed to initialise them; reboot`
        : 'nvidia-smi found no devices: the NVIDIA driver is installed on a host without GPUs',
      reading: 0,
      threshold,
    });
  } else {
    out.findings.push({
      check: 'gpu.count',
      severity: 'ok',
      message:
        expected !== null
          ? `${visible} of ${expected} GPU${expected === 1 ? '' : 's'} visible`
          : `${visible} GPU${visible === 1 ? '' : 's'} visible (no expected count: set gpuCheck.expectedGpuCount or run on a known instance type)`,
      reading: visible,
      threshold,
    });
  }
  return out;
}
