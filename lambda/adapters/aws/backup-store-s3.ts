/**
 * BackupStore over S3 (and S3-compatible stores): the prune Lambda's and the CLI's view of an
 * `s3://bucket/prefix` destination. On a versioned bucket deletions leave noncurrent versions that the
 * lifecycle rule expires after backup.undoDays: the undo window.
 */
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { isSnapshotId } from '../../core/backup/manifest';
import type { StoredArchive } from '../../core/backup/retention';
import { assertArchiveKey, assertHostKey, type BackupStore, HOST_KEY } from '../../core/backup/store';

/** DeleteObjects takes at most 1,000 keys per request. */
const MAX_DELETE_KEYS = 1000;

export class S3BackupStore implements BackupStore {
  readonly location: string;
  private readonly prefix: string;

  /** @param prefix key prefix of the destination (`s3://bucket/<prefix>`), with or without a trailing slash. */
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    prefix = '',
  ) {
    this.prefix = prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
    this.location = `s3://${bucket}/${this.prefix}`;
  }

  /** Runs one S3 call; a failure names the store, the operation and why (e.g. a timeout after the retries). */
  private async call<T>(operation: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      const e = err as Error & { $metadata?: { attempts?: number } };
      const attempts = e.$metadata?.attempts ? ` after ${e.$metadata.attempts} attempt(s)` : '';
      throw new Error(`${this.location}: ${operation} failed${attempts}: ${e.name}: ${e.message}`);
    }
  }

  private async *pages(prefix: string, delimiter?: string): AsyncGenerator<ListObjectsV2CommandOutput> {
    let token: string | undefined;
    do {
      const page = await this.call('ListObjectsV2', () =>
        this.s3.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            ...(delimiter ? { Delimiter: delimiter } : {}),
          }),
        ),
      );
      yield page;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  private hostPrefix(hostKey: string): string {
    assertHostKey(hostKey);
    return `${this.prefix}backups/${hostKey}/`;
  }

  async listHostKeys(): Promise<string[]> {
    const base = `${this.prefix}backups/`;
    const keys = new Set<string>();
    for await (const page of this.pages(base, '/')) {
      for (const p of page.CommonPrefixes ?? []) keys.add((p.Prefix ?? '').slice(base.length).replace(/\/$/, ''));
    }
    if (keys.size === 0) {
      // Some S3-compatible stores (s3rver among them) return no nested CommonPrefixes; on S3 an empty
      // delimited listing means an empty prefix, and this costs one more request.
      for await (const page of this.pages(base)) {
        for (const o of page.Contents ?? []) keys.add((o.Key ?? '').slice(base.length).split('/')[0]);
      }
    }
    return [...keys].filter((k) => HOST_KEY.test(k));
  }

  async listSnapshotIds(hostKey: string): Promise<string[]> {
    const base = `${this.hostPrefix(hostKey)}snapshots/`;
    const ids: string[] = [];
    for await (const page of this.pages(base)) {
      for (const o of page.Contents ?? []) {
        const name = (o.Key ?? '').slice(base.length);
        if (name.endsWith('.json') && isSnapshotId(name.slice(0, -5))) ids.push(name.slice(0, -5));
      }
    }
    return ids;
  }

  /**
   * LastModified is set by S3 when the object is written (the server's clock): a host's wrong clock cannot
   * change it. https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html (LastModified)
   */
  async listSnapshotWriteTimes(hostKey: string): Promise<Map<string, Date>> {
    const base = `${this.hostPrefix(hostKey)}snapshots/`;
    const out = new Map<string, Date>();
    for await (const page of this.pages(base)) {
      for (const o of page.Contents ?? []) {
        const name = (o.Key ?? '').slice(base.length);
        if (name.endsWith('.json') && isSnapshotId(name.slice(0, -5)) && o.LastModified) out.set(name.slice(0, -5), o.LastModified);
      }
    }
    return out;
  }

  async readManifest(hostKey: string, snapshotId: string): Promise<string> {
    if (!isSnapshotId(snapshotId)) throw new Error(`not a snapshot id: ${JSON.stringify(snapshotId)}`);
    const out = await this.call('GetObject', () =>
      this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: `${this.hostPrefix(hostKey)}snapshots/${snapshotId}.json` })),
    );
    if (!out.Body) throw new Error(`${this.location}backups/${hostKey}/snapshots/${snapshotId}.json has no body`);
    return out.Body.transformToString('utf-8');
  }

  async listArchives(hostKey: string): Promise<StoredArchive[]> {
    const host = this.hostPrefix(hostKey);
    const out: StoredArchive[] = [];
    for await (const page of this.pages(`${host}units/`)) {
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        // A missing date (never from S3) must not make an archive look old enough to delete.
        out.push({ key: o.Key.slice(host.length), bytes: o.Size ?? 0, lastModified: o.LastModified ?? new Date() });
      }
    }
    return out;
  }

  /**
   * GetObject's body is the object's bytes as a stream; it is read once, front to back.
   * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
   */
  async readArchive(hostKey: string, key: string): Promise<AsyncIterable<Uint8Array>> {
    assertArchiveKey(key, 'read');
    const out = await this.call('GetObject', () =>
      this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: `${this.hostPrefix(hostKey)}${key}` })),
    );
    if (!out.Body) throw new Error(`${this.location}backups/${hostKey}/${key} has no body`);
    return out.Body as AsyncIterable<Uint8Array>;
  }

  async deleteSnapshot(hostKey: string, snapshotId: string): Promise<void> {
    if (!isSnapshotId(snapshotId)) throw new Error(`not a snapshot id: ${JSON.stringify(snapshotId)}`);
    await this.call('DeleteObject', () =>
      this.s3.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: `${this.hostPrefix(hostKey)}snapshots/${snapshotId}.json` })),
    );
  }

  async deleteArchives(hostKey: string, keys: readonly string[]): Promise<void> {
    const host = this.hostPrefix(hostKey);
    for (const key of keys) assertArchiveKey(key);
    for (let i = 0; i < keys.length; i += MAX_DELETE_KEYS) {
      const batch = keys.slice(i, i + MAX_DELETE_KEYS);
      const out = await this.call('DeleteObjects', () =>
        this.s3.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch.map((k) => ({ Key: `${host}${k}` })), Quiet: true } }),
        ),
      );
      if (out.Errors && out.Errors.length > 0) {
        const first = out.Errors[0];
        throw new Error(
          `${out.Errors.length} of ${batch.length} archives of ${hostKey} not deleted (first: ${first.Key}: ${first.Code} ${first.Message})`,
        );
      }
    }
  }
}
