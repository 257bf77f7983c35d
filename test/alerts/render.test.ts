import { describe, expect, test } from 'vitest';
import { parseNotificationMessage } from '../../lambda/core/alerts/forward';
import type { AlertChange, Notification } from '../../lambda/core/alerts/model';
import {
  chatbotNotification,
  emailSubject,
  emailText,
  FLAPPING_NOTE,
  pagerDutyEvents,
  SNS_MAX_BYTES,
  slackPayload,
  snsPublishInput,
  terminalLines,
} from '../../lambda/core/alerts/render';

const change = (over: Partial<AlertChange> = {}): AlertChange => ({
  change: 'firing',
  check: 'gpu.xid',
  gpu: 5,
  task: 'gpu-check',
  severity: 'critical',
  message: 'Xid 79 GPU 5 fell off the bus',
  reading: 79,
  since: '2026-11-28T12:00:00.000Z',
  runbook: 'docs/runbook.md#gpu.xid',
  ...over,
});

const notification = (alerts: AlertChange[], over: Partial<Notification> = {}): Notification => ({
  id: 'i-0abc/7',
  at: '2026-11-28T12:00:00.000Z',
  fleet: 'prod',
  host: 'i-0abc',
  status: alerts.some((a) => a.change !== 'resolved') ? 'firing' : 'resolved',
  severity: 'critical',
  tasks: ['gpu-check'],
  alerts,
  stillFiring: alerts.filter((a) => a.change !== 'resolved').map((a) => ({ check: a.check, gpu: a.gpu, severity: a.severity })),
  ...over,
});

const temperature = change({
  check: 'gpu.temperature',
  gpu: 3,
  severity: 'warning',
  message: 'GPU 3 at 86 °C',
  reading: 86,
  threshold: 'warn ≥ 83, crit ≥ 90 °C',
  runbook: 'docs/runbook.md#gpu.temperature',
});

describe('email subject', () => {
  test.each([
    ['one firing alert', notification([change()]), '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus'],
    ['several alerts', notification([change(), temperature]), '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus (+1 more)'],
    [
      'all resolved',
      notification([{ ...temperature, change: 'resolved' }], { severity: 'warning' }),
      '[RESOLVED] i-0abc gpu.temperature: GPU 3 at 86 °C',
    ],
    [
      'a resolve grouped with a firing alert names the firing one',
      notification([{ ...temperature, change: 'resolved' }, change()]),
      '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus (+1 more)',
    ],
  ])('%s', (_name, n, subject) => {
    expect(emailSubject(n)).toBe(subject);
  });

  test('a long message is cut to a subject under 100 characters, on one line', () => {
    const subject = emailSubject(notification([change({ message: `${'x'.repeat(150)}\nsecond line` }), temperature]));
    expect(subject.length).toBeLessThanOrEqual(99);
    expect(subject).toMatch(/^\[CRITICAL\] i-0abc gpu\.xid: x+… \(\+1 more\)$/);
  });
});

