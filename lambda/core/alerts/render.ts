/**
 * How a notification reads in each destination: email subject and text, the structured JSON for
 * machines (SNS lambda/https/sqs), the SNS Publish input (MessageStructure json plus filterable message
 * attributes), a Slack Block Kit payload, PagerDuty Events API v2 events, and AWS Chatbot's custom
 * notification. Pure functions of a {@link Notification}.
 */
import type { CheckName } from '../types';
import { type AlertChange, type AlertSeverity, alertLabel, type ChangeKind, type Notification, severityRank } from './model';

export const NOTIFICATION_SCHEMA = 'gpu-maint.alert/v1';
/** SNS requires subjects under 100 characters, single line. */
export const SUBJECT_MAX_CHARS = 99;
/** SNS message limit (Message plus attributes), 256 KiB. */
export const SNS_MAX_BYTES = 262_144;

const CHANGE_LABEL: Record<ChangeKind, string> = {
  firing: 'FIRING',
  flapping: 'FLAPPING',
  escalated: 'ESCALATED',
  repeat: 'STILL FIRING',
  resolved: 'RESOLVED',
};

/** What a FLAPPING alert means for the reader (docs/alerts.md#flapping). */
export const FLAPPING_NOTE = 'fires and clears repeatedly: its next clears and re-fires are not sent; RESOLVED follows once it stays clear';

function oneLine(text: string): string {
  return (
    text
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what this strips.
      .replace(/[\u0000-\u001f\u007f]+/g, ' ')
      .replace(/\s+/g, ' ')
      .trim()
  );
}

function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  return max <= 1 ? text.slice(0, max) : `${text.slice(0, max - 1)}…`;
}

/** The change that names the notification: the most severe firing one, else the first resolve. */
function leadChange(n: Notification): AlertChange {
  return n.alerts.find((a) => a.change !== 'resolved') ?? n.alerts[0];
}

/** `[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus (+1 more)`, at most 99 characters. */
export function emailSubject(n: Notification): string {
  const lead = leadChange(n);
  const tag = n.status === 'resolved' ? 'RESOLVED' : n.severity.toUpperCase();
  const more = n.alerts.length > 1 ? ` (+${n.alerts.length - 1} more)` : '';
  const head = `${oneLine(`[${tag}] ${n.host} ${lead.check}`)}: `;
  const room = SUBJECT_MAX_CHARS - head.length - more.length;
  if (room < 10) return truncate(oneLine(`${head}${lead.message}`), SUBJECT_MAX_CHARS);
  return `${head}${truncate(oneLine(lead.message), room)}${more}`;
}

function formatReading(a: AlertChange): string | null {
  const parts: string[] = [];
  if (a.reading !== undefined && a.reading !== null) parts.push(`reading: ${a.reading}`);
  if (a.threshold) parts.push(`threshold: ${a.threshold}`);
  return parts.length ? parts.join(' · ') : null;
}

function changeHeadline(a: AlertChange): string {
  const sev =
    a.change === 'escalated' && a.previousSeverity
      ? `${a.previousSeverity.toUpperCase()} → ${a.severity.toUpperCase()}`
      : a.severity.toUpperCase();
  return `${CHANGE_LABEL[a.change]} ${sev} ${alertLabel(a)}`;
}

/** A silence command for the notification's host; `--check` when only one check is involved. */
export function silenceCommand(n: Notification): string {
  const checks = [...new Set(n.alerts.map((a) => a.check))];
  const check = checks.length === 1 ? ` --check ${checks[0]}` : '';
  return `gpu-maint silence ${n.host}${check} --for 2h --reason "..."`;
}

