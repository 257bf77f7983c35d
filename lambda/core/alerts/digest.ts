/**
 * Digests: when an incident spans many hosts, the forwarder gets a batch of notifications at once (its
 * queue gathers them, lib/constructs/alert-forwarder.ts) and posts one Slack message and one PagerDuty
 * event per check instead of one per host.
 *
 * - Slack takes about one message per second per channel, with short bursts
 *   (https://api.slack.com/docs/rate-limits, "Posting messages"): a few notifications are posted one by
 *   one, `SLACK_INTERVAL_MS` apart; from `DIGEST_MIN_NOTIFICATIONS` on, one digest message.
 * - PagerDuty's Events API v2 folds every event with the same `dedup_key` into one alert
 *   (https://github.com/PagerDuty/developer-docs/blob/main/docs/events-API-v2/02-Trigger-Events.md): a digest triggers one alert per
 *   check for the fleet (`pagerDutyFleetDedupKey`) and resolves it when a batch brings only resolves for
 *   that check. Per-host incidents opened before the digest are resolved by their hosts' own resolves when
 *   those arrive in a small batch; in a digest batch only the fleet-wide incident is resolved.
 */
import type { CheckName } from '../types';
import { type ForwardDestinations, type ForwardOutcome, forwardNotification } from './forward';
import { type AlertSeverity, type Notification, severityRank } from './model';
import { type PagerDutyEvent, type SlackPayload, slackEscape } from './render';

/** A batch with at least this many notifications is digested. */
export const DIGEST_MIN_NOTIFICATIONS = 6;
/** Gap between single Slack posts of one batch (Slack: about one message per second per channel). */
export const SLACK_INTERVAL_MS = 1_100;
/** Hosts named per check in a digest; the rest are counted. */
const HOSTS_SHOWN = 20;

export interface CheckDigest {
  readonly check: CheckName;
  /** Worst severity among the firing hosts (or the resolved ones when none fires). */
  readonly severity: AlertSeverity;
  /** Hosts with a firing, escalated or repeated alert of this check, sorted. */
  readonly firingHosts: readonly string[];
  /** Hosts whose alert of this check resolved, sorted. */
  readonly resolvedHosts: readonly string[];
  /** The first firing message seen, as an example. */
  readonly example: string;
  readonly runbook: string;
}

export interface Digest {
  readonly fleet: string;
  /** The latest notification time in the batch. */
  readonly at: string;
  readonly notifications: number;
  readonly hosts: number;
  /** Checks, the most severe and widest first. */
  readonly checks: readonly CheckDigest[];
}

/** @throws Error when `notifications` is empty (there is nothing to digest). */
export function buildDigest(notifications: readonly Notification[]): Digest {
  if (notifications.length === 0) throw new Error('buildDigest: expected at least one notification, got none');
  const byCheck = new Map<
    CheckName,
    { firing: Set<string>; resolved: Set<string>; severity: AlertSeverity; example: string; runbook: string }
  >();
  for (const n of notifications) {
    for (const a of n.alerts) {
      let entry = byCheck.get(a.check);
      if (!entry) {
        entry = { firing: new Set(), resolved: new Set(), severity: a.severity, example: a.message, runbook: a.runbook };
        byCheck.set(a.check, entry);
      }
      if (a.change === 'resolved') entry.resolved.add(n.host);
      else {
        if (entry.firing.size === 0 || severityRank(a.severity) > severityRank(entry.severity)) {
          entry.severity = a.severity;
          entry.example = a.message;
        }
        entry.firing.add(n.host);
      }
    }
  }
  const checks: CheckDigest[] = [...byCheck].map(([check, e]) => ({
    check,
    severity: e.severity,
    firingHosts: [...e.firing].sort(),
    // A host that fired again in the same batch is firing, not resolved.
    resolvedHosts: [...e.resolved].filter((h) => !e.firing.has(h)).sort(),
    example: e.example,
    runbook: e.runbook,
  }));
  checks.sort(
    (a, b) =>
      Number(b.firingHosts.length > 0) - Number(a.firingHosts.length > 0) ||
      severityRank(b.severity) - severityRank(a.severity) ||
      b.firingHosts.length + b.resolvedHosts.length - (a.firingHosts.length + a.resolvedHosts.length) ||
      a.check.localeCompare(b.check),
  );
  return {
    fleet: notifications[0].fleet,
    // ISO-8601 times sort as text.
    at: notifications
      .map((n) => n.at)
      .sort()
      .at(-1) as string,
    notifications: notifications.length,
    hosts: new Set(notifications.map((n) => n.host)).size,
    checks,
  };
}

function hostList(hosts: readonly string[]): string {
  const shown = hosts.slice(0, HOSTS_SHOWN).join(', ');
  return hosts.length > HOSTS_SHOWN ? `${shown} and ${hosts.length - HOSTS_SHOWN} more` : shown;
}

function digestHeadline(d: Digest): string {
  const firing = d.checks.filter((c) => c.firingHosts.length > 0);
  const worst = firing[0]?.severity;
  return worst
    ? `[${worst.toUpperCase()}] ${firing.length} check(s) firing across ${d.hosts} hosts of fleet ${d.fleet}`
    : `[RESOLVED] alerts cleared on ${d.hosts} hosts of fleet ${d.fleet}`;
}

