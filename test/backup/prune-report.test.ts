/** The prune report: aligned keep/drop rows under a header, and archives waiting out the grace period. */
import { expect, test } from 'vitest';
import { formatPruneReport } from '../../bin/cli/commands/prune';
import type { PruneReport } from '../../lambda/core/backup/prune';

const report: PruneReport = {
  location: 'file:///backups/',
  dryRun: true,
  at: '2026-11-28T12:00:00Z',
  hosts: [
    {
      hostKey: 'gpu-1',
      host: 'gpu-1',
      snapshots: 3,
      kept: [
        { id: '20261128T020000Z', reasons: ['newest', 'last'] },
        { id: '20261127T020000Z', reasons: ['daily'] },
      ],
      removedSnapshots: ['20261001T020000Z'],
      removedArchives: [],
      bytesFreed: 0,
      bytesToFree: 0,
      clockSkew: null,
      newestSnapshot: '20261128T020000Z',
      newestAt: '2026-11-28T02:00:00Z',
      newestAgeHours: 10,
      unreadable: [],
      warnings: [],
      waitingArchives: { count: 2, bytes: 3 * 1024 * 1024, graceDays: 7 },
    },
  ],
};

test('keep and drop rows are aligned under a header, and waiting archives are named with the grace period', () => {
  const lines = formatPruneReport(report, 48).split('\n');
  expect(lines.slice(2)).toEqual([
    '  action      snapshot          why kept',
    '  keep        20261128T020000Z  newest, last',
    '  keep        20261127T020000Z  daily',
    '  would drop  20261001T020000Z',
    '  2 unreferenced archive(s) (3.0 MiB) are waiting out the 7-day grace period; a later prune deletes them',
  ]);
});
