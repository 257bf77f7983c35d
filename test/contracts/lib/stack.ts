/**
 * The stack the contract checks read: every optional part switched on (emails of both severities,
 * Slack and PagerDuty forwarder, Chatbot, disk-pressure cleanup), in a concrete account and region, with
 * Lambda bundling skipped. Synthesized once per test file.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { validateConfig } from '../../../lambda/config/load';
import type { ConfigInput } from '../../../lambda/config/schema';
import { GpuMaintStack } from '../../../lib/gpu-maint-stack';
import { cdkOutdir } from '../../helpers/temp';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

export const FULL_CONFIG: ConfigInput = {
  fleet: { name: 'prod', tagKey: 'gpu-maint:fleet' },
  alerts: {
    emails: [{ address: 'team@example.com' }, { address: 'oncall@example.com', minSeverity: 'critical' }],
    slack: { webhookSecret: 'gpu-maint/slack', chatbot: { workspaceId: 'T012AB3CD', channelId: 'C045EF6GH' } },
    pagerDuty: { routingKeySecret: 'gpu-maint/pagerduty' },
  },
  cleanup: { onDiskPressure: true },
};

export type CfnTemplate = { Resources: Record<string, { Type: string; Properties?: Record<string, any>; DependsOn?: string | string[] }> };

export function synthFullStack(input: ConfigInput = FULL_CONFIG): { stack: GpuMaintStack; template: CfnTemplate } {
  const app = new App({ outdir: cdkOutdir(), context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new GpuMaintStack(app, 'GpuMaint', { config: validateConfig(input), env: { account: ACCOUNT, region: REGION } });
  return { stack, template: Template.fromStack(stack).toJSON() as CfnTemplate };
}
