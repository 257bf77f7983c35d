/** The forwarder renders CloudWatch alarm notifications (the pipeline topic) for Slack and PagerDuty. */
import { describe, expect, test } from 'vitest';
import { type ForwardDestinations, forwardMessage, parseForwardedMessage } from '../../lambda/core/alerts/forward';
import { alarmPagerDutyEvent, alarmSlackPayload, parsePipelineAlarm } from '../../lambda/core/alerts/pipeline-alarm';
import type { PagerDutyEvent, SlackPayload } from '../../lambda/core/alerts/render';

/** The JSON CloudWatch publishes to SNS on a state change (fields as in AWS's documented example). */
function alarmMessage(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    AlarmName: 'GpuMaint-no-gpu-check-results',
    AlarmDescription: '[CRITICAL] No gpu-check results for 20 minutes. Runbook: docs/troubleshooting.md#no-results-on-the-dashboard',
    AWSAccountId: '123456789012',
    AlarmConfigurationUpdatedTimestamp: '2026-01-01T00:00:00.000+0000',
    NewStateValue: 'ALARM',
    NewStateReason: 'Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [Breaching].',
    StateChangeTime: '2026-01-02T03:04:05.678+0000',
    Region: 'EU (Ireland)',
    AlarmArn: 'arn:aws:cloudwatch:eu-west-1:123456789012:alarm:GpuMaint-no-gpu-check-results',
    OldStateValue: 'OK',
    OKActions: [],
    AlarmActions: [],
    InsufficientDataActions: [],
    Trigger: { MetricName: 'ResultsReported', Namespace: 'GpuMaint', Statistic: 'SUM', Period: 1200 },
    ...over,
  };
}

const ROUTING_KEY = 'abcdef0123456789abcdef0123456789';

describe('parseForwardedMessage', () => {
  test('a CloudWatch alarm notification is an alarm with severity and runbook from its description', () => {
    const m = parseForwardedMessage(JSON.stringify(alarmMessage()));
    expect(m).toMatchObject({
      kind: 'alarm',
      alarm: {
        name: 'GpuMaint-no-gpu-check-results',
        state: 'ALARM',
        severity: 'critical',
        runbook: 'docs/troubleshooting.md#no-results-on-the-dashboard',
      },
    });
  });

  test('an EventBridge text is a text', () => {
    expect(parseForwardedMessage('[CRITICAL] i-0abc logrotate.config: rejected')).toEqual({
      kind: 'text',
      text: '[CRITICAL] i-0abc logrotate.config: rejected',
    });
  });

  test('a message claiming the notification schema must be a valid notification', () => {
    expect(() => parseForwardedMessage(JSON.stringify({ schema: 'gpu-maint.alert/v1', host: 'x' }))).toThrow(
      /is not a gpu-maint.alert\/v1 notification/,
    );
  });

  test.each([
    ['schedule-target-errors-warning', 'EventBridge Scheduler failed', 'warning'],
    ['results-dlq-not-empty', '[WARNING] results wait', 'warning'],
    ['forwarder-errors', 'no severity anywhere', 'critical'],
  ])('alarm %s with description %j is %s', (name, description, severity) => {
    expect(parsePipelineAlarm(alarmMessage({ AlarmName: name, AlarmDescription: description }))?.severity).toBe(severity);
  });
});

describe('alarmSlackPayload', () => {
  test('names the alarm and its state, quotes the reason and links the runbook and the console', () => {
    const payload = alarmSlackPayload(parsePipelineAlarm(alarmMessage())!);
    expect(payload.text).toBe('[CRITICAL] GpuMaint-no-gpu-check-results is ALARM');
    const text = JSON.stringify(payload.blocks);
    expect(text).toContain('Reason: Threshold Crossed');
    expect(text).toContain('runbook: docs/troubleshooting.md#no-results-on-the-dashboard');
    expect(text).toContain('https://console.aws.amazon.com/cloudwatch/home?region=eu-west-1#alarmsV2:alarm/GpuMaint-no-gpu-check-results');
  });

  test('links the console of the partition the alarm lives in', () => {
    const alarm = parsePipelineAlarm(alarmMessage({ AlarmArn: 'arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:x' }))!;
    expect(JSON.stringify(alarmSlackPayload(alarm).blocks)).toContain('https://console.amazonaws.cn/cloudwatch/home?region=cn-north-1');
  });
});

