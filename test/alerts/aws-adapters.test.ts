import { DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import {
  CachedSecret,
  PagerDutyEvents,
  pagerDutyRoutingKey,
  SlackWebhook,
  slackWebhookUrl,
} from '../../lambda/adapters/aws/alert-destinations';
import { Ec2InstanceSilences } from '../../lambda/adapters/aws/instance-silences-ec2';
import { SnsNotifier } from '../../lambda/adapters/aws/sns-notifier';
import { forwardNotification } from '../../lambda/core/alerts/forward';
import type { Notification } from '../../lambda/core/alerts/model';
import { ALERT_ENV } from '../../lambda/core/alerts/settings';
import { FakeAlertTable } from './fake-dynamodb';
import { at, date, settingsFor } from './helpers';

const sns = mockClient(SNSClient);
const ec2 = mockClient(EC2Client);
const secrets = mockClient(SecretsManagerClient);
afterEach(() => {
  sns.reset();
  ec2.reset();
  secrets.reset();
  vi.unstubAllGlobals();
});

const notification = (over: Partial<Notification> = {}): Notification => ({
  id: 'i-0abc/3',
  at: at(0),
  fleet: 'prod',
  host: 'i-0abc',
  status: 'firing',
  severity: 'critical',
  tasks: ['gpu-check'],
  alerts: [
    {
      change: 'firing',
      check: 'gpu.xid',
      gpu: 5,
      task: 'gpu-check',
      severity: 'critical',
      message: 'Xid 79 GPU 5 fell off the bus',
      since: at(0),
      runbook: 'docs/runbook.md#gpu.xid',
    },
  ],
  stillFiring: [{ check: 'gpu.xid', gpu: 5, severity: 'critical' }],
  ...over,
});

describe('SnsNotifier', () => {
  test('publishes MessageStructure json with the message attributes', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    await new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:aws:sns:eu-west-1:123456789012:alerts').send(notification());
    expect(sns).toHaveReceivedCommandTimes(PublishCommand, 1);
    const input = sns.commandCalls(PublishCommand)[0].args[0].input;
    expect(input).toMatchObject({
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:alerts',
      MessageStructure: 'json',
      Subject: '[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus',
    });
    expect(input.MessageAttributes?.severity).toEqual({ DataType: 'String', StringValue: 'critical' });
  });

  test('with a Chatbot topic, also publishes the custom notification schema there', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm1' });
    await new SnsNotifier(new SNSClient({ region: 'eu-west-1' }), 'arn:main', { chatbotTopicArn: 'arn:chatbot' }).send(notification());
    const [chatbot, main] = sns.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(chatbot.TopicArn).toBe('arn:chatbot');
    expect(JSON.parse(chatbot.Message as string)).toMatchObject({ version: '1.0', source: 'custom' });
    expect(main.TopicArn).toBe('arn:main');
  });
});

