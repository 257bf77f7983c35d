/**
 * Digests (lambda/core/alerts/digest.ts): a batch of notifications from many hosts goes out as one Slack
 * message and one PagerDuty event per check; a few go out one by one, Slack posts spaced.
 */
import { describe, expect, test } from 'vitest';
import {
  buildDigest,
  DIGEST_MIN_NOTIFICATIONS,
  digestPagerDutyEvents,
  digestSlackPayload,
  forwardNotificationBatch,
  pagerDutyFleetDedupKey,
  SLACK_INTERVAL_MS,
} from '../../lambda/core/alerts/digest';
import type { ForwardDestinations } from '../../lambda/core/alerts/forward';
import type { AlertChange, Notification } from '../../lambda/core/alerts/model';
import type { PagerDutyEvent, SlackPayload } from '../../lambda/core/alerts/render';
import { at } from './helpers';

const ROUTING_KEY = 'abcdef0123456789abcdef0123456789';

function change(over: Partial<AlertChange> = {}): AlertChange {
  return {
    change: 'firing',
    check: 'gpu.xid',
    task: 'gpu-check',
    severity: 'critical',
    message: 'Xid 79 GPU 5 fell off the bus',
    since: at(0),
    runbook: 'https://runbooks.example.com/gpu#gpu.xid',
    ...over,
  };
}

function notification(host: string, alerts: AlertChange[] = [change()], minute = 0): Notification {
  const firing = alerts.some((a) => a.change !== 'resolved');
  return {
    id: `${host}/1`,
    at: at(minute),
    fleet: 'prod',
    host,
    status: firing ? 'firing' : 'resolved',
    severity: alerts[0].severity,
    tasks: ['gpu-check'],
    alerts,
    stillFiring: [],
  };
}

const hosts = (n: number) => Array.from({ length: n }, (_, i) => `i-${i.toString(16).padStart(17, '0')}`);

function recorder() {
  const slack: SlackPayload[] = [];
  const pagerDuty: PagerDutyEvent[] = [];
  const sleeps: number[] = [];
  const destinations: ForwardDestinations = {
    slack: { post: async (p) => void slack.push(p) },
    pagerDuty: { minSeverity: 'critical', routingKey: async () => ROUTING_KEY, send: async (e) => void pagerDuty.push(e) },
  };
  return { slack, pagerDuty, sleeps, destinations, sleep: async (ms: number) => void sleeps.push(ms) };
}

describe('buildDigest', () => {
  test('groups hosts by check, the firing checks first, worst severity first', () => {
    const d = buildDigest([
      notification('i-b', [change({ check: 'health.disk', severity: 'warning', message: 'disk 91%' })]),
      notification('i-a'),
      notification('i-c'),
      notification('i-d', [change({ change: 'resolved', check: 'health.memory', severity: 'warning' })]),
    ]);
    expect(d.checks.map((c) => [c.check, c.severity, c.firingHosts, c.resolvedHosts])).toEqual([
      ['gpu.xid', 'critical', ['i-a', 'i-c'], []],
      ['health.disk', 'warning', ['i-b'], []],
      ['health.memory', 'warning', [], ['i-d']],
    ]);
    expect(d).toMatchObject({ fleet: 'prod', notifications: 4, hosts: 4 });
  });

  test('a host that resolved and fired again in one batch counts as firing', () => {
    const d = buildDigest([notification('i-a', [change({ change: 'resolved' })]), notification('i-a', [change()], 1)]);
    expect(d.checks[0]).toMatchObject({ firingHosts: ['i-a'], resolvedHosts: [] });
    expect(d.at).toBe(at(1));
  });

  test('an empty batch is an error saying what was expected', () => {
    expect(() => buildDigest([])).toThrow('buildDigest: expected at least one notification, got none');
  });
});

