/**
 * Parsers for nvidia-smi output: the `--query-gpu=... --format=csv` table (columns found by header
 * name, with or without units), `-L`, and the failure messages nvidia-smi prints instead of data.
 *
 * A value the driver does not give (`[N/A]`, `N/A`, `[Not Supported]`, `[Requested functionality has
 * been deprecated]`, empty) is null, and so is a value it failed to read (`[Unknown Error]`,
 * `[GPU is lost]`): never 0. Failed reads are also listed per GPU (`unreadable`), because they are a
 * symptom, not an absence.
 */
import type { GpuReading } from '../types';
import { normaliseBusId } from './xid';

/** Values that mean "this GPU or driver has no such value": not a fault. */
const UNAVAILABLE = new Set([
  '',
  'n/a',
  '[n/a]',
  'not supported',
  '[not supported]',
  '[requested functionality has been deprecated]',
  '[insufficient permissions]',
  '[not found]',
]);

/** Values that mean the GPU itself is gone or wedged. */
const GPU_LOST = /^\[(gpu is lost|gpu requires reset)\]$/i;

export type ValueKind = 'value' | 'unavailable' | 'error' | 'lost';

/** Classifies one raw CSV cell. Any other bracketed text (e.g. `[Unknown Error]`) is a failed read. */
export function valueKind(raw: string | undefined): ValueKind {
  const v = (raw ?? '').trim();
  if (UNAVAILABLE.has(v.toLowerCase())) return 'unavailable';
  if (GPU_LOST.test(v)) return 'lost';
  if (/^\[.*\]$/.test(v) || /^unknown error$/i.test(v)) return 'error';
  return 'value';
}

export interface CsvTable {
  /** Header names without units, as printed (`memory.used`, `clocks_throttle_reasons.active`). */
  readonly fields: readonly string[];
  /** Unit from the header per column (`MiB` from `memory.used [MiB]`), null when none. */
  readonly units: readonly (string | null)[];
  readonly rows: readonly (readonly string[])[];
  /** Non-empty lines that are not rows of the table: messages nvidia-smi printed instead of a row. */
  readonly otherLines: readonly string[];
}

const HEADER_CELL = /^([A-Za-z][A-Za-z0-9_.]*)(?:\s*\[([^\]]+)\])?$/;
/** Columns every useful query has; a header must name at least one of them. */
const KEY_FIELDS = new Set(['index', 'name', 'gpu_name', 'pci.bus_id', 'gpu_bus_id', 'uuid', 'gpu_uuid']);

function splitCells(line: string): string[] {
  // nvidia-smi does not quote: cells are separated by ", " and no value it prints contains a comma.
  return line.split(',').map((c) => c.trim());
}

/**
 * Reads a `--format=csv` table WITH its header (units or nounits). Returns null when the text has no
 * header line (e.g. nvidia-smi printed only an error message).
 */
export function parseCsvTable(text: string): CsvTable | null {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  let headerAt = -1;
  let fields: string[] = [];
  let units: (string | null)[] = [];
  for (let i = 0; i < lines.length && headerAt < 0; i++) {
    const cells = splitCells(lines[i]);
    const parsed = cells.map((c) => HEADER_CELL.exec(c));
    if (parsed.every((m) => m !== null) && parsed.some((m) => KEY_FIELDS.has(m![1]))) {
      headerAt = i;
      fields = parsed.map((m) => m![1]);
      units = parsed.map((m) => m![2] ?? null);
    }
  }
  if (headerAt < 0) return null;
  const rows: string[][] = [];
  const otherLines: string[] = [];
  lines.forEach((line, i) => {
    if (i === headerAt || line.trim() === '') return;
    const cells = splitCells(line);
    if (i > headerAt && cells.length === fields.length) rows.push(cells);
    else otherLines.push(line.trim());
  });
  return { fields, units, rows, otherLines };
}

