/**
 * `gpu-maint snapshots list [--host H] [--json]`: the snapshots in the configured backup destination
 * (file:// or s3://), per host, newest last, with what each holds.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { borderless } from '../../../lambda/adapters/local/report';
import {
  compareSnapshotIds,
  futureSnapshotMessage,
  manifestTotals,
  parseManifest,
  snapshotTime,
} from '../../../lambda/core/backup/manifest';
import type { BackupStore } from '../../../lambda/core/backup/store';
import { formatAge, formatBytes } from '../../../lambda/core/format';
import { configuredBackupStore, hostKeyOption } from '../backup-store';
import { type CliIo, configFor, nowOf, type RegisterCommand } from '../context';

export interface SnapshotSummary {
  readonly id: string;
  readonly at: string;
  readonly readable: boolean;
  readonly error?: string;
  readonly units?: number;
  readonly unitsUploaded?: number;
  readonly files?: number;
  /** Stored (compressed) bytes the snapshot references. */
  readonly bytes?: number;
  readonly sourceBytes?: number;
  /** Set when the snapshot is dated in the future (the host's clock was wrong when it was written). */
  readonly clockSkew?: string;
}

export interface HostSnapshots {
  readonly hostKey: string;
  readonly host: string | null;
  readonly snapshots: readonly SnapshotSummary[];
}

/** Snapshots per host, oldest first: in the order they were written (their sequence), whatever their dates. */
export async function listSnapshots(store: BackupStore, hostKeys?: readonly string[], now = new Date()): Promise<HostSnapshots[]> {
  const keys = hostKeys ?? (await store.listHostKeys()).sort();
  const out: HostSnapshots[] = [];
  for (const hostKey of keys) {
    const ids = (await store.listSnapshotIds(hostKey)).sort(compareSnapshotIds);
    const writtenAt = (await store.listSnapshotWriteTimes?.(hostKey)) ?? new Map<string, Date>();
    let host: string | null = null;
    const snapshots: SnapshotSummary[] = [];
    for (const id of ids) {
      const at = snapshotTime(id).toISOString();
      const skew = futureSnapshotMessage(id, new Date(Math.min(writtenAt.get(id)?.getTime() ?? now.getTime(), now.getTime())));
      const clockSkew = skew ? { clockSkew: skew } : {};
      try {
        const m = parseManifest(await store.readManifest(hostKey, id), `${store.location}backups/${hostKey}/snapshots/${id}.json`);
        const t = manifestTotals(m);
        host = m.host;
        snapshots.push({
          id,
          at,
          readable: true,
          units: t.units,
          unitsUploaded: m.units.filter((u) => u.uploaded).length,
          files: t.files,
          bytes: t.bytes,
          sourceBytes: t.sourceBytes,
          ...clockSkew,
        });
      } catch (err) {
        snapshots.push({ id, at, readable: false, error: (err as Error).message, ...clockSkew });
      }
    }
    out.push({ hostKey, host, snapshots });
  }
  return out;
}

/** An aligned table without borders: a header row, then the rows, columns two spaces apart. */
export function plainTable(head: readonly string[], rows: readonly (readonly string[])[], align: readonly ('left' | 'right')[]): string[] {
  const table = new Table({
    head: [...head],
    ...borderless('  '),
    colAligns: [...align],
  });
  for (const row of rows) table.push([...row]);
  return table
    .toString()
    .split('\n')
    .map((l) => l.trimEnd());
}

/** How long ago a snapshot was taken; a snapshot from the future (clock skew) says so. */
function ageWords(at: string, now: Date): string {
  const seconds = (now.getTime() - Date.parse(at)) / 1000;
  return seconds < 0 ? `${formatAge(-seconds)} ahead` : `${formatAge(seconds)} ago`;
}

export function formatSnapshots(hosts: readonly HostSnapshots[], location: string, now: Date): string {
  if (hosts.length === 0) return `no backups in ${location}`;
  const lines: string[] = [];
  for (const h of hosts) {
    lines.push(
      `${h.hostKey}${h.host && h.host !== h.hostKey ? ` (${h.host})` : ''}: ${h.snapshots.length} snapshot(s) in ${location}backups/${h.hostKey}/`,
    );
    const rows = h.snapshots.map((s) => {
      const age = ageWords(s.at, now);
      return s.readable
        ? [s.id, age, `${s.units} (${s.unitsUploaded} sent)`, String(s.files), formatBytes(s.sourceBytes ?? 0), formatBytes(s.bytes ?? 0)]
        : [s.id, age, `UNREADABLE: ${s.error}`, '', '', ''];
    });
    if (rows.length) {
      lines.push(
        ...plainTable(['snapshot', 'age', 'units', 'entries', 'data', 'stored'], rows, [
          'left',
          'right',
          'right',
          'right',
          'right',
          'right',
        ]),
      );
    }
    for (const s of h.snapshots) if (s.clockSkew) lines.push(`  warning: ${s.id}: ${s.clockSkew}`);
  }
  return lines.join('\n');
}

export const registerSnapshots: RegisterCommand = (program: Command, io: CliIo) => {
  const snapshots = program.command('snapshots').description('backup snapshots in the configured destination (backup.destination)');
  snapshots
    .command('list', { isDefault: true })
    .description('list snapshots per host, oldest first (in the order they were written); the default of `gpu-maint snapshots`')
    .option('--host <key>', 'only this host (its folder under backups/: instance id, host name or <role id>:<instance id>)')
    .option('--json', 'print JSON')
    .action(async (options: { host?: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      hostKeyOption(options.host);
      const store = configuredBackupStore(config);
      const now = nowOf(io);
      const hosts = await listSnapshots(store, options.host ? [options.host] : undefined, now);
      io.out(options.json ? JSON.stringify({ location: store.location, hosts }, null, 2) : formatSnapshots(hosts, store.location, now));
    });
};
