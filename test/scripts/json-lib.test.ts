/**
 * scripts/lib/json.sh under real bash: what json_string and json_object write is JSON that
 * JSON.parse reads back exactly, and JSON_MEMBERS_AWK's json_members reads members by key whatever their order.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';

/** Runs bash with common.sh and json.sh sourced; arguments are passed as $1, $2, ... */
function bash(body: string, ...args: string[]) {
  const libs = ['common.sh', 'json.sh'].map((lib) => `source "${path.join(SCRIPTS_DIR, 'lib', lib)}"`).join('\n');
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', `set -euo pipefail\n${libs}\n${body}`, 'bash', ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '' },
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('json_string', () => {
  test.each([
    ['plain', 'models/llama-7b'],
    ['quote and backslash', 'a"b\\c'],
    ['newline, tab and carriage return', 'a\nb\tc\rd'],
    ['other control characters', 'bell\x07 esc\x1b del\x7f'],
    ['UTF-8', 'modèle-日本'],
  ])('%s survives JSON.parse', (_name, text) => {
    const run = bash('json_string "$1"', text);
    expect(JSON.parse(run.stdout)).toBe(text);
  });
});

describe('json_object', () => {
  test('writes strings escaped and := members as is, in the order given', () => {
    const run = bash('json_object "id=u-1" "bytes:=42" "uploaded:=true" "path=$1" \'list:=["a"]\'', 'dir "x"\n');
    expect(run.stdout).toBe('{"id":"u-1","bytes":42,"uploaded":true,"path":"dir \\"x\\"\\n","list":["a"]}');
    expect(JSON.parse(run.stdout)).toEqual({ id: 'u-1', bytes: 42, uploaded: true, path: 'dir "x"\n', list: ['a'] });
  });

  test('a value holding = keeps everything after the first =', () => {
    const run = bash('json_object "pathBase64=YQ=="');
    expect(JSON.parse(run.stdout)).toEqual({ pathBase64: 'YQ==' });
  });
});

/**
 * The members of a line by json_members (JSON_MEMBERS_AWK), tab-separated in the order asked: the reader
 * manifest_units builds on. Exits 1 when the line is not an object or a key is missing.
 */
const members = (line: string, ...keys: string[]) =>
  bash(
    `printf '%s\\n' "$1" | awk -v keys="$2" "\${JSON_MEMBERS_AWK}"'
      { if (!json_members($0, m)) exit 1; n = split(keys, k, " "); out = ""
        for (i = 1; i <= n; i++) { if (!(k[i] in m)) exit 1; out = out (i > 1 ? "\\t" : "") m[k[i]] }
        print out }'`,
    line,
    keys.join(' '),
  );

describe('json_members', () => {
  test('reads the members asked for whatever their order in the line', () => {
    const run = members('{ "uploaded": false, "id":"u-1" ,"bytes":7}', 'bytes', 'id', 'uploaded');
    expect(run.stdout).toBe('7\tu-1\tfalse\n');
  });

  test('reads back what json_object wrote', () => {
    const line = bash('json_object "id=u-2" "files:=3" "source=/opt/ml/models"').stdout;
    const run = members(line, 'source', 'files', 'id');
    expect(run.stdout).toBe('/opt/ml/models\t3\tu-2\n');
  });

  test('keeps the escapes of a string as written', () => {
    const run = members('{"s":"a\\"b\\\\c"}', 's');
    expect(run.stdout).toBe('a\\"b\\\\c\n');
  });

  test('reads the scalar members before an array (a manifest header line)', () => {
    const run = members('{"format":"gpu-maint-backup","version":1,"sources":["/a"],"units":[', 'format', 'version');
    expect(run.stdout).toBe('gpu-maint-backup\t1\n');
  });

  test.each([
    ['a key that is missing', '{"id":"u-1"}', 'bytes'],
    ['a key after an array', '{"a":[1],"id":"u-1"}', 'id'],
    ['a line that is not an object', '"id":"u-1"', 'id'],
  ])('fails on %s', (_name, line, key) => {
    const run = members(line, key);
    expect(run.status).toBe(1);
    expect(run.stdout).toBe('');
  });
});
