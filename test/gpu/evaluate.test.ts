/**
 * gpu-check evaluation (lambda/core/gpu/evaluate.ts) on composed script outputs: one rule per test.
 * Script runs against fakes are in gpu-check-script.test.ts.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../lambda/config/schema';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateGpuCheck } from '../../lambda/core/gpu/evaluate';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import type { Finding, TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';
import { fixture } from '../helpers/fixtures';

interface SectionSpec {
  readonly stdout?: string;
  readonly stderr?: string;
  readonly exit?: number;
  readonly seconds?: number;
}

/** A gpu-check output in the result contract, sections in the order given. */
function scriptOutput(sections: Record<string, SectionSpec>): string {
  const lines = ['@@gpu-maint v1 begin task=gpu-check host=i-0abc at=2026-11-28T12:00:00Z'];
  for (const [name, s] of Object.entries(sections)) {
    lines.push(`@@gpu-maint section ${name}`);
    if (s.stdout) lines.push(s.stdout.replace(/\n$/, ''));
    if (s.stderr) lines.push(`@@gpu-maint stderr ${name}`, s.stderr.replace(/\n$/, ''));
    lines.push(`@@gpu-maint status ${name} exit=${s.exit ?? 0} seconds=${s.seconds ?? 0.1}`);
  }
  lines.push('@@gpu-maint v1 end task=gpu-check', '');
  return lines.join('\n');
}

const HEALTHY_ROW: Record<string, string> = {
  index: '0',
  name: 'NVIDIA A100-SXM4-40GB',
  'pci.bus_id': '00000000:10:1C.0',
  uuid: 'GPU-0',
  driver_version: '550.54.15',
  'temperature.gpu': '40',
  'temperature.memory': '45',
  'utilization.gpu [%]': '50 %',
  'memory.used [MiB]': '20000 MiB',
  'memory.total [MiB]': '40960 MiB',
  'power.draw [W]': '200.00 W',
  'enforced.power.limit [W]': '400.00 W',
  'ecc.errors.uncorrected.volatile.total': '0',
  'remapped_rows.pending': 'No',
  'remapped_rows.failure': 'No',
  'retired_pages.pending': '[N/A]',
  'retired_pages.single_bit_ecc.count': '[N/A]',
  'retired_pages.double_bit.count': '[N/A]',
  'pcie.link.gen.current': '4',
  'pcie.link.gen.max': '4',
  'pcie.link.width.current': '16',
  'pcie.link.width.max': '16',
  'mig.mode.current': 'Disabled',
  gpu_recovery_action: 'None',
  'clocks_event_reasons.active': '0x0000000000000000',
};

const P4D_BUS_IDS = ['10:1C', '10:1D', '20:1C', '20:1D', '90:1C', '90:1D', 'A0:1C', 'A0:1D'].map((b) => `00000000:${b}.0`);

/** A --query-gpu CSV of n GPUs (p4d bus ids), each the healthy row with its overrides. */
function queryCsv(n: number, overrides: Record<number, Record<string, string>> = {}): string {
  const header = Object.keys(HEALTHY_ROW);
  const rows = Array.from({ length: n }, (_, i) => {
    const row: Record<string, string> = {
      ...HEALTHY_ROW,
      index: String(i),
      'pci.bus_id': P4D_BUS_IDS[i],
      uuid: `GPU-${i}`,
      ...overrides[i],
    };
    return header.map((h) => row[h]).join(', ');
  });
  return [header.join(', '), ...rows, ''].join('\n');
}

interface Scenario {
  readonly gpus?: number;
  readonly overrides?: Record<number, Record<string, string>>;
  readonly query?: SectionSpec;
  readonly list?: SectionSpec;
  readonly identity?: Record<string, string>;
  readonly driver?: Record<string, string>;
  readonly journal?: SectionSpec;
  readonly dmesg?: SectionSpec;
  readonly seen?: string;
  readonly config?: ConfigInput;
  readonly help?: SectionSpec;
  readonly retry?: SectionSpec;
}