describe('SNS message', () => {
  const input = snsPublishInput(notification([change(), temperature]), 'arn:aws:sns:eu-west-1:123456789012:alerts');
  const message = JSON.parse(input.Message) as Record<string, string>;

  test('is published with MessageStructure json and the subject', () => {
    expect(input).toMatchObject({
      MessageStructure: 'json',
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
      Subject: emailSubject(notification([change(), temperature])),
    });
  });

  test.each(['default', 'email'])('%s gets readable text with readings, thresholds and runbook links', (protocol) => {
    expect(message[protocol]).toContain('FIRING CRITICAL gpu.xid GPU 5');
    expect(message[protocol]).toContain('threshold: warn ≥ 83, crit ≥ 90 °C');
    expect(message[protocol]).toContain('runbook: docs/runbook.md#gpu.temperature');
    expect(message[protocol]).toContain('gpu-maint silence i-0abc --for 2h');
  });

  test.each(['lambda', 'https', 'http', 'sqs', 'email-json'])('%s gets the structured JSON', (protocol) => {
    expect(JSON.parse(message[protocol])).toMatchObject({
      schema: 'gpu-maint.alert/v1',
      host: 'i-0abc',
      status: 'firing',
      alerts: [{ check: 'gpu.xid' }, { check: 'gpu.temperature' }],
    });
  });

  test('the structured JSON parses back as the notification (what the forwarder reads)', () => {
    expect(parseNotificationMessage(message.lambda)).toEqual(notification([change(), temperature]));
  });

  test('message attributes carry severity, status, host, tasks and checks for filter policies', () => {
    expect(input.MessageAttributes).toEqual({
      severity: { DataType: 'String', StringValue: 'critical' },
      status: { DataType: 'String', StringValue: 'firing' },
      host: { DataType: 'String', StringValue: 'i-0abc' },
      task: { DataType: 'String.Array', StringValue: '["gpu-check"]' },
      check: { DataType: 'String.Array', StringValue: '["gpu.xid","gpu.temperature"]' },
    });
  });

  test('a resolved notification says status resolved', () => {
    const resolved = snsPublishInput(notification([{ ...change(), change: 'resolved' }]), 'arn:t');
    expect(resolved.MessageAttributes.status.StringValue).toBe('resolved');
    expect(JSON.parse(resolved.Message).email).toContain('RESOLVED CRITICAL gpu.xid GPU 5\n  was: Xid 79');
  });

  test('a notification too large for SNS keeps the first alerts and counts the rest', () => {
    const many = Array.from({ length: 400 }, (_, gpu) => change({ gpu, message: `Xid 79 GPU ${gpu} ${'detail '.repeat(100)}` }));
    const big = snsPublishInput(notification(many), 'arn:t');
    expect(new TextEncoder().encode(big.Message).length).toBeLessThan(SNS_MAX_BYTES);
    const structured = JSON.parse(JSON.parse(big.Message).lambda);
    expect(structured.alerts.length + structured.omittedAlerts).toBe(400);
    expect(JSON.parse(big.Message).email).toContain(`and ${structured.omittedAlerts} more alert(s) not shown`);
  });
});

describe('email text', () => {
  test('an escalation shows both severities', () => {
    expect(emailText(notification([change({ change: 'escalated', previousSeverity: 'warning' })]))).toContain(
      'ESCALATED WARNING → CRITICAL gpu.xid GPU 5',
    );
  });
});

describe('a flapping alert', () => {
  const flapping = notification([{ ...temperature, change: 'flapping' }], { severity: 'warning' });

  test('email text says FLAPPING and what follows', () => {
    const text = emailText(flapping);
    expect(text).toContain('FLAPPING WARNING gpu.temperature GPU 3');
    expect(text).toContain(FLAPPING_NOTE);
  });

  test('the terminal line says FLAPPING', () => {
    expect(terminalLines(flapping)[0]).toContain('[WARNING] i-0abc gpu.temperature GPU 3 FLAPPING: GPU 3 at 86 °C');
  });

  test('PagerDuty gets a trigger, and the forwarder accepts the message', () => {
    expect(pagerDutyEvents({ ...flapping, severity: 'warning' }, 'key', 'warning').map((e) => e.event_action)).toEqual(['trigger']);
    const message = JSON.parse(snsPublishInput(flapping, 'arn:t').Message).lambda;
    expect(parseNotificationMessage(message).alerts[0].change).toBe('flapping');
  });
});

describe('Slack payload', () => {
  const payload = slackPayload(
    notification([change({ runbook: 'https://github.com/acme/gpu/blob/main/docs/runbook.md#gpu.xid', message: 'a <b> & c' }), temperature]),
  );

  test('has a header with the subject and one section per alert', () => {
    expect(payload.text).toBe('[CRITICAL] i-0abc gpu.xid: a <b> & c (+1 more)');
    expect(payload.blocks[0]).toEqual({ type: 'header', text: { type: 'plain_text', text: payload.text, emoji: true } });
    expect(payload.blocks.filter((b) => b.type === 'section')).toHaveLength(2);
  });

  test('escapes mrkdwn, links web runbooks and shows relative ones as text', () => {
    const [xidSection, tempSection] = payload.blocks.filter((b) => b.type === 'section').map((b) => (b.text as { text: string }).text);
    expect(xidSection).toContain('a &lt;b&gt; &amp; c');
    expect(xidSection).toContain('<https://github.com/acme/gpu/blob/main/docs/runbook.md#gpu.xid|runbook>');
    expect(tempSection).toContain('runbook: docs/runbook.md#gpu.temperature');
    expect(tempSection).toContain('reading: 86 · threshold: warn ≥ 83, crit ≥ 90 °C');
  });

  test('stays within 50 blocks for a host with many alerts', () => {
    const many = slackPayload(notification(Array.from({ length: 80 }, (_, gpu) => change({ gpu }))));
    expect(many.blocks.length).toBeLessThanOrEqual(50);
    expect(JSON.stringify(many.blocks)).toContain('more alert(s)');
  });
});

