/**
 * Composes a gpu-check script output (the result contract, scripts/gpu-check.sh's sections) for tests
 * and benchmarks of the collector: n GPUs of a p4d-like host with chosen temperatures and Xid lines.
 */
import { GPU_CHECK_SECTIONS } from '../../lambda/core/gpu/check-input';

const BUS_IDS = ['10:1C', '10:1D', '20:1C', '20:1D', '90:1C', '90:1D', 'A0:1C', 'A0:1D'].map((b) => `00000000:${b}.0`);

const HEADER = [
  'index',
  'name',
  'pci.bus_id',
  'uuid',
  'driver_version',
  'temperature.gpu',
  'temperature.memory',
  'utilization.gpu [%]',
  'memory.used [MiB]',
  'memory.total [MiB]',
  'power.draw [W]',
  'enforced.power.limit [W]',
  'ecc.errors.uncorrected.volatile.total',
  'remapped_rows.pending',
  'remapped_rows.failure',
  'retired_pages.pending',
  'pcie.link.gen.current',
  'pcie.link.gen.max',
  'pcie.link.width.current',
  'pcie.link.width.max',
  'mig.mode.current',
  'clocks_event_reasons.active',
];

export interface GpuCheckOutputOptions {
  readonly host: string;
  /** @default 8 */
  readonly gpus?: number;
  /** Temperature per GPU index; others are 40 °C. */
  readonly temperatures?: Readonly<Record<number, number>>;
  /** Kernel log lines for the Xid section, e.g. `NVRM: Xid (PCI:0000:10:1d): 79, GPU has fallen off the bus.` */
  readonly xidLines?: readonly string[];
  /** @default '2026-11-28T12:00:00Z' */
  readonly at?: string;
}

export function gpuCheckOutput(o: GpuCheckOutputOptions): string {
  const n = o.gpus ?? 8;
  const rows = Array.from({ length: n }, (_, i) =>
    [
      String(i),
      'NVIDIA A100-SXM4-40GB',
      BUS_IDS[i % BUS_IDS.length],
      `GPU-${i}`,
      '550.54.15',
      String(o.temperatures?.[i] ?? 40),
      '45',
      '50 %',
      '20000 MiB',
      '40960 MiB',
      '200.00 W',
      '400.00 W',
      '0',
      'No',
      'No',
      '[N/A]',
      '4',
      '4',
      '16',
      '16',
      'Disabled',
      '0x0000000000000000',
    ].join(', '),
  );
  const sections: [string, string][] = [
    [GPU_CHECK_SECTIONS.identity, `instance_type=\ninstance_type_source=none\ninstance_id=${o.host}\nuptime_s=86400\nboot_id=b1`],
    [GPU_CHECK_SECTIONS.driver, `nvidia_smi=/usr/bin/nvidia-smi\nkernel_module=550.54.15\npci_gpus=${n}`],
    [GPU_CHECK_SECTIONS.help, ''],
    [GPU_CHECK_SECTIONS.query, [HEADER.join(', '), ...rows].join('\n')],
    [GPU_CHECK_SECTIONS.list, Array.from({ length: n }, (_, i) => `GPU ${i}: NVIDIA A100-SXM4-40GB (UUID: GPU-${i})`).join('\n')],
    [GPU_CHECK_SECTIONS.seen, ''],
    [GPU_CHECK_SECTIONS.journal, (o.xidLines ?? []).join('\n')],
  ];
  const lines = [`@@gpu-maint v1 begin task=gpu-check host=${o.host} at=${o.at ?? '2026-11-28T12:00:00Z'}`];
  for (const [name, stdout] of sections) {
    lines.push(`@@gpu-maint section ${name}`);
    if (stdout) lines.push(stdout);
    lines.push(`@@gpu-maint status ${name} exit=0 seconds=0.1`);
  }
  lines.push('@@gpu-maint v1 end task=gpu-check', '');
  return lines.join('\n');
}
