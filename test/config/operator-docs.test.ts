/**
 * docs/hybrid.md and docs/faq.md stay true: every setting they name exists, every link reaches a file
 * and section, the FAQ answers what operators of the old cron kit ask (issue 14), and the hybrid walkthrough
 * covers what works without instance metadata and how the expected GPU count is set.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { knownConfigKeys } from '../../lambda/config/load';
import { taskDefinition } from '../../lambda/tasks/registry';
import { REPO_ROOT } from '../helpers/fixtures';

const DOCS = path.join(REPO_ROOT, 'docs');
const read = (name: string) => readFileSync(path.join(DOCS, name), 'utf8');
const topLevel = new Set(knownConfigKeys([]));

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

function anchorsOf(text: string): Set<string> {
  const ids = [...text.matchAll(/<a id="([^"]+)"><\/a>/g)].map((m) => m[1]);
  const headings = [...text.matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1].trim()));
  return new Set([...ids, ...headings]);
}

/** Dotted names in backticks whose first part is a top-level setting, e.g. `gpuCheck.expectedGpuCount`. */
function settingsNamed(text: string): string[] {
  return [...new Set([...text.matchAll(/`([a-z][A-Za-z]+(?:\.[A-Za-z]+)+)`/g)].map((m) => m[1]))].filter((k) =>
    topLevel.has(k.split('.')[0]),
  );
}

/** A setting of the schema: each part is a key the schema allows under the parts before it. */
function settingExists(key: string): boolean {
  const parts = key.split('.');
  return parts.every((part, i) => knownConfigKeys(parts.slice(0, i)).includes(part));
}

describe.each(['hybrid.md', 'faq.md'])('docs/%s', (name) => {
  const text = read(name);

  test('names only settings that exist', () => {
    const named = settingsNamed(text);
    expect(named.length).toBeGreaterThan(0);
    for (const key of named) expect(settingExists(key), key).toBe(true);
  });

  test('links only to files and sections that exist', () => {
    const links = [...text.matchAll(/\]\(([^)#\s]+\.md)(?:#([^)\s]+))?\)/g)];
    expect(links.length).toBeGreaterThan(0);
    for (const [, file, anchor] of links) {
      const target = path.resolve(DOCS, file);
      expect(existsSync(target), file).toBe(true);
      if (anchor) expect(anchorsOf(readFileSync(target, 'utf8')), `${file}#${anchor}`).toContain(anchor);
    }
  });
});

describe('docs/faq.md answers the questions of operators of the old cron kit', () => {
  const questions = [...read('faq.md').matchAll(/^\*\*(.+\?)\*\*$/gm)].map((m) => m[1]);

  test.each([
    ['Prometheus instead of CloudWatch', /Prometheus/],
    ['the 3-2-1 rule', /3-2-1/],
    ['Slack and PagerDuty', /Slack and PagerDuty/],
    ['going from 1 to 100 to 10,000 servers', /1 to 100 to 10,000/],
    ['testing restores', /restores/],
  ])('%s', (_topic, pattern) => {
    expect(questions.some((q) => pattern.test(q))).toBe(true);
  });
});

describe('docs/hybrid.md', () => {
  const text = read('hybrid.md');

  test('says what works without instance metadata and how the expected GPU count is set', () => {
    expect(text).toMatch(/^## What works without instance metadata$/m);
    expect(text).toMatch(/^### Setting the expected GPU count$/m);
  });

  test('passes only parameters the gpu-check document has', () => {
    const names = new Set(taskDefinition('gpu-check').parameters.map((p) => p.name));
    const passed = [...text.matchAll(/gpu-maint invoke gpu-check [^`\n]*--param (\w+)=/g)].map((m) => m[1]);
    expect(passed.length).toBeGreaterThan(0);
    for (const p of passed) expect(names, p).toContain(p);
  });
});