/** Plain text for email and the terminal. */
export function emailText(n: Notification, options: { readonly omitted?: number } = {}): string {
  const lines = [
    `gpu-maint alert: ${n.status === 'resolved' ? 'RESOLVED' : n.severity.toUpperCase()} on ${n.host} (fleet ${n.fleet}) at ${n.at}`,
    '',
  ];
  for (const a of n.alerts) {
    lines.push(changeHeadline(a));
    lines.push(`  ${a.change === 'resolved' ? `was: ${a.message}` : a.message}`);
    if (a.change === 'flapping') lines.push(`  ${FLAPPING_NOTE}`);
    const reading = formatReading(a);
    if (reading) lines.push(`  ${reading}`);
    lines.push(`  since ${a.since} · task ${a.task} · runbook: ${a.runbook}`);
    lines.push('');
  }
  if (options.omitted) lines.push(`… and ${options.omitted} more alert(s) not shown (message size limit)`, '');
  lines.push(
    n.stillFiring.length
      ? `Still firing on ${n.host}: ${n.stillFiring.map((f) => `${alertLabel(f)} (${f.severity})`).join(', ')}`
      : `Nothing else is firing on ${n.host}.`,
  );
  if (n.status === 'firing') lines.push(`Silence: ${silenceCommand(n)}`);
  return lines.join('\n');
}

export interface StructuredNotification extends Notification {
  readonly schema: typeof NOTIFICATION_SCHEMA;
  /** Alerts left out to fit the SNS size limit. */
  readonly omittedAlerts?: number;
}

export function structuredNotification(n: Notification, omitted = 0): StructuredNotification {
  return { schema: NOTIFICATION_SCHEMA, ...n, ...(omitted ? { omittedAlerts: omitted } : {}) };
}

export interface SnsMessageAttribute {
  readonly DataType: 'String' | 'String.Array';
  readonly StringValue: string;
}

/** Structurally the SNS PublishCommand input (the core imports no SDK). */
export interface SnsPublishInput {
  readonly TopicArn: string;
  readonly Subject: string;
  readonly Message: string;
  readonly MessageStructure: 'json';
  readonly MessageAttributes: Readonly<Record<string, SnsMessageAttribute>>;
}

/**
 * Attributes subscriptions filter on: severity, status and host are strings; task and check are string
 * arrays (a grouped notification can span several), which SNS filter policies match element-wise.
 */
export function snsMessageAttributes(n: Notification): Record<string, SnsMessageAttribute> {
  return {
    severity: { DataType: 'String', StringValue: n.severity },
    status: { DataType: 'String', StringValue: n.status },
    host: { DataType: 'String', StringValue: n.host },
    task: { DataType: 'String.Array', StringValue: JSON.stringify(n.tasks) },
    check: { DataType: 'String.Array', StringValue: JSON.stringify([...new Set(n.alerts.map((a) => a.check))]) },
  };
}

function snsMessage(n: Notification, omitted: number): string {
  const text = emailText(n, { omitted });
  const json = JSON.stringify(structuredNotification(n, omitted));
  return JSON.stringify({
    default: text,
    email: text,
    'email-json': json,
    sqs: json,
    lambda: json,
    http: json,
    https: json,
    firehose: json,
    sms: emailSubject(n),
  });
}

