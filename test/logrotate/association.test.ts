/**
 * Template assertions for cleanup and log rotation in AWS: the State Manager association that applies
 * the logrotate document, and the weekly cleanup schedule and document. One synth (bundling skipped).
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sns from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../bin/app';
import { logrotateConfigBase64 } from '../../lambda/core/logrotate/evaluate';
import { LogrotateAssociation } from '../../lib/constructs/logrotate-association';
import { testStack } from '../helpers/cdk';
import { parseConfigForTest } from '../helpers/config';
import { documentContent } from '../helpers/documents';
import { cdkOutdir } from '../helpers/temp';

let template: Template;

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resources = (type: string): Resources => template.findResources(type) as Resources;
/** Task a schedule dispatches (schedules of other targets, e.g. the prune Lambda, carry no task). */
const scheduledTask = (s: { Properties: Record<string, any> }): string | undefined =>
  typeof s.Properties.Target.Input === 'string' ? (JSON.parse(s.Properties.Target.Input) as { task?: string }).task : undefined;

function documentIdOf(task: string): string {
  const [id] = Object.entries(resources('AWS::SSM::Document')).find(([, r]) =>
    documentContent(r.Properties.Content).description.startsWith(`gpu-maint ${task} `),
  )!;
  return id;
}

/** How the template must refer to a task's document name: a Ref, so that the consumer depends on the document. */
function documentNameOf(task: string): unknown {
  const id = documentIdOf(task);
  return { Ref: id };
}

beforeAll(() => {
  const built = buildApp({
    outdir: cdkOutdir(),
    context: {
      'aws:cdk:bundling-stacks': [],
      gpuMaint: { fleet: { name: 'lab', tagKey: 'team:fleet' }, timeZone: 'Europe/Berlin', aws: { maxConcurrency: '20%', maxErrors: '2' } },
    },
    nag: false,
  });
  template = Template.fromStack(built.stack);
});

describe('logrotate association', () => {
  test('applies the logrotate document daily to instances with the fleet tag', () => {
    template.hasResourceProperties('AWS::SSM::Association', {
      Name: documentNameOf('logrotate'),
      Targets: [{ Key: 'tag:team:fleet', Values: ['lab'] }],
      ScheduleExpression: 'rate(1 day)',
      ApplyOnlyAtCronInterval: false,
      MaxConcurrency: '20%',
      MaxErrors: '2',
    });
  });

  test('reports compliance to Systems Manager', () => {
    template.hasResourceProperties('AWS::SSM::Association', { SyncCompliance: 'AUTO', ComplianceSeverity: 'MEDIUM' });
  });

  test('carries the rendered configuration as base64', () => {
    const expected = logrotateConfigBase64(parseConfigForTest().logrotate.groups);
    template.hasResourceProperties('AWS::SSM::Association', { Parameters: { ConfigBase64: [expected] } });
  });

  test('writes its output under the command output prefix', () => {
    template.hasResourceProperties('AWS::SSM::Association', {
      OutputLocation: { S3Location: { OutputS3BucketName: Match.anyValue(), OutputS3KeyPrefix: 'command-output/logrotate/' } },
    });
  });

  test('a failed run on a host is sent to the unfiltered pipeline topic (EventBridge messages carry no attributes)', () => {
    const [ruleId, rule] = Object.entries(resources('AWS::Events::Rule')).find(([, r]) =>
      r.Properties.EventPattern?.['detail-type']?.includes('EC2 State Manager Instance Association State Change'),
    )!;
    expect(rule.Properties.EventPattern.detail.status).toEqual(['Failed']);
    expect(rule.Properties.Targets).toHaveLength(1);
    expect(rule.Properties.Targets[0].Arn).toEqual({ Ref: expect.stringMatching(/^AlertsPipelineTopic/) });
    expect(ruleId).toMatch(/^LogrotateFailedRuns/);
  });

  test('logrotate has no schedule of its own', () => {
    const tasks = Object.values(resources('AWS::Scheduler::Schedule')).map(scheduledTask);
    expect(tasks).not.toContain('logrotate');
  });
});

describe('cleanup in AWS', () => {
  test('runs weekly on Sunday 03:00 in the configured time zone', () => {
    const schedule = Object.values(resources('AWS::Scheduler::Schedule')).find((s) => scheduledTask(s) === 'cleanup');
    expect(schedule?.Properties).toMatchObject({ ScheduleExpression: 'cron(0 3 ? * SUN *)', ScheduleExpressionTimezone: 'Europe/Berlin' });
  });

  test('its document defaults to a dry run and unforced guard', () => {
    const doc = resources('AWS::SSM::Document')[documentIdOf('cleanup')];
    expect(documentContent(doc.Properties.Content).parameters.DryRun).toMatchObject({ default: 'true', allowedPattern: '^(true|false)$' });
    expect(documentContent(doc.Properties.Content).parameters.Force).toMatchObject({ default: 'false' });
  });
});

describe('LogrotateAssociation props', () => {
  const base = { documentName: 'doc', parameters: { ConfigBase64: 'eA==' }, fleetTagKey: 'k', fleetTagValue: 'v' };

  test.each([
    [{ scheduleExpression: 'rate(10 minutes)' }, 'at most every 30 minutes, got: rate(10 minutes)'],
    [{ scheduleExpression: 'daily' }, 'scheduleExpression must be rate(...) or cron(...), got: "daily"'],
    [{ maxConcurrency: '0' }, 'maxConcurrency must be a count or a percentage, got: "0"'],
    [{ parameters: {} }, 'parameters must carry the rendered configuration'],
  ])('%j is refused', (over, message) => {
    const stack = testStack('S');
    expect(() => new LogrotateAssociation(stack, 'L', { ...base, ...over })).toThrow(message);
  });

  test('metricFailedRuns counts the failed-run rule matches', () => {
    const stack = testStack('S');
    const a = new LogrotateAssociation(stack, 'L', { ...base, alertTopic: new sns.Topic(stack, 'T') });
    const metric = a.metricFailedRuns();
    expect(metric.namespace).toBe('AWS/Events');
    expect(metric.metricName).toBe('TriggeredRules');
    expect(Object.keys(metric.dimensions ?? {})).toEqual(['RuleName']);
  });
});
