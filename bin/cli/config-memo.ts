/**
 * The CLI's memo of validated settings: what each recent config input (the file with its --set
 * overrides, as one JSON text) validated to, kept in a file beside the CLI bundle and named by its build
 * (bin/cli-bundle.cjs), so that it only ever answers for the code that wrote it. A command whose
 * settings this build checked before skips zod: building the config schema and parsing take about 20 ms
 * of a 130 ms start on a small VM, and a timer runs the same command line every few minutes. An input
 * must match byte for byte; anything unreadable in the file counts as not remembered.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { ValidationMemo } from '../../lambda/config/load';
import type { Config } from '../../lambda/config/schema';

const FORMAT = 1;
/** Inputs remembered, newest first: a host runs a handful of command lines (its timers', an operator's). */
export const MEMO_ENTRIES = 8;

interface Entry {
  readonly input: string;
  readonly config: Config;
}

function isEntry(value: unknown): value is Entry {
  const entry = value as Partial<Entry> | null;
  return typeof entry?.input === 'string' && typeof entry.config === 'object' && entry.config !== null && !Array.isArray(entry.config);
}

export class FileValidationMemo implements ValidationMemo {
  private entries: readonly Entry[] | undefined;

  constructor(readonly file: string) {}

  recall(input: string): Config | undefined {
    return this.load().find((entry) => entry.input === input)?.config;
  }

  /** Writes the file anew (a temp file renamed over it); where it cannot be written, nothing is remembered. */
  remember(input: string, config: Config): void {
    this.entries = [{ input, config }, ...this.load().filter((entry) => entry.input !== input)].slice(0, MEMO_ENTRIES);
    const tmp = `${this.file}.${process.pid}.tmp`;
    try {
      writeFileSync(tmp, JSON.stringify({ format: FORMAT, entries: this.entries }));
      renameSync(tmp, this.file);
    } catch {
      try {
        rmSync(tmp, { force: true });
      } catch {
        // its folder is gone or read-only: nothing was written
      }
    }
  }

  private load(): readonly Entry[] {
    this.entries ??= readEntries(this.file);
    return this.entries;
  }
}

/** The entries of a memo file; none when it is missing, not JSON, or of another format. */
function readEntries(file: string): Entry[] {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return [];
  }
  const memo = data as { format?: unknown; entries?: unknown } | null;
  return memo?.format === FORMAT && Array.isArray(memo.entries) ? memo.entries.filter(isEntry) : [];
}