/** Names a field may be printed under: nvidia-smi accepts aliases, and renamed throttle reasons. */
function candidateNames(field: string): string[] {
  const names = [field];
  const alias: Record<string, string> = {
    name: 'gpu_name',
    'pci.bus_id': 'gpu_bus_id',
    uuid: 'gpu_uuid',
    'enforced.power.limit': 'gpu.power.current_limit',
    'power.limit': 'gpu.power.requested_limit',
    'retired_pages.single_bit_ecc.count': 'retired_pages.sbe',
    'retired_pages.double_bit.count': 'retired_pages.dbe',
  };
  if (alias[field]) names.push(alias[field]);
  if (field.startsWith('clocks_event_reasons.')) names.push(field.replace('clocks_event_reasons.', 'clocks_throttle_reasons.'));
  return names;
}

/** One row of the query, addressed by field name. */
export class CsvRow {
  private readonly byName = new Map<string, string>();

  constructor(table: CsvTable, cells: readonly string[]) {
    table.fields.forEach((f, i) => {
      if (!this.byName.has(f)) this.byName.set(f, cells[i]);
    });
  }

  /** The raw cell, or undefined when the query did not include the field. */
  raw(field: string): string | undefined {
    for (const name of candidateNames(field)) {
      const v = this.byName.get(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  has(field: string): boolean {
    return this.raw(field) !== undefined;
  }

  text(field: string): string | null {
    const v = this.raw(field);
    return v !== undefined && valueKind(v) === 'value' ? v : null;
  }

  /** A number with its unit stripped (`81559 MiB` → 81559); null when unavailable or not a number. */
  number(field: string): number | null {
    const v = this.text(field);
    if (v === null) return null;
    const m = /^(-?\d+(?:\.\d+)?)(?:\s*[A-Za-z%/]+)?$/.exec(v);
    return m ? Number(m[1]) : null;
  }

  /** `Yes`/`Active`/`Enabled` → true, `No`/`Not Active`/`Disabled` → false, else null. */
  flag(field: string): boolean | null {
    const v = this.text(field)?.toLowerCase();
    if (v === 'yes' || v === 'active' || v === 'enabled') return true;
    if (v === 'no' || v === 'not active' || v === 'disabled') return false;
    return null;
  }

  fieldsOfKind(kind: ValueKind): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of this.byName) if (valueKind(value) === kind) out[name] = value;
    return out;
  }
}

/** NVML clock event (throttle) reason bits, as in nvml.h. */
export const CLOCK_EVENT_REASON_BITS: ReadonlyArray<readonly [bigint, string]> = [
  [0x1n, 'gpu_idle'],
  [0x2n, 'applications_clocks_setting'],
  [0x4n, 'sw_power_cap'],
  [0x8n, 'hw_slowdown'],
  [0x10n, 'sync_boost'],
  [0x20n, 'sw_thermal_slowdown'],
  [0x40n, 'hw_thermal_slowdown'],
  [0x80n, 'hw_power_brake_slowdown'],
  [0x100n, 'display_clock_setting'],
];

/** Decodes an active-reasons bitmask such as `0x0000000000000044`; null when not a hex number. */
export function decodeClockEventReasons(mask: string | null): string[] | null {
  if (mask === null || !/^0x[0-9a-f]+$/i.test(mask.trim())) return null;
  const value = BigInt(mask.trim());
  return CLOCK_EVENT_REASON_BITS.filter(([bit]) => (value & bit) !== 0n).map(([, name]) => name);
}

function throttleReasons(row: CsvRow): string[] | null {
  const fromMask = decodeClockEventReasons(row.text('clocks_event_reasons.active'));
  const fromFlags: string[] = [];
  let anyFlag = false;
  for (const [, reason] of CLOCK_EVENT_REASON_BITS) {
    const flag = row.flag(`clocks_event_reasons.${reason}`);
    if (flag !== null) anyFlag = true;
    if (flag) fromFlags.push(reason);
  }
  if (fromMask === null && !anyFlag) return null;
  const all = new Set([...(fromMask ?? []), ...fromFlags]);
  return CLOCK_EVENT_REASON_BITS.map(([, name]) => name).filter((n) => all.has(n));
}

/** A GPU row: the reading reported in results plus what evaluation needs besides. */
export interface GpuRow {
  readonly reading: GpuReading;
  readonly driverVersion: string | null;
  readonly temperatureMemoryC: number | null;
  readonly pcieLinkGenMax: number | null;
  readonly pcieLinkWidthMax: number | null;
  readonly retiredPagesSingleBit: number | null;
  readonly retiredPagesDoubleBit: number | null;
  readonly eccMode: string | null;
  /** nvidia-smi `gpu_recovery_action` (driver 550+): None, Reset, Reboot, Drain P2P, Drain and Reset. */
  readonly recoveryAction: string | null;
  /** Fields the driver failed to read, with the raw value (`[Unknown Error]`). */
  readonly unreadable: Readonly<Record<string, string>>;
  /** Fields reporting that the GPU is lost or needs a reset (`[GPU is lost]`). */
  readonly lost: Readonly<Record<string, string>>;
}

export function gpuRowFromCsv(row: CsvRow, position: number): GpuRow {
  const busIdText = row.text('pci.bus_id');
  const reading: GpuReading = {
    index: row.number('index') ?? position,
    name: row.text('name'),
    busId: busIdText ? (normaliseBusId(busIdText) ?? busIdText) : null,
    uuid: row.text('uuid'),
    temperatureC: row.number('temperature.gpu'),
    utilizationPct: row.number('utilization.gpu'),
    memoryUsedMiB: row.number('memory.used'),
    memoryTotalMiB: row.number('memory.total'),
    powerDrawW: row.number('power.draw') ?? row.number('power.draw.average') ?? row.number('power.draw.instant'),
    powerLimitW: row.number('enforced.power.limit') ?? row.number('power.limit'),
    eccUncorrectedVolatile: row.number('ecc.errors.uncorrected.volatile.total'),
    remappedRowsPending: row.flag('remapped_rows.pending'),
    remappedRowsFailure: row.flag('remapped_rows.failure'),
    retiredPagesPending: row.flag('retired_pages.pending'),
    throttleReasonsActive: throttleReasons(row),
    pcieLinkGenCurrent: row.number('pcie.link.gen.current'),
    pcieLinkWidthCurrent: row.number('pcie.link.width.current'),
    migMode: row.text('mig.mode.current'),
  };
  return {
    reading,
    driverVersion: row.text('driver_version'),
    temperatureMemoryC: row.number('temperature.memory'),
    pcieLinkGenMax: row.number('pcie.link.gen.max'),
    pcieLinkWidthMax: row.number('pcie.link.width.max'),
    retiredPagesSingleBit: row.number('retired_pages.single_bit_ecc.count'),
    retiredPagesDoubleBit: row.number('retired_pages.double_bit.count'),
    eccMode: row.text('ecc.mode.current'),
    recoveryAction: row.text('gpu_recovery_action'),
    unreadable: row.fieldsOfKind('error'),
    lost: row.fieldsOfKind('lost'),
  };
}

export interface GpuQuery {
  readonly rows: readonly GpuRow[];
  /** Header fields of the query (empty when there was no table). */
  readonly fields: readonly string[];
  /** Lines that were not table rows (error messages). */
  readonly otherLines: readonly string[];
}

/** Parses `nvidia-smi --query-gpu=... --format=csv[,nounits]` output (with header) into GPU rows. */
export function parseGpuQueryRows(text: string): GpuQuery {
  const table = parseCsvTable(text);
  if (!table) {
    return {
      rows: [],
      fields: [],
      otherLines: text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean),
    };
  }
  const rows = table.rows.map((cells, i) => gpuRowFromCsv(new CsvRow(table, cells), i));
  return { rows, fields: table.fields, otherLines: table.otherLines };
}

