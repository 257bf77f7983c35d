/**
 * Evaluates cleanup output (scripts/cleanup.sh): what was deleted (or would be, in a dry run), what the
 * safety rules refused or blocked, and disk usage before and after. Every deleted path is accounted for
 * in `details.cleanup.deleted`; the script's own output keeps the same list for the command's S3 output.
 */
import { type ParsedResult, parseKeyValues } from '../contract';
import { formatBytes, plural } from '../format';
import { parseDf, usedPct } from '../health/parse';
import { METRICS } from '../metric-names';
import type { Reading } from '../metrics';
import type { Evaluation, EvaluationContext, TaskEvaluator } from '../task-evaluation';
import type { Finding } from '../types';

const BYTES_FREED = {
  Experiments: METRICS.BytesFreedExperiments,
  Checkpoints: METRICS.BytesFreedCheckpoints,
  Docker: METRICS.BytesFreedDocker,
  Caches: METRICS.BytesFreedCaches,
} as const;

export const CLEANUP_CATEGORIES = ['experiments', 'checkpoints', 'docker', 'pip', 'conda', 'apt', 'huggingface'] as const;
export type CleanupCategory = (typeof CLEANUP_CATEGORIES)[number];

/** What happened to one selected path. */
export type ItemAction =
  | 'deleted'
  | 'would-delete'
  | 'blocked'
  | 'failed'
  | 'kept'
  | 'skipped-open'
  | 'skipped-protected'
  | 'skipped-fresh'
  | 'skipped-changed'
  | 'skipped-interrupted';

export interface CleanupItem {
  readonly action: ItemAction;
  readonly category: string;
  readonly bytes: number;
  /** Decoded path (docker images: `image:<repo:tag>`). */
  readonly path: string;
}

export interface CleanupArea {
  readonly category: string;
  /** ok, missing, refused (unsafe root), guard (deletion guard tripped), error, interrupted, skipped, disabled, absent, unreachable. */
  readonly status: string;
  readonly path: string;
  readonly totalBytes: number | null;
  readonly selectedBytes: number;
  readonly freedBytes: number;
  readonly selectedItems: number;
  readonly skippedProtected: number;
  readonly skippedOpen: number;
  readonly skippedOtherFs: number;
  readonly message: string;
}

export interface DiskUsage {
  readonly mount: string;
  readonly sizeBytes: number | null;
  readonly usedBytes: number | null;
  readonly availBytes: number | null;
  readonly usedPct: number | null;
}

export interface CleanupDetails {
  readonly dryRun: boolean;
  /**
   * Deleted paths, or in a dry run the paths a real run would delete; modifiedAt (ISO-8601) is when the
   * entry was last modified (newest file of a tree, last use of a cache repo), when the script knew it.
   */
  readonly deleted: ReadonlyArray<{
    readonly path: string;
    readonly bytes: number;
    readonly category: string;
    readonly modifiedAt?: string;
  }>;
  /** Bytes freed; 0 in a dry run, which frees nothing. */
  readonly bytesFreed: number;
  /** Bytes of what was selected: freed by this run, or in a dry run what a real run would free. */
  readonly bytesToFree: number;
  readonly diskBefore: readonly DiskUsage[];
  readonly diskAfter: readonly DiskUsage[];
  readonly areas: readonly CleanupArea[];
  /** Selected paths not deleted: blocked by the guard, failed, in use, protected, fresh again, changed. */
  readonly notDeleted: readonly CleanupItem[];
}

/**
 * Decodes a path escaped by the script: `\\` is a backslash and `\xHH` a raw byte, so names with
 * newlines or bytes that are not UTF-8 survive one-line transport.
 */
const utf8 = new TextEncoder();

export function decodeEscapedPath(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === '\\' && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else if (c === '\\' && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16));
      i += 3;
    } else {
      const char = String.fromCodePoint(text.codePointAt(i)!);
      bytes.push(...utf8.encode(char));
      i += char.length - 1;
    }
  }
  return new TextDecoder().decode(Uint8Array.from(bytes));
}

const ITEM_LINE = /^([a-z-]+) ([a-z]+) (\d+) (.*)$/;

export function parseItems(text: string): CleanupItem[] {
  const items: CleanupItem[] = [];
  for (const line of text.split('\n')) {
    const m = ITEM_LINE.exec(line);
    if (!m) continue;
    items.push({ action: m[1] as ItemAction, category: m[2], bytes: Number(m[3]), path: decodeEscapedPath(m[4]) });
  }
  return items;
}

