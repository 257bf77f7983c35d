/**
 * `gpu-maint diff <snapshot A> <snapshot B> [--units] [--host H] [--json]`: units added, removed and
 * changed between two snapshots of a host and, for changed units, the entries (from tar's listing of
 * both archives), with sizes, like `restic diff`.
 */
import type { Command } from 'commander';
import { assertArchiveTools, ToolArchiveReader } from '../../../lambda/adapters/local/archive-reader';
import { openSnapshot } from '../../../lambda/core/backup/contents';
import { diffSnapshots, type EntryChange, type SnapshotDiff, type UnitChange } from '../../../lambda/core/backup/diff';
import { formatBytes } from '../../../lambda/core/format';
import { chooseHostKey, configuredBackupStore, hostKeyOption, snapshotRefArgument } from '../backup-store';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand } from '../context';
import { shownPath } from './ls';
import { plainTable } from './snapshots';

const MARK = { added: '+', removed: '-', changed: 'M' } as const;

/** A signed byte difference: `+1.0 MiB`, `-4 B`, `±0 B`. */
export function byteDelta(before: number, after: number): string {
  const d = after - before;
  return `${d > 0 ? '+' : d < 0 ? '-' : '±'}${formatBytes(Math.abs(d))}`;
}

const entryCount = (n: number) => `${n} ${n === 1 ? 'entry' : 'entries'}`;

function unitRow(u: UnitChange): string[] {
  const b = u.before;
  const a = u.after;
  const what =
    u.kind === 'added' && a
      ? `unit added: ${entryCount(a.entries)}, ${formatBytes(a.sourceBytes)}`
      : u.kind === 'removed' && b
        ? `unit removed: ${entryCount(b.entries)}, ${formatBytes(b.sourceBytes)}`
        : b && a
          ? `unit changed: ${b.entries} → ${a.entries} entries, ${formatBytes(b.sourceBytes)} → ${formatBytes(a.sourceBytes)} (${byteDelta(b.sourceBytes, a.sourceBytes)})`
          : '';
  return [MARK[u.kind], shownPath(u.path), what];
}

function entryRow(e: EntryChange): string[] {
  const size = (s: EntryChange['before']) => (s?.type === 'file' ? formatBytes(s.size) : (s?.type ?? ''));
  const what =
    e.kind === 'added'
      ? size(e.after)
      : e.kind === 'removed'
        ? size(e.before)
        : `${e.what.includes('size') ? `${size(e.before)} → ${size(e.after)} ` : ''}(${e.what.join(', ')})`;
  return [`  ${MARK[e.kind]}`, shownPath(e.path), what];
}

/** The diff for people: a row per changed unit, its changed entries below it, then the totals. */
export function formatDiff(diff: SnapshotDiff): string {
  const lines = [
    `comparing snapshot ${diff.from.id}${diff.from.hostKey === diff.to.hostKey ? '' : ` (${diff.from.hostKey})`} → ${diff.to.id} of ${diff.to.hostKey}`,
  ];
  const rows: string[][] = [];
  for (const u of diff.units) {
    rows.push(unitRow(u));
    for (const e of u.entries ?? []) rows.push(entryRow(e));
  }
  if (rows.length > 0) lines.push(...plainTable(['', 'path', 'change'], rows, ['left', 'left', 'left']));
  else lines.push('  no differences');
  const count = (kind: UnitChange['kind']) => diff.units.filter((u) => u.kind === kind).length;
  lines.push(
    `units: ${count('added')} added, ${count('removed')} removed, ${count('changed')} changed, ${diff.unitsUnchanged} unchanged; ` +
      `entries: ${diff.entriesAdded} added, ${diff.entriesRemoved} removed, ${diff.entriesChanged} changed; ` +
      `data ${formatBytes(diff.sourceBytesBefore)} → ${formatBytes(diff.sourceBytesAfter)} (${byteDelta(diff.sourceBytesBefore, diff.sourceBytesAfter)})`,
  );
  return lines.join('\n');
}

export const registerDiff: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('diff')
    .description('show the units and files added, removed and changed between two snapshots')
    .argument('<snapshot-a>', 'the earlier snapshot: id, the start of one, or "latest"')
    .argument('<snapshot-b>', 'the later snapshot: id, the start of one, or "latest"')
    .option('--units', 'compare units only (from the manifests; reads no archive)')
    .option('--host <key>', "whose snapshots (default: the store's only host, or this host)")
    .option('--json', 'print the differences as JSON')
    .action(async (refA: string, refB: string, options: { units?: boolean; host?: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      snapshotRefArgument('snapshot-a', refA);
      snapshotRefArgument('snapshot-b', refB);
      const requested = hostKeyOption(options.host);
      if (!options.units) assertArchiveTools();
      const store = configuredBackupStore(config);
      const hostKey = await chooseHostKey(store, requested);
      const [from, to] = [await openSnapshot(store, hostKey, refA), await openSnapshot(store, hostKey, refB)];
      const diff = await diffSnapshots(from, to, new ToolArchiveReader(store), { files: !options.units });
      io.out(options.json ? JSON.stringify(diff, null, 2) : formatDiff(diff));
      for (const p of diff.problems) io.err(`warning: ${p}`);
      if (diff.problems.length > 0) {
        throw new ExitError(
          `diff: ${diff.problems.length} archive problem(s); the file changes shown may be incomplete (gpu-maint check)`,
          EXIT.taskFailed,
        );
      }
    });
};
