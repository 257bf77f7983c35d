/**
 * The backup store port: what retention, the age audit and the CLI need from a backup destination.
 * Layout under the destination root (scripts/lib/backup-manifest.sh writes it):
 *   backups/<host key>/snapshots/<snapshot id>.json
 *   backups/<host key>/units/<unit id>/<fingerprint>.tar.zst
 * Implementations: lambda/adapters/local/backup-store-file.ts (file://) and
 * lambda/adapters/aws/backup-store-s3.ts (s3://, also S3-compatible stores).
 */
import type { StoredArchive } from './retention';

export interface BackupStore {
  /** Where the store points, for messages, e.g. `s3://bucket/prefix/`. */
  readonly location: string;
  /** Host keys that have a `backups/<host key>/` prefix. */
  listHostKeys(): Promise<string[]>;
  /** Snapshot ids of a host (any order); files that are not `<snapshot id>.json` are ignored. */
  listSnapshotIds(hostKey: string): Promise<string[]>;
  /**
   * When the store wrote each snapshot's manifest (S3 LastModified, the server's clock; a file's mtime),
   * by snapshot id: the age audit's time for a snapshot whose own date is in the future.
   */
  listSnapshotWriteTimes?(hostKey: string): Promise<Map<string, Date>>;
  /** The manifest text. @throws when it cannot be read. */
  readManifest(hostKey: string, snapshotId: string): Promise<string>;
  /** Every object below `backups/<host key>/units/`, keys relative to the host's prefix. */
  listArchives(hostKey: string): Promise<StoredArchive[]>;
  /**
   * The bytes of one archive (key relative to the host's prefix, below `units/`), streamed: what `check`,
   * `ls` and `diff` read. @throws when it cannot be opened (missing, no access).
   */
  readArchive(hostKey: string, key: string): Promise<AsyncIterable<Uint8Array>>;
  deleteSnapshot(hostKey: string, snapshotId: string): Promise<void>;
  /** Deletes archives by key relative to the host's prefix (each must start with `units/`). */
  deleteArchives(hostKey: string, keys: readonly string[]): Promise<void>;
}

/** Host keys are single path segments (instance ids, host names, or `<role id>:<instance id>`). */
export const HOST_KEY = /^[A-Za-z0-9._:@-]{1,128}$/;

export function assertHostKey(hostKey: string): void {
  if (!HOST_KEY.test(hostKey) || hostKey === '.' || hostKey === '..') {
    throw new Error(`host key ${JSON.stringify(hostKey)} is not valid (letters, digits, . _ : @ -; one path segment)`);
  }
}

/** Archive keys prune may delete (and readers may open): only below `units/`, never anything that climbs out. */
export function assertArchiveKey(key: string, doing = 'delete'): void {
  if (!key.startsWith('units/') || key.split('/').some((part) => part === '..' || part === '' || part === '.')) {
    throw new Error(`refusing to ${doing} ${JSON.stringify(key)}: archive keys are units/<unit id>/<file>`);
  }
}