/** One Slack message for the batch: per check, how many hosts fire or resolved, and which. */
export function digestSlackPayload(d: Digest): SlackPayload {
  const headline = digestHeadline(d);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: headline.slice(0, 150), emoji: true } },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: slackEscape(`${d.notifications} notifications digested · fleet ${d.fleet} · ${d.at}`) }],
    },
  ];
  // Slack allows 50 blocks: the header, the context, 47 checks and a count of the rest.
  const shown = d.checks.slice(0, 47);
  for (const c of shown) {
    const lines = [`*${slackEscape(c.check)}* (${c.severity})`];
    if (c.firingHosts.length) lines.push(`firing on ${c.firingHosts.length} host(s): ${slackEscape(hostList(c.firingHosts))}`);
    if (c.firingHosts.length) lines.push(`e.g. ${slackEscape(c.example)}`);
    if (c.resolvedHosts.length) lines.push(`resolved on ${c.resolvedHosts.length} host(s): ${slackEscape(hostList(c.resolvedHosts))}`);
    lines.push(/^https?:\/\//i.test(c.runbook) ? `<${c.runbook}|runbook>` : `runbook: ${slackEscape(c.runbook)}`);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: lines.join('\n').slice(0, 3000) } });
  }
  if (d.checks.length > shown.length) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `…and ${d.checks.length - shown.length} more check(s)` }] });
  }
  return { text: headline, blocks };
}

/** One PagerDuty alert per check for the whole fleet, while a digest covers it. */
export function pagerDutyFleetDedupKey(fleet: string, check: CheckName): string {
  return `gpu-maint/${fleet}/many-hosts/${check}`.slice(0, 255);
}

/**
 * A trigger per check with firing hosts at or above `minSeverity`; a resolve per check the batch only
 * resolved (a no-op at PagerDuty when no fleet-wide alert was open).
 */
export function digestPagerDutyEvents(d: Digest, routingKey: string, minSeverity: AlertSeverity): PagerDutyEvent[] {
  const events: PagerDutyEvent[] = [];
  for (const c of d.checks) {
    const dedup_key = pagerDutyFleetDedupKey(d.fleet, c.check);
    if (c.firingHosts.length === 0) {
      events.push({ routing_key: routingKey, event_action: 'resolve', dedup_key });
      continue;
    }
    if (severityRank(c.severity) < severityRank(minSeverity)) continue;
    events.push({
      routing_key: routingKey,
      event_action: 'trigger',
      dedup_key,
      payload: {
        summary: `[${c.severity.toUpperCase()}] ${c.check} on ${c.firingHosts.length} hosts of fleet ${d.fleet}: ${c.example}`.slice(
          0,
          1024,
        ),
        source: `fleet ${d.fleet}`,
        severity: c.severity,
        timestamp: d.at,
        component: c.check,
        group: d.fleet,
        class: 'gpu-maint digest',
        custom_details: {
          fleet: d.fleet,
          firingHosts: c.firingHosts.length,
          hosts: hostList(c.firingHosts),
          resolvedHosts: c.resolvedHosts.length,
          runbook: c.runbook,
        },
      },
      ...(/^https?:\/\//i.test(c.runbook) ? { links: [{ href: c.runbook, text: `Runbook: ${c.check}` }] } : {}),
    });
  }
  return events;
}

export interface BatchOutcome extends ForwardOutcome {
  /** Whether the batch went out as one digest. */
  readonly digest: boolean;
  readonly notifications: number;
}

/**
 * Forwards a batch of notifications: one by one (Slack posts `SLACK_INTERVAL_MS` apart) below
 * `DIGEST_MIN_NOTIFICATIONS`, else as a digest. Throws after trying every destination when any failed,
 * so the batch is retried.
 */
export async function forwardNotificationBatch(
  notifications: readonly Notification[],
  d: ForwardDestinations,
  sleep: (ms: number) => Promise<void>,
): Promise<BatchOutcome> {
  if (notifications.length < DIGEST_MIN_NOTIFICATIONS) {
    let slackPosts = 0;
    let pagerDutyEvents = 0;
    for (const [i, n] of notifications.entries()) {
      if (i > 0 && d.slack) await sleep(SLACK_INTERVAL_MS);
      const outcome = await forwardNotification(n, d);
      if (outcome.slack) slackPosts++;
      pagerDutyEvents += outcome.pagerDutyEvents;
    }
    return { slack: slackPosts > 0, pagerDutyEvents, digest: false, notifications: notifications.length };
  }
  const digest = buildDigest(notifications);
  const errors: string[] = [];
  let slack = false;
  let sent = 0;
  if (d.slack) {
    try {
      await d.slack.post(digestSlackPayload(digest));
      slack = true;
    } catch (err) {
      errors.push(`Slack: ${(err as Error).message}`);
    }
  }
  if (d.pagerDuty) {
    try {
      for (const event of digestPagerDutyEvents(digest, await d.pagerDuty.routingKey(), d.pagerDuty.minSeverity)) {
        await d.pagerDuty.send(event);
        sent++;
      }
    } catch (err) {
      errors.push(`PagerDuty: ${(err as Error).message}`);
    }
  }
  if (errors.length) throw new Error(`forwarding a digest of ${notifications.length} notifications failed: ${errors.join('; ')}`);
  return { slack, pagerDutyEvents: sent, digest: true, notifications: notifications.length };
}
