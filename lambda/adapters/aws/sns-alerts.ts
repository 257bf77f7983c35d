/**
 * AlertSink for SNS: one message per result that has non-ok findings, grouping all of them, with
 * message attributes (severity, task, check, host, fleet) that subscription filter policies can match.
 * (State transitions, repeats and routing come with the alert-state table.)
 */
import { PublishCommand, type SNSClient } from '@aws-sdk/client-sns';
import type { AlertSink } from '../../core/ports';
import { type TaskResult, worstSeverity } from '../../core/types';

/** SNS takes 256 KB; the text is cut well before that. */
const MAX_MESSAGE_CHARS = 200_000;

export interface AlertMessage {
  readonly subject: string;
  readonly body: string;
  readonly attributes: Record<string, { DataType: 'String' | 'String.Array'; StringValue: string }>;
}

/** SNS subjects: ASCII, no line breaks, under 100 characters. */
function subjectText(text: string): string {
  const ascii = text.replace(/[^\x20-\x7e]/g, '?');
  return ascii.length > 99 ? `${ascii.slice(0, 96)}...` : ascii;
}

/** The alert for a result, or null when it has nothing to say (every finding ok). */
export function alertMessage(result: TaskResult, fleet: string): AlertMessage | null {
  const findings = result.findings.filter((f) => f.severity !== 'ok');
  if (findings.length === 0) return null;
  const severity = worstSeverity(findings.map((f) => f.severity));
  const checks = [...new Set(findings.map((f) => f.check))];
  const subject = subjectText(`[${severity.toUpperCase()}] ${result.task} on ${result.host}: ${checks.join(', ')}`);
  const lines = [
    `${result.task} on ${result.host} (fleet ${fleet})${result.at ? ` at ${result.at}` : ''}: ${result.status}`,
    '',
    ...findings.map((f) => {
      const extra = [
        f.reading !== undefined && f.reading !== null ? `reading ${f.reading}` : '',
        f.threshold ? `threshold ${f.threshold}` : '',
      ].filter(Boolean);
      return `${f.severity.toUpperCase()} ${f.check}${f.gpu !== undefined ? ` GPU ${f.gpu}` : ''}: ${f.message}${extra.length ? ` (${extra.join('; ')})` : ''}`;
    }),
  ];
  let body = lines.join('\n');
  if (body.length > MAX_MESSAGE_CHARS) body = `${body.slice(0, MAX_MESSAGE_CHARS)}\n... (cut; the collector's log has the full result)`;
  return {
    subject,
    body,
    attributes: {
      severity: { DataType: 'String', StringValue: severity },
      task: { DataType: 'String', StringValue: result.task },
      check: { DataType: 'String.Array', StringValue: JSON.stringify(checks) },
      host: { DataType: 'String', StringValue: result.host },
      fleet: { DataType: 'String', StringValue: fleet },
    },
  };
}

export class SnsAlertSink implements AlertSink {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
    private readonly fleet: string,
  ) {}

  async publish(result: TaskResult): Promise<void> {
    const message = alertMessage(result, this.fleet);
    if (!message) return;
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: message.subject,
        Message: message.body,
        MessageAttributes: message.attributes,
      }),
    );
  }
}