describe('Ec2InstanceSilences', () => {
  const source = () => new Ec2InstanceSilences(new EC2Client({ region: 'eu-west-1' }), { log: { warn: (m) => warnings.push(m) } });
  let warnings: string[];
  beforeEach(() => {
    warnings = [];
  });

  test('a future gpu-maint:silence-until tag silences the instance until then', async () => {
    ec2.on(DescribeTagsCommand).resolves({ Tags: [{ Key: 'gpu-maint:silence-until', Value: at(120), ResourceId: 'i-0abc1234' }] });
    expect(await source().activeSilences('i-0abc1234', date(0))).toEqual([
      { host: 'i-0abc1234', until: at(120), reason: 'instance tag gpu-maint:silence-until', source: 'tag' },
    ]);
    expect(ec2.commandCalls(DescribeTagsCommand)[0].args[0].input.Filters).toEqual([
      { Name: 'key', Values: ['gpu-maint:silence-until'] },
      { Name: 'resource-type', Values: ['instance'] },
    ]);
  });

  test.each([
    ['a past time', at(-1), []],
    ['no tag', undefined, []],
  ])('%s does not silence', async (_name, value, expected) => {
    ec2
      .on(DescribeTagsCommand)
      .resolves({ Tags: value ? [{ Key: 'gpu-maint:silence-until', Value: value, ResourceId: 'i-0abc1234' }] : [] });
    expect(await source().activeSilences('i-0abc1234', date(0))).toEqual(expected);
  });

  test('a value that is not a time is logged and ignored', async () => {
    ec2.on(DescribeTagsCommand).resolves({ Tags: [{ Key: 'gpu-maint:silence-until', Value: 'tomorrow', ResourceId: 'i-0abc1234' }] });
    expect(await source().activeSilences('i-0abc1234', date(0))).toEqual([]);
    expect(warnings[0]).toContain('tag gpu-maint:silence-until="tomorrow" on i-0abc1234: expected an ISO-8601 time');
  });

  test('a DescribeTags failure is logged and alerting goes on', async () => {
    ec2.on(DescribeTagsCommand).rejects(new Error('UnauthorizedOperation'));
    expect(await source().activeSilences('i-0abc1234', date(0))).toEqual([]);
    expect(warnings[0]).toContain('cannot read tag gpu-maint:silence-until; treating every instance as not silenced');
  });

  test('one paged DescribeTags call serves every host of a batch', async () => {
    ec2
      .on(DescribeTagsCommand)
      .resolvesOnce({ Tags: [{ Key: 'gpu-maint:silence-until', Value: at(120), ResourceId: 'i-0aaa1111' }], NextToken: 't' })
      .resolvesOnce({ Tags: [{ Key: 'gpu-maint:silence-until', Value: at(120), ResourceId: 'i-0bbb2222' }] });
    const s = source();
    const hosts = ['i-0aaa1111', 'i-0bbb2222', 'i-0ccc3333'];
    const silenced = await Promise.all(hosts.map((h) => s.activeSilences(h, date(0))));
    expect(silenced.map((l) => l.length)).toEqual([1, 1, 0]);
    expect(ec2).toHaveReceivedCommandTimes(DescribeTagsCommand, 2);
  });

  test('a failed refresh keeps the last snapshot', async () => {
    ec2
      .on(DescribeTagsCommand)
      .resolvesOnce({ Tags: [{ Key: 'gpu-maint:silence-until', Value: at(120), ResourceId: 'i-0abc1234' }] })
      .rejects(new Error('RequestLimitExceeded'));
    const s = source();
    await s.activeSilences('i-0abc1234', date(0));
    expect(await s.activeSilences('i-0abc1234', new Date(date(0).getTime() + 61_000))).toHaveLength(1);
    expect(warnings[0]).toContain('using the last snapshot');
  });

  test('hybrid (mi-) hosts are not looked up, and tags are cached for a minute', async () => {
    ec2.on(DescribeTagsCommand).resolves({ Tags: [] });
    const s = source();
    await s.activeSilences('mi-0abc1234', date(0));
    await s.activeSilences('i-0abc1234', date(0));
    await s.activeSilences('i-0abc1234', new Date(date(0).getTime() + 30_000));
    expect(ec2).toHaveReceivedCommandTimes(DescribeTagsCommand, 1);
  });
});