function byteLength(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** The SNS Publish input; alerts beyond the 256 KiB limit are left out and counted, never silently. */
export function snsPublishInput(n: Notification, topicArn: string): SnsPublishInput {
  const MessageAttributes = snsMessageAttributes(n);
  const attributeBytes = byteLength(JSON.stringify(MessageAttributes));
  let keep = n.alerts.length;
  let Message = snsMessage(n, 0);
  while (byteLength(Message) + attributeBytes + 1024 > SNS_MAX_BYTES && keep > 1) {
    keep = Math.max(1, Math.floor(keep / 2));
    Message = snsMessage({ ...n, alerts: n.alerts.slice(0, keep) }, n.alerts.length - keep);
  }
  return { TopicArn: topicArn, Subject: emailSubject(n), Message, MessageStructure: 'json', MessageAttributes };
}

// ---------------------------------------------------------------------------------------------- Slack

const SLACK_EMOJI: Record<ChangeKind, Record<AlertSeverity, string>> = {
  firing: { critical: ':red_circle:', warning: ':large_orange_circle:' },
  flapping: { critical: ':repeat:', warning: ':repeat:' },
  escalated: { critical: ':red_circle:', warning: ':large_orange_circle:' },
  repeat: { critical: ':rotating_light:', warning: ':warning:' },
  resolved: { critical: ':large_green_circle:', warning: ':large_green_circle:' },
};
const SLACK_MAX_BLOCKS = 50;

export function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function isWebUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

export interface SlackPayload {
  readonly text: string;
  readonly blocks: readonly Record<string, unknown>[];
}

/** Slack incoming-webhook payload (Block Kit), within Slack's 50-block and 3,000-character limits. */
export function slackPayload(n: Notification): SlackPayload {
  const subject = emailSubject(n);
  const blocks: Record<string, unknown>[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(subject, 150), emoji: true } },
    {
      type: 'context',
      elements: [{ type: 'mrkdwn', text: slackEscape(`host ${n.host} · fleet ${n.fleet} · ${n.at}`) }],
    },
  ];
  const room = SLACK_MAX_BLOCKS - blocks.length - 2;
  const shown = n.alerts.length > room ? n.alerts.slice(0, room - 1) : n.alerts;
  for (const a of shown) {
    const reading = formatReading(a);
    const runbook = isWebUrl(a.runbook) ? `<${a.runbook}|runbook>` : `runbook: ${slackEscape(a.runbook)}`;
    const text = [
      `${SLACK_EMOJI[a.change][a.severity]} *${slackEscape(changeHeadline(a))}*`,
      slackEscape(a.change === 'resolved' ? `was: ${a.message}` : a.message),
      [reading ? slackEscape(reading) : null, `since ${a.since}`, runbook].filter(Boolean).join(' · '),
    ].join('\n');
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(text, 3000) } });
  }
  if (shown.length < n.alerts.length) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `…and ${n.alerts.length - shown.length} more alert(s)` } });
  }
  const footer = n.stillFiring.length
    ? `Still firing: ${n.stillFiring.map((f) => `${alertLabel(f)} (${f.severity})`).join(', ')}`
    : 'Nothing else is firing on this host.';
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: truncate(`${slackEscape(footer)}${n.status === 'firing' ? ` · silence: \`${slackEscape(silenceCommand(n))}\`` : ''}`, 3000),
      },
    ],
  });
  return { text: subject, blocks };
}

// ------------------------------------------------------------------------------------------ PagerDuty

export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

export interface PagerDutyEvent {
  readonly routing_key: string;
  readonly event_action: 'trigger' | 'resolve';
  readonly dedup_key: string;
  readonly payload?: {
    readonly summary: string;
    readonly source: string;
    readonly severity: 'critical' | 'error' | 'warning' | 'info';
    readonly timestamp: string;
    readonly component: string;
    readonly group: string;
    readonly class: string;
    readonly custom_details: Record<string, unknown>;
  };
  readonly links?: readonly { readonly href: string; readonly text: string }[];
}

/** One incident per host and check: every GPU of that check on that host folds into it. */
export function pagerDutyDedupKey(fleet: string, host: string, check: CheckName): string {
  return truncate(`gpu-maint/${fleet}/${host}/${check}`, 255);
}

/**
 * Events API v2 events for a notification: a trigger per check with a firing change at or above
 * `minSeverity`, a resolve per check whose alerts all cleared (sent whatever the severity: resolving an
 * incident PagerDuty never opened is a no-op there).
 */
export function pagerDutyEvents(n: Notification, routingKey: string, minSeverity: AlertSeverity): PagerDutyEvent[] {
  const byCheck = new Map<CheckName, AlertChange[]>();
  for (const a of n.alerts) byCheck.set(a.check, [...(byCheck.get(a.check) ?? []), a]);
  const events: PagerDutyEvent[] = [];
  for (const [check, changes] of byCheck) {
    const dedup_key = pagerDutyDedupKey(n.fleet, n.host, check);
    const firing = changes.filter((c) => c.change !== 'resolved');
    if (firing.length > 0) {
      const worst = firing.reduce((w, c) => (severityRank(c.severity) > severityRank(w.severity) ? c : w));
      if (severityRank(worst.severity) < severityRank(minSeverity)) continue;
      events.push({
        routing_key: routingKey,
        event_action: 'trigger',
        dedup_key,
        payload: {
          summary: truncate(oneLine(`[${worst.severity.toUpperCase()}] ${n.host} ${check}: ${worst.message}`), 1024),
          source: n.host,
          severity: worst.severity,
          timestamp: n.at,
          component: check,
          group: n.fleet,
          class: worst.task,
          custom_details: {
            fleet: n.fleet,
            host: n.host,
            alerts: firing.map((c) => ({
              change: c.change,
              severity: c.severity,
              ...(c.gpu !== undefined ? { gpu: c.gpu } : {}),
              message: c.message,
              ...(c.reading !== undefined ? { reading: c.reading } : {}),
              ...(c.threshold !== undefined ? { threshold: c.threshold } : {}),
              since: c.since,
            })),
            runbook: worst.runbook,
            silence: silenceCommand({ ...n, alerts: firing }),
          },
        },
        ...(isWebUrl(worst.runbook) ? { links: [{ href: worst.runbook, text: `Runbook: ${check}` }] } : {}),
      });
    } else if (!n.stillFiring.some((f) => f.check === check)) {
      events.push({ routing_key: routingKey, event_action: 'resolve', dedup_key });
    }
  }
  return events;
}

// ------------------------------------------------------------------------------------- AWS Chatbot

/** AWS Chatbot's custom notification schema (the only format it shows besides AWS service events). */
export function chatbotNotification(n: Notification): Record<string, unknown> {
  const description = n.alerts
    .slice(0, 20)
    .map((a) => `*${changeHeadline(a)}*: ${a.change === 'resolved' ? `was: ${a.message}` : a.message}`)
    .join('\n');
  const runbooks = [...new Set(n.alerts.map((a) => a.runbook))].slice(0, 5);
  return {
    version: '1.0',
    source: 'custom',
    id: n.id,
    content: {
      textType: 'client-markdown',
      title: emailSubject(n),
      description: truncate(`${description}${n.alerts.length > 20 ? `\n…and ${n.alerts.length - 20} more` : ''}`, 8000),
      nextSteps: [
        ...runbooks.map((r) => (isWebUrl(r) ? `<${r}|Runbook ${r.slice(r.lastIndexOf('#') + 1)}>` : `Runbook: ${r}`)),
        ...(n.status === 'firing' ? [`Silence: \`${silenceCommand(n)}\``] : []),
      ],
      keywords: [n.severity, n.status, n.host, ...new Set(n.alerts.map((a) => a.check))].slice(0, 10),
    },
    metadata: {
      threadId: `gpu-maint/${n.fleet}/${n.host}`,
      summary: emailSubject(n),
      eventType: 'gpu-maint-alert',
      relatedResources: [n.host],
      additionalContext: { severity: n.severity, status: n.status, fleet: n.fleet },
    },
  };
}

/** One line per change for terminals and logs: `[CRITICAL] i-0abc gpu.xid GPU 5 FIRING: Xid 79 ...`. */
export function terminalLines(n: Notification): string[] {
  return n.alerts.map(
    (a) =>
      `ALERT ${n.at} [${a.change === 'resolved' ? 'RESOLVED' : a.severity.toUpperCase()}] ${n.host} ${alertLabel(a)} ${CHANGE_LABEL[a.change]}: ${oneLine(a.message)} (runbook ${a.runbook})`,
  );
}