function kvText(values: Record<string, string>): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

function evaluateScenario(s: Scenario = {}): TaskResult {
  const n = s.gpus ?? 2;
  const installed = (s.driver?.nvidia_smi ?? '/usr/bin/nvidia-smi') !== '';
  const sections: Record<string, SectionSpec> = {
    identity: {
      stdout: kvText({
        instance_type: '',
        instance_type_source: 'none',
        instance_id: 'i-0abc',
        uptime_s: '86400',
        boot_id: 'b1',
        ...s.identity,
      }),
    },
    driver: { stdout: kvText({ nvidia_smi: '/usr/bin/nvidia-smi', kernel_module: '550.54.15', pci_gpus: String(n), ...s.driver }) },
  };
  if (installed) {
    sections['nvidia-smi-help'] = s.help ?? {};
    sections['nvidia-smi-query'] = s.query ?? { stdout: queryCsv(n, s.overrides) };
    if (s.retry) sections['nvidia-smi-query-retry'] = s.retry;
    sections['nvidia-smi-list'] = s.list ?? {
      stdout: Array.from({ length: n }, (_, i) => `GPU ${i}: NVIDIA A100-SXM4-40GB (UUID: GPU-${i})`).join('\n'),
    };
    sections['gpus-seen-this-boot'] = { stdout: s.seen ?? '' };
  }
  sections['kernel-xid-journal'] = s.journal ?? {};
  if (s.dmesg) sections['kernel-xid-dmesg'] = s.dmesg;
  const config = parseConfigForTest(s.config ?? {});
  return evaluateTaskOutput(
    { task: 'gpu-check', stdout: scriptOutput(sections), exitCode: 0 },
    evaluateGpuCheck,
    evaluationSettings(config),
    new Date('2026-11-28T12:00:00Z'),
  );
}

const findingsOf = (r: TaskResult, check: string): Finding[] => r.findings.filter((f) => f.check === check);
const only = (r: TaskResult, check: string): Finding => {
  const found = findingsOf(r, check);
  expect(found, `${check}: ${JSON.stringify(found)}`).toHaveLength(1);
  return found[0];
};
const metric = (r: TaskResult, name: string) => r.metrics.find((m) => m.name === name && Object.keys(m.dimensions).length === 1)?.value;

describe('a healthy host', () => {
  test('gives exactly one ok finding per GPU check', () => {
    const r = evaluateScenario();
    expect(r.status).toBe('ok');
    expect(r.findings.map((f) => [f.check, f.severity])).toEqual(
      [
        'gpu.driver',
        'gpu.unresponsive',
        'gpu.count',
        'gpu.temperature',
        'gpu.memory',
        'gpu.ecc',
        'gpu.row-remap',
        'gpu.retired-pages',
        'gpu.throttle',
        'gpu.pcie',
        'gpu.power',
        'gpu.xid',
      ].map((c) => [c, 'ok']),
    );
  });

  test('ok findings carry the worst reading and the threshold', () => {
    const r = evaluateScenario({ overrides: { 1: { 'temperature.gpu': '61' } } });
    expect(only(r, 'gpu.temperature')).toMatchObject({ reading: 61, threshold: expect.stringContaining('warn ≥ 83, crit ≥ 90 °C') });
    expect(only(r, 'gpu.temperature').message).toContain('GPU 1 at 61 °C');
  });

  test('details carry gpus, xids, the instance type and the expected count', () => {
    const r = evaluateScenario({ identity: { instance_type: 'p4d.24xlarge', instance_type_source: 'imds' }, gpus: 8 });
    expect(r.gpus).toHaveLength(8);
    expect(r.gpus?.[7]).toMatchObject({
      index: 7,
      busId: '00000000:A0:1D.0',
      temperatureC: 40,
      memoryUsedMiB: 20000,
      powerDrawW: 200,
      powerLimitW: 400,
    });
    expect(r.xids).toEqual([]);
    expect(r).toMatchObject({ instanceType: 'p4d.24xlarge', expectedGpuCount: 8 });
  });
});

