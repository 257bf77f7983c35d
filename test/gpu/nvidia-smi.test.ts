/** nvidia-smi CSV, -L and failure-message parsing (lambda/core/gpu/nvidia-smi.ts). */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import {
  decodeClockEventReasons,
  detectNvidiaSmiFailures,
  parseCsvTable,
  parseGpuList,
  parseGpuQuery,
  parseGpuQueryRows,
  valueKind,
} from '../../lambda/core/gpu/nvidia-smi';
import { fixture } from '../helpers/fixtures';
import { CAPTURE_EXPECTATIONS } from './capture-expectations';

const capture = (name: string) => readFileSync(fixture('nvidia-smi', 'captures', name), 'utf8');

describe('values nvidia-smi prints instead of a number', () => {
  test.each([
    ['[N/A]'],
    ['N/A'],
    ['[Not Supported]'],
    ['[Unknown Error]'],
    ['[Requested functionality has been deprecated]'],
    [''],
    ['[GPU is lost]'],
  ])('temperature %j parses to null, never 0', (raw) => {
    // GIVEN a one-GPU query whose temperature is raw
    const csv = `index, temperature.gpu, memory.used [MiB]\n0, ${raw}, 10 MiB\n`;
    // WHEN it is parsed
    const [gpu] = parseGpuQuery(csv);
    // THEN the temperature is null while the other value is read
    expect(gpu.temperatureC).toBeNull();
    expect(gpu.memoryUsedMiB).toBe(10);
  });

  test.each([
    ['[N/A]', 'unavailable'],
    ['N/A', 'unavailable'],
    ['[Not Supported]', 'unavailable'],
    ['[Requested functionality has been deprecated]', 'unavailable'],
    ['', 'unavailable'],
    ['[Unknown Error]', 'error'],
    ['[GPU is lost]', 'lost'],
    ['[GPU requires reset]', 'lost'],
    ['47', 'value'],
    ['Not Active', 'value'],
  ])('%j is a cell of kind %s', (raw, kind) => {
    expect(valueKind(raw)).toBe(kind);
  });
});

describe('columns by header name, with or without units', () => {
  test.each([
    ['units in values', 'index, memory.used [MiB], utilization.gpu [%], power.draw [W]\n0, 81559 MiB, 100 %, 631.95 W\n'],
    ['nounits', 'index, memory.used [MiB], utilization.gpu [%], power.draw [W]\n0, 81559, 100, 631.95\n'],
    ['columns in another order', 'power.draw [W], utilization.gpu [%], index, memory.used [MiB]\n631.95 W, 100 %, 0, 81559 MiB\n'],
  ])('%s', (_case, csv) => {
    const [gpu] = parseGpuQuery(csv);
    expect(gpu).toMatchObject({ index: 0, memoryUsedMiB: 81559, utilizationPct: 100, powerDrawW: 631.95 });
  });

  test('a blank line between the header and the rows is skipped (as pasted in MindMiner issue #627)', () => {
    const csv =
      'name, utilization.gpu [%], temperature.gpu, power.draw [W], power.limit [W], power.default_limit [W]\n\nGeForce RTX 2080 Ti, 100, 56, 228.82, 210.00, [Unknown Error]\n';
    const { rows } = parseGpuQueryRows(csv);
    expect(rows).toHaveLength(1);
    expect(rows[0].reading).toMatchObject({
      index: 0,
      name: 'GeForce RTX 2080 Ti',
      utilizationPct: 100,
      temperatureC: 56,
      powerDrawW: 228.82,
      powerLimitW: 210,
    });
    expect(rows[0].unreadable).toEqual({ 'power.default_limit': '[Unknown Error]' });
  });

  test('aliases name the same fields (gpu_name, gpu_bus_id, gpu.power.current_limit)', () => {
    const csv = 'index, gpu_name, gpu_bus_id, gpu.power.current_limit [W]\n3, NVIDIA A10G, 00000000:00:1E.0, 300.00 W\n';
    expect(parseGpuQuery(csv)[0]).toMatchObject({ index: 3, name: 'NVIDIA A10G', busId: '00000000:00:1E.0', powerLimitW: 300 });
  });

  test('the enforced power limit is preferred over the requested one', () => {
    const csv = 'index, power.limit [W], enforced.power.limit [W]\n0, 400.00 W, 350.00 W\n';
    expect(parseGpuQuery(csv)[0].powerLimitW).toBe(350);
  });

  test('pending flags read Yes/No into booleans, [N/A] into null (MIG hides row remapping)', () => {
    const csv = 'index, remapped_rows.pending, remapped_rows.failure, retired_pages.pending\n0, Yes, No, [N/A]\n';
    expect(parseGpuQuery(csv)[0]).toMatchObject({ remappedRowsPending: true, remappedRowsFailure: false, retiredPagesPending: null });
  });

  test('text without a header is no table: the lines come back as messages', () => {
    const parsed = parseGpuQueryRows('No devices were found\n');
    expect(parsed.rows).toEqual([]);
    expect(parsed.otherLines).toEqual(['No devices were found']);
  });

  test('a line that is not a row of the table is kept as a message, not read as a GPU', () => {
    const csv =
      'index, pci.bus_id, temperature.gpu\n0, 00000000:10:1C.0, 40\nUnable to determine the device handle for GPU0000:10:1D.0: Unknown Error\n';
    const parsed = parseGpuQueryRows(csv);
    expect(parsed.rows).toHaveLength(1);
    expect(parsed.otherLines).toEqual(['Unable to determine the device handle for GPU0000:10:1D.0: Unknown Error']);
  });

  test('parseCsvTable keeps each column unit', () => {
    const table = parseCsvTable('index, memory.used [MiB], name\n0, 1 MiB, x\n');
    expect(table?.fields).toEqual(['index', 'memory.used', 'name']);
    expect(table?.units).toEqual([null, 'MiB', null]);
  });
});