describe('forwarder destinations', () => {
  test.each([
    ['a plain URL', 'https://hooks.slack.com/services/T0/B0/xyz', 'https://hooks.slack.com/services/T0/B0/xyz'],
    ['JSON with url', '{"url": "https://hooks.slack.com/services/T0/B0/xyz"}', 'https://hooks.slack.com/services/T0/B0/xyz'],
  ])('a Slack secret holding %s gives the URL', (_name, raw, url) => {
    expect(slackWebhookUrl(raw, 'slack')).toBe(url);
  });

  test('a Slack secret that is not an https URL is an error that does not show the value', () => {
    expect(() => slackWebhookUrl('http://hooks.slack.com/services/secret-part', 'gpu/slack')).toThrow(
      /^secret gpu\/slack: expected an https webhook URL/,
    );
    expect(() => slackWebhookUrl('http://hooks.slack.com/services/secret-part', 'gpu/slack')).not.toThrow(/secret-part/);
  });

  test.each([
    ['plain', 'abcdef0123456789abcdef0123456789'],
    ['JSON', '{"routingKey": "abcdef0123456789abcdef0123456789"}'],
  ])('a PagerDuty secret (%s) gives the routing key', (_name, raw) => {
    expect(pagerDutyRoutingKey(raw, 'pd')).toBe('abcdef0123456789abcdef0123456789');
  });

  test('secrets are read once and cached', async () => {
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'https://hooks.slack.com/services/T0/B0/xyz' });
    const posted: string[] = [];
    const fakeFetch = (async (url: string | URL | Request) => {
      posted.push(String(url));
      return new Response('ok');
    }) as typeof fetch;
    const slack = new SlackWebhook(new CachedSecret(new SecretsManagerClient({ region: 'eu-west-1' }), 'gpu/slack'), fakeFetch);
    await forwardNotification(notification(), { slack });
    await forwardNotification(notification(), { slack });
    expect(posted).toEqual(['https://hooks.slack.com/services/T0/B0/xyz', 'https://hooks.slack.com/services/T0/B0/xyz']);
    expect(secrets).toHaveReceivedCommandTimes(GetSecretValueCommand, 1);
    expect(secrets).toHaveReceivedCommandWith(GetSecretValueCommand, { SecretId: 'gpu/slack' });
  });

  test('PagerDuty gets the Events API v2 payload, and a failed post fails the forward after trying Slack', async () => {
    secrets.on(GetSecretValueCommand, { SecretId: 'pd' }).resolves({ SecretString: 'abcdef0123456789abcdef0123456789' });
    secrets.on(GetSecretValueCommand, { SecretId: 'slack' }).resolves({ SecretString: 'https://hooks.slack.com/services/T0/B0/xyz' });
    const calls: { url: string; body: Record<string, unknown> }[] = [];
    const fakeFetch = (async (url: string | URL | Request, init?: RequestInit) => {
      calls.push({ url: String(url), body: JSON.parse(String(init?.body)) });
      return String(url).includes('pagerduty') ? new Response('{"status":"invalid event"}', { status: 400 }) : new Response('ok');
    }) as typeof fetch;
    const client = new SecretsManagerClient({ region: 'eu-west-1' });
    const destinations = {
      slack: new SlackWebhook(new CachedSecret(client, 'slack'), fakeFetch),
      pagerDuty: new PagerDutyEvents(new CachedSecret(client, 'pd'), 'critical', fakeFetch),
    };
    await expect(forwardNotification(notification(), destinations)).rejects.toThrow(
      'forwarding i-0abc/3 failed: PagerDuty: PagerDuty trigger gpu-maint/prod/i-0abc/gpu.xid: HTTP 400 {"status":"invalid event"}',
    );
    expect(calls.map((c) => c.url)).toEqual(['https://hooks.slack.com/services/T0/B0/xyz', 'https://events.pagerduty.com/v2/enqueue']);
    expect(calls[1].body).toMatchObject({
      routing_key: 'abcdef0123456789abcdef0123456789',
      event_action: 'trigger',
      dedup_key: 'gpu-maint/prod/i-0abc/gpu.xid',
    });
  });
});

