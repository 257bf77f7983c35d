import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../lambda/config/schema';
import { ALERT_ENV, parseAlertSettings } from '../../lambda/core/alerts/settings';
import { AlertForwarder } from '../../lib/constructs/alert-forwarder';
import { AlertStaleSweep } from '../../lib/constructs/alert-stale-sweep';
import { AlertStateTable } from '../../lib/constructs/alert-state-table';
import { AlertSubscriptions } from '../../lib/constructs/alert-subscriptions';
import { AlertTopic } from '../../lib/constructs/alert-topic';
import { synthGpuMaintStack, TEST_ENV, testStack } from '../helpers/cdk';
import { settingsFor } from './helpers';

const SLACK_SECRET = 'gpu-maint/slack-webhook';
const PD_SECRET = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gpu-maint/pagerduty-AbC123';

const newStack = (): Stack => testStack('Alerts', { env: TEST_ENV });

let template: Template;
let json: string;
const settings = settingsFor({ staleAfterMinutes: 30 });

beforeAll(() => {
  const stack = newStack();
  const alerts = new AlertTopic(stack, 'Alerts', {
    emails: [
      { address: 'oncall@example.com', minSeverity: 'critical' },
      { address: 'team@example.com', minSeverity: 'warning' },
    ],
  });
  const { topic, pipelineTopic } = alerts;
  const table = new AlertStateTable(stack, 'AlertState');
  const subscriptions = new AlertSubscriptions(stack, 'Subscriptions', {
    topic,
    pipelineTopic,
    chatbot: { workspaceId: 'T012AB3CD', channelId: 'C045EF6GH' },
  });
  new AlertForwarder(stack, 'Forwarder', { topic, pipelineTopic, slackWebhookSecret: SLACK_SECRET, pagerDutyRoutingKeySecret: PD_SECRET });
  new AlertStaleSweep(stack, 'Sweep', { table, topic, alarmTopic: pipelineTopic, settings, chatbotTopic: subscriptions.chatbotTopic });
  const collector = new lambda.Function(stack, 'Collector', {
    runtime: lambda.Runtime.NODEJS_22_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => {}'),
  });
  table.bindCollector(collector, { topic, settings, chatbotTopic: subscriptions.chatbotTopic });
  template = Template.fromStack(stack);
  json = JSON.stringify(template.toJSON());
});

describe('AlertStateTable', () => {
  test('is on-demand with TTL, point-in-time recovery and the sparse hosts index', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      KeySchema: [
        { AttributeName: 'host', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      GlobalSecondaryIndexes: [
        { IndexName: 'hosts', Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['lastGpuCheckAt', 'withheld'] } },
      ],
    });
  });

  test('names itself in the stack output gpu-maint silence --stack reads', () => {
    template.hasOutput('AlertStateTableName', { Value: { Ref: Match.stringLikeRegexp('AlertStateTable') } });
  });

  test('bindCollector passes the settings, the table and the topics by name in the environment', () => {
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { Code: { ZipFile: Match.anyValue() } } }));
    const env = fn.Properties.Environment.Variables as Record<string, unknown>;
    expect(parseAlertSettings(env[ALERT_ENV.settings] as string)).toEqual(settings);
    expect(Object.keys(env).sort()).toEqual([ALERT_ENV.chatbotTopicArn, ALERT_ENV.settings, ALERT_ENV.table, ALERT_ENV.topicArn].sort());
  });

  test('bindCollector grants ec2:DescribeTags for the silence tag', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'ec2:DescribeTags', Resource: '*' })]) },
    });
  });

  test('bindCollector rejects settings that are not alert settings, quoting them', () => {
    const stack = newStack();
    const table = new AlertStateTable(stack, 'T');
    const fn = new lambda.Function(stack, 'F', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('x'),
    });
    expect(() =>
      table.bindCollector(fn, { topic: new sns.Topic(stack, 'Topic'), settings: { ...settings, staleAfterMinutes: 0 } }),
    ).toThrow(/invalid alert settings .*"staleAfterMinutes":0.*staleAfterMinutes/);
  });
});

