/**
 * Backup retention: the rules, and properties over random histories (fast-check): never fewer than
 * keepLast, the newest readable snapshot always kept, unreadable ones never deleted, a second pass
 * deletes nothing more.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import {
  dayBucket,
  decideRetention,
  type RetentionPolicy,
  type SnapshotRef,
  unreferencedArchives,
  weekBucket,
} from '../../lambda/core/backup/retention';

const DEFAULTS: RetentionPolicy = { keepLast: 7, keepDaily: 14, keepWeekly: 8, keepMonthly: 12 };
const NOW = Date.parse('2026-11-28T12:00:00Z');

function ref(at: string | number, readable = true): SnapshotRef {
  const date = new Date(at);
  const id = date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return { id, at: date, readable };
}

/** Random histories: up to 120 snapshots at distinct minutes over the past 800 days, some unreadable. */
const history = fc
  .uniqueArray(
    // About one manifest in ten is unreadable.
    fc.record({ minutesAgo: fc.integer({ min: 0, max: 800 * 24 * 60 }), readable: fc.integer({ min: 0, max: 9 }).map((n) => n !== 0) }),
    { selector: (s) => s.minutesAgo, maxLength: 120 },
  )
  .map((items) => items.map((s) => ref(NOW - s.minutesAgo * 60_000, s.readable)));
const policy = fc.record({
  keepLast: fc.integer({ min: 1, max: 10 }),
  keepDaily: fc.integer({ min: 0, max: 20 }),
  keepWeekly: fc.integer({ min: 0, max: 10 }),
  keepMonthly: fc.integer({ min: 0, max: 15 }),
});

const newestReadable = (snaps: readonly SnapshotRef[]) =>
  [...snaps].filter((s) => s.readable).sort((a, b) => b.at.getTime() - a.at.getTime())[0];

describe('retention properties over random histories', () => {
  test('never keeps fewer readable snapshots than keepLast (or all there are)', () => {
    fc.assert(
      fc.property(history, policy, (snaps, p) => {
        const kept = decideRetention(snaps, p).keep.filter((s) => s.readable).length;
        expect(kept).toBeGreaterThanOrEqual(Math.min(p.keepLast, snaps.filter((s) => s.readable).length));
      }),
    );
  });

  test('always keeps the newest readable snapshot, whatever its age', () => {
    fc.assert(
      fc.property(history, policy, (snaps, p) => {
        const newest = newestReadable(snaps);
        if (newest) expect(decideRetention(snaps, p).keep.map((s) => s.id)).toContain(newest.id);
      }),
    );
  });

  test('never deletes an unreadable snapshot', () => {
    fc.assert(
      fc.property(history, policy, (snaps, p) => {
        expect(decideRetention(snaps, p).remove.every((s) => s.readable)).toBe(true);
      }),
    );
  });

  test('keeps and removes exactly the input, each snapshot once', () => {
    fc.assert(
      fc.property(history, policy, (snaps, p) => {
        const d = decideRetention(snaps, p);
        expect([...d.keep, ...d.remove].map((s) => s.id).sort()).toEqual(snaps.map((s) => s.id).sort());
      }),
    );
  });

  test('keeps the newest snapshot of each of the keepDaily most recent days that have one', () => {
    fc.assert(
      fc.property(history, policy, (snaps, p) => {
        const kept = new Set(decideRetention(snaps, p).keep.map((s) => s.id));
        const byDay = new Map<string, SnapshotRef>();
        for (const s of [...snaps].filter((x) => x.readable).sort((a, b) => b.at.getTime() - a.at.getTime())) {
          if (!byDay.has(dayBucket(s.at))) byDay.set(dayBucket(s.at), s);
        }
        for (const s of [...byDay.values()].slice(0, p.keepDaily)) expect(kept.has(s.id)).toBe(true);
      }),
    );
  });

  test('pruning what was kept deletes nothing more', () => {
    fc.assert(
      fc.property(history, policy, (snaps, p) => {
        const first = decideRetention(snaps, p);
        expect(decideRetention(first.keep, p).remove).toEqual([]);
      }),
    );
  });
});

