/**
 * NVIDIA Xid kernel log lines: parsing, bus id normalisation and deduplication.
 *
 * The driver prints (open-gpu-kernel-modules, kernel_rc.c):
 *   NVRM: Xid (PCI:0000:2b:00): 79, pid=..., name=..., GPU has fallen off the bus.
 *   NVRM: Xid (PCI:0000:01:00 GPU-I:05): 94, ...                (MIG GPU instance)
 *   NVRM: Xid (PCI:0000:01:00 GPU-I:05 GPU-CI:01): 94, ...      (MIG compute instance)
 * with any prefix (syslog, dmesg `[ts]`, journal short-iso, `kern  :warn  :` from dmesg --decode), and
 * very old drivers print `Xid (0000:01:00)` without `PCI:`. The PCI id there is domain:bus:device with
 * a 4-digit domain and no function; nvidia-smi's pci.bus_id is `00000000:2B:00.0`. Both are normalised
 * to nvidia-smi's form before they are compared.
 *
 * One incident prints many lines: events are deduplicated per (bus id, code), keeping the count and
 * the first message.
 */
import type { Severity, XidEvent } from '../types';
import { xidSeverity } from './xid-catalog';

export interface XidLine {
  readonly code: number;
  /** nvidia-smi form, e.g. `00000000:2B:00.0`. */
  readonly busId: string;
  readonly migInstance?: number;
  readonly computeInstance?: number;
  /** Text after the code, e.g. `pid=1797828, name=pt_main_thread, Ch 00000008, ...`. */
  readonly message: string;
}

const XID_LINE =
  /NVRM: Xid \((?:PCI:)?([0-9a-fA-F]{1,8}:[0-9a-fA-F]{1,2}:[0-9a-fA-F]{1,2}(?:\.[0-7])?)(?: GPU-I:(\d+))?(?: GPU-CI:(\d+))?\): (\d+)(?:,\s*(.*))?$/;

const BUS_ID = /^(?:PCI:)?(?:([0-9a-fA-F]{1,8}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.([0-7]))?$/;

/**
 * Normalises a PCI address to nvidia-smi's bus-id form: 8-digit domain, uppercase hex, function
 * (`.0` when absent). `0000:2b:00` → `00000000:2B:00.0`. Returns null when the text is not an address.
 */
export function normaliseBusId(text: string): string | null {
  const m = BUS_ID.exec(text.trim());
  if (!m) return null;
  const [, domain = '0', bus, device, fn = '0'] = m;
  return `${domain.padStart(8, '0')}:${bus.padStart(2, '0')}:${device.padStart(2, '0')}.${fn}`.toUpperCase();
}

/** Parses one kernel log line; null when it is not an Xid line (SXid, other NVRM lines, noise). */
export function parseXidLine(line: string): XidLine | null {
  const m = XID_LINE.exec(line.replace(/\r$/, ''));
  if (!m) return null;
  const busId = normaliseBusId(m[1]);
  if (!busId) return null;
  return {
    code: Number(m[4]),
    busId,
    ...(m[2] !== undefined ? { migInstance: Number(m[2]) } : {}),
    ...(m[3] !== undefined ? { computeInstance: Number(m[3]) } : {}),
    message: (m[5] ?? '').trim(),
  };
}

/** Every Xid line in a block of kernel log text, in order. */
export function parseXidLines(text: string): XidLine[] {
  const out: XidLine[] = [];
  for (const line of text.split('\n')) {
    const x = parseXidLine(line);
    if (x) out.push(x);
  }
  return out;
}

const RANK: Record<Severity, number> = { ok: 0, warning: 1, critical: 2 };

/**
 * Deduplicates Xid lines per (bus id, code) into events with a severity and the GPU index.
 * @param lines parsed lines, oldest first
 * @param gpuIndexByBusId nvidia-smi's bus id → GPU index (keys in normalised form)
 */
export function dedupXids(lines: readonly XidLine[], gpuIndexByBusId: ReadonlyMap<string, number>): XidEvent[] {
  interface Acc {
    code: number;
    busId: string;
    message: string;
    count: number;
    severity: Severity;
    migInstance?: number;
  }
  const byKey = new Map<string, Acc>();
  const severityOf = (busId: string, code: number) => byKey.get(`${busId}|${code}`)?.severity;
  for (const line of lines) {
    const key = `${line.busId}|${line.code}`;
    const severity = xidSeverity(line.code, line.message, (cause) => severityOf(line.busId, cause));
    const acc = byKey.get(key);
    if (!acc) {
      byKey.set(key, {
        code: line.code,
        busId: line.busId,
        message: line.message,
        count: 1,
        severity,
        ...(line.migInstance !== undefined ? { migInstance: line.migInstance } : {}),
      });
      continue;
    }
    acc.count++;
    // Xid 154 reports the recovery action now in force: the latest line decides. Otherwise the worst line does.
    if (line.code === 154 || RANK[severity] > RANK[acc.severity]) acc.severity = severity;
  }
  return [...byKey.values()].map((a) => ({
    code: a.code,
    busId: a.busId,
    gpu: gpuIndexByBusId.get(a.busId) ?? null,
    severity: a.severity,
    message: a.message,
    count: a.count,
    ...(a.migInstance !== undefined ? { migInstance: a.migInstance } : {}),
  }));
}
