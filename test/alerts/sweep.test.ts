/**
 * The stale-host sweep in chunks (lambda/core/alerts/engine.ts sweepHosts): each host's notification
 * goes out as soon as its state is committed, and a sweep cut short by its time limit leaves the rest
 * for the next sweep without losing what it committed.
 */
import { describe, expect, test } from 'vitest';
import { processResults, sweepHosts } from '../../lambda/core/alerts/engine';
import { MemoryAlertStateStore } from '../../lambda/core/alerts/memory-store';
import type { Notification } from '../../lambda/core/alerts/model';
import { storedSilences } from '../../lambda/core/alerts/ports';
import { date, result, settingsFor } from './helpers';

function deps(sendLog: Notification[], refuse = false) {
  const store = new MemoryAlertStateStore();
  return {
    store,
    silences: storedSilences(store),
    settings: settingsFor({ staleAfterMinutes: 15 }),
    notifier: {
      send: async (n: Notification) => {
        if (refuse) throw new Error('SNS down');
        sendLog.push(n);
      },
    },
  };
}

const hosts = Array.from({ length: 40 }, (_, i) => `i-${i.toString(16).padStart(8, '0')}`);

describe('sweepHosts', () => {
  test('every stale host is raised and notified once', async () => {
    const sent: Notification[] = [];
    const d = deps(sent);
    for (const h of hosts) await processResults([result(h, 0, [])], d, date(0));
    const outcome = await sweepHosts(d, date(30), { concurrency: 8 });
    expect(outcome).toMatchObject({ deferred: 0, parked: 0 });
    expect(new Set(sent.map((n) => n.host))).toEqual(new Set(hosts));
  });

  test('a sweep cut short sends what it committed and leaves the rest for the next sweep', async () => {
    const sent: Notification[] = [];
    const d = deps(sent);
    for (const h of hosts) await processResults([result(h, 0, [])], d, date(0));
    let checks = 0;
    const first = await sweepHosts(d, date(30), { concurrency: 1, outOfTime: () => ++checks > 10 });
    expect(first.deferred).toBe(30);
    expect(sent).toHaveLength(10);
    const second = await sweepHosts(d, date(35), { concurrency: 4 });
    expect(second.deferred).toBe(0);
    expect(new Set(sent.map((n) => n.host))).toEqual(new Set(hosts));
  });

  test('a sweep cut short takes the host that went silent last before the long-silent ones', async () => {
    const sent: Notification[] = [];
    const d = deps(sent);
    for (const h of hosts.slice(0, 5)) await processResults([result(h, 0, [])], d, date(0));
    await sweepHosts(d, date(30));
    sent.length = 0;
    await processResults([result('i-late', 20, [])], d, date(20));
    let checks = 0;
    await sweepHosts(d, date(40), { concurrency: 1, outOfTime: () => ++checks > 1 });
    expect(sent.map((n) => n.host)).toEqual(['i-late']);
  });

  test('refused notifications are parked in their hosts and counted', async () => {
    const d = deps([], true);
    for (const h of hosts.slice(0, 3)) await processResults([result(h, 0, [])], { ...d, notifier: { send: async () => {} } }, date(0));
    const outcome = await sweepHosts(d, date(30));
    expect(outcome.parked).toBe(3);
    expect((await d.store.load(hosts[0])).undelivered).toHaveLength(1);
  });
});
