import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { CHECK_NAMES } from '../../lambda/core/types';

const runbook = readFileSync(path.resolve(__dirname, '..', '..', 'docs', 'runbook.md'), 'utf8');

function section(check: string): string {
  const start = runbook.indexOf(`<a id="${check}"></a>`);
  if (start < 0) return '';
  const next = runbook.indexOf('<a id="', start + 1);
  return runbook.slice(start, next < 0 ? undefined : next);
}

describe('docs/runbook.md', () => {
  test.each(CHECK_NAMES.map((c) => [c]))('%s has a section anchored by its exact name', (check) => {
    expect(section(check)).toContain(`### ${check}`);
  });

  test.each(CHECK_NAMES.map((c) => [c]))('the %s section says what it means, what to do and how to silence it', (check) => {
    const text = section(check);
    for (const part of ['**Means**', '**What to do**', '**Silence**']) expect(text).toContain(part);
    expect(text).toMatch(/\*\*Likely causes/);
    expect(text).toContain('gpu-maint silence <host>');
  });

  test('in-page links point at anchors that exist', () => {
    const anchors = new Set([...runbook.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]));
    for (const [, target] of runbook.matchAll(/\]\(#([^)]+)\)/g)) expect(anchors, target).toContain(target);
  });
});
