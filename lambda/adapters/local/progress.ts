/**
 * Progress of long local work on one updating terminal line. Task scripts emit progress records on
 * stderr when GPU_MAINT_PROGRESS=1 (scripts/lib/common.sh `progress_record`):
 *   progress: task=backup unit=models/llama units=3/10 bytes=1048576/73400320
 * (units and bytes done of total: at each unit's end, and every 32 MiB inside a long unit through tar
 * checkpoints, scripts/lib/common.sh `tar_progress_args`); this renders them with the rate
 * and the time left, computed from the clock: `backup 3/10 units · models/llama · 1.0 MiB of 70.0 MiB
 * · 2.0 MiB/s · ETA 0:34`. Tasks without records show their elapsed time.
 */
import { formatBytes, formatClock } from '../../core/format';

export interface ProgressRecord {
  readonly task: string;
  readonly unit: string;
  readonly unitsDone: number;
  readonly unitsTotal: number;
  readonly bytesDone: number;
  readonly bytesTotal: number;
}

const RECORD = /^progress: (.*)$/;

/** Parses a progress record line; null for any other line (logs). */
export function parseProgressRecord(line: string): ProgressRecord | null {
  const m = RECORD.exec(line.trimEnd());
  if (!m) return null;
  const kv = new Map<string, string>();
  for (const part of m[1].matchAll(/(\w+)=(\S*)/g)) kv.set(part[1], part[2]);
  const pair = (key: string): [number, number] | null => {
    const p = /^(\d+)\/(\d+)$/.exec(kv.get(key) ?? '');
    return p ? [Number(p[1]), Number(p[2])] : null;
  };
  const units = pair('units');
  const bytes = pair('bytes');
  const task = kv.get('task');
  if (!task || !units || !bytes) return null;
  return { task, unit: kv.get('unit') ?? '', unitsDone: units[0], unitsTotal: units[1], bytesDone: bytes[0], bytesTotal: bytes[1] };
}

/**
 * One progress line from a record and the seconds since the work started. Rate and ETA appear once
 * some bytes are done.
 */
export function formatProgress(record: ProgressRecord, elapsedSeconds: number): string {
  const parts = [`${record.task} ${record.unitsDone}/${record.unitsTotal} units`];
  if (record.unit) parts.push(record.unit);
  parts.push(`${formatBytes(record.bytesDone)} of ${formatBytes(record.bytesTotal)}`);
  if (record.bytesDone > 0 && elapsedSeconds > 0) {
    const rate = record.bytesDone / elapsedSeconds;
    parts.push(`${formatBytes(Math.round(rate))}/s`);
    parts.push(`ETA ${formatClock(Math.max(0, record.bytesTotal - record.bytesDone) / rate)}`);
  }
  parts.push(`${formatClock(elapsedSeconds)} elapsed`);
  return parts.join(' · ');
}

/** The status line of a task that emits no records: its name and the time it has been running. */
export function formatElapsed(task: string, elapsedSeconds: number): string {
  return `${task} running · ${formatClock(elapsedSeconds)} elapsed`;
}

/** Rewrites the status line; `done` ends it. */
export type ProgressSink = (line: string, done?: boolean) => void;

/**
 * Drives one status line for one task: elapsed time every tick until the first progress record,
 * then the record with its rate and ETA. `stop` clears the line so the report starts on a clean one.
 */
export class ProgressLine {
  private readonly started: number;
  private last: ProgressRecord | null = null;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly task: string,
    private readonly sink: ProgressSink,
    private readonly now: () => number = Date.now,
    tickMs = 1000,
  ) {
    this.started = now();
    this.render();
    if (tickMs > 0) {
      this.timer = setInterval(() => this.render(), tickMs);
      this.timer.unref?.();
    }
  }

  /** Feeds one stderr line; returns true when it was a progress record (not a log line). */
  line(text: string): boolean {
    const record = parseProgressRecord(text);
    if (!record) return false;
    this.last = record;
    this.render();
    return true;
  }

  private render(): void {
    const elapsed = (this.now() - this.started) / 1000;
    this.sink(this.last ? formatProgress(this.last, elapsed) : formatElapsed(this.task, elapsed));
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sink('');
  }
}
