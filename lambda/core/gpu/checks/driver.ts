/**
 * gpu.driver: whether nvidia-smi is installed and the driver answers, with the advice for each way it
 * fails; also whether the query's answer can be trusted at all (lambda/core/gpu/query-output.ts).
 */
import { type CheckOutcome, emptyOutcome } from '../../check-outcome';
import type { GpuCheckInput } from '../check-input';

const DRIVER_FAILURES = new Set(['driver-communication', 'version-mismatch', 'nvml-init', 'library-missing']);

const DRIVER_ADVICE: Readonly<Record<string, string>> = {
  'driver-communication': 'the kernel module is not loaded or the driver is wedged: reboot, or reinstall the driver',
  'version-mismatch': 'the driver was upgraded without a reboot: reboot (or reload the nvidia kernel modules)',
  'nvml-init': 'NVML could not start: check the driver installation and device permissions',
  'library-missing': 'libnvidia-ml.so is missing: reinstall the driver',
};

export function driverCheck(input: GpuCheckInput): CheckOutcome {
  const { rows, expected, pciGpus, instanceType } = input;
  const out = emptyOutcome();
  const driverVersion = rows.find((r) => r.driverVersion)?.driverVersion ?? (input.kernelModule || null);
  const gpusExpected = expected !== null && expected > 0;
  if (!input.nvidiaSmiInstalled) {
    const onBus = pciGpus !== null && pciGpus > 0;
    const reasons: string[] = [];
    if (onBus) reasons.push(`${pciGpus} NVIDIA GPU${pciGpus === 1 ? ' is' : 's are'} on the PCI bus`);
    if (gpusExpected) reasons.push(`${instanceType ?? 'this host'} should have ${expected} GPU${expected === 1 ? '' : 's'}`);
    out.findings.push({
      check: 'gpu.driver',
      severity: onBus || gpusExpected ? 'critical' : 'warning',
      message: `nvidia-smi not found: no NVIDIA driver installed${reasons.length ? `, but ${reasons.join(' and ')}` : ''}`,
      reading: null,
    });
    return out;
  }
  const queryDistrusted = input.queryOutcome.findings.some((f) => f.check === 'gpu.driver');
  const fatal = input.failures.find((f) => DRIVER_FAILURES.has(f.kind));
  const rejected = input.firstQueryFailures.find((f) => f.kind === 'invalid-field');
  if (fatal) {
    out.findings.push({
      check: 'gpu.driver',
      severity: 'critical',
      message: `${fatal.message} (${DRIVER_ADVICE[fatal.kind]})`,
      reading: null,
    });
  } else if (rejected) {
    const recovered = input.retry !== undefined && rows.length > 0;
    out.findings.push({
      check: 'gpu.driver',
      severity: 'warning',
      message: recovered
        ? `nvidia-smi rejected field "${rejected.subject}" although --help-query-gpu lists it (driver ${driverVersion ?? 'unknown'}); the GPUs were read without it`
        : `nvidia-smi rejected field "${rejected.subject}" as not valid to query (driver too old for it): GPU readings unavailable this run`,
      reading: rejected.subject ?? null,
    });
  } else if (!queryDistrusted) {
    out.findings.push({
      check: 'gpu.driver',
      severity: 'ok',
      message: driverVersion ? `NVIDIA driver ${driverVersion}` : 'nvidia-smi installed',
      reading: driverVersion,
    });
  }
  out.findings.push(...input.queryOutcome.findings);
  return out;
}
