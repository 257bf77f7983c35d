/**
 * BackupStore over a local directory (`file:///path` destinations): the layout scripts/backup.sh
 * writes, read and pruned with plain file operations.
 */
import { open, readdir, readFile, rmdir, stat, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { isSnapshotId } from '../../core/backup/manifest';
import type { StoredArchive } from '../../core/backup/retention';
import { assertArchiveKey, assertHostKey, type BackupStore, HOST_KEY } from '../../core/backup/store';

async function entries(dir: string) {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export class FileBackupStore implements BackupStore {
  readonly location: string;
  private readonly backups: string;

  /** @param root absolute directory the destination URL names (file://<root>). */
  constructor(readonly root: string) {
    if (!path.isAbsolute(root)) throw new Error(`file:// backup destination must be an absolute path, got: ${JSON.stringify(root)}`);
    this.location = `file://${root.replace(/\/+$/, '')}/`;
    this.backups = path.join(root, 'backups');
  }

  async listHostKeys(): Promise<string[]> {
    return (await entries(this.backups)).filter((e) => e.isDirectory() && HOST_KEY.test(e.name)).map((e) => e.name);
  }

  async listSnapshotIds(hostKey: string): Promise<string[]> {
    assertHostKey(hostKey);
    return (await entries(path.join(this.backups, hostKey, 'snapshots')))
      .filter((e) => e.isFile() && e.name.endsWith('.json') && isSnapshotId(e.name.slice(0, -5)))
      .map((e) => e.name.slice(0, -5));
  }

  async listSnapshotWriteTimes(hostKey: string): Promise<Map<string, Date>> {
    const out = new Map<string, Date>();
    const dir = path.join(this.backups, hostKey, 'snapshots');
    for (const id of await this.listSnapshotIds(hostKey)) {
      const st = await stat(path.join(dir, `${id}.json`)).catch(() => null);
      if (st) out.set(id, st.mtime);
    }
    return out;
  }

  async readManifest(hostKey: string, snapshotId: string): Promise<string> {
    assertHostKey(hostKey);
    if (!isSnapshotId(snapshotId)) throw new Error(`not a snapshot id: ${JSON.stringify(snapshotId)}`);
    return readFile(path.join(this.backups, hostKey, 'snapshots', `${snapshotId}.json`), 'utf8');
  }

  async listArchives(hostKey: string): Promise<StoredArchive[]> {
    assertHostKey(hostKey);
    const hostDir = path.join(this.backups, hostKey);
    const out: StoredArchive[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const e of await entries(dir)) {
        const full = path.join(dir, e.name);
        if (e.isDirectory()) await walk(full);
        else if (e.isFile()) {
          const st = await stat(full);
          out.push({ key: path.relative(hostDir, full).split(path.sep).join('/'), bytes: st.size, lastModified: st.mtime });
        }
      }
    };
    await walk(path.join(hostDir, 'units'));
    return out;
  }

  async readArchive(hostKey: string, key: string): Promise<AsyncIterable<Uint8Array>> {
    assertHostKey(hostKey);
    assertArchiveKey(key, 'read');
    // Opened here, so that a missing archive fails this call rather than the first read.
    const handle = await open(path.join(this.backups, hostKey, ...key.split('/')), 'r');
    return handle.createReadStream({ autoClose: true, highWaterMark: 1 << 20 });
  }

  async deleteSnapshot(hostKey: string, snapshotId: string): Promise<void> {
    assertHostKey(hostKey);
    if (!isSnapshotId(snapshotId)) throw new Error(`not a snapshot id: ${JSON.stringify(snapshotId)}`);
    await unlink(path.join(this.backups, hostKey, 'snapshots', `${snapshotId}.json`));
  }

  async deleteArchives(hostKey: string, keys: readonly string[]): Promise<void> {
    assertHostKey(hostKey);
    const dirs = new Set<string>();
    for (const key of keys) {
      assertArchiveKey(key);
      const file = path.join(this.backups, hostKey, ...key.split('/'));
      await unlink(file);
      dirs.add(path.dirname(file));
    }
    // Unit folders left empty go too (a folder that is not empty stays).
    for (const dir of dirs) await rmdir(dir).catch(() => undefined);
  }
}