describe('AlertForwarder', () => {
  test('its environment holds the secret names, and no secret value is in the template', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: {
          [ALERT_ENV.slackWebhookSecret]: SLACK_SECRET,
          [ALERT_ENV.pagerDutyRoutingKeySecret]: PD_SECRET,
          [ALERT_ENV.pagerDutyMinSeverity]: 'critical',
        },
      },
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
    });
    expect(json).not.toMatch(/hooks\.slack\.com|events\.pagerduty\.com/);
  });

  test('may read exactly its two secrets', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'],
            Resource: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(':secret:gpu-maint/slack-webhook-\\?\\?\\?\\?\\?\\?')])] },
          }),
          Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: PD_SECRET }),
        ]),
      },
    });
  });

  test('gets notifications only (filter on status) through a queue, raw, with a dead-letter queue', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'sqs',
      RawMessageDelivery: true,
      FilterPolicy: { status: ['firing', 'resolved'] },
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue() },
    });
  });

  test('reads the notification queue in batches gathered for 20 s, at most two at a time, reporting failed items', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 1000,
      MaximumBatchingWindowInSeconds: 20,
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('is subscribed to the pipeline topic without a filter (alarm messages carry no attributes)', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'lambda',
      TopicArn: { Ref: Match.stringLikeRegexp('AlertsPipelineTopic') },
      FilterPolicy: Match.absent(),
      RedrivePolicy: { deadLetterTargetArn: Match.anyValue() },
    });
  });

  test('alarms on errors and dead letters, with actions and missing data not breaching', () => {
    for (const description of ['failed to post to Slack/PagerDuty', 'were not forwarded']) {
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmDescription: Match.stringLikeRegexp(description),
        TreatMissingData: 'notBreaching',
        AlarmActions: [Match.anyValue()],
      });
    }
  });

  test.each([
    ['no destination', {}, /give slackWebhookSecret and\/or pagerDutyRoutingKeySecret \(got neither\)/],
    [
      'a webhook URL instead of a secret name',
      { slackWebhookSecret: 'https://hooks.slack.com/services/T/B/X' },
      /slackWebhookSecret must be a Secrets Manager secret name or ARN .* got "https:\/\/hooks\.slack\.com\/…"$/,
    ],
  ])('rejects %s', (_name, props, error) => {
    const stack = newStack();
    expect(() => new AlertForwarder(stack, 'F', { topic: new sns.Topic(stack, 'T'), ...props })).toThrow(error);
  });
});

describe('AlertTopic', () => {
  test('a critical-only email filters host alerts on severity critical; a warning one gets every host alert', () => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: Match.stringLikeRegexp('AlertsTopic') },
      FilterPolicy: { severity: ['critical'] },
    });
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'team@example.com',
      TopicArn: { Ref: Match.stringLikeRegexp('AlertsTopic') },
      FilterPolicy: Match.absent(),
    });
  });

  test.each(['oncall@example.com', 'team@example.com'])('%s gets every pipeline alarm (unfiltered subscription)', (address) => {
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: address,
      TopicArn: { Ref: Match.stringLikeRegexp('AlertsPipelineTopic') },
      FilterPolicy: Match.absent(),
    });
  });

  test("CloudWatch may publish to the pipeline topic, for this account's alarms only", () => {
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [{ Ref: Match.stringLikeRegexp('AlertsPipelineTopic') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: {
              ArnLike: {
                'aws:SourceArn': { 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':cloudwatch:eu-west-1:123456789012:alarm:*']] },
              },
              StringEquals: { 'aws:SourceAccount': '123456789012' },
            },
          }),
        ]),
      },
    });
  });

  test('rejects a duplicate email', () => {
    const stack = newStack();
    expect(
      () =>
        new AlertTopic(stack, 'T', {
          emails: [
            { address: 'a@example.com', minSeverity: 'warning' },
            { address: 'A@example.com', minSeverity: 'critical' },
          ],
        }),
    ).toThrow(/"A@example.com" is listed twice/);
  });
});