/** The GPU readings of a query, e.g. for `gpus[]` in results. */
export function parseGpuQuery(text: string): GpuReading[] {
  return parseGpuQueryRows(text).rows.map((r) => r.reading);
}

export interface ListedGpu {
  readonly index: number;
  readonly name: string;
  readonly uuid: string | null;
  /** MIG devices listed under this GPU. */
  readonly migDevices: number;
}

export interface GpuList {
  readonly gpus: readonly ListedGpu[];
  /** Bus ids nvidia-smi could not open ("Unable to determine the device handle for GPU 0000:3B:00.0"). */
  readonly inaccessibleBusIds: readonly string[];
}

/** Parses `nvidia-smi -L`: GPU lines, MIG device lines under them, and GPUs it could not open. */
export function parseGpuList(text: string): GpuList {
  const gpus: { index: number; name: string; uuid: string | null; migDevices: number }[] = [];
  const inaccessible: string[] = [];
  for (const line of text.split('\n')) {
    const gpu = /^GPU (\d+): (.*?)(?: \(UUID: ([^)]+)\))?\s*$/.exec(line);
    if (gpu) {
      gpus.push({ index: Number(gpu[1]), name: gpu[2], uuid: gpu[3] ?? null, migDevices: 0 });
      continue;
    }
    if (/^\s+MIG\s/.test(line) && gpus.length > 0) {
      gpus[gpus.length - 1].migDevices++;
      continue;
    }
    const handle = /Unable to determine the device handle for (?:GPU)?\s*([0-9a-fA-F]+:[0-9a-fA-F]+:[0-9a-fA-F]+(?:\.[0-7])?)/.exec(line);
    if (handle) inaccessible.push(normaliseBusId(handle[1]) ?? handle[1]);
  }
  return { gpus, inaccessibleBusIds: inaccessible };
}

