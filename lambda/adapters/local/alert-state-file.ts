/**
 * Alert state and silences in one JSON file under the local state dir (`<stateDir>/alerts/state.json`).
 * Writes are atomic (temporary file, fsync, rename) under a lock file, and a save checks the host's
 * stored version like the DynamoDB store does, so overlapping local runs (gpu-check and health-check
 * timers) cannot both notify.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { assertNextVersion, hostSummaryOf, silenceId } from '../../core/alerts/memory-store';
import { emptyHostState, type HostAlertState, type Silence } from '../../core/alerts/model';
import { AlertStateConflictError, type AlertStateStore, type HostSummary, type SilenceStore } from '../../core/alerts/ports';
import type { CheckName } from '../../core/types';

interface StateFile {
  readonly format: 1;
  readonly hosts: Record<string, HostAlertState>;
  readonly silences: Silence[];
}

const iso = z.string().min(1);
const severity = z.enum(['warning', 'critical']);
/** The shape every reader relies on; other fields pass through untouched. */
const stateFileSchema = z.object({
  format: z.literal(1),
  hosts: z.record(
    z.string(),
    z.object({
      host: z.string().min(1),
      version: z.number().int().min(0),
      lastSeen: z.record(z.string(), iso),
      alerts: z.record(
        z.string(),
        z.object({
          check: z.string().min(1),
          task: z.string().min(1),
          status: z.enum(['pending', 'firing']),
          severity,
          message: z.string(),
          consecutive: z.number().int().min(0),
          since: iso,
          lastEvaluatedAt: iso,
          lastBreachAt: iso,
        }),
      ),
      undelivered: z.array(z.object({ id: z.string(), host: z.string(), alerts: z.array(z.object({})) })),
    }),
  ),
  silences: z.array(z.object({ host: z.string().min(1), until: iso, reason: z.string(), source: z.enum(['cli', 'tag']) })),
});

/** A lock older than this was left by a killed process: taken over. */
const STALE_LOCK_MS = 30_000;
const LOCK_WAIT_MS = 10_000;
/** Expired silences are kept a day (for `silence --list`), then dropped. */
const EXPIRED_SILENCE_KEEP_MS = 86_400_000;

export function alertStateFilePath(stateDir: string): string {
  return path.join(stateDir, 'alerts', 'state.json');
}

export class FileAlertStateStore implements AlertStateStore, SilenceStore {
  private readonly lockFile: string;

  constructor(
    readonly file: string,
    private readonly clock: { now(): Date } = { now: () => new Date() },
    /** Told when a damaged state file was moved aside. @default stderr */
    private readonly warn: (message: string) => void = (m) => process.stderr.write(`${m}\n`),
  ) {
    this.lockFile = `${file}.lock`;
  }

  async load(host: string): Promise<HostAlertState> {
    return this.read().hosts[host] ?? emptyHostState(host);
  }

  async save(previous: HostAlertState, next: HostAlertState): Promise<void> {
    assertNextVersion(previous, next);
    await this.update((data) => {
      const stored = data.hosts[previous.host]?.version ?? 0;
      if (stored !== previous.version) throw new AlertStateConflictError(previous.host, `stored v${stored}, loaded v${previous.version}`);
      data.hosts[next.host] = next;
    });
  }

  async listHosts(): Promise<readonly HostSummary[]> {
    return Object.values(this.read().hosts).map(hostSummaryOf);
  }

  async putSilence(silence: Silence): Promise<void> {
    await this.update((data) => {
      const id = silenceId(silence.host, silence.check);
      const kept = data.silences.filter((s) => silenceId(s.host, s.check) !== id);
      data.silences.splice(0, data.silences.length, ...kept, silence);
    });
  }

  async deleteSilence(host: string, check?: CheckName): Promise<boolean> {
    let found = false;
    await this.update((data) => {
      const id = silenceId(host, check);
      const kept = data.silences.filter((s) => silenceId(s.host, s.check) !== id);
      found = kept.length !== data.silences.length;
      data.silences.splice(0, data.silences.length, ...kept);
    });
    return found;
  }

  async listSilences(host?: string): Promise<readonly Silence[]> {
    return this.read().silences.filter((s) => host === undefined || s.host === host);
  }

  private read(): StateFile {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { format: 1, hosts: {}, silences: [] };
      throw new Error(`alert state ${this.file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      return this.moveAside(`not JSON (${(err as Error).message})`);
    }
    const parsed = stateFileSchema.safeParse(data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
      return this.moveAside(
        `expected {"format": 1, "hosts": {...}, "silences": [...]}; ${where}: ${issue.message.replace(/^Invalid input: /, '')}`,
      );
    }
    return data as StateFile;
  }

  /**
   * A damaged state file must not cost the task report: it is renamed to `<file>.bad-<time>` (kept for a
   * look, never deleted), the problem is reported, and alert state starts empty (firing alerts notify again).
   */
  private moveAside(problem: string): StateFile {
    const aside = `${this.file}.bad-${this.clock.now().toISOString().replace(/[:.]/g, '')}`;
    try {
      renameSync(this.file, aside);
      this.warn(
        `gpu-maint: alerts: alert state ${this.file} is damaged (${problem}); moved it to ${aside} and started with empty alert state`,
      );
    } catch (err) {
      // Another process moved it first (ENOENT); anything else leaves the file in place, so say so.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new Error(
          `alert state ${this.file}: damaged (${problem}) and cannot be moved aside (${(err as NodeJS.ErrnoException).code})`,
        );
      }
    }
    return { format: 1, hosts: {}, silences: [] };
  }

  private async update(change: (data: StateFile) => void): Promise<void> {
    mkdirSync(path.dirname(this.file), { recursive: true });
    await this.lock();
    try {
      const data = this.read();
      change(data);
      const cutoff = this.clock.now().getTime() - EXPIRED_SILENCE_KEEP_MS;
      const silences = data.silences.filter((s) => Date.parse(s.until) > cutoff);
      this.writeAtomically(JSON.stringify({ format: 1, hosts: data.hosts, silences }, null, 1));
    } finally {
      rmSync(this.lockFile, { force: true });
    }
  }

  private writeAtomically(text: string): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  private async lock(): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        closeSync(openSync(this.lockFile, 'wx'));
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      try {
        if (Date.now() - statSync(this.lockFile).mtimeMs > STALE_LOCK_MS) rmSync(this.lockFile, { force: true });
      } catch {
        // The holder released it between our attempts: try again.
      }
      if (Date.now() > deadline)
        throw new Error(
          `alert state ${this.file}: locked by another gpu-maint process for over ${LOCK_WAIT_MS / 1000} s (${this.lockFile})`,
        );
      await sleep(25);
    }
  }
}
