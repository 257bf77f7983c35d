/**
 * Opens the BackupStore a destination URL names: `file:///path` or `s3://bucket[/prefix]` (with an
 * optional endpoint for S3-compatible stores). Used by `gpu-maint snapshots`, `prune` and `restore`.
 * It lives with the CLI because it composes both adapter families, which never import each other.
 */

import { hostname } from 'node:os';
import { S3Client } from '@aws-sdk/client-s3';
import { S3BackupStore } from '../../lambda/adapters/aws/backup-store-s3';
import { awsCall } from '../../lambda/adapters/aws/explain-error';
import { sdkTimeouts } from '../../lambda/adapters/aws/sdk-timeouts';
import { FileBackupStore } from '../../lambda/adapters/local/backup-store-file';
import type { Config } from '../../lambda/config/schema';
import type { BackupStore } from '../../lambda/core/backup/store';
import { HOST_KEY } from '../../lambda/core/backup/store';
import { backupDestination } from '../../lambda/tasks/parameters';
import { UsageError } from './context';

/** @param timeoutSeconds per-request timeout of S3 calls (backup.storeTimeoutSeconds); calls are also retried a bounded number of times. */
export function openBackupStore(destination: string, s3EndpointUrl?: string, timeoutSeconds?: number): BackupStore {
  if (destination.startsWith('file:///')) return new FileBackupStore(destination.slice('file://'.length).replace(/(.)\/+$/, '$1'));
  const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(destination);
  if (!m) throw new Error(`backup destination must be file:///absolute/path or s3://bucket[/prefix], got: ${JSON.stringify(destination)}`);
  const s3 = new S3Client({
    ...(s3EndpointUrl ? { endpoint: s3EndpointUrl, forcePathStyle: true } : { followRegionRedirects: true }),
    region: process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    // S3-compatible stores (and s3rver) mishandle the SDK's default aws-chunked checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...sdkTimeouts(timeoutSeconds),
  });
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return explainedStore(new S3BackupStore(s3, m[1], m[2] ?? ''), { bucket: m[1], endpoint: s3EndpointUrl, region });
}

/** The store backup.destination names, with the config's endpoint and timeouts. */
export function configuredBackupStore(config: Config): BackupStore {
  return openBackupStore(backupDestination(config), config.backup.s3EndpointUrl, config.backup.storeTimeoutSeconds);
}

/** A `--host` value. @throws UsageError naming the option and what was expected. */
export function hostKeyOption(raw: string | undefined): string | undefined {
  if (raw !== undefined && !HOST_KEY.test(raw)) {
    throw new UsageError(`--host ${JSON.stringify(raw)}: expected a host key (letters, digits, . _ : @ -)`);
  }
  return raw;
}

/** A snapshot named on the command line: `latest`, an id, or the start of one. */
const SNAPSHOT_REF = /^(latest|\d[0-9TZ-]{0,25})$/;

/** @throws UsageError naming the argument and what was expected. */
export function snapshotRefArgument(name: string, raw: string): string {
  if (!SNAPSHOT_REF.test(raw)) {
    throw new UsageError(`${name} ${JSON.stringify(raw)}: expected a snapshot id such as 20261128T020000Z-42, the start of one, or latest`);
  }
  return raw;
}

/**
 * Whose snapshots a command reads: `--host`; else the store's only host; else this machine's host id
 * (GPU_MAINT_HOST_ID or the host name) when the store has it.
 * @throws UsageError listing the hosts to choose from.
 */
export async function chooseHostKey(store: BackupStore, requested: string | undefined): Promise<string> {
  if (requested !== undefined) return requested;
  const keys = (await store.listHostKeys()).sort();
  if (keys.length === 1) return keys[0];
  const own = process.env.GPU_MAINT_HOST_ID || hostname();
  if (keys.includes(own)) return own;
  if (keys.length === 0) throw new UsageError(`no backups in ${store.location}`);
  throw new UsageError(
    `${store.location} holds backups of ${keys.length} hosts and none is this host's (${own}); choose one with --host: ${keys.slice(0, 10).join(', ')}${keys.length > 10 ? ', ...' : ''}`,
  );
}

/** The S3 action each store method needs (for AccessDenied messages). */
const STORE_ACTIONS: Record<Exclude<keyof BackupStore, 'location'>, string> = {
  listHostKeys: 's3:ListBucket',
  listSnapshotIds: 's3:ListBucket',
  readManifest: 's3:GetObject',
  readArchive: 's3:GetObject',
  listArchives: 's3:ListBucket',
  deleteSnapshot: 's3:DeleteObject',
  deleteArchives: 's3:DeleteObject',
  listSnapshotWriteTimes: 's3:ListBucket',
};

/**
 * The store with every S3 error explained (lambda/adapters/aws/explain-error.ts): each message names
 * the bucket and the endpoint, and what to fix.
 */
function explainedStore(store: BackupStore, where: { bucket: string; endpoint?: string; region: string }): BackupStore {
  const wrap =
    <A extends unknown[], R>(method: keyof typeof STORE_ACTIONS, fn: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> =>
      awsCall({ action: STORE_ACTIONS[method], resource: store.location, ...where }, () => fn.apply(store, args));
  return {
    location: store.location,
    listHostKeys: wrap('listHostKeys', store.listHostKeys),
    listSnapshotIds: wrap('listSnapshotIds', store.listSnapshotIds),
    readManifest: wrap('readManifest', store.readManifest),
    readArchive: wrap('readArchive', store.readArchive),
    listArchives: wrap('listArchives', store.listArchives),
    deleteSnapshot: wrap('deleteSnapshot', store.deleteSnapshot),
    deleteArchives: wrap('deleteArchives', store.deleteArchives),
    ...(store.listSnapshotWriteTimes ? { listSnapshotWriteTimes: wrap('listSnapshotWriteTimes', store.listSnapshotWriteTimes) } : {}),
  };
}