export type NvidiaSmiFailureKind =
  | 'driver-communication'
  | 'no-devices'
  | 'invalid-field'
  | 'version-mismatch'
  | 'nvml-init'
  | 'library-missing'
  | 'gpu-inaccessible';

export interface NvidiaSmiFailure {
  readonly kind: NvidiaSmiFailureKind;
  /** The line nvidia-smi printed. */
  readonly message: string;
  /** The rejected field (invalid-field) or the bus id (gpu-inaccessible). */
  readonly subject?: string;
}

const FAILURE_PATTERNS: ReadonlyArray<readonly [NvidiaSmiFailureKind, RegExp]> = [
  ['driver-communication', /NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver/i],
  ['no-devices', /^No devices were found/i],
  ['invalid-field', /^Field "([^"]+)" is not a valid field to query/i],
  ['version-mismatch', /Driver\/library version mismatch/i],
  ['library-missing', /couldn't find libnvidia-ml\.so/i],
  ['nvml-init', /^Failed to initialize NVML/i],
  ['gpu-inaccessible', /Unable to determine the device handle for (?:GPU)?\s*([0-9a-fA-F:.]+)/i],
];

/** Finds the failure messages nvidia-smi prints (on stdout or stderr) in place of data. */
export function detectNvidiaSmiFailures(text: string): NvidiaSmiFailure[] {
  const out: NvidiaSmiFailure[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    for (const [kind, pattern] of FAILURE_PATTERNS) {
      const m = pattern.exec(line);
      if (!m) continue;
      if (kind === 'nvml-init' && FAILURE_PATTERNS.some(([k, p]) => k === 'version-mismatch' && p.test(line))) break;
      const subject = m[1] ? (kind === 'gpu-inaccessible' ? (normaliseBusId(m[1].replace(/:$/, '')) ?? m[1]) : m[1]) : undefined;
      out.push({ kind, message: line, ...(subject ? { subject } : {}) });
      break;
    }
  }
  return out;
}