describe('gpu.count', () => {
  const p4d = { instance_type: 'p4d.24xlarge', instance_type_source: 'imds' };

  test('a GPU missing for the instance type is critical', () => {
    const f = only(evaluateScenario({ identity: p4d, gpus: 7 }), 'gpu.count');
    expect(f).toMatchObject({ severity: 'critical', reading: 7 });
    expect(f.message).toContain('7 GPUs visible, 8 expected for p4d.24xlarge');
  });

  test('within the boot grace period a missing GPU is a warning', () => {
    const f = only(evaluateScenario({ identity: { ...p4d, uptime_s: '120' }, gpus: 7 }), 'gpu.count');
    expect(f).toMatchObject({ severity: 'warning', reading: 7 });
    expect(f.message).toContain('recheck');
  });

  test('the configured count wins over the instance type', () => {
    const f = only(evaluateScenario({ identity: p4d, gpus: 7, config: { gpuCheck: { expectedGpuCount: 7 } } }), 'gpu.count');
    expect(f).toMatchObject({ severity: 'ok', message: '7 of 7 GPUs visible' });
  });

  test('more GPUs than expected is a warning (likely a wrong expectedGpuCount)', () => {
    expect(only(evaluateScenario({ gpus: 2, config: { gpuCheck: { expectedGpuCount: 1 } } }), 'gpu.count').severity).toBe('warning');
  });

  test('a GPU seen earlier this boot and now gone is critical even without an expected count', () => {
    const f = only(evaluateScenario({ gpus: 1, seen: '00000000:10:1C.0 0\n00000000:10:1D.0 1\n' }), 'gpu.count');
    expect(f).toMatchObject({ severity: 'critical', gpu: 1 });
    expect(f.message).toContain('GPU 1 (00000000:10:1D.0)');
  });

  test('"No devices were found" is critical when GPUs are expected', () => {
    const r = evaluateScenario({
      identity: p4d,
      query: { stdout: 'No devices were found\n', exit: 6 },
      list: { stdout: 'No devices were found\n', exit: 6 },
    });
    expect(only(r, 'gpu.count')).toMatchObject({ severity: 'critical', reading: 0 });
    expect(metric(r, 'GpusMissing')).toBe(8);
  });

  test('"No devices were found" with no GPU on the PCI bus and none expected is a warning', () => {
    const r = evaluateScenario({
      driver: { pci_gpus: '0' },
      query: { stdout: 'No devices were found\n', exit: 6 },
      list: { stdout: 'No devices were found\n', exit: 6 },
    });
    expect(only(r, 'gpu.count').severity).toBe('warning');
  });
});