describe('PagerDuty events', () => {
  test('a firing alert triggers with a dedup key per host and check', () => {
    const [event] = pagerDutyEvents(notification([change()]), 'R0UTINGKEY0123456789abcd', 'critical');
    expect(event).toMatchObject({
      routing_key: 'R0UTINGKEY0123456789abcd',
      event_action: 'trigger',
      dedup_key: 'gpu-maint/prod/i-0abc/gpu.xid',
      payload: {
        summary: '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus',
        source: 'i-0abc',
        severity: 'critical',
        component: 'gpu.xid',
        group: 'prod',
        class: 'gpu-check',
      },
    });
    expect(event.payload?.custom_details).toMatchObject({ runbook: 'docs/runbook.md#gpu.xid', alerts: [{ gpu: 5, reading: 79 }] });
  });

  test('two GPUs of one check fold into one trigger', () => {
    const events = pagerDutyEvents(notification([change(), change({ gpu: 6 })]), 'k'.repeat(32), 'critical');
    expect(events).toHaveLength(1);
    expect(events[0].payload?.custom_details.alerts).toHaveLength(2);
  });

  test('alerts below minSeverity do not trigger', () => {
    expect(pagerDutyEvents(notification([temperature], { severity: 'warning' }), 'k'.repeat(32), 'critical')).toEqual([]);
    expect(pagerDutyEvents(notification([temperature], { severity: 'warning' }), 'k'.repeat(32), 'warning')).toHaveLength(1);
  });

  test('a resolved check sends a resolve event with the same dedup key', () => {
    const events = pagerDutyEvents(notification([{ ...change(), change: 'resolved' }]), 'k'.repeat(32), 'critical');
    expect(events).toEqual([{ routing_key: 'k'.repeat(32), event_action: 'resolve', dedup_key: 'gpu-maint/prod/i-0abc/gpu.xid' }]);
  });

  test('no resolve while another GPU of the same check still fires', () => {
    const n = notification([{ ...change(), change: 'resolved' }], { stillFiring: [{ check: 'gpu.xid', gpu: 6, severity: 'critical' }] });
    expect(pagerDutyEvents(n, 'k'.repeat(32), 'critical')).toEqual([]);
  });

  test('a web runbook becomes a link', () => {
    const [event] = pagerDutyEvents(
      notification([change({ runbook: 'https://x.example/runbook.md#gpu.xid' })]),
      'k'.repeat(32),
      'critical',
    );
    expect(event.links).toEqual([{ href: 'https://x.example/runbook.md#gpu.xid', text: 'Runbook: gpu.xid' }]);
  });
});

describe('AWS Chatbot', () => {
  test('uses the custom notification schema', () => {
    const c = chatbotNotification(notification([change()]));
    expect(c).toMatchObject({
      version: '1.0',
      source: 'custom',
      content: { textType: 'client-markdown', title: '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus' },
      metadata: { threadId: 'gpu-maint/prod/i-0abc', relatedResources: ['i-0abc'] },
    });
    expect((c.content as { nextSteps: string[] }).nextSteps).toContain('Runbook: docs/runbook.md#gpu.xid');
  });
});

describe('parseNotificationMessage', () => {
  test.each([
    ['not JSON', 'hello', /not JSON/],
    ['a CloudWatch alarm', JSON.stringify({ AlarmName: 'x' }), /not a gpu-maint.alert\/v1 notification: schema/],
    [
      'an unknown check',
      JSON.stringify({ schema: 'gpu-maint.alert/v1', ...notification([change({ check: 'gpu.nope' as never })]) }),
      /alerts\.0\.check/,
    ],
  ])('rejects %s with a reason', (_name, message, error) => {
    expect(() => parseNotificationMessage(message)).toThrow(error);
  });
});