describe('digest rendering', () => {
  test('the Slack digest names the first 20 hosts of a check and counts the rest', () => {
    const payload = digestSlackPayload(buildDigest(hosts(25).map((h) => notification(h))));
    expect(payload.text).toBe('[CRITICAL] 1 check(s) firing across 25 hosts of fleet prod');
    const section = JSON.stringify(payload.blocks[2]);
    expect(section).toContain('firing on 25 host(s)');
    expect(section).toContain('i-00000000000000013 and 5 more');
    expect(section).not.toContain('i-00000000000000014');
  });

  test('the Slack digest stays within 50 blocks however many checks fire', () => {
    const one = buildDigest([notification('i-a')]);
    const payload = digestSlackPayload({ ...one, checks: Array.from({ length: 60 }, () => one.checks[0]) });
    expect(payload.blocks).toHaveLength(50);
    expect(JSON.stringify(payload.blocks.at(-1))).toContain('…and 13 more check(s)');
  });

  test('PagerDuty gets one trigger per check for the fleet, and a resolve for a check the batch only resolved', () => {
    const d = buildDigest([
      ...hosts(8).map((h) => notification(h)),
      notification('i-r', [change({ change: 'resolved', check: 'health.disk' })]),
    ]);
    const events = digestPagerDutyEvents(d, ROUTING_KEY, 'critical');
    expect(events.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', pagerDutyFleetDedupKey('prod', 'gpu.xid')],
      ['resolve', pagerDutyFleetDedupKey('prod', 'health.disk')],
    ]);
    expect(events[0].payload).toMatchObject({ severity: 'critical', summary: expect.stringContaining('gpu.xid on 8 hosts of fleet prod') });
  });

  test('a check below the PagerDuty minimum severity triggers nothing', () => {
    const d = buildDigest(hosts(8).map((h) => notification(h, [change({ severity: 'warning' })])));
    expect(digestPagerDutyEvents(d, ROUTING_KEY, 'critical')).toEqual([]);
  });
});

describe('forwardNotificationBatch', () => {
  test(`fewer than ${DIGEST_MIN_NOTIFICATIONS} notifications go out one by one, Slack posts ${SLACK_INTERVAL_MS} ms apart`, async () => {
    const r = recorder();
    const outcome = await forwardNotificationBatch(
      hosts(3).map((h) => notification(h)),
      r.destinations,
      r.sleep,
    );
    expect(outcome).toMatchObject({ digest: false, notifications: 3, pagerDutyEvents: 3 });
    expect(r.slack).toHaveLength(3);
    expect(r.sleeps).toEqual([SLACK_INTERVAL_MS, SLACK_INTERVAL_MS]);
    expect(r.pagerDuty.map((e) => e.dedup_key)).toEqual(hosts(3).map((h) => `gpu-maint/prod/${h}/gpu.xid`));
  });

  test('an incident across 500 hosts is one Slack message and one PagerDuty event', async () => {
    const r = recorder();
    const outcome = await forwardNotificationBatch(
      hosts(500).map((h) => notification(h)),
      r.destinations,
      r.sleep,
    );
    expect(outcome).toMatchObject({ digest: true, notifications: 500, slack: true, pagerDutyEvents: 1 });
    expect(r.slack).toHaveLength(1);
    expect(r.pagerDuty).toHaveLength(1);
    expect(r.sleeps).toEqual([]);
  });

  test('a failed Slack post fails the digest after PagerDuty was still tried', async () => {
    const r = recorder();
    const destinations: ForwardDestinations = {
      ...r.destinations,
      slack: {
        post: async () => {
          throw new Error('HTTP 429 rate_limited');
        },
      },
    };
    await expect(
      forwardNotificationBatch(
        hosts(10).map((h) => notification(h)),
        destinations,
        r.sleep,
      ),
    ).rejects.toThrow('forwarding a digest of 10 notifications failed: Slack: HTTP 429 rate_limited');
    expect(r.pagerDuty).toHaveLength(1);
  });
});
