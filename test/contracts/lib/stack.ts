/**
 * The stack the contract checks read: every optional part switched on (emails of both severities,
 * Slack and PagerDuty forwarder, Chatbot, disk-pressure cleanup), in a concrete account and region, with
 * Lambda bundling skipped. Synthesized once per test file.
 */
import type { ConfigInput } from '../../../lambda/config/schema';
import type { GpuMaintStack } from '../../../lib/gpu-maint-stack';
import { type CfnTemplate, synthGpuMaintStack, TEST_ENV } from '../../helpers/cdk';

export { ACCOUNT, type CfnTemplate, REGION } from '../../helpers/cdk';

export const FULL_CONFIG: ConfigInput = {
  fleet: { name: 'prod', tagKey: 'gpu-maint:fleet' },
  alerts: {
    emails: [{ address: 'team@example.com' }, { address: 'oncall@example.com', minSeverity: 'critical' }],
    slack: { webhookSecret: 'gpu-maint/slack', chatbot: { workspaceId: 'T012AB3CD', channelId: 'C045EF6GH' } },
    pagerDuty: { routingKeySecret: 'gpu-maint/pagerduty' },
  },
  cleanup: { onDiskPressure: true },
};

export function synthFullStack(input: ConfigInput = FULL_CONFIG): { stack: GpuMaintStack; template: CfnTemplate } {
  const { stack, template } = synthGpuMaintStack(input, { env: TEST_ENV });
  return { stack, template: template.toJSON() as CfnTemplate };
}
