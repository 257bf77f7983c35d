/** Wording helpers shared by the evaluators' messages and the CLI's reports. */

/** Human size in binary units, e.g. `11.4 GiB`; `unknown` for a missing reading. */
export function formatBytes(bytes: number | null): string {
  if (bytes === null) return 'unknown';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** `1 path`, `3 paths`: a count with its noun (regular plurals only). */
export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The first non-blank line of a text, trimmed (a probe's stderr in a message). */
export function firstLine(text: string): string {
  return (
    text
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

/**
 * Human forms of durations and rates shared by the terminal outputs (report, progress, snapshots).
 */

/**
 * A duration in the largest unit that keeps it readable: `45 s`, `12 min`, `5 h`, `44 d`, `2 y`
 * (rounded down, so "3 d" means at least three days). Days up to two years: retention and cleanup
 * ages are configured in days.
 */
export function formatAge(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'unknown';
  const s = Math.max(0, Math.floor(seconds));
  if (s < 120) return `${s} s`;
  if (s < 2 * 3600) return `${Math.floor(s / 60)} min`;
  if (s < 2 * 86400) return `${Math.floor(s / 3600)} h`;
  if (s < 2 * 365 * 86400) return `${Math.floor(s / 86400)} d`;
  return `${Math.floor(s / (365 * 86400))} y`;
}

/** An elapsed or remaining time as a clock: `0:07`, `12:05`, `1:02:09`. */
export function formatClock(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}
