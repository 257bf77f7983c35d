/**
 * The settings readers of scripts/lib/common.sh (env_str, env_opt, env_int, env_number, env_bool,
 * env_enum, env_matches, env_list) under real bash: defaults, the unset/empty rule, and errors that
 * name the variable, the value and what was expected.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';

/** Runs lines of bash after sourcing common.sh; GPU_MAINT_X is set only when `value` is given. */
function withCommon(lines: string, value: string | undefined) {
  const script = `set -euo pipefail\nsource "${path.join(SCRIPTS_DIR, 'lib', 'common.sh')}"\n${lines}\n`;
  const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
  if (value !== undefined) env.GPU_MAINT_X = value;
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', script], { encoding: 'utf8', timeout: 30_000, env });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Runs one reader and prints what it printed (lines joined by `|`). */
function read(reader: string, value: string | undefined) {
  return withCommon(`out="$(${reader})"\nprintf '[%s]' "\${out//$'\\n'/|}"`, value);
}

describe('a valid value or the default is printed', () => {
  test.each([
    ['env_str GPU_MAINT_X dflt', undefined, '[dflt]'],
    ['env_str GPU_MAINT_X dflt', '', '[dflt]'],
    ['env_str GPU_MAINT_X dflt', 'given', '[given]'],
    ['env_opt GPU_MAINT_X dflt', undefined, '[dflt]'],
    ['env_opt GPU_MAINT_X dflt', '', '[]'],
    ['env_int GPU_MAINT_X 3 1 10', undefined, '[3]'],
    ['env_int GPU_MAINT_X 3 1 10', '', '[3]'],
    ['env_int GPU_MAINT_X 3 1 10', '10', '[10]'],
    ['env_int GPU_MAINT_X 3', '10737418240', '[10737418240]'],
    ['env_number GPU_MAINT_X 0.5', '0.25', '[0.25]'],
    ['env_bool GPU_MAINT_X true', undefined, '[true]'],
    ['env_bool GPU_MAINT_X true', 'false', '[false]'],
    ['env_enum GPU_MAINT_X auto auto journal dmesg', 'dmesg', '[dmesg]'],
    ["env_matches GPU_MAINT_X .keep '^[^/]+$' 'a file name'", 'KEEP', '[KEEP]'],
    ['env_list GPU_MAINT_X a,b', undefined, '[a|b]'],
    ['env_list GPU_MAINT_X a,b', '', '[]'],
    ['env_list GPU_MAINT_X a,b', ' x , ,y ', '[x|y]'],
  ])('%s with %j prints %s', (reader, value, expected) => {
    const run = read(reader, value);
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(expected);
  });
});

describe('a bad value stops the script with exit 1 and a message naming it', () => {
  test.each([
    ['env_int GPU_MAINT_X 3 1 10', '11', "GPU_MAINT_X must be a whole number from 1 to 10, got: '11'"],
    ['env_int GPU_MAINT_X 3 1 10', '0', "GPU_MAINT_X must be a whole number from 1 to 10, got: '0'"],
    ['env_int GPU_MAINT_X 3', '-1', "GPU_MAINT_X must be a whole number from 0 to 999999999999999, got: '-1'"],
    ['env_int GPU_MAINT_X 3 1 10', '010', "GPU_MAINT_X must be a whole number from 1 to 10, got: '010'"],
    ['env_int GPU_MAINT_X 3', '1.5', "GPU_MAINT_X must be a whole number from 0 to 999999999999999, got: '1.5'"],
    ['env_number GPU_MAINT_X 0.5', '1e3', "GPU_MAINT_X must be a non-negative number, got: '1e3'"],
    ['env_bool GPU_MAINT_X true', 'yes', "GPU_MAINT_X must be one of true|false, got: 'yes'"],
    ['env_enum GPU_MAINT_X auto auto journal dmesg', 'syslog', "GPU_MAINT_X must be one of auto|journal|dmesg, got: 'syslog'"],
    ["env_matches GPU_MAINT_X .keep '^[^/]+$' 'a file name'", 'a/b', "GPU_MAINT_X must be a file name, got: 'a/b'"],
  ])('%s with %j', (reader, value, message) => {
    const run = read(reader, value);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(message);
  });
});

/** Runs one reader with `-v <into>` (no subshell) and prints what it assigned (a list's items joined by `|`). */
function readInto(reader: string, value: string | undefined, into: string) {
  const [kind, ...rest] = reader.split(' ');
  const shown = kind === 'env_list' ? `"$(IFS='|'; printf '%s' "\${${into}[*]}")"` : `"\${${into}}"`;
  return withCommon(`${into}=unset\n${kind} -v ${into} ${rest.join(' ')}\nprintf '[%s]' ${shown}`, value);
}

describe('with -v VAR a reader assigns what it would print, whatever the variable is called', () => {
  test.each([
    ['env_str GPU_MAINT_X dflt', undefined],
    ['env_opt GPU_MAINT_X dflt', ''],
    ['env_int GPU_MAINT_X 3 1 10', '10'],
    ['env_number GPU_MAINT_X 0.5', '0.25'],
    ['env_bool GPU_MAINT_X true', 'false'],
    ['env_enum GPU_MAINT_X auto auto journal dmesg', 'dmesg'],
    ["env_matches GPU_MAINT_X .keep '^[^/]+$' 'a file name'", 'KEEP'],
    ['env_list GPU_MAINT_X a,b', ' x , ,y '],
  ])('%s with %j', (reader, value) => {
    const printed = read(reader, value).stdout;
    // Names the readers use inside, too: the value must still reach the caller's variable.
    for (const into of ['setting', 'value', 'name', 'min', 'allowed']) {
      const run = readInto(reader, value, into);
      expect(run.stderr).toBe('');
      expect(run.stdout).toBe(printed);
    }
  });

  test('a bad value stops the script itself, before the next command', () => {
    const run = readInto('env_int GPU_MAINT_X 3 1 10', '11', 'setting');
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain("GPU_MAINT_X must be a whole number from 1 to 10, got: '11'");
  });
});
