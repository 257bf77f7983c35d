/**
 * A task script's own default for a GPU_MAINT_* variable (used when it runs without the variable, e.g.
 * by hand on a host) is the value the config schema's default gives that parameter: bash never keeps a
 * second, different copy of a default.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { TASKS } from '../../lambda/tasks/registry';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';
import { parseConfigForTest } from '../helpers/config';

/** `${GPU_MAINT_X:-default}` and `bool_setting|number_setting GPU_MAINT_X default` in every script and lib. */
function bashDefaults(): Array<[string, string, string]> {
  const files = [
    ...readdirSync(SCRIPTS_DIR).filter((f) => f.endsWith('.sh')),
    ...readdirSync(path.join(SCRIPTS_DIR, 'lib')).map((f) => path.join('lib', f)),
  ];
  const found: Array<[string, string, string]> = [];
  for (const file of files) {
    const text = readFileSync(path.join(SCRIPTS_DIR, file), 'utf8');
    for (const m of text.matchAll(/\$\{(GPU_MAINT_[A-Z0-9_]+):-([^}$]*)\}/g)) found.push([file, m[1], m[2]]);
    for (const m of text.matchAll(/(?:bool|number)_setting (GPU_MAINT_[A-Z0-9_]+) ([^\s)]+)/g)) found.push([file, m[1], m[2]]);
  }
  return found;
}

const config = parseConfigForTest();
const schemaDefault = new Map([...TASKS.values()].flatMap((t) => t.parameters.map((p) => [p.env, p.fromConfig(config)] as const)));

// An empty bash default means "not configured": the script then does nothing with it, whatever the
// schema's default (lists, endpoints), so only non-empty defaults are a second copy of a value.
// Two parameters derive their value rather than pass a setting through, so bash keeps the base value:
const DERIVED: Record<string, string> = {
  // healthCheck.mounts (default ['/']) plus the data dirs, backup sources and cleanup roots.
  GPU_MAINT_MOUNTS: '/',
  // The standard endpoint is sent as empty (query IMDS only on EC2); bash then uses the standard one.
  GPU_MAINT_IMDS_ENDPOINT: 'http://169.254.169.254',
};
const cases = bashDefaults().filter(([, variable, value]) => schemaDefault.has(variable) && value !== '');

test('the derived parameters keep their base value in bash', () => {
  expect(config.healthCheck.mounts).toEqual([DERIVED.GPU_MAINT_MOUNTS]);
  expect(config.gpuCheck.imdsEndpoint.replace(/\/$/, '')).toBe(DERIVED.GPU_MAINT_IMDS_ENDPOINT);
});

test('some script defaults are task parameters', () => {
  expect(cases.length).toBeGreaterThan(10);
});

test.each(cases)('%s: the default of %s (%j) is the schema default', (_file, variable, value) => {
  expect(value).toBe(DERIVED[variable] ?? schemaDefault.get(variable));
});
