/**
 * Pipeline alarms as the forwarder receives them: the JSON CloudWatch publishes to SNS when an alarm
 * changes state (AlarmName, NewStateValue, NewStateReason, ...,
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html), rendered for
 * Slack (name, state, reason, runbook) and PagerDuty (trigger on ALARM, resolve on OK, one incident per
 * alarm). Pure: no I/O.
 */
import { z } from 'zod';
import type { AlertSeverity } from './model';
import { type PagerDutyEvent, type SlackPayload, slackEscape } from './render';

const alarmSchema = z.object({
  AlarmName: z.string().min(1),
  AlarmDescription: z.string().nullish(),
  NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
  OldStateValue: z.string().nullish(),
  NewStateReason: z.string(),
  StateChangeTime: z.string(),
  AlarmArn: z.string().nullish(),
  Region: z.string().nullish(),
});

export interface PipelineAlarm {
  readonly name: string;
  readonly description: string;
  readonly state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA';
  readonly previousState: string;
  readonly reason: string;
  readonly at: string;
  /** Alarm ARN, when CloudWatch sent it (it does for metric alarms). */
  readonly arn?: string;
  /** `[CRITICAL]`/`[WARNING]` in the description, or a -critical/-warning name; critical when neither. */
  readonly severity: AlertSeverity;
  /** The `Runbook: <link>` of the description, when it has one. */
  readonly runbook?: string;
}

/** A CloudWatch alarm notification, or null when the message is not one. */
export function parsePipelineAlarm(data: unknown): PipelineAlarm | null {
  const parsed = alarmSchema.safeParse(data);
  if (!parsed.success) return null;
  const a = parsed.data;
  const description = a.AlarmDescription ?? '';
  const tagged = /\[(CRITICAL|WARNING)\]/.exec(description)?.[1] ?? /-(critical|warning)$/i.exec(a.AlarmName)?.[1];
  return {
    name: a.AlarmName,
    description,
    state: a.NewStateValue,
    previousState: a.OldStateValue ?? '',
    reason: a.NewStateReason,
    at: a.StateChangeTime,
    ...(a.AlarmArn ? { arn: a.AlarmArn } : {}),
    severity: tagged?.toLowerCase() === 'warning' ? 'warning' : 'critical',
    ...(/Runbook: (\S+)/.exec(description) ? { runbook: /Runbook: (\S+)/.exec(description)?.[1] } : {}),
  };
}

/** CloudWatch console link of the alarm, from its ARN (partition and region), when there is one. */
export function alarmConsoleUrl(a: PipelineAlarm): string | undefined {
  const arn = /^arn:(aws|aws-cn|aws-us-gov):cloudwatch:([a-z0-9-]+):\d{12}:alarm:(.+)$/.exec(a.arn ?? '');
  if (!arn) return undefined;
  const host = { aws: 'console.aws.amazon.com', 'aws-cn': 'console.amazonaws.cn', 'aws-us-gov': 'console.amazonaws-us-gov.com' }[arn[1]];
  return `https://${host}/cloudwatch/home?region=${arn[2]}#alarmsV2:alarm/${encodeURIComponent(arn[3])}`;
}

const STATE_EMOJI: Record<PipelineAlarm['state'], string> = {
  ALARM: ':rotating_light:',
  OK: ':large_green_circle:',
  INSUFFICIENT_DATA: ':grey_question:',
};

/** Slack payload: alarm name and state as the header, the description, the reason, runbook and console links. */
export function alarmSlackPayload(a: PipelineAlarm): SlackPayload {
  const title = `${a.state === 'ALARM' ? `[${a.severity.toUpperCase()}] ` : ''}${a.name} is ${a.state}`;
  const links = [
    a.runbook ? `runbook: ${slackEscape(a.runbook)}` : null,
    alarmConsoleUrl(a) ? `<${alarmConsoleUrl(a)}|alarm in the console>` : null,
  ]
    .filter(Boolean)
    .join(' · ');
  return {
    text: title,
    blocks: [
      { type: 'header', text: { type: 'plain_text', text: `${STATE_EMOJI[a.state]} ${title}`.slice(0, 150), emoji: true } },
      {
        type: 'section',
        text: { type: 'mrkdwn', text: slackEscape([a.description, `Reason: ${a.reason}`].filter(Boolean).join('\n')).slice(0, 3000) },
      },
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `${slackEscape(`${a.previousState || '?'} → ${a.state} at ${a.at}`)}${links ? ` · ${links}` : ''}` },
        ],
      },
    ],
  };
}

/**
 * PagerDuty event: trigger on ALARM (at or above minSeverity), resolve on OK (always: resolving an
 * incident never opened is a no-op), nothing on INSUFFICIENT_DATA. One incident per alarm.
 */
export function alarmPagerDutyEvent(a: PipelineAlarm, routingKey: string, minSeverity: AlertSeverity): PagerDutyEvent | null {
  const dedup_key = `gpu-maint/alarm/${a.arn ?? a.name}`.slice(0, 255);
  if (a.state === 'OK') return { routing_key: routingKey, event_action: 'resolve', dedup_key };
  if (a.state !== 'ALARM') return null;
  if (minSeverity === 'critical' && a.severity !== 'critical') return null;
  const console = alarmConsoleUrl(a);
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key,
    payload: {
      summary: `[${a.severity.toUpperCase()}] ${a.name}: ${a.reason}`.replace(/\s+/g, ' ').slice(0, 1024),
      source: 'gpu-maint pipeline',
      severity: a.severity,
      timestamp: a.at,
      component: 'pipeline',
      group: 'gpu-maint',
      class: 'cloudwatch-alarm',
      custom_details: { alarm: a.name, description: a.description, reason: a.reason, ...(a.runbook ? { runbook: a.runbook } : {}) },
    },
    ...(console ? { links: [{ href: console, text: `CloudWatch alarm ${a.name}` }] } : {}),
  };
}