describe('Lambda handlers', () => {
  test('the forwarder reads the secret names from its environment and posts each SNS record', async () => {
    vi.resetModules();
    vi.stubEnv(ALERT_ENV.slackWebhookSecret, 'gpu-maint/slack');
    vi.stubEnv(ALERT_ENV.pagerDutyRoutingKeySecret, '');
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'https://hooks.slack.com/services/T0/B0/xyz' });
    const posted: unknown[] = [];
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      posted.push(JSON.parse(String(init.body)));
      return new Response('ok');
    });
    const { handler } = await import('../../lambda/handlers/alert-forwarder.js');
    const message = JSON.stringify({ schema: 'gpu-maint.alert/v1', ...notification() });
    await handler({ Records: [{ Sns: { MessageId: 'm-1', Message: message } }] });
    expect(posted).toHaveLength(1);
    expect((posted[0] as { text: string }).text).toBe('[CRITICAL] i-0abc gpu.xid: Xid 79 GPU 5 fell off the bus');
    vi.unstubAllEnvs();
  });

  test('the forwarder digests a queue batch of many notifications into one Slack post', async () => {
    vi.resetModules();
    vi.stubEnv(ALERT_ENV.slackWebhookSecret, 'gpu-maint/slack');
    vi.stubEnv(ALERT_ENV.pagerDutyRoutingKeySecret, '');
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'https://hooks.slack.com/services/T0/B0/xyz' });
    const posted: { text: string }[] = [];
    vi.stubGlobal('fetch', async (_url: string, init: RequestInit) => {
      posted.push(JSON.parse(String(init.body)));
      return new Response('ok');
    });
    const { handler } = await import('../../lambda/handlers/alert-forwarder.js');
    const Records = Array.from({ length: 40 }, (_, i) => ({
      eventSource: 'aws:sqs',
      messageId: `m-${i}`,
      body: JSON.stringify({ schema: 'gpu-maint.alert/v1', ...notification({ host: `i-${i}`, id: `i-${i}/1` }) }),
    }));
    expect(await handler({ Records })).toEqual({ batchItemFailures: [] });
    expect(posted.map((p) => p.text)).toEqual(['[CRITICAL] 1 check(s) firing across 40 hosts of fleet prod']);
    vi.unstubAllEnvs();
  });

  test('a queue batch whose Slack post failed is reported failed whole, an unreadable message alone', async () => {
    vi.resetModules();
    vi.stubEnv(ALERT_ENV.slackWebhookSecret, 'gpu-maint/slack');
    vi.stubEnv(ALERT_ENV.pagerDutyRoutingKeySecret, '');
    secrets.on(GetSecretValueCommand).resolves({ SecretString: 'https://hooks.slack.com/services/T0/B0/xyz' });
    vi.stubGlobal('fetch', async () => new Response('rate_limited', { status: 429 }));
    const { handler } = await import('../../lambda/handlers/alert-forwarder.js');
    const body = JSON.stringify({ schema: 'gpu-maint.alert/v1', ...notification() });
    const Records = [
      { eventSource: 'aws:sqs', messageId: 'm-1', body },
      { eventSource: 'aws:sqs', messageId: 'm-2', body: '{"schema":"gpu-maint.alert/v1"}' },
    ];
    expect(await handler({ Records })).toEqual({ batchItemFailures: [{ itemIdentifier: 'm-2' }, { itemIdentifier: 'm-1' }] });
    vi.unstubAllEnvs();
  });

  test('the forwarder rejects an event that is not from SNS', async () => {
    vi.resetModules();
    vi.stubEnv(ALERT_ENV.slackWebhookSecret, 'gpu-maint/slack');
    const { handler } = await import('../../lambda/handlers/alert-forwarder.js');
    await expect(handler({ detail: {} })).rejects.toThrow(/Records/);
    vi.unstubAllEnvs();
  });

  test('the sweep raises host.stale for a host whose gpu-check stopped and publishes it', async () => {
    const table = new FakeAlertTable();
    // The handler sweeps at the real "now" (new Date()): pin it, and the host's last result 30 min before.
    vi.useFakeTimers({ toFake: ['Date'], now: Date.parse('2026-11-28T12:00:00Z') });
    try {
      const settings = settingsFor();
      table.items.set('i-0abc|#host', {
        host: { S: 'i-0abc' },
        sk: { S: '#host' },
        kind: { S: 'host' },
        version: { N: '4' },
        lastSeen: { S: JSON.stringify({ 'gpu-check': '2026-11-28T11:30:00.000Z' }) },
        undelivered: { S: '[]' },
        lastGpuCheckAt: { S: '2026-11-28T11:30:00.000Z' },
      });
      sns.on(PublishCommand).resolves({ MessageId: 'm1' });
      ec2.on(DescribeTagsCommand).resolves({ Tags: [] });
      vi.resetModules();
      vi.stubEnv(ALERT_ENV.settings, JSON.stringify(settings));
      vi.stubEnv(ALERT_ENV.table, 'alerts');
      vi.stubEnv(ALERT_ENV.topicArn, 'arn:aws:sns:eu-west-1:123456789012:alerts');
      vi.stubEnv('AWS_REGION', 'eu-west-1');
      const { handler } = await import('../../lambda/handlers/alert-sweep.js');
      expect(await handler()).toEqual({ notifications: 1, deferred: 0, parked: 0 });
      expect(sns.commandCalls(PublishCommand)[0].args[0].input.Subject).toMatch(
        /^\[WARNING\] i-0abc host\.stale: no gpu-check result for 30 min/,
      );
      expect(table.items.get('i-0abc|#host')?.version.N).toBe('5');
    } finally {
      vi.useRealTimers();
      table.restore();
      vi.unstubAllEnvs();
    }
  });
});
