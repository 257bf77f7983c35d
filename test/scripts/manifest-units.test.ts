/**
 * manifest_units (scripts/lib/backup-manifest.sh) under real bash and awk: the unit lines of a manifest
 * as tab-separated fields, whatever the order of their members, and a manifest with any unit line it
 * cannot vouch for refused whole (a snapshot is restored whole or reported broken).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';
import { tempDir } from '../helpers/temp';

const dir = tempDir('manifest-units');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const HEX = (c: string) => c.repeat(64);
const HEADER = '{"format":"gpu-maint-backup","version":1,"id":"20261128T020000Z-1","sources":["/data"],"units":[';
const UNIT = {
  id: 'models-0123456789ab',
  fingerprint: HEX('a'),
  key: `units/models-0123456789ab/${HEX('a')}.tar.zst`,
  sha256: HEX('b'),
  bytes: 208,
  files: 2,
  sourceBytes: 4,
  listing: HEX('c'),
  uploaded: true,
  source: '/data',
  pathBase64: 'bW9kZWxz',
  path: 'models',
};
const FIELDS = `models-0123456789ab\t${HEX('a')}\tunits/models-0123456789ab/${HEX('a')}.tar.zst\t${HEX('b')}\t208\t2\t4\t${HEX('c')}\ttrue\t/data\tbW9kZWxz`;

/** Writes a manifest of these lines and runs manifest_units on it. */
function manifestUnits(...lines: string[]) {
  const file = path.join(dir, `m-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(file, lines.join('\n'));
  const libs = ['common.sh', 'json.sh', 'backup-manifest.sh'].map((lib) => `source "${path.join(SCRIPTS_DIR, 'lib', lib)}"`).join('\n');
  const run = spawnSync('bash', ['--norc', '--noprofile', '-c', `set -euo pipefail\n${libs}\nmanifest_units "$1"`, 'bash', file], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '' },
  });
  fs.rmSync(file);
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

const line = (unit: Record<string, unknown>) => JSON.stringify(unit);

describe('manifest_units', () => {
  test('prints each unit line as tab-separated fields in the documented order', () => {
    const run = manifestUnits(HEADER, `${line(UNIT)},`, line({ ...UNIT, id: 'logs-0123456789ab', uploaded: false }), ']}');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(
      `${FIELDS}\n${FIELDS.replace('models-0123456789ab\t', 'logs-0123456789ab\t').replace('\ttrue\t', '\tfalse\t')}\n`,
    );
  });

  test('reads members whatever their order and spacing', () => {
    const reversed = Object.fromEntries(Object.entries(UNIT).reverse());
    const run = manifestUnits(HEADER, JSON.stringify(reversed, null, 1).replace(/\n/g, ' '), ']}');
    expect(run.stdout).toBe(`${FIELDS}\n`);
  });

  test('reads a manifest with CRLF line ends and no newline at its end', () => {
    const run = manifestUnits(`${HEADER}\r`, `${line(UNIT)}\r`, ']}');
    expect(run.status).toBe(0);
    expect(run.stdout).toBe(`${FIELDS}\n`);
  });

  test.each([
    ['an empty file', ['']],
    ['another format version', [HEADER.replace('"version":1', '"version":2'), line(UNIT)]],
    ['a unit line where the header belongs', [line(UNIT)]],
  ])('refuses %s', (_name, lines) => {
    expect(manifestUnits(...lines).status).toBe(1);
  });

  test.each([
    [
      'a missing member',
      (() => {
        const { listing: _, ...rest } = UNIT;
        return line(rest);
      })(),
    ],
    ['an uppercase digest', line({ ...UNIT, sha256: HEX('B') })],
    ['a digest one digit short', line({ ...UNIT, fingerprint: HEX('a').slice(1) })],
    ['a key outside units/', line({ ...UNIT, key: `../units/x/${HEX('a')}.tar.zst` })],
    ['a key whose name is not a digest', line({ ...UNIT, key: `units/models-0123456789ab/${HEX('a')}x.tar.zst` })],
    ['a negative size', line({ ...UNIT, bytes: -1 })],
    ['a source holding an escaped quote', line({ ...UNIT, source: '/da"ta' })],
    ['a path that is not base64', line({ ...UNIT, pathBase64: 'bW9k ZWxz' })],
    ['an id with a slash', line({ ...UNIT, id: 'a/b' })],
    ['members after an array', `{"extra":[1],${line(UNIT).slice(1)}`],
  ])('refuses a manifest with a unit line holding %s, and logs that line', (_name, bad) => {
    const run = manifestUnits(HEADER, `${line(UNIT)},`, bad, ']}');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('unit line not readable: {');
  });

  test('takes the first of repeated members', () => {
    const run = manifestUnits(HEADER, `${line(UNIT).slice(0, -1)},"id":"other-0123456789ab"}`, ']}');
    expect(run.stdout.split('\t')[0]).toBe('models-0123456789ab');
  });
});