describe('gpu.driver', () => {
  test('no nvidia-smi on a host that expects no GPU is a warning, with no other GPU check', () => {
    const r = evaluateScenario({ driver: { nvidia_smi: '', kernel_module: '', pci_gpus: '0' } });
    expect(only(r, 'gpu.driver')).toMatchObject({ severity: 'warning', message: 'nvidia-smi not found: no NVIDIA driver installed' });
    expect(r.findings.map((f) => f.check)).toEqual(['gpu.driver', 'gpu.xid']);
    expect(only(r, 'gpu.xid').severity).toBe('ok');
  });

  test('no nvidia-smi on a known GPU instance type is critical', () => {
    const r = evaluateScenario({ driver: { nvidia_smi: '', kernel_module: '', pci_gpus: '0' }, identity: { instance_type: 'g5.xlarge' } });
    expect(only(r, 'gpu.driver')).toMatchObject({ severity: 'critical', message: expect.stringContaining('g5.xlarge should have 1 GPU') });
    expect(metric(r, 'GpusMissing')).toBe(1);
  });

  test('no nvidia-smi while NVIDIA GPUs sit on the PCI bus is critical', () => {
    const r = evaluateScenario({ driver: { nvidia_smi: '', kernel_module: '', pci_gpus: '4' } });
    expect(only(r, 'gpu.driver')).toMatchObject({
      severity: 'critical',
      message: expect.stringContaining('4 NVIDIA GPUs are on the PCI bus'),
    });
  });

  test('the driver-communication failure is critical', () => {
    const msg =
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.";
    const r = evaluateScenario({ query: { stdout: `${msg}\n`, exit: 9 }, list: { stdout: `${msg}\n`, exit: 9 } });
    expect(only(r, 'gpu.driver')).toMatchObject({ severity: 'critical', message: expect.stringContaining(msg) });
    expect(findingsOf(r, 'gpu.count')).toEqual([]);
  });

  test('a driver/library version mismatch is critical and says to reboot', () => {
    const r = evaluateScenario({ query: { stdout: 'Failed to initialize NVML: Driver/library version mismatch\n', exit: 18 } });
    expect(only(r, 'gpu.driver')).toMatchObject({ severity: 'critical', message: expect.stringContaining('reboot') });
  });

  test('an invalid field that the retry worked around is a warning, and the GPUs are still read', () => {
    const r = evaluateScenario({
      query: { stdout: 'Field "remapped_rows.pending" is not a valid field to query.\n\n', exit: 2 },
      retry: { stdout: queryCsv(2) },
    });
    expect(only(r, 'gpu.driver')).toMatchObject({ severity: 'warning', reading: 'remapped_rows.pending' });
    expect(r.gpus).toHaveLength(2);
    expect(only(r, 'gpu.temperature').severity).toBe('ok');
  });

  test('an invalid field without a successful retry says readings are unavailable', () => {
    const r = evaluateScenario({ query: { stdout: 'Field "foo.bar" is not a valid field to query.\n', exit: 2 } });
    expect(only(r, 'gpu.driver')).toMatchObject({ severity: 'warning', message: expect.stringContaining('GPU readings unavailable') });
  });
});

describe('gpu.unresponsive', () => {
  test('a timed-out nvidia-smi is critical', () => {
    const r = evaluateScenario({
      help: { exit: 124, seconds: 15.02, stderr: '' },
      query: { stderr: 'not run: nvidia-smi did not answer (nvidia-smi-help timed out)', exit: 125, seconds: 0 },
      list: { stderr: 'not run: nvidia-smi did not answer (nvidia-smi-help timed out)', exit: 125, seconds: 0 },
    });
    expect(only(r, 'gpu.unresponsive')).toMatchObject({
      severity: 'critical',
      reading: 15.02,
      message: expect.stringContaining('nvidia-smi-help'),
    });
    expect(metric(r, 'GpuUnresponsive')).toBe(1);
  });

  test('a call not run for lack of time is a warning', () => {
    const r = evaluateScenario({ list: { stderr: 'not run: time budget spent (40s of 50s used)', exit: 125, seconds: 0 } });
    expect(only(r, 'gpu.unresponsive')).toMatchObject({ severity: 'warning', message: expect.stringContaining('nvidia-smi-list') });
  });

  test('a GPU reporting [GPU is lost] is critical on that GPU', () => {
    const lost = Object.fromEntries(
      Object.keys(HEALTHY_ROW)
        .filter((k) => !['index', 'pci.bus_id'].includes(k))
        .map((k) => [k, '[GPU is lost]']),
    );
    const r = evaluateScenario({ overrides: { 1: lost } });
    expect(only(r, 'gpu.unresponsive')).toMatchObject({ severity: 'critical', gpu: 1 });
    expect(r.gpus?.[1].temperatureC).toBeNull();
  });

  test('a GPU nvidia-smi cannot open is critical, named by its index earlier this boot', () => {
    const r = evaluateScenario({
      gpus: 1,
      seen: '00000000:10:1C.0 0\n00000000:10:1D.0 1\n',
      list: {
        stdout: 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-0)\nUnable to determine the device handle for GPU0000:10:1D.0: Unknown Error\n',
        exit: 15,
      },
    });
    expect(only(r, 'gpu.unresponsive')).toMatchObject({ severity: 'critical', gpu: 1, reading: '00000000:10:1D.0' });
  });
});

