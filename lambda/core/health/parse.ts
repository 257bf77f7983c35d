/**
 * Parsers for the raw sections printed by scripts/health-check.sh: df -P / df -Pi, /proc/meminfo,
 * /proc/loadavg, `systemctl show`, journalctl and bash /dev/tcp errors. Pure functions; bad input
 * yields nulls or empty lists, never an exception.
 */

export interface DfRow {
  readonly filesystem: string;
  /** Mount point as df prints it (may contain spaces). */
  readonly mount: string;
  /** Space: bytes. Inodes: counts. Null where df prints `-` (filesystems without the figure). */
  readonly total: number | null;
  readonly used: number | null;
  readonly available: number | null;
}

// Filesystem, three numbers (or `-`), the percentage column, then the mount point to the end of the
// line: the filesystem name is matched lazily so that a mount point with spaces stays whole.
const DF_ROW = /^(.+?)\s+(\d+|-)\s+(\d+|-)\s+(\d+|-)\s+(\d+%|-)\s+(\/.*)$/;
const BLOCK_SIZE_HEADER = /^(\d+)([KMG]?)-blocks$/i;
const SIZE_SUFFIX: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes per block from df's header, e.g. `1024-blocks` (df -P), `512-blocks` (POSIXLY_CORRECT), `1K-blocks`. */
function blockBytes(header: string): number {
  const column = header.trim().split(/\s+/)[1] ?? '';
  const m = BLOCK_SIZE_HEADER.exec(column);
  return m ? Number(m[1]) * SIZE_SUFFIX[m[2].toUpperCase()] : 1024;
}

/**
 * Parses `df -P` (space, in bytes) or `df -Pi` (inodes, in counts) output.
 * @param kind `space` scales block counts by the header's block size; `inodes` keeps counts.
 */
export function parseDf(text: string, kind: 'space' | 'inodes'): DfRow[] {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) return [];
  const hasHeader = /^Filesystem\s/.test(lines[0]);
  const scale = kind === 'space' && hasHeader ? blockBytes(lines[0]) : kind === 'space' ? 1024 : 1;
  const rows: DfRow[] = [];
  for (const line of hasHeader ? lines.slice(1) : lines) {
    const m = DF_ROW.exec(line.trimEnd());
    if (!m) continue;
    const num = (s: string) => (s === '-' ? null : Number(s) * scale);
    rows.push({ filesystem: m[1], total: num(m[2]), used: num(m[3]), available: num(m[4]), mount: m[6] });
  }
  return rows;
}

/**
 * Percentage used as df reports it: used / (used + available), so that blocks reserved for root count
 * as unavailable. Null when the filesystem reports no figures (pseudo filesystems, btrfs inodes).
 */
export function usedPct(row: Pick<DfRow, 'used' | 'available'>): number | null {
  if (row.used === null || row.available === null) return null;
  const denominator = row.used + row.available;
  return denominator > 0 ? (row.used / denominator) * 100 : null;
}

export interface MemInfo {
  readonly totalBytes: number | null;
  readonly availableBytes: number | null;
  /** True when MemAvailable is missing (kernels before 3.14) and it was estimated as free + buffers + cached. */
  readonly estimated: boolean;
}

export function parseMeminfo(text: string): MemInfo {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?\s*$/.exec(line.trim());
    if (m) kb.set(m[1], Number(m[2]));
  }
  const bytes = (key: string) => (kb.has(key) ? kb.get(key)! * 1024 : null);
  const totalBytes = bytes('MemTotal');
  const available = bytes('MemAvailable');
  if (available !== null) return { totalBytes, availableBytes: available, estimated: false };
  const free = bytes('MemFree');
  if (free === null) return { totalBytes, availableBytes: null, estimated: false };
  return { totalBytes, availableBytes: free + (bytes('Buffers') ?? 0) + (bytes('Cached') ?? 0), estimated: true };
}

export interface LoadAverage {
  readonly load1: number;
  readonly load5: number;
  readonly load15: number;
}