const AGE_LINE = /^(\d+) (.*)$/;

/** The cleanup-item-ages section: path → last modified (ISO-8601). */
export function parseItemAges(text: string): Map<string, string> {
  const ages = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = AGE_LINE.exec(line);
    if (m) ages.set(decodeEscapedPath(m[2]), new Date(Number(m[1]) * 1000).toISOString());
  }
  return ages;
}

const num = (value: string | undefined): number | null => (value !== undefined && /^\d+$/.test(value) ? Number(value) : null);

function parseArea(text: string): CleanupArea {
  const kv = parseKeyValues(text);
  return {
    category: kv.category ?? 'unknown',
    status: kv.status ?? 'unknown',
    path: decodeEscapedPath(kv.path ?? ''),
    totalBytes: num(kv.total_bytes),
    selectedBytes: num(kv.selected_bytes) ?? 0,
    freedBytes: num(kv.freed_bytes) ?? 0,
    selectedItems: num(kv.selected_items) ?? 0,
    skippedProtected: num(kv.skipped_protected) ?? 0,
    skippedOpen: num(kv.skipped_open) ?? 0,
    skippedOtherFs: num(kv.skipped_other_fs) ?? 0,
    message: (kv.message ?? '').trim(),
  };
}

function parseDisk(text: string | undefined): DiskUsage[] {
  if (!text) return [];
  const byMount = new Map<string, DiskUsage>();
  for (const row of parseDf(text, 'space')) {
    const pct = usedPct(row);
    byMount.set(row.mount, {
      mount: row.mount,
      sizeBytes: row.total,
      usedBytes: row.used,
      availBytes: row.available,
      usedPct: pct === null ? null : Math.round(pct * 10) / 10,
    });
  }
  return [...byMount.values()];
}

/** Metric name per category; caches share one series so the set stays small and fixed. */
function metricGroup(category: string): 'Experiments' | 'Checkpoints' | 'Docker' | 'Caches' {
  if (category === 'experiments') return 'Experiments';
  if (category === 'checkpoints') return 'Checkpoints';
  if (category === 'docker') return 'Docker';
  return 'Caches';
}

function byCategory(items: ReadonlyArray<{ category: string; bytes: number }>): string {
  const sums = new Map<string, number>();
  for (const item of items) sums.set(item.category, (sums.get(item.category) ?? 0) + item.bytes);
  return [...sums.entries()].map(([c, b]) => `${c} ${formatBytes(b)}`).join(', ');
}

