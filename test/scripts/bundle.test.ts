/**
 * The bundler drops full-line comments to keep SSM documents small; these tests prove it drops nothing
 * else: bash itself reads the same functions and variables from the stripped and the full bundle.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { bundleTaskScript, SCRIPTS_DIR, stripComments } from '../../lambda/tasks/scripts';
import { inheritedClockEnv } from '../helpers/clock-env';

const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-bundle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What bash defines after reading a script without running main: `declare -f` and `declare -p` (comments are not kept). */
function definitions(name: string, script: string): string {
  const file = path.join(dir, `${name}.sh`);
  writeFileSync(file, script.replace(/^main "\$@"$/m, ''));
  const r = spawnSync(
    'bash',
    [
      '-c',
      'source "$1" >/dev/null 2>&1 || exit 3; declare -f; declare -p | grep -v -E "^declare (-[a-zA-Z-]+ )?(BASH|_=|PWD|OLDPWD|SHLVL|RANDOM|SECONDS|LINENO|PIPESTATUS|FUNCNAME|BASH_)"',
      'bash',
      file,
    ],
    {
      encoding: 'utf8',
      env: { ...inheritedClockEnv(), PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, TMPDIR: dir },
    },
  );
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const tasks = readdirSync(SCRIPTS_DIR)
  .filter((f) => f.endsWith('.sh'))
  .map((f) => f.replace(/\.sh$/, ''));

describe('bundleTaskScript', () => {
  test.each(tasks)('the bundle of %s defines exactly what the commented bundle defines', (task) => {
    const full = bundleTaskScript(task, SCRIPTS_DIR, { keepComments: true });
    const stripped = bundleTaskScript(task);
    expect(stripped.length).toBeLessThan(full.length);
    expect(definitions(`${task}-stripped`, stripped)).toBe(definitions(`${task}-full`, full));
  });

  test.each(tasks)('the bundle of %s has no full-line comment but its shebang and shellcheck directives', (task) => {
    const lines = bundleTaskScript(task).split('\n');
    expect(lines[0]).toBe('#!/usr/bin/env bash');
    expect(lines.slice(1).filter((l) => /^\s*#/.test(l) && !/^\s*#\s*shellcheck\s/.test(l))).toEqual([]);
  });
});

describe('stripComments', () => {
  test('keeps comment-like lines inside a heredoc and drops those after it', () => {
    const script = ['#!/usr/bin/env bash', '# dropped', 'cat <<-"EOF"', '# data', '\tEOF', '  # dropped too', 'echo "#kept"', ''].join(
      '\n',
    );
    expect(stripComments(script)).toBe(['#!/usr/bin/env bash', 'cat <<-"EOF"', '# data', '\tEOF', 'echo "#kept"', ''].join('\n'));
  });

  test('does not take a here-string for a heredoc', () => {
    const script = ['#!/usr/bin/env bash', 'read -r x <<<"${y}"', '# dropped', ''].join('\n');
    expect(stripComments(script)).toBe(['#!/usr/bin/env bash', 'read -r x <<<"${y}"', ''].join('\n'));
  });

  test('keeps shellcheck directives', () => {
    expect(stripComments('#!/usr/bin/env bash\n# shellcheck disable=SC2034\nx=1\n')).toBe(
      '#!/usr/bin/env bash\n# shellcheck disable=SC2034\nx=1\n',
    );
  });
});
