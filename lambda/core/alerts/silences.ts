/**
 * Silences: per host (optionally one check), until a time, with a reason. Created by
 * `gpu-maint silence`, or by tagging an instance `gpu-maint:silence-until=<ISO time>`.
 */
import { CHECK_NAMES, type CheckName } from '../types';
import type { Silence } from './model';

/** Instance tag whose value (an ISO-8601 time) silences every alert of the instance until then. */
export const SILENCE_TAG_KEY = 'gpu-maint:silence-until';
/** Longer silences are mistakes more often than intent; 30 days still covers a long RMA. */
export const MAX_SILENCE_DAYS = 30;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `2h`, `90m`, `1h30m`, `3d`, `1w` → milliseconds; throws naming the bad value. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?[smhdw])+$/.test(trimmed)) {
    throw new Error(`duration ${JSON.stringify(text)}: expected a number and a unit (s, m, h, d, w), e.g. 2h, 90m, 1h30m`);
  }
  let ms = 0;
  for (const [, n, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)([smhdw])/g)) ms += Number(n) * UNIT_MS[unit];
  if (ms <= 0) throw new Error(`duration ${JSON.stringify(text)}: must be longer than zero`);
  return ms;
}

export function parseCheckName(text: string): CheckName {
  if (!(CHECK_NAMES as readonly string[]).includes(text)) {
    throw new Error(`check ${JSON.stringify(text)}: unknown; expected one of: ${CHECK_NAMES.join(', ')}`);
  }
  return text as CheckName;
}

export interface NewSilence {
  readonly host: string;
  readonly check?: CheckName;
  readonly until: Date;
  readonly reason: string;
  readonly createdBy?: string;
  readonly now: Date;
}

/** A validated silence; the error says what is wrong with which input. */
export function makeSilence(input: NewSilence): Silence {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(input.host)) {
    throw new Error(`host ${JSON.stringify(input.host)}: expected a host id such as i-0abc123 or mi-0abc123 (letters, digits, . _ : -)`);
  }
  const reason = input.reason.trim();
  if (reason.length === 0) throw new Error('reason: must not be empty (say why, e.g. "driver upgrade, ticket OPS-123")');
  if (reason.length > 500) throw new Error(`reason: ${reason.length} characters; at most 500`);
  const untilMs = input.until.getTime();
  if (Number.isNaN(untilMs)) throw new Error('until: not a valid time');
  if (untilMs <= input.now.getTime()) throw new Error(`until ${input.until.toISOString()}: is not in the future`);
  if (untilMs - input.now.getTime() > MAX_SILENCE_DAYS * 86_400_000) {
    throw new Error(`until ${input.until.toISOString()}: more than ${MAX_SILENCE_DAYS} days ahead; silence again when it ends`);
  }
  return {
    host: input.host,
    ...(input.check ? { check: input.check } : {}),
    until: input.until.toISOString(),
    reason,
    ...(input.createdBy ? { createdBy: input.createdBy } : {}),
    createdAt: input.now.toISOString(),
    source: 'cli',
  };
}

/**
 * The silence an instance tag value stands for: null when it has ended; an error message when the value
 * is not an ISO-8601 time (the caller logs it: a typo must not silently un-silence a host in maintenance).
 */
export function silenceFromTag(host: string, value: string, now: Date): Silence | null | { readonly error: string } {
  const trimmed = value.trim();
  const t = /^\d{4}-\d{2}-\d{2}T/.test(trimmed) ? Date.parse(trimmed) : Number.NaN;
  if (Number.isNaN(t)) {
    return { error: `tag ${SILENCE_TAG_KEY}=${JSON.stringify(value)} on ${host}: expected an ISO-8601 time such as 2026-11-28T18:00:00Z` };
  }
  if (t <= now.getTime()) return null;
  return { host, until: new Date(t).toISOString(), reason: `instance tag ${SILENCE_TAG_KEY}`, source: 'tag' };
}