export const evaluateCleanup: TaskEvaluator = (parsed: ParsedResult, _ctx: EvaluationContext): Evaluation => {
  const configSection = parsed.sections.get('cleanup-config');
  if (!configSection) throw new Error('no cleanup-config section in the output');
  const config = parseKeyValues(configSection.stdout);
  const dryRun = config.dry_run !== 'false';
  const maxFraction = config.max_delete_fraction ?? '?';
  const busy = parsed.sections.get('cleanup-busy');
  if (busy) {
    // The running cleanup reports for itself; this one did nothing, which is worth a look but not a page.
    const message = parseKeyValues(busy.stdout).message || 'another cleanup is already running';
    return { findings: [{ check: 'cleanup.run', severity: 'warning', message: `cleanup not started: ${message}` }], readings: [] };
  }
  const stopped = parsed.sections.get('cleanup-interrupted');

  const areas = [...parsed.sections.values()]
    .filter((s) => /^area-\d+$/.test(s.name))
    .sort((a, b) => Number(a.name.slice(5)) - Number(b.name.slice(5)))
    .map((s) => parseArea(s.stdout));
  const items = parseItems(parsed.sections.get('cleanup-items')?.stdout ?? '');
  const ages = parseItemAges(parsed.sections.get('cleanup-item-ages')?.stdout ?? '');
  const diskBefore = parseDisk(parsed.sections.get('disk-before')?.stdout);
  const diskAfter = parseDisk(parsed.sections.get('disk-after')?.stdout);

  const findings: Finding[] = [];
  const refused = areas.filter((a) => a.status === 'refused');
  for (const area of refused) {
    findings.push({
      check: 'cleanup.guard',
      severity: 'critical',
      message: `cleanup refused ${area.category} root ${area.path}: ${area.message.replace(/^refused: \S+ /, '')}; nothing was deleted on this host`,
      reading: area.path,
    });
  }
  for (const area of areas.filter((a) => a.status === 'guard')) {
    const fraction = area.totalBytes ? area.selectedBytes / area.totalBytes : null;
    findings.push({
      check: 'cleanup.guard',
      severity: 'warning',
      message: `${area.category} root ${area.path}: ${dryRun ? 'a real run would select' : 'selected'} ${formatBytes(area.selectedBytes)} of ${formatBytes(area.totalBytes)}, over cleanup.maxDeleteFraction ${maxFraction}; nothing deleted there. Check the list, then run once with --set cleanup.force=true`,
      reading: fraction === null ? null : Math.round(fraction * 1000) / 1000,
      threshold: `maxDeleteFraction ${maxFraction}`,
    });
  }
  for (const area of areas.filter((a) => a.status === 'error')) {
    findings.push({ check: 'cleanup.run', severity: 'warning', message: `${area.category} ${area.path}: ${area.message}` });
  }

  const done = items.filter((i) => i.action === (dryRun ? 'would-delete' : 'deleted'));
  const notDeleted = items.filter((i) => !['deleted', 'would-delete', 'kept'].includes(i.action));
  // Docker's freed bytes come from its own "Total reclaimed space" (shared layers), files from the list.
  const bytesFreed = dryRun ? done.reduce((sum, i) => sum + i.bytes, 0) : areas.reduce((sum, a) => sum + a.freedBytes, 0);

  if (refused.length === 0) {
    const inUse = items.filter((i) => i.action === 'skipped-open').length;
    const protectedCount = areas.reduce((sum, a) => sum + a.skippedProtected, 0);
    const skipped: string[] = [];
    if (inUse) skipped.push(`${inUse} in use`);
    if (protectedCount) skipped.push(`${protectedCount} protected`);
    const missing = areas.filter((a) => a.status === 'missing').map((a) => a.path);
    if (missing.length) skipped.push(`not present: ${missing.join(', ')}`);
    const docker = areas.find((a) => a.category === 'docker' && a.status === 'unreachable');
    if (docker) skipped.push('docker daemon not reachable');
    const interrupted = items.filter((i) => i.action === 'skipped-interrupted').length;
    if (stopped)
      skipped.push(
        `stopped by SIG${parseKeyValues(stopped.stdout).signal ?? '?'}: ${interrupted} selected not deleted, later areas not cleaned`,
      );
    const skippedText = skipped.length ? `; skipped ${skipped.join(', ')}` : '';
    const detail = done.length ? ` (${byCategory(done)})` : '';
    const message = dryRun
      ? `dry run: would free ${formatBytes(bytesFreed)} in ${plural(done.length, 'path')}${detail}${skippedText}; nothing deleted (set cleanup.dryRun=false to delete)`
      : `freed ${formatBytes(bytesFreed)} in ${plural(done.length, 'path')}${detail}${skippedText}`;
    findings.push({ check: 'cleanup.run', severity: 'ok', message, reading: bytesFreed });
  }

  const readings: Reading[] = [];
  if (refused.length === 0) {
    const freedBy = { Experiments: 0, Checkpoints: 0, Docker: 0, Caches: 0 };
    if (!dryRun) for (const area of areas) freedBy[metricGroup(area.category)] += area.freedBytes;
    readings.push({ name: METRICS.BytesFreed, value: dryRun ? 0 : bytesFreed, unit: 'Bytes' });
    for (const [group, bytes] of Object.entries(freedBy))
      readings.push({ name: BYTES_FREED[group as keyof typeof freedBy], value: bytes, unit: 'Bytes' });
    readings.push({ name: METRICS.CleanupDeletedFiles, value: dryRun ? 0 : done.length, unit: 'Count' });
    if (dryRun) readings.push({ name: METRICS.BytesReclaimable, value: bytesFreed, unit: 'Bytes' });
    const after = diskAfter.map((d) => d.usedPct).filter((p): p is number => p !== null);
    if (after.length) readings.push({ name: METRICS.DiskUsedPctAfter, value: Math.max(...after), unit: 'Percent' });
  }

  const details: CleanupDetails = {
    dryRun,
    deleted: done.map((i) => {
      const modifiedAt = ages.get(i.path);
      return { path: i.path, bytes: i.bytes, category: i.category, ...(modifiedAt ? { modifiedAt } : {}) };
    }),
    bytesFreed: dryRun ? 0 : bytesFreed,
    bytesToFree: bytesFreed,
    diskBefore,
    diskAfter,
    areas,
    notDeleted,
  };
  return { findings, readings, details: { cleanup: details } };
};