export function parseLoadavg(text: string): LoadAverage | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\s+(\d+(?:\.\d+)?)\b/.exec(text);
  return m ? { load1: Number(m[1]), load5: Number(m[2]), load15: Number(m[3]) } : null;
}

export function parseCpuCount(text: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(text);
  return m && Number(m[1]) > 0 ? Number(m[1]) : null;
}

export interface UnitState {
  readonly id: string | null;
  readonly loadState: string | null;
  readonly activeState: string | null;
  readonly subState: string | null;
  readonly result: string | null;
}

/** Parses `systemctl show --property=Id,LoadState,ActiveState,SubState,Result UNIT`. */
export function parseSystemctlShow(text: string): UnitState {
  const props = new Map<string, string>();
  for (const line of text.split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) props.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  const get = (k: string) => (props.get(k) ? props.get(k)! : null);
  return {
    id: get('Id'),
    loadState: get('LoadState'),
    activeState: get('ActiveState'),
    subState: get('SubState'),
    result: get('Result'),
  };
}

/** systemctl's words when it runs on a host (or container) whose PID 1 is not systemd. */
export function isNoSystemdError(stderr: string): boolean {
  return /not been booted with systemd|Failed to connect to bus|System has not been booted|Failed to get D-Bus connection/i.test(stderr);
}

/**
 * Lines journalctl prints that are not journal entries: the "no entries" and "no journal files"
 * notices (older versions print them even with -q, some on stdout) and boot separators.
 */
const JOURNAL_NOTICE = [
  /^-- No entries --$/,
  /^No journal files were found\.$/,
  /^No journal files were opened due to insufficient permissions\.$/,
  /^-- (Boot [0-9a-f]+|Reboot) --$/,
  /^-- Logs begin at .* --$/,
  /^-- Journal begins at .* --$/,
];

export function isJournalNotice(line: string): boolean {
  const t = line.trim();
  return JOURNAL_NOTICE.some((re) => re.test(t));
}

export interface JournalCount {
  /** Error entries in the window (one per line of `-o cat` output, notices excluded). */
  readonly errors: number;
  /** The last entries, notices excluded, as the script sampled them. */
  readonly sample: readonly string[];
  /** journalctl said there is no journal at all. */
  readonly noJournal: boolean;
  /** The reader could see only part of the journal (not root, not in group systemd-journal/adm). */
  readonly partial: boolean;
}

/**
 * Counts error entries from the script's line count and sample. Notices only ever appear when there
 * are no entries, so the whole output is then inside the sample and subtracting the notices seen there
 * is exact.
 * @param totalLines lines of journalctl output counted by the script; null = count the sample.
 */
export function countJournalErrors(sampleStdout: string, stderr: string, totalLines: number | null): JournalCount {
  const lines = sampleStdout.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const notices = lines.filter(isJournalNotice);
  const total = totalLines ?? lines.length;
  const noJournal = [...lines, ...stderr.split('\n')].some((l) => /^No journal files were (found|opened)/.test(l.trim()));
  return {
    errors: Math.max(0, total - notices.length),
    sample: lines.filter((l) => !isJournalNotice(l)),
    noJournal,
    partial: /not seeing messages from other users|insufficient permissions/i.test(stderr),
  };
}

/**
 * Turns bash's /dev/tcp complaints into one reason, e.g. `Connection refused` or
 * `Name or service not known`. bash prints the cause first and a generic line after
 * (`/dev/tcp/h/p: Invalid argument` when the name did not resolve).
 */
export function connectError(stderr: string, host: string): string {
  const reasons: string[] = [];
  for (const raw of stderr.split('\n')) {
    let line = raw.trim();
    if (!line) continue;
    line = line.replace(/^[\w./-]+: (line \d+: )?/, ''); // "tcp-connect: line 1: " / "bash: "
    line = line.replace(/^\/dev\/tcp\/[^:]*: /, '').replace(/^connect: /, '');
    if (line.startsWith(`${host}: `)) line = line.slice(host.length + 2);
    if (line && !reasons.includes(line)) reasons.push(line);
  }
  const specific = reasons.filter((r) => r !== 'Invalid argument');
  return (specific.length ? specific : reasons).join('; ') || 'connection failed';
}