describe('retention rules', () => {
  test('a month of missing backups keeps the last good snapshots instead of emptying', () => {
    // GIVEN 40 daily snapshots that all stopped 60 days ago
    const snaps = Array.from({ length: 40 }, (_, i) => ref(NOW - (60 + i) * 86_400_000));
    // WHEN retention runs
    const d = decideRetention(snaps, { keepLast: 7, keepDaily: 14, keepWeekly: 0, keepMonthly: 0 });
    // THEN the newest 14 (daily) and so at least keepLast survive, the newest first
    expect(d.keep).toHaveLength(14);
    expect(d.keep[0].id).toBe(ref(NOW - 60 * 86_400_000).id);
  });

  test('several snapshots on one day count once for keepDaily', () => {
    const snaps = [ref('2026-11-28T01:00:00Z'), ref('2026-11-28T02:00:00Z'), ref('2026-11-27T02:00:00Z'), ref('2026-11-26T02:00:00Z')];
    const d = decideRetention(snaps, { keepLast: 1, keepDaily: 2, keepWeekly: 0, keepMonthly: 0 });
    expect(d.keep.map((s) => s.id)).toEqual(['20261128T020000Z', '20261127T020000Z']);
    expect(d.reasons.get('20261128T020000Z')).toEqual(['newest', 'last', 'daily']);
  });

  test('an unreadable newest manifest does not count as the newest good snapshot', () => {
    const snaps = [ref('2026-11-28T02:00:00Z', false), ref('2026-11-01T02:00:00Z'), ref('2026-10-01T02:00:00Z')];
    const d = decideRetention(snaps, { keepLast: 1, keepDaily: 0, keepWeekly: 0, keepMonthly: 0 });
    expect(d.keep.map((s) => [s.id, d.reasons.get(s.id)])).toEqual([
      ['20261128T020000Z', ['unreadable']],
      ['20261101T020000Z', ['newest', 'last']],
    ]);
  });

  test.each([
    ['2026-01-01T00:00:00Z', '2026-W01'],
    ['2027-01-01T00:00:00Z', '2026-W53'],
    ['2024-12-30T00:00:00Z', '2025-W01'],
  ])('%s is in ISO week %s', (at, week) => {
    expect(weekBucket(new Date(at))).toBe(week);
  });

  test.each([
    [{ ...DEFAULTS, keepLast: 0 }, 'retention.keepLast must be an integer ≥ 1, got: 0'],
    [{ ...DEFAULTS, keepDaily: -1 }, 'retention.keepDaily must be an integer ≥ 0, got: -1'],
    [{ ...DEFAULTS, keepWeekly: 1.5 }, 'retention.keepWeekly must be an integer ≥ 0, got: 1.5'],
  ])('policy %j is rejected with a message naming the value', (p, message) => {
    expect(() => decideRetention([], p)).toThrow(message);
  });
});

describe('unreferenced archives', () => {
  const now = new Date(NOW);
  const days = (n: number) => new Date(NOW - n * 86_400_000);
  const archives = [
    { key: 'units/a/1.tar.zst', bytes: 1, lastModified: days(10) },
    { key: 'units/b/2.tar.zst', bytes: 2, lastModified: days(10) },
    { key: 'units/c/3.tar.zst', bytes: 3, lastModified: days(1) },
  ];

  test('an archive a kept snapshot references is kept however old', () => {
    expect(unreferencedArchives(archives, new Set(['units/a/1.tar.zst']), 2, now).map((a) => a.key)).not.toContain('units/a/1.tar.zst');
  });

  test('an unreferenced archive younger than the grace period is kept', () => {
    expect(unreferencedArchives(archives, new Set(), 2, now).map((a) => a.key)).toEqual(['units/a/1.tar.zst', 'units/b/2.tar.zst']);
  });

  test('a negative grace period is rejected', () => {
    expect(() => unreferencedArchives(archives, new Set(), -1, now)).toThrow('retention.graceDays must be a number ≥ 0, got: -1');
  });
});
