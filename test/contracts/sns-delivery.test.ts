/**
 * Every subscription's filter policy against every publisher's message, as SNS evaluates them: pipeline
 * alarms reach every email subscriber and the forwarder; critical-only subscribers get critical host
 * alerts and no warnings.
 */
import type { CfnElement } from 'aws-cdk-lib';
import { beforeAll, describe, expect, test } from 'vitest';
import type { Notification } from '../../lambda/core/alerts/model';
import { snsPublishInput } from '../../lambda/core/alerts/render';
import { deliveryMismatches, type PublishedMessage, type Subscriber, subscribers } from './lib/sns-delivery';
import { type CfnTemplate, synthFullStack } from './lib/stack';

let template: CfnTemplate;
let topics: { alerts: string; pipeline: string };

beforeAll(() => {
  const { stack, template: t } = synthFullStack();
  template = t;
  topics = {
    alerts: stack.getLogicalId(stack.alerts.topic.node.defaultChild as CfnElement),
    pipeline: stack.getLogicalId(stack.alerts.pipelineTopic.node.defaultChild as CfnElement),
  };
});

function notification(severity: 'warning' | 'critical', status: 'firing' | 'resolved'): Notification {
  return {
    id: 'i-0abc/1',
    at: '2026-01-01T00:00:00.000Z',
    fleet: 'prod',
    host: 'i-0abc',
    status,
    severity,
    tasks: ['gpu-check'],
    alerts: [
      {
        change: status,
        check: 'gpu.temperature',
        gpu: 0,
        task: 'gpu-check',
        severity,
        message: 'GPU 0 at 90 °C',
        since: '2026-01-01T00:00:00.000Z',
        runbook: 'docs/runbook.md#gpu.temperature',
      },
    ],
    stillFiring: [],
  };
}

/** What each publisher sends: the collector and sweep (host alerts), CloudWatch alarms and EventBridge rules. */
function messages(): PublishedMessage[] {
  const host = (['warning', 'critical'] as const).flatMap((severity) =>
    (['firing', 'resolved'] as const).map((status) => ({
      name: `host alert ${severity} ${status}`,
      topic: topics.alerts,
      attributes: snsPublishInput(notification(severity, status), 'arn:topic').MessageAttributes,
      severity,
    })),
  );
  // CloudWatch alarm notifications and EventBridge rule targets publish without message attributes.
  const pipeline = ['CloudWatch alarm (ALARM or OK)', 'EventBridge logrotate failure'].map((name) => ({
    name,
    topic: topics.pipeline,
    attributes: {},
    severity: 'critical' as const,
  }));
  return [...host, ...pipeline];
}

/** What each subscriber must get. */
function wants(s: Subscriber, m: PublishedMessage): boolean {
  if (s.protocol === 'email' && s.endpoint === 'oncall@example.com') return m.severity === 'critical';
  return true; // every other email and the forwarder (its queue on the alert topic) get everything published to their topics
}

describe('SNS deliveries', () => {
  test('every subscriber gets exactly what it must, pipeline alarms included', () => {
    const subs = subscribers(template);
    expect(subs.map((s) => `${s.protocol}:${s.topic === topics.pipeline ? 'pipeline' : 'alerts'}`).sort()).toEqual(
      ['email:alerts', 'email:alerts', 'email:pipeline', 'email:pipeline', 'sqs:alerts', 'lambda:pipeline'].sort(),
    );
    expect(deliveryMismatches(subs, messages(), wants)).toEqual([]);
  });

  test('the check fails on the old filter: critical-only email on one topic with exists:false', () => {
    const subs = subscribers(template).map((s) =>
      s.endpoint === 'oncall@example.com' && s.topic === topics.pipeline
        ? { ...s, filterPolicy: { severity: ['critical', { exists: false }] } }
        : s,
    );
    expect(deliveryMismatches(subs, messages(), wants)).toEqual([
      'email oncall@example.com misses CloudWatch alarm (ALARM or OK)',
      'email oncall@example.com misses EventBridge logrotate failure',
    ]);
  });
});
