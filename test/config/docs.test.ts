/** docs/configuration.md stays true to the schema: every setting with a default is documented. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { loadConfig } from '../../lambda/config/load';
import { REPO_ROOT } from '../helpers/fixtures';

/** Records of user-chosen keys (alerts.for) are documented as a whole. */
const WHOLE = new Set(['alerts.for', 'alerts.keepFiringForMinutes', 'alerts.slack', 'aws.tags', 'logrotate.groups']);

function leafKeys(value: unknown, prefix = ''): string[] {
  if (WHOLE.has(prefix) || value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => leafKeys(v, prefix ? `${prefix}.${k}` : k));
}

const doc = readFileSync(path.join(REPO_ROOT, 'docs', 'configuration.md'), 'utf8');

test.each(leafKeys(loadConfig()))('docs/configuration.md documents %s', (key) => {
  expect(doc).toContain(`\`${key}\``);
});
