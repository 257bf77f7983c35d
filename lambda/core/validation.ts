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
}

export function describeIssue(issue: z.core.$ZodIssue, input: unknown, wording: IssueWording): string {
  const key = issue.path.map(String).join('.') || wording.root;
  if (issue.code === 'unrecognized_keys') {
    const where = issue.path.length ? `${key}.` : '';
    return `${issue.keys.map((k) => `${where}${k}`).join(', ')}: ${wording.unknownKey}`;
  }
  const bad = valueAt(input, issue.path);
  const shown = bad === undefined ? '(missing)' : JSON.stringify(bad);
  const expected = issue.message.replace(/^Invalid (input|option): /, '').replace(/^expected /, '');
  return `${key}: got ${shown}; expected ${expected}`;
}
