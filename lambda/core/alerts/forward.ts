/**
 * The alert forwarder's core: what arrives from SNS, to Slack (Block Kit) and PagerDuty (Events API v2).
 * Three kinds of message reach it: structured host notifications (alert topic), CloudWatch alarm
 * notifications and EventBridge rule texts (pipeline topic). Destinations are ports; the Lambda builds
 * them from Secrets Manager.
 */
import { z } from 'zod';
import { CHECK_NAMES, TASK_NAMES } from '../types';
import type { AlertSeverity, Notification } from './model';
import { alarmPagerDutyEvent, alarmSlackPayload, type PipelineAlarm, parsePipelineAlarm } from './pipeline-alarm';
import { NOTIFICATION_SCHEMA, type PagerDutyEvent, pagerDutyEvents, type SlackPayload, slackEscape, slackPayload } from './render';

const severity = z.enum(['warning', 'critical']);
const check = z.enum(CHECK_NAMES);

const notificationSchema = z.object({
  schema: z.literal(NOTIFICATION_SCHEMA),
  id: z.string(),
  at: z.string(),
  fleet: z.string(),
  host: z.string().min(1),
  status: z.enum(['firing', 'resolved']),
  severity,
  tasks: z.array(z.enum(TASK_NAMES)),
  alerts: z
    .array(
      z.object({
        change: z.enum(['firing', 'flapping', 'escalated', 'repeat', 'resolved']),
        check,
        gpu: z.number().int().optional(),
        task: z.enum(TASK_NAMES),
        severity,
        previousSeverity: severity.optional(),
        message: z.string(),
        reading: z.union([z.number(), z.string(), z.null()]).optional(),
        threshold: z.string().optional(),
        since: z.string(),
        runbook: z.string(),
      }),
    )
    .min(1),
  stillFiring: z.array(z.object({ check, gpu: z.number().int().optional(), severity })),
  omittedAlerts: z.number().int().optional(),
});

/** Parses the SNS message a lambda subscription receives; the error says what does not match. */
export function parseNotificationMessage(message: string): Notification {
  let data: unknown;
  try {
    data = JSON.parse(message);
  } catch (err) {
    throw new Error(`SNS message is not JSON (${(err as Error).message}); expected a ${NOTIFICATION_SCHEMA} notification`);
  }
  const parsed = notificationSchema.safeParse(data);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`)
      .join('; ');
    throw new Error(`SNS message is not a ${NOTIFICATION_SCHEMA} notification: ${issues}`);
  }
  const { schema: _schema, omittedAlerts: _omitted, ...notification } = parsed.data;
  return notification as Notification;
}

export interface SlackDestination {
  post(payload: SlackPayload): Promise<void>;
}

export interface PagerDutyDestination {
  readonly minSeverity: AlertSeverity;
  routingKey(): Promise<string>;
  send(event: PagerDutyEvent): Promise<void>;
}

export interface ForwardDestinations {
  readonly slack?: SlackDestination;
  readonly pagerDuty?: PagerDutyDestination;
}

export interface ForwardOutcome {
  readonly slack: boolean;
  readonly pagerDutyEvents: number;
}

/** Posts to every configured destination; throws (after trying all) when any failed, so the event is retried. */
export async function forwardNotification(n: Notification, d: ForwardDestinations): Promise<ForwardOutcome> {
  const errors: string[] = [];
  let slack = false;
  let sent = 0;
  if (d.slack) {
    try {
      await d.slack.post(slackPayload(n));
      slack = true;
    } catch (err) {
      errors.push(`Slack: ${(err as Error).message}`);
    }
  }
  if (d.pagerDuty) {
    try {
      const events = pagerDutyEvents(n, await d.pagerDuty.routingKey(), d.pagerDuty.minSeverity);
      for (const event of events) {
        await d.pagerDuty.send(event);
        sent++;
      }
    } catch (err) {
      errors.push(`PagerDuty: ${(err as Error).message}`);
    }
  }
  if (errors.length) throw new Error(`forwarding ${n.id} failed: ${errors.join('; ')}`);
  return { slack, pagerDutyEvents: sent };
}

/** One SNS message, by kind. */
export type ForwardedMessage =
  | { readonly kind: 'notification'; readonly notification: Notification }
  | { readonly kind: 'alarm'; readonly alarm: PipelineAlarm }
  | { readonly kind: 'text'; readonly text: string };

/**
 * Tells the kinds apart: JSON with the notification schema, JSON in CloudWatch's alarm format, else text
 * (EventBridge rule messages). A JSON message claiming the notification schema must be a valid one.
 */
export function parseForwardedMessage(message: string): ForwardedMessage {
  let data: unknown;
  try {
    data = JSON.parse(message);
  } catch {
    return { kind: 'text', text: message };
  }
  if (data && typeof data === 'object' && (data as { schema?: unknown }).schema === NOTIFICATION_SCHEMA) {
    return { kind: 'notification', notification: parseNotificationMessage(message) };
  }
  const alarm = parsePipelineAlarm(data);
  if (alarm) return { kind: 'alarm', alarm };
  return { kind: 'text', text: message };
}

/** Slack payload of an EventBridge text: the text itself (the rule wrote it for people). */
function textSlackPayload(text: string): SlackPayload {
  return { text: text.slice(0, 150), blocks: [{ type: 'section', text: { type: 'mrkdwn', text: slackEscape(text).slice(0, 3000) } }] };
}

/**
 * Posts any message to every configured destination. Texts go to Slack only: they carry no state to
 * resolve a PagerDuty incident with. Throws (after trying all) when any failed.
 */
export async function forwardMessage(m: ForwardedMessage, d: ForwardDestinations): Promise<ForwardOutcome> {
  if (m.kind === 'notification') return forwardNotification(m.notification, d);
  const errors: string[] = [];
  let slack = false;
  let sent = 0;
  if (d.slack) {
    try {
      await d.slack.post(m.kind === 'alarm' ? alarmSlackPayload(m.alarm) : textSlackPayload(m.text));
      slack = true;
    } catch (err) {
      errors.push(`Slack: ${(err as Error).message}`);
    }
  }
  if (d.pagerDuty && m.kind === 'alarm') {
    try {
      const event = alarmPagerDutyEvent(m.alarm, await d.pagerDuty.routingKey(), d.pagerDuty.minSeverity);
      if (event) {
        await d.pagerDuty.send(event);
        sent++;
      }
    } catch (err) {
      errors.push(`PagerDuty: ${(err as Error).message}`);
    }
  }
  const what = m.kind === 'alarm' ? `alarm ${m.alarm.name} ${m.alarm.state}` : 'text message';
  if (errors.length) throw new Error(`forwarding ${what} failed: ${errors.join('; ')}`);
  return { slack, pagerDutyEvents: sent };
}