describe('per-GPU thresholds', () => {
  test.each([
    ['temperature.gpu', '84', 'gpu.temperature', 'warning'],
    ['temperature.gpu', '91', 'gpu.temperature', 'critical'],
    ['temperature.memory', '96', 'gpu.temperature', 'critical'],
    ['memory.used [MiB]', '40500 MiB', 'gpu.memory', 'warning'],
    ['ecc.errors.uncorrected.volatile.total', '1', 'gpu.ecc', 'critical'],
    ['remapped_rows.pending', 'Yes', 'gpu.row-remap', 'warning'],
    ['remapped_rows.failure', 'Yes', 'gpu.row-remap', 'critical'],
    ['retired_pages.pending', 'Yes', 'gpu.retired-pages', 'warning'],
    ['retired_pages.double_bit.count', '60', 'gpu.retired-pages', 'critical'],
    ['retired_pages.single_bit_ecc.count', '50', 'gpu.retired-pages', 'warning'],
    ['clocks_event_reasons.active', '0x0000000000000008', 'gpu.throttle', 'warning'],
    ['clocks_event_reasons.active', '0x0000000000000040', 'gpu.throttle', 'warning'],
    ['clocks_event_reasons.active', '0x0000000000000080', 'gpu.throttle', 'warning'],
    ['clocks_event_reasons.active', '0x0000000000000020', 'gpu.throttle', 'warning'],
    ['clocks_event_reasons.active', '0x0000000000000004', 'gpu.throttle', 'ok'],
    ['clocks_event_reasons.active', '0x0000000000000001', 'gpu.throttle', 'ok'],
    ['pcie.link.width.current', '8', 'gpu.pcie', 'warning'],
    ['pcie.link.gen.current', '1', 'gpu.pcie', 'ok'],
    ['power.draw [W]', '440.00 W', 'gpu.power', 'warning'],
    ['power.draw [W]', '500.00 W', 'gpu.power', 'critical'],
  ])('%s = %s on GPU 1 → %s %s', (field, value, check, severity) => {
    const r = evaluateScenario({ overrides: { 1: { [field]: value } } });
    const f = only(r, check);
    expect(f.severity).toBe(severity);
    if (severity !== 'ok') expect(f.gpu).toBe(1);
  });

  test('one finding per affected GPU', () => {
    const r = evaluateScenario({ gpus: 4, overrides: { 1: { 'temperature.gpu': '91' }, 3: { 'temperature.gpu': '85' } } });
    expect(findingsOf(r, 'gpu.temperature').map((f) => [f.gpu, f.severity, f.reading])).toEqual([
      [1, 'critical', 91],
      [3, 'warning', 85],
    ]);
    expect(metric(r, 'GpusUnhealthy')).toBe(2);
  });

  test('thresholds come from config', () => {
    const r = evaluateScenario({
      overrides: { 0: { 'temperature.gpu': '70' } },
      config: { thresholds: { gpuTemperatureC: { warning: 65, critical: 75 } } },
    });
    expect(only(r, 'gpu.temperature')).toMatchObject({
      severity: 'warning',
      gpu: 0,
      threshold: expect.stringContaining('warn ≥ 65, crit ≥ 75 °C'),
    });
  });

  test('a temperature that reads [N/A] is never 0 °C and never a breach', () => {
    const r = evaluateScenario({
      gpus: 1,
      overrides: { 0: { 'temperature.gpu': '[N/A]', 'temperature.memory': '[N/A]' } },
      config: { thresholds: { gpuTemperatureC: { warning: -10, critical: 0 } } },
    });
    expect(r.gpus?.[0].temperatureC).toBeNull();
    expect(only(r, 'gpu.temperature')).toMatchObject({ severity: 'ok', reading: null });
    expect(metric(r, 'GpuTemperatureMax')).toBeUndefined();
  });

  test.each([
    ['temperature.gpu', 'gpu.temperature'],
    ['power.draw [W]', 'gpu.power'],
    ['memory.used [MiB]', 'gpu.memory'],
    ['ecc.errors.uncorrected.volatile.total', 'gpu.ecc'],
  ])('[Unknown Error] in %s is a warning on that GPU under %s, not a 0', (field, check) => {
    const r = evaluateScenario({ overrides: { 1: { [field]: '[Unknown Error]' } } });
    expect(only(r, check)).toMatchObject({ severity: 'warning', gpu: 1, message: expect.stringContaining('[Unknown Error]') });
  });

  test('MIG mode hides utilization and row remapping without false alarms', () => {
    const csv = readFileSync(fixture('nvidia-smi', 'captures', 'linux-x86_64__nvidia-h100-mig__590.48.01__load__query-gpu.csv'), 'utf8');
    const r = evaluateScenario({ gpus: 1, query: { stdout: csv } });
    expect(r.status).toBe('ok');
    expect(r.gpus?.[0]).toMatchObject({ migMode: 'Enabled', utilizationPct: null, remappedRowsPending: null });
    expect(metric(r, 'GpuUtilizationAvg')).toBeUndefined();
  });
});

