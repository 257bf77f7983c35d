/**
 * Disk-pressure cleanup cooldown in local mode: `{ "<host>": "<ISO time of the last cleanup>" }` in
 * `<stateDir>/cleanup-cooldown.json`, written atomically (temporary file, rename). Two overlapping runs
 * could both claim; the cleanup script's own lock (`cleanup.lock`) then lets only one of them clean.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CleanupCooldownStore } from '../../core/cleanup/disk-pressure';

export function cleanupCooldownFilePath(stateDir: string): string {
  return path.join(stateDir, 'cleanup-cooldown.json');
}

export class FileCleanupCooldownStore implements CleanupCooldownStore {
  constructor(readonly file: string) {}

  async claim(host: string, at: Date, notBefore: Date): Promise<boolean> {
    const last = this.read();
    const previous = last[host] ? Date.parse(last[host]) : Number.NaN;
    if (!Number.isNaN(previous) && previous > notBefore.getTime()) return false;
    this.write({ ...last, [host]: at.toISOString() });
    return true;
  }

  async release(host: string, at: Date): Promise<void> {
    const last = this.read();
    if (last[host] !== at.toISOString()) return;
    const { [host]: _released, ...rest } = last;
    this.write(rest);
  }

  private read(): Record<string, string> {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      throw new Error(
        `${this.file}: not JSON (delete it to reset the disk-pressure cleanup cooldown): ${JSON.stringify(text.slice(0, 80))}`,
      );
    }
    if (data === null || typeof data !== 'object' || Array.isArray(data) || Object.values(data).some((v) => typeof v !== 'string')) {
      throw new Error(
        `${this.file}: expected an object of host → ISO time (delete it to reset the cooldown), got ${JSON.stringify(text.slice(0, 80))}`,
      );
    }
    return data as Record<string, string>;
  }

  private write(data: Record<string, string>): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
    renameSync(tmp, this.file);
  }
}
