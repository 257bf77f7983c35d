/**
 * Events of the kernel-log watcher (scripts/gpu-watch.sh): one JSON line per (PCI id, Xid code) and debounce
 * window, carrying the raw kernel line. They are parsed by the same code as gpu-check's kernel lines
 * (./xid.ts), classified by the same catalog and turned into the same gpu.xid findings (./evaluate.ts), so
 * the alert they raise is the alert the next gpu-check raises for the same line: it is notified once
 * (lambda/core/alerts/policy.ts, `partial` results).
 */
import type { TaskResult, XidEvent } from '../types';
import { xidFindings } from './checks/xid';
import { dedupXids, normaliseBusId, parseXidLine } from './xid';

/** The `source` of watcher events, on stdout and on the event bus. */
export const WATCH_EVENT_SOURCE = 'gpu-maint.watcher';

export interface WatchEvent {
  readonly source: typeof WATCH_EVENT_SOURCE;
  readonly host: string;
  /** When the watcher emitted it (ISO-8601, seconds). */
  readonly at: string;
  /** `<PCI id as printed>|<code>`: the debounce key. */
  readonly key: string;
  /** Kernel lines this event stands for (1 for the first line of an incident; the rest of the window after). */
  readonly count: number;
  /** The kernel line (the newest one of the window). */
  readonly line: string;
}

/**
 * Parses one line of the watcher's output.
 * @throws Error naming the field that is missing or malformed.
 */
export function parseWatchEvent(text: string): WatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`watcher event is not JSON: ${JSON.stringify(text.slice(0, 200))}`);
  }
  const o = (value ?? {}) as Record<string, unknown>;
  const bad = (field: string, expected: string) =>
    new Error(
      `watcher event field ${field} must be ${expected}, got: ${JSON.stringify(o[field])} in ${JSON.stringify(text.slice(0, 200))}`,
    );
  if (o.source !== WATCH_EVENT_SOURCE) throw bad('source', JSON.stringify(WATCH_EVENT_SOURCE));
  if (typeof o.host !== 'string' || o.host === '') throw bad('host', 'a host id');
  if (typeof o.at !== 'string' || Number.isNaN(Date.parse(o.at))) throw bad('at', 'an ISO-8601 time');
  if (typeof o.key !== 'string') throw bad('key', 'a string');
  if (typeof o.count !== 'number' || !Number.isInteger(o.count) || o.count < 1) throw bad('count', 'a whole number of at least 1');
  if (typeof o.line !== 'string') throw bad('line', 'the kernel line');
  return {
    source: WATCH_EVENT_SOURCE,
    host: o.host,
    at: new Date(Date.parse(o.at)).toISOString(),
    key: o.key,
    count: o.count,
    line: o.line,
  };
}

/**
 * The result of one watcher event: gpu-check's gpu.xid findings for its line, as a partial result.
 * @param gpuIndexByBusId bus id (nvidia-smi form) → GPU index, from the GPUs gpu-check saw this boot, so
 *   that the alert is keyed by the same GPU index as gpu-check's.
 * @returns null when the line is not an Xid line the parser accepts.
 */
export function watchEventResult(event: WatchEvent, gpuIndexByBusId: ReadonlyMap<string, number>): TaskResult | null {
  const parsed = parseXidLine(event.line);
  if (!parsed) return null;
  const xids: XidEvent[] = dedupXids([parsed], gpuIndexByBusId).map((x) => ({ ...x, count: event.count }));
  const findings = xidFindings(xids, { source: 'watcher', problem: null }, true, []);
  return {
    task: 'gpu-check',
    host: event.host,
    status: 'ok',
    at: event.at,
    partial: true,
    findings: findings.filter((f) => f.severity !== 'ok'),
    metrics: [],
    xids,
  };
}

/** gpu-check's `gpus-seen-this-boot` state (first line `boot_id=...`, then `<bus id> <index>` lines). */
export function gpusSeenFromState(text: string): Map<string, number> {
  const seen = new Map<string, number>();
  for (const line of text.split('\n').slice(1)) {
    const m = /^(\S+)\s+(\d+)$/.exec(line.trim());
    const busId = m ? normaliseBusId(m[1]) : null;
    if (m && busId) seen.set(busId, Number(m[2]));
  }
  return seen;
}