describe('AlertSubscriptions', () => {
  test('AWS Chatbot gets its own topic and the pipeline topic, with a notifications-only guardrail', () => {
    template.hasResourceProperties('AWS::Chatbot::SlackChannelConfiguration', {
      SlackWorkspaceId: 'T012AB3CD',
      SlackChannelId: 'C045EF6GH',
      SnsTopicArns: [{ Ref: Match.stringLikeRegexp('SubscriptionsChatbotTopic') }, { Ref: Match.stringLikeRegexp('AlertsPipelineTopic') }],
      GuardrailPolicies: [{ 'Fn::Join': ['', Match.arrayWith([':iam::aws:policy/AWSDenyAll'])] }],
    });
  });

  test('rejects a bad Slack id', () => {
    const stack = newStack();
    expect(
      () =>
        new AlertSubscriptions(stack, 'S', {
          topic: new sns.Topic(stack, 'T'),
          chatbot: { workspaceId: 'my-workspace', channelId: 'C045EF6GH' },
        }),
    ).toThrow(/chatbot.workspaceId "my-workspace" is not a Slack id/);
  });
});

describe('AlertStaleSweep', () => {
  test('runs the sweep on alerts.sweepIntervalMinutes through EventBridge Scheduler', () => {
    template.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: `rate(${settings.sweepIntervalMinutes} minutes)`,
      Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('SweepHandlerFunction'), 'Arn'] } },
    });
  });

  test('reserves no concurrency (a new account cannot spare any) and has the alert settings bound', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: Match.absent(),
      Environment: { Variables: Match.objectLike({ [ALERT_ENV.settings]: JSON.stringify(settings) }) },
    });
    expect(json).not.toContain('ReservedConcurrentExecutions');
  });

  test('its errors alarm with an action', () => {
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmDescription: Match.stringLikeRegexp('stale-host sweep failing'),
      AlarmActions: [Match.anyValue()],
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('GpuMaintStack wiring from config alerts.*', () => {
  let stackTemplate: Template;
  beforeAll(() => {
    const config: ConfigInput = {
      alerts: {
        slack: { webhookSecret: SLACK_SECRET, chatbot: { workspaceId: 'T012AB3CD', channelId: 'C045EF6GH' } },
        pagerDuty: { routingKeySecret: PD_SECRET, minSeverity: 'warning' },
        repeatIntervalHours: { critical: 2 },
      },
    };
    stackTemplate = synthGpuMaintStack(config, { id: 'Wired', env: TEST_ENV }).template;
  });

  test('the collector runs the alert policy with the configured settings', () => {
    const collector = Object.values(stackTemplate.findResources('AWS::Lambda::Function')).find(
      (f) => f.Properties.Environment?.Variables?.GPU_MAINT_COLLECT,
    );
    const env = collector?.Properties.Environment.Variables as Record<string, unknown>;
    expect(parseAlertSettings(env[ALERT_ENV.settings] as string).repeatIntervalHours).toEqual({ critical: 2, warning: 24 });
    expect(env[ALERT_ENV.table]).toEqual({ Ref: expect.stringMatching(/^AlertStateTable/) });
    expect(env[ALERT_ENV.chatbotTopicArn]).toEqual({ Ref: expect.stringMatching(/^AlertRoutingChatbotTopic/) });
  });

  test('Slack, PagerDuty and Chatbot settings add the forwarder and the Chatbot channel', () => {
    stackTemplate.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({ [ALERT_ENV.slackWebhookSecret]: SLACK_SECRET, [ALERT_ENV.pagerDutyMinSeverity]: 'warning' }),
      },
    });
    stackTemplate.resourceCountIs('AWS::Chatbot::SlackChannelConfiguration', 1);
    stackTemplate.hasResourceProperties('AWS::Scheduler::Schedule', {
      ScheduleExpression: 'rate(5 minutes)',
      Target: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AlertSweepHandler'), 'Arn'] } },
    });
    stackTemplate.hasOutput('AlertStateTableName', {});
  });
});
