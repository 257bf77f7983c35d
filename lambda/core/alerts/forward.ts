/**
 * The alert forwarder's core: a structured notification from SNS, to Slack (Block Kit) and PagerDuty
 * (Events API v2). Destinations are ports; the Lambda builds them from Secrets Manager.
 */
import { z } from 'zod';
import { CHECK_NAMES, TASK_NAMES } from '../types';
import type { AlertSeverity, Notification } from './model';
import { NOTIFICATION_SCHEMA, type PagerDutyEvent, pagerDutyEvents, type SlackPayload, slackPayload } from './render';

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
        change: z.enum(['firing', 'escalated', 'repeat', 'resolved']),
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
