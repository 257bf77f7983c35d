/**
 * snapshot_after (scripts/lib/backup-manifest.sh) under real bash: the newest of a listing kept without a
 * sort process, in the order sort_snapshot_ids sorts (by sequence, then by time for ids without one).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';

/** Runs `body` after the libs backup.sh reads the manifest with, ids as arguments. */
function withManifestLib(body: string, ids: readonly string[]): string {
  const lib = (name: string) => `source ${JSON.stringify(path.join(SCRIPTS_DIR, 'lib', name))}`;
  const run = spawnSync(
    'bash',
    ['-c', ['set -euo pipefail', lib('common.sh'), lib('json.sh'), lib('backup-manifest.sh'), body].join('\n'), 'bash', ...ids],
    { encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } },
  );
  expect(run.status, run.stderr).toBe(0);
  return run.stdout;
}

const NEWEST_BY_SNAPSHOT_AFTER =
  'newest=""; for id in "$@"; do if snapshot_after "$id" "$newest"; then newest="$id"; fi; done; printf "%s\\n" "$newest"';
const NEWEST_BY_SORT = 'printf "%s\\n" "$@" | sort_snapshot_ids | tail -n 1';

test.each([
  [['20261128T020000Z-1']],
  [['20261128T020000Z-2', '20261128T030000Z-1']],
  [['20261128T020000Z-9', '20261128T010000Z-10']],
  [['20261128T020000Z', '20261127T020000Z', '20261128T010000Z']],
  [['20261128T020000Z', '20251128T020000Z-1']],
  [['20391128T020000Z-3', '20261128T020000Z-4', '20261128T020000Z-2']],
  [['20261128T020000Z-999999999', '20261128T020000Z-99999999']],
  [['20261128T235959Z', '20261129T000000Z']],
])('the newest of %j is the last id sort_snapshot_ids sorts', (ids) => {
  const newest = withManifestLib(NEWEST_BY_SNAPSHOT_AFTER, ids);
  expect(newest).toBe(withManifestLib(NEWEST_BY_SORT, ids));
  // The same whatever the listing's order.
  expect(withManifestLib(NEWEST_BY_SNAPSHOT_AFTER, [...ids].reverse())).toBe(newest);
});

test('no id comes after itself, and any id comes after none', () => {
  expect(
    withManifestLib('snapshot_after "$1" "$1" && echo after || echo not; snapshot_after "$1" "" && echo after', ['20261128T020000Z-3']),
  ).toBe('not\nafter\n');
});