describe('gpu.xid', () => {
  test('Xid 79 is critical and names the GPU index', () => {
    const r = evaluateScenario({
      journal: {
        stdout:
          "2026-11-28T11:58:00+0000 ip-10-0-0-1 kernel: NVRM: Xid (PCI:0000:10:1d): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n",
      },
    });
    const f = only(r, 'gpu.xid');
    expect(f).toMatchObject({ severity: 'critical', gpu: 1, reading: '79' });
    expect(f.message).toMatch(/^GPU 1 \(00000000:10:1D.0\): Xid 79: .*fallen off the bus.*reboot/);
    expect(r.xids).toEqual([
      {
        code: 79,
        busId: '00000000:10:1D.0',
        gpu: 1,
        severity: 'critical',
        count: 1,
        message: expect.stringContaining('fallen off the bus'),
      },
    ]);
    expect(metric(r, 'XidCritical')).toBe(1);
  });

  test('an Xid on a GPU no longer listed is named by its index earlier this boot', () => {
    const r = evaluateScenario({
      gpus: 1,
      seen: '00000000:10:1C.0 0\n00000000:10:1D.0 1\n',
      journal: { stdout: 'kernel: NVRM: Xid (PCI:0000:10:1d): 79, GPU has fallen off the bus.\n' },
    });
    expect(only(r, 'gpu.xid')).toMatchObject({ severity: 'critical', gpu: 1 });
  });

  test('an Xid on an unknown bus id names the bus id', () => {
    const r = evaluateScenario({ journal: { stdout: 'NVRM: Xid (PCI:0000:2b:00): 48, pid=1, name=x, DBE\n' } });
    const f = only(r, 'gpu.xid');
    expect(f.gpu).toBeUndefined();
    expect(f.message).toContain('GPU at 00000000:2B:00.0 (not listed by nvidia-smi)');
  });

  test('codes NVIDIA says to ignore are listed but ok', () => {
    const r = evaluateScenario({ journal: { stdout: 'NVRM: Xid (PCI:0000:10:1c): 14, Channel 00000001\n' } });
    expect(only(r, 'gpu.xid')).toMatchObject({ severity: 'ok', reading: 1 });
    expect(r.xids).toHaveLength(1);
  });

  test('many lines of one incident are one event per GPU and code', () => {
    const line = 'NVRM: Xid (PCI:0000:10:1c): 13, pid=1, name=python, Graphics SM Warp Exception';
    const r = evaluateScenario({ journal: { stdout: `${line}\n${line}\n${line}\n` } });
    expect(r.xids).toEqual([expect.objectContaining({ code: 13, gpu: 0, count: 3, severity: 'warning' })]);
    expect(only(r, 'gpu.xid').message).toContain('Xid 13 ×3');
    expect(metric(r, 'XidEvents')).toBe(3);
  });

  test('the driver asking for a GPU reset (gpu_recovery_action) is critical', () => {
    const r = evaluateScenario({ overrides: { 0: { gpu_recovery_action: 'Reset' } } });
    expect(only(r, 'gpu.xid')).toMatchObject({ severity: 'critical', gpu: 0, reading: 'Reset' });
  });

  test('the dmesg fallback is read when the journal has no files', () => {
    const r = evaluateScenario({
      journal: { stderr: 'No journal files were found.', stdout: '' },
      dmesg: { stdout: '[  966.503025] NVRM: Xid (PCI:0000:10:1c): 79, GPU has fallen off the bus.\n' },
    });
    expect(only(r, 'gpu.xid')).toMatchObject({ severity: 'critical', gpu: 0 });
  });

  test('an unreadable kernel log is a warning on a host with the driver', () => {
    const r = evaluateScenario({
      journal: { stderr: 'Hint: You are currently not seeing messages from other users and the system.' },
      dmesg: { stderr: 'dmesg: read kernel buffer failed: Operation not permitted', exit: 1 },
    });
    expect(only(r, 'gpu.xid')).toMatchObject({ severity: 'warning', message: expect.stringContaining('Operation not permitted') });
  });

  test('an unreadable kernel log is ok on a host without the driver', () => {
    const r = evaluateScenario({
      driver: { nvidia_smi: '', kernel_module: '', pci_gpus: '0' },
      dmesg: { stderr: 'dmesg: read kernel buffer failed: Operation not permitted', exit: 1 },
      journal: { stderr: 'No journal files were found.' },
    });
    expect(only(r, 'gpu.xid').severity).toBe('ok');
  });
});

