/**
 * `gpu-maint ls <snapshot> [path] [--long] [--host H] [--json]`: the entries of a snapshot, read from
 * tar's listing of its archives (only the archives of units at or around `path`), like `restic ls`.
 */
import type { Command } from 'commander';
import { assertArchiveTools, ToolArchiveReader } from '../../../lambda/adapters/local/archive-reader';
import { modeString } from '../../../lambda/core/backup/archive-listing';
import { type ListedEntry, listSnapshot, openSnapshot } from '../../../lambda/core/backup/contents';
import { formatBytes } from '../../../lambda/core/format';
import { chooseHostKey, configuredBackupStore, hostKeyOption, snapshotRefArgument } from '../backup-store';
import { type CliIo, configFor, EXIT, ExitError, type RegisterCommand, UsageError } from '../context';
import { plainTable } from './snapshots';

/** A path on one line: names holding control characters (a newline) are shown quoted, as `ls` does. */
export function shownPath(p: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this looks for.
  return /[\u0000-\u001f\u007f]/.test(p) ? JSON.stringify(p) : p;
}

/** `ls -l`-like rows: mode, owner, size, mtime (UTC, to the second), path (and a link's target). */
export function formatLongListing(entries: readonly ListedEntry[]): string[] {
  const rows = entries.map((e) => [
    modeString(e),
    `${e.uid}/${e.gid}`,
    e.type === 'file' ? formatBytes(e.size) : '',
    `${e.mtime.slice(0, 19)}Z`,
    `${shownPath(e.fullPath)}${e.type === 'symlink' ? ` -> ${shownPath(e.target ?? '')}` : e.type === 'hardlink' ? ` link to ${shownPath(e.target ?? '')}` : ''}`,
  ]);
  return plainTable(['mode', 'owner', 'size', 'modified (UTC)', 'path'], rows, ['left', 'left', 'right', 'left', 'left']);
}

export const registerLs: RegisterCommand = (program: Command, io: CliIo) => {
  program
    .command('ls')
    .description('list the files of a snapshot (from its archives), optionally only at or below a path')
    .argument('<snapshot>', 'snapshot id, the start of one, or "latest"')
    .argument('[path]', 'only entries at or below this path (absolute, or relative to the backed-up source)')
    .option('-l, --long', 'show mode, owner, size and modification time')
    .option('--host <key>', "whose snapshot (default: the store's only host, or this host)")
    .option('--json', 'print the entries as JSON')
    .action(async (ref: string, filter: string | undefined, options: { long?: boolean; host?: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      snapshotRefArgument('snapshot', ref);
      if (filter !== undefined && (filter === '' || filter.split('/').includes('..'))) {
        throw new UsageError(`path ${JSON.stringify(filter)}: expected a path inside the snapshot, without ".."`);
      }
      const requested = hostKeyOption(options.host);
      assertArchiveTools();
      const store = configuredBackupStore(config);
      const snapshot = await openSnapshot(store, await chooseHostKey(store, requested), ref);
      const listing = await listSnapshot(snapshot, new ToolArchiveReader(store), filter?.replace(/^\.\//, ''));
      if (options.json) {
        // Exact names as base64 of their bytes (as manifests store unit paths); `path` is for display.
        const entries = listing.entries.map(({ rawPath, ...e }) => ({
          ...e,
          pathBase64: Buffer.from(rawPath, 'latin1').toString('base64'),
        }));
        io.out(JSON.stringify({ snapshot: snapshot.id, hostKey: snapshot.hostKey, entries, problems: listing.problems }, null, 2));
      } else if (listing.entries.length === 0 && filter === undefined) {
        io.err(`snapshot ${snapshot.id} of ${snapshot.hostKey} holds no entries`);
      } else if (listing.entries.length > 0) {
        io.out(options.long ? formatLongListing(listing.entries).join('\n') : listing.entries.map((e) => shownPath(e.fullPath)).join('\n'));
      }
      for (const p of listing.problems) io.err(`warning: ${p}`);
      if (listing.problems.length > 0) {
        throw new ExitError(
          `ls: ${listing.problems.length} archive problem(s) in snapshot ${snapshot.id}; the listing may be incomplete (gpu-maint check ${snapshot.id})`,
          EXIT.taskFailed,
        );
      }
      if (filter !== undefined && listing.entries.length === 0) {
        throw new ExitError(`ls: nothing at ${filter} in snapshot ${snapshot.id}`, EXIT.taskFailed);
      }
    });
};
