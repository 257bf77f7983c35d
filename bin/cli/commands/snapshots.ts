/**
 * `gpu-maint snapshots list [--host H] [--json]`: the snapshots in the configured backup destination
 * (file:// or s3://), per host, newest last, with what each holds.
 */
import type { Command } from 'commander';
import {
  compareSnapshotIds,
  futureSnapshotMessage,
  manifestTotals,
  parseManifest,
  snapshotTime,
} from '../../../lambda/core/backup/manifest';
import { type BackupStore, HOST_KEY } from '../../../lambda/core/backup/store';
import { formatBytes } from '../../../lambda/core/format';
import { backupDestination } from '../../../lambda/tasks/parameters';
import { openBackupStore } from '../backup-store';
import { type CliIo, configFor, type RegisterCommand, UsageError } from '../context';

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

function ageText(at: string, now: Date): string {
  const hours = (now.getTime() - Date.parse(at)) / 3_600_000;
  if (hours < 0) return -hours < 48 ? `${(-hours).toFixed(1)} h ahead` : `${(-hours / 24).toFixed(1)} d ahead`;
  return hours < 48 ? `${hours.toFixed(1)} h ago` : `${(hours / 24).toFixed(1)} d ago`;
}

export function formatSnapshots(hosts: readonly HostSnapshots[], location: string, now: Date): string {
  if (hosts.length === 0) return `no backups in ${location}`;
  const lines: string[] = [];
  for (const h of hosts) {
    lines.push(
      `${h.hostKey}${h.host && h.host !== h.hostKey ? ` (${h.host})` : ''}: ${h.snapshots.length} snapshot(s) in ${location}backups/${h.hostKey}/`,
    );
    for (const s of h.snapshots) {
      lines.push(
        s.readable
          ? `  ${s.id}  ${ageText(s.at, now).padStart(10)}  ${String(s.units).padStart(4)} units (${s.unitsUploaded} sent)  ${String(s.files).padStart(7)} entries  ${formatBytes(s.sourceBytes ?? 0).padStart(10)} data  ${formatBytes(s.bytes ?? 0).padStart(10)} stored`
          : `  ${s.id}  ${ageText(s.at, now).padStart(10)}  UNREADABLE: ${s.error}`,
      );
      if (s.clockSkew) lines.push(`    warning: ${s.clockSkew}`);
    }
  }
  return lines.join('\n');
}

export const registerSnapshots: RegisterCommand = (program: Command, io: CliIo) => {
  const snapshots = program.command('snapshots').description('backup snapshots in the configured destination (backup.destination)');
  snapshots
    .command('list')
    .description('list snapshots per host, oldest first (in the order they were written)')
    .option('--host <key>', 'only this host (its folder under backups/: instance id, host name or <role id>:<instance id>)')
    .option('--json', 'print JSON')
    .action(async (options: { host?: string; json?: boolean }, cmd: Command) => {
      const config = configFor(cmd);
      if (options.host !== undefined && !HOST_KEY.test(options.host)) {
        throw new UsageError(`--host ${JSON.stringify(options.host)}: expected a host key (letters, digits, . _ : @ -)`);
      }
      const store = openBackupStore(backupDestination(config), config.backup.s3EndpointUrl, config.backup.storeTimeoutSeconds);
      const hosts = await listSnapshots(store, options.host ? [options.host] : undefined);
      io.out(
        options.json ? JSON.stringify({ location: store.location, hosts }, null, 2) : formatSnapshots(hosts, store.location, new Date()),
      );
    });
};
