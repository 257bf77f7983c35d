/**
 * One contract for every BackupStore: the file:// store (local mode) and the S3 store, the latter
 * against s3rver, an S3-protocol server from npm, on 127.0.0.1. s3rver stands in for S3's listing
 * (prefixes, pagination), GetObject, DeleteObject(s) and LastModified; it does not show S3's
 * consistency across regions, versioning, Object Lock or storage classes.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { S3BackupStore } from '../../lambda/adapters/aws/backup-store-s3';
import { FileBackupStore } from '../../lambda/adapters/local/backup-store-file';
import type { BackupStore } from '../../lambda/core/backup/store';
import { S3Server, s3rverClient } from '../helpers/fake-host';
import { tempDir } from '../helpers/temp';

/** A store and a way to put an object at a key relative to its root (`backups/<host>/...`). */
interface Fixture {
  readonly store: BackupStore;
  put(key: string, body: string): Promise<void>;
}

const BUCKET = 'store-contract';
let server: S3Server;
let s3: S3Client;
let prefixes = 0;

beforeAll(async () => {
  server = new S3Server(tempDir('gpu-maint-store-contract-s3-'), BUCKET);
  await server.start();
  s3 = s3rverClient(server.url);
}, 30_000);

afterAll(async () => {
  s3?.destroy();
  await server?.stop();
});

const implementations: ReadonlyArray<readonly [string, () => Fixture]> = [
  [
    'file://',
    () => {
      const root = tempDir('gpu-maint-store-contract-');
      return {
        store: new FileBackupStore(root),
        async put(key, body) {
          mkdirSync(path.dirname(path.join(root, key)), { recursive: true });
          writeFileSync(path.join(root, key), body);
        },
      };
    },
  ],
  [
    's3:// (s3rver)',
    () => {
      prefixes += 1;
      const prefix = `contract-${prefixes}/`;
      return {
        store: new S3BackupStore(s3, BUCKET, prefix),
        async put(key, body) {
          await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}${key}`, Body: body }));
        },
      };
    },
  ],
];

const ID1 = '20261128T020000Z-1';
const ID2 = '20261129T020000Z-2';
const FP = 'a'.repeat(64);

describe.each(implementations)('%s backup store', (_name, open) => {
  async function seeded(): Promise<Fixture> {
    const f = open();
    await f.put(`backups/i-1/snapshots/${ID1}.json`, '{"id":"1"}\n');
    await f.put(`backups/i-1/snapshots/${ID2}.json`, '{"id":"2"}\n');
    await f.put('backups/i-1/snapshots/notes.txt', 'not a manifest');
    await f.put(`backups/i-1/units/models/${FP}.tar.zst`, 'archive-bytes');
    await f.put('backups/i-2/snapshots/20261128T030000Z-1.json', '{}');
    return f;
  }

  test('lists the hosts that have backups', async () => {
    const { store } = await seeded();
    expect((await store.listHostKeys()).sort()).toEqual(['i-1', 'i-2']);
  });

  test("lists a host's snapshot ids and ignores files that are not manifests", async () => {
    const { store } = await seeded();
    expect((await store.listSnapshotIds('i-1')).sort()).toEqual([ID1, ID2]);
  });

  test('reads a manifest as written', async () => {
    const { store } = await seeded();
    expect(await store.readManifest('i-1', ID2)).toBe('{"id":"2"}\n');
  });

  test('reading a manifest that does not exist throws', async () => {
    const { store } = await seeded();
    await expect(store.readManifest('i-1', '20260101T000000Z-9')).rejects.toThrow();
  });

  test('lists archives relative to the host with their size', async () => {
    const { store } = await seeded();
    const archives = await store.listArchives('i-1');
    expect(archives.map((a) => [a.key, a.bytes])).toEqual([[`units/models/${FP}.tar.zst`, 'archive-bytes'.length]]);
    expect(archives[0].lastModified).toBeInstanceOf(Date);
  });

  test('deleting a snapshot removes its manifest and leaves the archives', async () => {
    const { store } = await seeded();
    await store.deleteSnapshot('i-1', ID1);
    expect(await store.listSnapshotIds('i-1')).toEqual([ID2]);
    expect(await store.listArchives('i-1')).toHaveLength(1);
  });

  test('deleting archives removes exactly those', async () => {
    const { store } = await seeded();
    await store.deleteArchives('i-1', [`units/models/${FP}.tar.zst`]);
    expect(await store.listArchives('i-1')).toEqual([]);
    expect((await store.listSnapshotIds('i-1')).sort()).toEqual([ID1, ID2]);
  });

  test('an archive key outside units/ is refused and nothing is deleted', async () => {
    const { store } = await seeded();
    await expect(store.deleteArchives('i-1', [`snapshots/${ID1}.json`])).rejects.toThrow(/archive keys are units/);
    expect((await store.listSnapshotIds('i-1')).sort()).toEqual([ID1, ID2]);
  });

  test('a host key that is not one path segment is refused', async () => {
    const { store } = await seeded();
    await expect(store.listSnapshotIds('../i-1')).rejects.toThrow(/host key/);
  });

  test('each manifest has the time the store wrote it', async () => {
    const { store } = await seeded();
    const times = await store.listSnapshotWriteTimes?.('i-1');
    expect([...(times?.keys() ?? [])].sort()).toEqual([ID1, ID2]);
    for (const t of times?.values() ?? []) expect(t).toBeInstanceOf(Date);
  });
});
