/**
 * human_bytes (scripts/lib/backup-manifest.sh) under real bash: byte counts for people, computed without
 * a process, rounded as printf's %.1f rounds (to the nearest, a tie to even).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';

function humanBytes(bytes: string): string {
  const lib = (name: string) => `source ${JSON.stringify(path.join(SCRIPTS_DIR, 'lib', name))}`;
  const run = spawnSync(
    'bash',
    ['-c', [lib('common.sh'), lib('json.sh'), lib('backup-manifest.sh'), 'human_bytes "$1"'].join('\n'), 'bash', bytes],
    {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '' },
    },
  );
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

test.each([
  ['0', '0 B'],
  ['1023', '1023 B'],
  ['1024', '1.0 KiB'],
  ['1280', '1.2 KiB'],
  ['1331', '1.3 KiB'],
  ['1792', '1.8 KiB'],
  ['1048575', '1024.0 KiB'],
  ['16777216', '16.0 MiB'],
  ['1610612736', '1.5 GiB'],
  ['1125899906842624', '1.0 PiB'],
  ['1152921504606846976', '1024.0 PiB'],
])('%s bytes read %s', (bytes, text) => {
  expect(humanBytes(bytes)).toBe(`${text}\n`);
});
