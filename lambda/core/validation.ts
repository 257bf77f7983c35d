/**
 * One way to word validation problems, for config files and Lambda payloads alike: the key, the bad
 * value and what was expected, e.g. `metrics.detail: got "host"; expected one of "fleet"|"instance"|"gpu"`.
 */
import type { z } from 'zod';

function valueAt(input: unknown, keyPath: readonly PropertyKey[]): unknown {
  let node: unknown = input;
  for (const key of keyPath) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

export interface IssueWording {
  /** How to name the whole input when the path is empty, e.g. `(top level)`. */
  readonly root: string;
  /** Said after unknown keys, e.g. `unknown setting (check the spelling)`. */
  readonly unknownKey: string;
  /** The keys allowed at a path, for a "did you mean" suggestion on an unknown key. */
  readonly knownKeysAt?: (keyPath: readonly PropertyKey[]) => readonly string[];
  /** Said with a suggestion, e.g. `unknown setting (see docs/configuration.md)`. @default unknownKey */
  readonly unknownKeyWithSuggestion?: string;
}

/** Levenshtein distance (case-insensitive: `keeplast` is one step from nothing but `keepLast`). */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[y.length];
}

/** The known key closest to an unknown one, when it is close enough to be a typo (about a third of its letters). */
export function closestKey(unknown: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const key of known) {
    const distance = editDistance(unknown, key);
    if (!best || distance < best.distance) best = { key, distance };
  }
  if (!best) return undefined;
  const allowed = Math.max(1, Math.floor(Math.max(unknown.length, best.key.length) / 3));
  return best.distance <= allowed ? best.key : undefined;
}

export function describeIssue(issue: z.core.$ZodIssue, input: unknown, wording: IssueWording): string {
  const key = issue.path.map(String).join('.') || wording.root;
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${key}.` : '';
    const known = wording.knownKeysAt?.(issue.path) ?? [];
    return issue.keys
      .map((k) => {
        const suggestion = closestKey(k, known);
        return suggestion === undefined
          ? `${where}${k}: ${wording.unknownKey}`
          : `${where}${k}: ${wording.unknownKeyWithSuggestion ?? wording.unknownKey}; did you mean ${where}${suggestion}?`;
      })
      .join('\n  - ');
  }
  if (issue.code === 'invalid_key' && issue.issues.length > 0) {
    // A record's key broke its rule: show the key, and the key's own rule (not the library's "Invalid key").
    const badKey = issue.path.at(-1);
    return `${key}: got key ${JSON.stringify(String(badKey))}; expected ${expectedText(issue.issues[0] as z.core.$ZodIssue)}`;
  }
  const bad = valueAt(input, issue.path);
  const shown = bad === undefined ? '(missing)' : JSON.stringify(bad);
  return `${key}: got ${shown}; expected ${expectedText(issue)}`;
}

const NOUN: Record<string, string> = {
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  string: 'a string',
  boolean: 'true or false',
  array: 'a list',
  object: 'a mapping of settings',
};
const SIZED: Record<string, string> = { string: 'characters', array: 'items', set: 'items', file: 'bytes' };
const FORMAT: Record<string, string> = { url: 'a URL such as https://example.com/hook', email: 'an email address' };

/**
 * What the schema expected, in the project's words rather than the schema library's
 * ("Too small: expected number to be >=1" becomes "a number of at least 1"). Custom messages (regex
 * and refine texts written in the schema) are kept as written.
 */
export function expectedText(issue: z.core.$ZodIssue): string {
  // A message written in the schema says it best; only the library's defaults are reworded.
  if (!/^(Invalid|Too (small|big))\b/.test(issue.message)) return issue.message.replace(/^expected /, '');
  const bound = (inclusive: boolean | undefined, value: unknown, atLeast: boolean) =>
    inclusive === false ? `${atLeast ? 'greater' : 'less'} than ${value}` : `of ${atLeast ? 'at least' : 'at most'} ${value}`;
  switch (issue.code) {
    case 'too_small':
    case 'too_big': {
      const atLeast = issue.code === 'too_small';
      const value = atLeast ? (issue as { minimum: unknown }).minimum : (issue as { maximum: unknown }).maximum;
      const origin = String(issue.origin);
      if (SIZED[origin]) return `${atLeast ? 'at least' : 'at most'} ${value} ${SIZED[origin]}`;
      return `${NOUN[origin] ?? 'a value'} ${bound(issue.inclusive, value, atLeast)}`;
    }
    case 'invalid_type':
      if (issue.expected in NOUN) return NOUN[issue.expected];
      break;
    case 'invalid_format':
      if (issue.format in FORMAT && /^Invalid/.test(issue.message)) return FORMAT[issue.format];
      break;
    case 'not_multiple_of':
      return `a multiple of ${issue.divisor}`;
    case 'invalid_union': {
      // Each alternative in its own words: `"auto" or a whole number of at least 0`.
      const options = [...new Set(issue.errors.filter((e) => e.length > 0).map((e) => expectedText(e[0])))];
      if (options.length > 0) return options.join(' or ');
      break;
    }
    default:
      break;
  }
  return issue.message.replace(/^Invalid (input|option): /, '').replace(/^expected /, '');
}
