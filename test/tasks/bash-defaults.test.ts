/**
 * Bash reads settings one way and keeps no second copy of a default: every GPU_MAINT_* setting goes
 * through a reader of scripts/lib/common.sh (env_int, env_bool, env_list, ...), and a script's own
 * default for a task parameter (used when it runs without the variable, e.g. by hand on a host) is the
 * value the config schema's default gives that parameter.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { TASKS } from '../../lambda/tasks/registry';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';
import { parseConfigForTest } from '../helpers/config';

const files = [
  ...readdirSync(SCRIPTS_DIR).filter((f) => f.endsWith('.sh')),
  ...readdirSync(path.join(SCRIPTS_DIR, 'lib')).map((f) => path.join('lib', f)),
];
const texts = files.map((file) => [file, readFileSync(path.join(SCRIPTS_DIR, file), 'utf8')] as const);

/** Unquoted or single/double-quoted default after `env_<kind> [-v VAR] GPU_MAINT_X`. */
const READER =
  /\benv_(?:str|opt|int|number|bool|enum|matches|list) (?:-v [A-Za-z_][A-Za-z0-9_]* )?(GPU_MAINT_[A-Z0-9_]+) (?:'([^']*)'|"([^"$]*)"|([^\s)"'$]+))/g;

function bashDefaults(): Array<[string, string, string]> {
  const found: Array<[string, string, string]> = [];
  for (const [file, text] of texts) {
    for (const m of text.matchAll(READER)) found.push([file, m[1], m[2] ?? m[3] ?? m[4]]);
  }
  return found;
}

/** Set by the scripts themselves for their own libs (log prefix, progress on a terminal, contract version). */
const INTERNAL = new Set(['GPU_MAINT_TASK', 'GPU_MAINT_PROGRESS', 'GPU_MAINT_CONTRACT_VERSION']);

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
  expect(cases.length).toBeGreaterThan(15);
});

test.each(cases)('%s: the default of %s (%j) is the schema default', (_file, variable, value) => {
  expect(value).toBe(DERIVED[variable] ?? schemaDefault.get(variable));
});

test('every task parameter the scripts read has a reader with its default', () => {
  const read = new Set(bashDefaults().map(([, variable]) => variable));
  const parameters = [...schemaDefault.keys()].filter((env) => texts.some(([, text]) => text.includes(env)));
  expect(parameters.filter((env) => !read.has(env))).toEqual([]);
});

test.each(texts)('%s reads GPU_MAINT_* settings only through the env_* readers', (_file, text) => {
  const direct = [...text.matchAll(/\$\{!?(GPU_MAINT_[A-Z0-9_]+)/g)].map((m) => m[1]).filter((v) => !INTERNAL.has(v));
  expect(direct).toEqual([]);
});