describe('clock event (throttle) reasons', () => {
  test.each([
    ['0x0000000000000000', []],
    ['0x0000000000000001', ['gpu_idle']],
    ['0x0000000000000004', ['sw_power_cap']],
    ['0x0000000000000044', ['sw_power_cap', 'hw_thermal_slowdown']],
    ['0x00000000000000A8', ['hw_slowdown', 'sw_thermal_slowdown', 'hw_power_brake_slowdown']],
    ['[N/A]', null],
  ])('mask %s decodes to %j', (mask, reasons) => {
    expect(decodeClockEventReasons(mask)).toEqual(reasons);
  });

  test.each([
    ['clocks_event_reasons (driver 535+)', 'clocks_event_reasons'],
    ['clocks_throttle_reasons (older drivers, e.g. 465)', 'clocks_throttle_reasons'],
  ])('%s are read from the mask and the per-reason columns', (_case, prefix) => {
    const csv = `index, ${prefix}.active, ${prefix}.hw_slowdown, ${prefix}.sw_thermal_slowdown\n0, 0x0000000000000008, Active, Active\n`;
    expect(parseGpuQuery(csv)[0].throttleReasonsActive).toEqual(['hw_slowdown', 'sw_thermal_slowdown']);
  });

  test('no reason columns at all means unknown (null), not "none active"', () => {
    expect(parseGpuQuery('index, temperature.gpu\n0, 40\n')[0].throttleReasonsActive).toBeNull();
  });
});

describe('real captures (test/fixtures/nvidia-smi/captures)', () => {
  test.each(Object.entries(CAPTURE_EXPECTATIONS))('%s reads as the capture says', (file, { driverVersion, ...expected }) => {
    const { rows } = parseGpuQueryRows(capture(file));
    expect(rows).toHaveLength(1);
    expect(rows[0].reading).toMatchObject({ index: 0, ...expected });
    expect(rows[0].driverVersion).toBe(driverVersion);
  });
});

describe('nvidia-smi -L', () => {
  test('counts GPUs, not the MIG devices listed under them', () => {
    const list = parseGpuList(capture('linux-x86_64__nvidia-h100-mig__590.48.01__list.txt'));
    expect(list.gpus).toEqual([
      { index: 0, name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-00000000-0000-0000-0000-000000000000', migDevices: 4 },
    ]);
  });

  test('a GPU nvidia-smi cannot open is reported by bus id', () => {
    const text = 'GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-1)\nUnable to determine the device handle for GPU0000:10:1D.0: Unknown Error\n';
    expect(parseGpuList(text)).toEqual({
      gpus: [{ index: 0, name: 'NVIDIA A100-SXM4-40GB', uuid: 'GPU-1', migDevices: 0 }],
      inaccessibleBusIds: ['00000000:10:1D.0'],
    });
  });
});

describe('failure messages', () => {
  test.each([
    [
      "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.",
      'driver-communication',
      undefined,
    ],
    ['No devices were found', 'no-devices', undefined],
    ['Field "clocks_throttle_reasons.unknown" is not a valid field to query.', 'invalid-field', 'clocks_throttle_reasons.unknown'],
    ['Failed to initialize NVML: Driver/library version mismatch', 'version-mismatch', undefined],
    ['Failed to initialize NVML: Unknown Error', 'nvml-init', undefined],
    [
      "NVIDIA-SMI couldn't find libnvidia-ml.so library in your system. Please make sure that the NVIDIA Display Driver is properly installed and present in your system.",
      'library-missing',
      undefined,
    ],
    ['Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error', 'gpu-inaccessible', '00000000:3B:00.0'],
  ])('%j is a %s failure', (line, kind, subject) => {
    const [failure] = detectNvidiaSmiFailures(`${line}\n\n`);
    expect(failure).toEqual({ kind, message: line, ...(subject ? { subject } : {}) });
  });

  test('the invalid-field line quoted from a real issue is found among data lines', () => {
    const text = readFileSync(fixture('nvidia-smi', 'csv-snippets-from-issues.txt'), 'utf8');
    expect(
      detectNvidiaSmiFailures(text)
        .filter((f) => f.kind === 'invalid-field')
        .map((f) => f.subject),
    ).toEqual(['clocks_throttle_reasons.unknown']);
  });

  test('normal output has no failures', () => {
    expect(detectNvidiaSmiFailures(capture('linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01__load__query-gpu.csv'))).toEqual([]);
  });
});
