/**
 * ArchiveReader on this machine: streams an archive from the backup store once, hashing every byte
 * (sha256) while `zstd -d` decompresses it into `tar --list` (the same tools restore extracts with), so
 * a corrupt byte shows up as a sha256 mismatch and, when it breaks the frame, as zstd's error. Nothing is
 * written to disk.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ARCHIVE_LIST_ARGS, ARCHIVE_LIST_ENV, parseArchiveListing } from '../../core/backup/archive-listing';
import type { ArchiveReader, ArchiveReading } from '../../core/backup/contents';
import type { ArchiveRef } from '../../core/backup/manifest';
import type { BackupStore } from '../../core/backup/store';

export interface ArchiveReaderOptions {
  /**
   * Seconds the tools may run per archive, plus one second per MiB stored (a slow link still finishes;
   * a wedged read does not hang the command). @default 300
   */
  readonly baseTimeoutSeconds?: number;
  /** Sees the bytes read so far of the archive being read (progress). */
  readonly onBytes?: (archive: ArchiveRef, bytesRead: number) => void;
}

/** How a tool ended: its exit code or signal, and the start of its stderr. */
interface Ended {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

function ended(child: ChildProcess, name: string): Promise<Ended> {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    if (stderr.length < 2000) stderr += c.toString('utf8');
  });
  return new Promise((resolve) => {
    child.on('error', (err) => {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      resolve({ code: 127, signal: null, stderr: missing ? `${name} is not installed (needed to read archives)` : err.message });
    });
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

function failure(name: string, end: Ended, limitSeconds: number): string | null {
  if (end.code === 0) return null;
  const why = end.stderr.trim().split('\n').slice(0, 2).join(' ').slice(0, 300);
  const how =
    end.signal === 'SIGKILL'
      ? `was stopped after its time limit (${limitSeconds} s)`
      : end.signal
        ? `was stopped by ${end.signal}`
        : `exited ${end.code}`;
  return `${name} ${how}${why ? `: ${why}` : ''}`;
}

/**
 * Fails early, naming the tool, when zstd or tar is not on PATH: a missing tool must not read as a
 * corrupt archive.
 */
export function assertArchiveTools(): void {
  for (const tool of ['zstd', 'tar']) {
    const probe = spawnSync(tool, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    if ((probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new Error(`${tool} is not installed (not on PATH); it is needed to read backup archives`);
    }
  }
}

export class ToolArchiveReader implements ArchiveReader {
  constructor(
    private readonly store: BackupStore,
    private readonly options: ArchiveReaderOptions = {},
  ) {}

  async read(hostKey: string, archive: ArchiveRef): Promise<ArchiveReading> {
    const source = await this.store.readArchive(hostKey, archive.key);
    const timeout = ((this.options.baseTimeoutSeconds ?? 300) + Math.ceil(archive.bytes / 1048576)) * 1000;
    const env = { ...process.env, ...ARCHIVE_LIST_ENV };
    const zstd = spawn('zstd', ['-d', '-q', '-c'], { stdio: ['pipe', 'pipe', 'pipe'], timeout, killSignal: 'SIGKILL' });
    const tar = spawn('tar', [...ARCHIVE_LIST_ARGS], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout, killSignal: 'SIGKILL' });
    const zstdEnded = ended(zstd, 'zstd');
    const tarEnded = ended(tar, 'tar');
    // A tool that stops reading early (corrupt data) closes its end: the rest is still hashed, not fed.
    let feeding = true;
    zstd.stdin?.on('error', () => {
      feeding = false;
    });
    tar.stdin?.on('error', () => undefined);
    zstd.stdout?.pipe(tar.stdin as NodeJS.WritableStream);
    const chunks: Buffer[] = [];
    tar.stdout?.on('data', (c: Buffer) => chunks.push(c));
    const hash = createHash('sha256');
    let bytes = 0;
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        bytes += chunk.byteLength;
        this.options.onBytes?.(archive, bytes);
        if (feeding && zstd.stdin && !zstd.stdin.destroyed && !zstd.stdin.write(chunk)) {
          await new Promise<void>((resolve) => {
            const go = () => {
              zstd.stdin?.off('drain', go);
              zstd.stdin?.off('close', go);
              resolve();
            };
            zstd.stdin?.once('drain', go);
            zstd.stdin?.once('close', go);
          });
        }
      }
    } catch (err) {
      zstd.kill('SIGKILL');
      tar.kill('SIGKILL');
      await Promise.all([zstdEnded, tarEnded]);
      throw new Error(`reading ${archive.key} broke off after ${bytes} bytes: ${(err as Error).message}`);
    }
    zstd.stdin?.end();
    const [z, t] = await Promise.all([zstdEnded, tarEnded]);
    const listing = parseArchiveListing(Buffer.concat(chunks).toString('latin1'));
    // Both, when both failed: tar stopping early also breaks zstd's pipe, and either may be the cause.
    const failures = [failure('zstd', z, timeout / 1000), failure('tar', t, timeout / 1000)].filter((f) => f !== null);
    if (listing.unparsed.length > 0) {
      failures.push(`tar listed ${listing.unparsed.length} line(s) of an unknown form, e.g. ${listing.unparsed[0]}`);
    }
    const error = failures.join('; ');
    return { sha256: hash.digest('hex'), bytes, entries: listing.entries, ...(error ? { error } : {}) };
  }
}
