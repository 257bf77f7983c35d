/**
 * Remediation in the stack: nothing of it without remediation.enabled; with it, the runbooks (one per rung,
 * approval only where configured), the planner wired to its runbooks and role, the collector proposing, the
 * dashboard row and alarm. One app, two stacks, cdk-nag registered, Lambda bundling skipped.
 */
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { REMEDIATION_ENV, REMEDIATION_WIRING_ENV } from '../../lambda/core/lambda-env';
import { remediationSettingsSchema } from '../../lambda/core/remediation/model';
import { runbookContent } from '../../lib/constructs/remediation';
import { synthWithNag } from '../helpers/cdk';

let synthError: unknown;
let enabled: Template;
let defaults: Template;
const APPROVER = 'arn:aws:iam::123456789012:role/oncall';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resources = (t: Template, type: string): Resources => t.findResources(type) as Resources;
const automationDocs = (t: Template) =>
  Object.values(resources(t, 'AWS::SSM::Document')).filter((d) => d.Properties.DocumentType === 'Automation');
const functionWith = (t: Template, variable: string) =>
  Object.values(resources(t, 'AWS::Lambda::Function')).filter((f) => f.Properties.Environment?.Variables?.[variable] !== undefined);

beforeAll(() => {
  const synth = synthWithNag({
    Enabled: { fleet: { name: 'prod' }, remediation: { enabled: true, maxAction: 'replace', approvers: [APPROVER] } },
    Defaults: {},
  });
  enabled = synth.templates.Enabled as Template;
  defaults = synth.templates.Defaults as Template;
  synthError = synth.synthError;
});

describe('remediation off (the default)', () => {
  test('the stack has no Automation runbook', () => {
    expect(automationDocs(defaults)).toEqual([]);
  });

  test('no function carries remediation settings (the collector proposes nothing)', () => {
    expect(functionWith(defaults, REMEDIATION_ENV.variable)).toEqual([]);
  });
});

describe('remediation on', () => {
  test('the stack has no unacknowledged cdk-nag finding', () => {
    expect(synthError).toBeUndefined();
  });

  test('five Automation runbooks: tag, notify-scheduler, reboot, replace through Auto Scaling, stop/start', () => {
    expect(
      automationDocs(enabled)
        .map((d) => d.Properties.Name)
        .sort(),
    ).toEqual([
      'gpu-maint.Enabled.remediate-notify-scheduler',
      'gpu-maint.Enabled.remediate-reboot',
      'gpu-maint.Enabled.remediate-replace-asg',
      'gpu-maint.Enabled.remediate-stop-start',
      'gpu-maint.Enabled.remediate-tag',
    ]);
  });

  test('the collector and the planner both carry the same valid settings', () => {
    const values = functionWith(enabled, REMEDIATION_ENV.variable).map((f) => f.Properties.Environment.Variables[REMEDIATION_ENV.variable]);
    expect(values).toHaveLength(2);
    expect(new Set(values).size).toBe(1);
    expect(remediationSettingsSchema.safeParse(JSON.parse(values[0])).success).toBe(true);
  });

  test('the planner runs on a 5-minute schedule', () => {
    const schedules = Object.values(resources(enabled, 'AWS::Scheduler::Schedule')).filter(
      (s) => s.Properties.Description === 'gpu-maint: remediation planner',
    );
    expect(schedules.map((s) => s.Properties.ScheduleExpression)).toEqual(['rate(5 minutes)']);
  });

  test('the runbooks role trusts only SSM Automation of this account', () => {
    const roles = Object.values(resources(enabled, 'AWS::IAM::Role')).filter((r) =>
      JSON.stringify(r.Properties.AssumeRolePolicyDocument).includes('ssm.amazonaws.com'),
    );
    expect(roles).toHaveLength(1);
    const [statement] = roles[0].Properties.AssumeRolePolicyDocument.Statement;
    expect([statement.Principal, Object.keys(statement.Condition).sort()]).toEqual([
      { Service: 'ssm.amazonaws.com' },
      ['ArnLike', 'StringEquals'],
    ]);
  });

  test('the planner is told every runbook and the role', () => {
    const [planner] = functionWith(enabled, REMEDIATION_WIRING_ENV.variable);
    expect(JSON.stringify(planner.Properties.Environment.Variables[REMEDIATION_WIRING_ENV.variable])).toMatch(/automationRoleArn/);
  });

  test('the dashboard has a remediation row', () => {
    const body = JSON.stringify(Object.values(resources(enabled, 'AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody);
    expect(body).toContain('Remediations per hour (by action)');
  });
});

describe('runbook content', () => {
  const options = {
    quarantineTagKey: 'gpu-maint:quarantine',
    approvers: [APPROVER],
    approvalTimeoutMinutes: 60,
    approvalTopicArn: 'arn:aws:sns:eu-west-1:123456789012:t',
  };
  const steps = (kind: Parameters<typeof runbookContent>[0], o = options) =>
    (runbookContent(kind, o).mainSteps as { name: string; action: string }[]).map((s) => s.action);

  test.each([
    ['tag', ['aws:createTags']],
    ['notifyScheduler', ['aws:createTags', 'aws:executeAwsApi']],
    ['reboot', ['aws:approve', 'aws:createTags', 'aws:executeAwsApi', 'aws:executeAwsApi']],
    ['replaceAsg', ['aws:approve', 'aws:createTags', 'aws:executeAwsApi', 'aws:executeAwsApi']],
    ['stopStart', ['aws:approve', 'aws:createTags', 'aws:executeAwsApi', 'aws:changeInstanceState', 'aws:changeInstanceState']],
  ] as const)('%s runs %j', (kind, actions) => {
    expect(steps(kind)).toEqual(actions);
  });

  test('without approvers a reboot has no approval step', () => {
    expect(steps('reboot', { ...options, approvers: [] })[0]).toBe('aws:createTags');
  });
});
