/**
 * Remediation's AWS adapters: host facts from EC2 DescribeInstances, and the executor that starts one of the
 * stack's SSM Automation runbooks per action (lib/constructs/remediation-runbooks.ts): every step, including the
 * "GPU host unhealthy" event for the users' drain automation, runs in Automation, so AWS audits all of it.
 *   StartAutomationExecution: https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_StartAutomationExecution.html
 */
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { type SSMClient, StartAutomationExecutionCommand } from '@aws-sdk/client-ssm';
import type { RemediationWiring } from '../../core/lambda-env';
import type { HostFacts, RemediationSettings } from '../../core/remediation/model';
import { causeLabel, unhealthyEventDetail } from '../../core/remediation/notify';
import type { ActDecision, HostFactsSource, RemediationExecutor } from '../../core/remediation/run';

/** EC2 marks Auto Scaling members with this tag: https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-tagging.html */
const ASG_TAG = 'aws:autoscaling:groupName';
const EC2_INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

export class Ec2HostFacts implements HostFactsSource {
  constructor(
    private readonly ec2: EC2Client,
    private readonly excludeTagKey: string,
  ) {}

  async facts(hosts: readonly string[]): Promise<ReadonlyMap<string, HostFacts>> {
    const out = new Map<string, HostFacts>();
    // Hybrid nodes (mi-...) are not EC2 instances: nothing here can tag, reboot or replace them.
    const ids = hosts.filter((h) => EC2_INSTANCE_ID.test(h));
    for (let i = 0; i < ids.length; i += 200) {
      let token: string | undefined;
      do {
        const page = await this.ec2.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'instance-id', Values: ids.slice(i, i + 200) }],
            ...(token ? { NextToken: token } : {}),
          }),
        );
        for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
          if (!instance.InstanceId) continue;
          const tags = new Map((instance.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
          const state = instance.State?.Name ?? '';
          // Stop/start moves an EBS-backed on-demand instance to new hardware; a spot or instance-store one cannot be.
          const stopStart = instance.RootDeviceType === 'ebs' && instance.InstanceLifecycle !== 'spot';
          out.set(instance.InstanceId, {
            exists: state === 'running' || state === 'pending' || state === 'stopped' || state === 'stopping',
            excluded: tags.has(this.excludeTagKey),
            replaceBy: tags.has(ASG_TAG) ? 'asg' : stopStart ? 'stop-start' : null,
          });
        }
        token = page.NextToken;
      } while (token);
    }
    return out;
  }
}

export class AutomationExecutor implements RemediationExecutor {
  constructor(
    private readonly ssm: SSMClient,
    private readonly wiring: RemediationWiring,
  ) {}

  async execute(d: ActDecision, settings: RemediationSettings): Promise<string> {
    const reason = `${causeLabel(d.cause.key, d.cause.gpu)} at ${d.cause.lastSeenAt}${d.reason ? `; ${d.reason}` : ''}`;
    const docs = this.wiring.documents;
    const document =
      d.action === 'replace'
        ? d.replaceBy === 'asg'
          ? docs.replaceAsg
          : docs.stopStart
        : docs[d.action === 'notify-scheduler' ? 'notifyScheduler' : d.action];
    const detail = unhealthyEventDetail(d, settings);
    const out = await this.ssm.send(
      new StartAutomationExecutionCommand({
        DocumentName: document,
        Parameters: {
          InstanceId: [d.host],
          Reason: [reason.replace(/\n/g, ' ').slice(0, 200)],
          Detail: [JSON.stringify(detail)],
          AutomationAssumeRole: [this.wiring.automationRoleArn],
        },
        // The record id in the execution's tags ties AWS's audit trail to the ledger.
        Tags: [{ Key: 'gpu-maint:remediation', Value: d.recordId.replace(/[^\p{L}\p{N}\s_.:/=+\-@]/gu, '_').slice(0, 256) }],
      }),
    );
    if (!out.AutomationExecutionId) throw new Error(`StartAutomationExecution of ${document} returned no execution id`);
    return out.AutomationExecutionId;
  }
}
