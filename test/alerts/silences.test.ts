import { describe, expect, test } from 'vitest';
import { MemoryAlertStateStore } from '../../lambda/core/alerts/memory-store';
import { combinedSilences, storedSilences } from '../../lambda/core/alerts/ports';
import { makeSilence, parseDuration, silenceFromTag } from '../../lambda/core/alerts/silences';
import { at, date } from './helpers';

describe('parseDuration', () => {
  test.each([
    ['90m', 90 * 60_000],
    ['2h', 2 * 3_600_000],
    ['1h30m', 90 * 60_000],
    ['1.5h', 90 * 60_000],
    ['3d', 3 * 86_400_000],
    ['1w', 7 * 86_400_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  test.each(['', '2', 'h', '2 hours', '-1h', '0m'])('%j is rejected with the expected form', (text) => {
    expect(() => parseDuration(text)).toThrow(/duration ".*": (expected a number and a unit|must be longer than zero)/);
  });
});

describe('makeSilence', () => {
  const base = { host: 'i-0abc', until: date(120), reason: 'driver upgrade', now: date(0) };

  test('keeps host, check, end, reason, author and creation time', () => {
    expect(makeSilence({ ...base, check: 'gpu.xid', createdBy: 'ops' })).toEqual({
      host: 'i-0abc',
      check: 'gpu.xid',
      until: at(120),
      reason: 'driver upgrade',
      createdBy: 'ops',
      createdAt: at(0),
      source: 'cli',
    });
  });

  test.each([
    ['a host with spaces', { host: 'my host' }, /host "my host": expected a host id/],
    ['an empty reason', { reason: '  ' }, /reason: must not be empty/],
    ['an end in the past', { until: date(-1) }, /is not in the future/],
    ['an end beyond 30 days', { until: date(31 * 24 * 60) }, /more than 30 days ahead/],
  ])('rejects %s', (_name, over, error) => {
    expect(() => makeSilence({ ...base, ...over })).toThrow(error);
  });
});

describe('silenceFromTag', () => {
  test.each([
    ['a future time', at(60), { host: 'i-0abc', until: at(60), reason: 'instance tag gpu-maint:silence-until', source: 'tag' }],
    ['a past time', at(-60), null],
    ['a date without time', '2026-12-01', { error: expect.stringContaining('expected an ISO-8601 time') }],
    ['words', 'after the upgrade', { error: expect.stringContaining('"after the upgrade"') }],
  ])('%s', (_name, value, expected) => {
    expect(silenceFromTag('i-0abc', value, date(0))).toEqual(expected);
  });
});

describe('silence sources', () => {
  test('stored silences are in force until their end; sources combine', async () => {
    const store = new MemoryAlertStateStore();
    await store.putSilence({ host: 'i-0abc', until: at(60), reason: 'a', source: 'cli' });
    await store.putSilence({ host: 'i-0def', until: at(60), reason: 'b', source: 'cli' });
    const tags = { activeSilences: async () => [{ host: 'i-0abc', until: at(30), reason: 'tag', source: 'tag' as const }] };
    const source = combinedSilences(storedSilences(store), tags);
    expect((await source.activeSilences('i-0abc', date(59))).map((s) => s.reason)).toEqual(['a', 'tag']);
    expect(await storedSilences(store).activeSilences('i-0abc', date(60))).toEqual([]);
  });
});