describe('metrics', () => {
  test('fleet-level readings by default', () => {
    const r = evaluateScenario({
      gpus: 2,
      overrides: { 1: { 'temperature.gpu': '60', 'utilization.gpu [%]': '100 %', 'power.draw [W]': '300.00 W' } },
    });
    expect(metric(r, 'GpusReported')).toBe(2);
    expect(metric(r, 'GpuTemperatureMax')).toBe(60);
    expect(metric(r, 'GpuUtilizationAvg')).toBe(75);
    expect(metric(r, 'GpuPowerDrawW')).toBe(500);
    expect(metric(r, 'GpuMemoryUsedPctMax')).toBe(48.8);
    expect(metric(r, 'EccUncorrectedVolatileSum')).toBe(0);
    expect(metric(r, 'GpusMissing')).toBe(0);
    expect(r.metrics.every((m) => m.dimensions.Gpu === undefined && m.dimensions.InstanceId === undefined)).toBe(true);
  });

  test('per-GPU series only with metrics.detail gpu', () => {
    const r = evaluateScenario({ gpus: 2, config: { metrics: { detail: 'gpu' } } });
    const perGpu = r.metrics.filter((m) => m.dimensions.Gpu !== undefined);
    expect(perGpu.map((m) => `${m.name}/${m.dimensions.Gpu}`).sort()).toEqual([
      'GpuMemoryUsedPct/0',
      'GpuMemoryUsedPct/1',
      'GpuPowerDraw/0',
      'GpuPowerDraw/1',
      'GpuTemperature/0',
      'GpuTemperature/1',
      'GpuUtilization/0',
      'GpuUtilization/1',
    ]);
  });
});