describe('alarmPagerDutyEvent', () => {
  test('ALARM triggers one incident per alarm', () => {
    const event = alarmPagerDutyEvent(parsePipelineAlarm(alarmMessage())!, ROUTING_KEY, 'critical');
    expect(event).toMatchObject({
      event_action: 'trigger',
      dedup_key: 'gpu-maint/alarm/arn:aws:cloudwatch:eu-west-1:123456789012:alarm:GpuMaint-no-gpu-check-results',
      payload: { severity: 'critical', summary: expect.stringMatching(/^\[CRITICAL\] GpuMaint-no-gpu-check-results: Threshold Crossed/) },
    });
  });

  test('OK resolves the same incident', () => {
    const event = alarmPagerDutyEvent(
      parsePipelineAlarm(alarmMessage({ NewStateValue: 'OK', OldStateValue: 'ALARM' }))!,
      ROUTING_KEY,
      'critical',
    );
    expect(event).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: 'gpu-maint/alarm/arn:aws:cloudwatch:eu-west-1:123456789012:alarm:GpuMaint-no-gpu-check-results',
    });
  });

  test.each([
    ['INSUFFICIENT_DATA', {}, 'critical'],
    ['ALARM', { AlarmDescription: '[WARNING] x' }, 'critical'],
  ] as const)('%s %j below minSeverity %s sends nothing', (state, over, min) => {
    expect(alarmPagerDutyEvent(parsePipelineAlarm(alarmMessage({ NewStateValue: state, ...over }))!, ROUTING_KEY, min)).toBeNull();
  });
});

describe('forwardMessage', () => {
  function destinations() {
    const slack: SlackPayload[] = [];
    const pagerDuty: PagerDutyEvent[] = [];
    const d: ForwardDestinations = {
      slack: { post: async (p) => void slack.push(p) },
      pagerDuty: { minSeverity: 'critical', routingKey: async () => ROUTING_KEY, send: async (e) => void pagerDuty.push(e) },
    };
    return { d, slack, pagerDuty };
  }

  test('an alarm goes to Slack and PagerDuty', async () => {
    const { d, slack, pagerDuty } = destinations();
    expect(await forwardMessage(parseForwardedMessage(JSON.stringify(alarmMessage())), d)).toEqual({ slack: true, pagerDutyEvents: 1 });
    expect(slack[0].text).toBe('[CRITICAL] GpuMaint-no-gpu-check-results is ALARM');
    expect(pagerDuty[0].event_action).toBe('trigger');
  });

  test('a text goes to Slack only (nothing could resolve a PagerDuty incident)', async () => {
    const { d, slack, pagerDuty } = destinations();
    expect(await forwardMessage(parseForwardedMessage('[CRITICAL] i-0abc logrotate.config: rejected'), d)).toEqual({
      slack: true,
      pagerDutyEvents: 0,
    });
    expect(slack[0].text).toBe('[CRITICAL] i-0abc logrotate.config: rejected');
    expect(pagerDuty).toEqual([]);
  });

  test('a failed post fails the forward, naming the alarm', async () => {
    const { d } = destinations();
    const failing: ForwardDestinations = { ...d, slack: { post: async () => Promise.reject(new Error('HTTP 500')) } };
    await expect(forwardMessage(parseForwardedMessage(JSON.stringify(alarmMessage())), failing)).rejects.toThrow(
      'forwarding alarm GpuMaint-no-gpu-check-results ALARM failed: Slack: HTTP 500',
    );
  });
});
