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
/** The `detail-type` scripts/gpu-watch.sh puts its events on the event bus with. */
export const WATCH_DETAIL_TYPE = 'GPU kernel Xid';

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
  /**
   * gpu-check's GPUs-seen state on the host (`gpu-check.gpus-seen`), sent on the event bus so that the
   * collector keys the alert by gpu-check's GPU index without the host's files.
   */
  readonly gpusSeen?: string;
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
  if (o.gpusSeen !== undefined && typeof o.gpusSeen !== 'string') throw bad('gpusSeen', "gpu-check's GPUs-seen state (text)");
  return {
    source: WATCH_EVENT_SOURCE,
    host: o.host,
    at: new Date(Date.parse(o.at)).toISOString(),
    key: o.key,
    count: o.count,
    line: o.line,
    ...(typeof o.gpusSeen === 'string' ? { gpusSeen: o.gpusSeen } : {}),
  };
}

/**
 * Parses a watcher event as EventBridge delivers it (the SQS message body of the watcher rule's target):
 * the envelope's `source` and `detail-type` are the watcher's, its `detail` the event the script printed.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html
 * @throws Error naming what is missing or malformed.
 */
export function parseWatchBusEvent(body: string): WatchEvent {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new Error(`watcher bus event is not JSON: ${JSON.stringify(body.slice(0, 200))}`);
  }
  const o = (value ?? {}) as Record<string, unknown>;
  if (o.source !== WATCH_EVENT_SOURCE || o['detail-type'] !== WATCH_DETAIL_TYPE) {
    throw new Error(
      `watcher bus event must have source ${JSON.stringify(WATCH_EVENT_SOURCE)} and detail-type ${JSON.stringify(WATCH_DETAIL_TYPE)}, got: ${JSON.stringify(o.source)} / ${JSON.stringify(o['detail-type'])}`,
    );
  }
  if (typeof o.detail !== 'object' || o.detail === null)
    throw new Error(`watcher bus event has no detail object: ${JSON.stringify(body.slice(0, 200))}`);
  return parseWatchEvent(JSON.stringify(o.detail));
}

/** Whether an SQS message body is a watcher event (rather than an SSM invocation event), by its `source`. */
export function isWatchBusEvent(body: string): boolean {
  try {
    return (JSON.parse(body) as { source?: unknown } | null)?.source === WATCH_EVENT_SOURCE;
  } catch {
    return false;
  }
}

/** The result of a watcher event from the event bus: its GPU indexes from the GPUs-seen state it carries. */
export function watchBusEventResult(event: WatchEvent): TaskResult | null {
  return watchEventResult(event, gpusSeenFromState(event.gpusSeen ?? ''));
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
