/**
 * Remediation (remediation.enabled): the collector proposes, a scheduled Lambda decides under the
 * blast-radius limits (lambda/core/remediation/plan.ts), and the stack's own SSM Automation runbooks act, one
 * per rung, so AWS audits every step and an aws:approve step can hold the disruptive ones for a human:
 *
 *   tag               aws:createTags (the quarantine tag)
 *   notify-scheduler  + aws:executeAwsApi events:PutEvents "GPU host unhealthy" on the default bus
 *   reboot            + [aws:approve] + aws:executeAwsApi ec2:RebootInstances
 *   replace (ASG)     + [aws:approve] + aws:executeAwsApi autoscaling:SetInstanceHealth Unhealthy
 *   replace (EBS)     + [aws:approve] + aws:changeInstanceState stopped, then running (new hardware; what
 *                     the AWS-owned AWS-RestartEC2Instance does, here behind the quarantine tag and approval)
 *
 * The runbooks' role may act only on instances carrying the fleet tag, may set only the quarantine tag, and
 * trusts only SSM Automation of this account; the Lambda may start only these runbooks and pass only that
 * role. Instance roles get none of it (test/contracts/iam-remediation.test.ts).
 * Actions: https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-createtag.html,
 * .../automation-action-executeAwsApi.html, .../automation-action-changestate.html, .../automation-action-approve.html;
 * AWS-RestartEC2Instance: https://docs.aws.amazon.com/systems-manager-automation-runbooks/latest/userguide/automation-aws-restartec2instance.html
 */
import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { AlertSettings } from '../../lambda/core/alerts/settings';
import { REMEDIATION_ENV, REMEDIATION_WIRING_ENV, type RemediationWiring } from '../../lambda/core/lambda-env';
import { METRICS } from '../../lambda/core/metric-names';
import { type RemediationSettings, remediationSettingsSchema } from '../../lambda/core/remediation/model';
import { UNHEALTHY_EVENT } from '../../lambda/core/remediation/notify';
import type { AlertStateTable } from './alert-state-table';
import { MaintenanceFunction } from './maintenance-function';
import { acknowledgeWildcardResources } from './nag-acknowledgements';

export type RunbookKind = keyof RemediationWiring['documents'];

export interface RemediationProps {
  /** The planner's settings (lambda/core/remediation/model.ts#remediationSettings). */
  readonly settings: RemediationSettings;
  readonly table: AlertStateTable;
  /** The alert topic: remediation notifications go where alerts go. */
  readonly topic: sns.ITopic;
  /** The alert policy (the fleet view's staleAfterMinutes). */
  readonly alertSettings: AlertSettings;
  /** @default - no Chatbot messages */
  readonly chatbotTopic?: sns.ITopic;
  /** The collect Lambda, which writes proposals. */
  readonly collector: lambda.Function;
  readonly fleetTagKey: string;
  readonly fleetTagValue: string;
  /** Name prefix of the runbooks (the stack's document prefix). */
  readonly documentNamePrefix: string;
  readonly namespace: string;
  /**
   * IAM ARNs whose approval (aws:approve) a reboot or replace waits for.
   * @default [] - no approval step
   */
  readonly approvers?: readonly string[];
  /** @default 60 */
  readonly approvalTimeoutMinutes?: number;
  /**
   * Topic the approval requests go to; unfiltered, since Automation's message carries no attributes.
   * @default - the alert topic
   */
  readonly approvalTopic?: sns.ITopic;
  /** Topic the planner's alarm notifies. @default - the alert topic */
  readonly alarmTopic?: sns.ITopic;
  /** @default 30 */
  readonly logRetentionDays?: number;
  /** Where schedule invocations that fail go. @default - none */
  readonly deadLetterQueue?: sqs.IQueue;
}

const STEP_TAG = (quarantineTagKey: string) => ({
  name: 'Quarantine',
  action: 'aws:createTags',
  inputs: {
    ResourceType: 'EC2',
    ResourceIds: ['{{ InstanceId }}'],
    Tags: [{ Key: quarantineTagKey, Value: '{{ global:DATE_TIME }} {{ Reason }}' }],
  },
});

const STEP_NOTIFY = {
  name: 'NotifyScheduler',
  action: 'aws:executeAwsApi',
  inputs: {
    Service: 'events',
    Api: 'PutEvents',
    Entries: [{ Source: UNHEALTHY_EVENT.source, DetailType: UNHEALTHY_EVENT.detailType, Detail: '{{ Detail }}', EventBusName: 'default' }],
  },
};

/** The content of one runbook (schemaVersion 0.3); pure, so tests read it without synthesizing. */
export function runbookContent(
  kind: RunbookKind,
  options: { quarantineTagKey: string; approvers: readonly string[]; approvalTimeoutMinutes: number; approvalTopicArn: string },
): Record<string, unknown> {
  const steps: Record<string, unknown>[] = [];
  const disruptive = kind === 'reboot' || kind === 'replaceAsg' || kind === 'stopStart';
  if (disruptive && options.approvers.length > 0) {
    steps.push({
      name: 'Approve',
      action: 'aws:approve',
      timeoutSeconds: options.approvalTimeoutMinutes * 60,
      onFailure: 'Abort',
      inputs: {
        NotificationArn: options.approvalTopicArn,
        Message: 'gpu-maint remediation of {{ InstanceId }}: {{ Reason }}',
        MinRequiredApprovals: 1,
        Approvers: [...options.approvers],
      },
    });
  }
  steps.push(STEP_TAG(options.quarantineTagKey));
  if (kind !== 'tag') steps.push(STEP_NOTIFY);
  if (kind === 'reboot') {
    steps.push({
      name: 'Reboot',
      action: 'aws:executeAwsApi',
      inputs: { Service: 'ec2', Api: 'RebootInstances', InstanceIds: ['{{ InstanceId }}'] },
    });
  } else if (kind === 'replaceAsg') {
    steps.push({
      name: 'MarkUnhealthy',
      action: 'aws:executeAwsApi',
      inputs: {
        Service: 'autoscaling',
        Api: 'SetInstanceHealth',
        InstanceId: '{{ InstanceId }}',
        HealthStatus: 'Unhealthy',
        ShouldRespectGracePeriod: false,
      },
    });
  } else if (kind === 'stopStart') {
    steps.push({ name: 'Stop', action: 'aws:changeInstanceState', inputs: { InstanceIds: ['{{ InstanceId }}'], DesiredState: 'stopped' } });
    steps.push({
      name: 'Start',
      action: 'aws:changeInstanceState',
      inputs: { InstanceIds: ['{{ InstanceId }}'], DesiredState: 'running' },
    });
  }
  return {
    schemaVersion: '0.3',
    description: `gpu-maint remediation: ${kind}`,
    assumeRole: '{{ AutomationAssumeRole }}',
    parameters: {
      InstanceId: { type: 'String', allowedPattern: '^i-[0-9a-f]{8,17}$', description: 'The fleet instance.' },
      Reason: {
        type: 'String',
        allowedPattern: '^[^\\n]{1,200}$',
        description: 'Why (the cause and when): the tag value (after the time, within 256 characters) and the approval message.',
      },
      Detail: { type: 'String', default: '{}', description: 'The "GPU host unhealthy" event detail (JSON).' },
      AutomationAssumeRole: { type: 'String', description: 'The remediation runbooks role.' },
    },
    mainSteps: steps,
  };
}

export const RUNBOOK_KINDS: readonly RunbookKind[] = ['tag', 'notifyScheduler', 'reboot', 'replaceAsg', 'stopStart'];

export class Remediation extends Construct {
  readonly handler: MaintenanceFunction;
  readonly automationRole: iam.Role;
  readonly documents: Readonly<Record<RunbookKind, ssm.CfnDocument>>;
  readonly schedule: scheduler.Schedule;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: RemediationProps) {
    super(scope, id);
    const where = `Remediation ${this.node.path}`;
    const parsed = remediationSettingsSchema.safeParse(props.settings);
    if (!parsed.success) {
      throw new Error(`${where}: invalid settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    const settings = parsed.data;
    if (!props.fleetTagKey || !props.fleetTagValue) {
      throw new Error(
        `${where}: fleetTagKey and fleetTagValue must not be empty, got: ${JSON.stringify(`${props.fleetTagKey}=${props.fleetTagValue}`)}`,
      );
    }
    const approvalTimeoutMinutes = props.approvalTimeoutMinutes ?? 60;
    const stack = Stack.of(this);
    const approvalTopic = props.approvalTopic ?? props.topic;

    // ---- The runbooks' role: SSM Automation of this account only; fleet instances only; the quarantine tag only.
    this.automationRole = new iam.Role(this, 'AutomationRole', {
      description: 'gpu-maint remediation runbooks: quarantine tag, scheduler event, reboot, replace of fleet instances',
      assumedBy: new iam.ServicePrincipal('ssm.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': stack.formatArn({ service: 'ssm', resource: 'automation-execution', resourceName: '*' }) },
        },
      }),
    });
    const instances = stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' });
    const fleetOnly = { [`aws:ResourceTag/${props.fleetTagKey}`]: props.fleetTagValue };
    const role = this.automationRole;
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'QuarantineTagOnFleetInstances',
        actions: ['ec2:CreateTags'],
        resources: [instances],
        conditions: { StringEquals: fleetOnly, 'ForAllValues:StringEquals': { 'aws:TagKeys': [settings.quarantineTagKey] } },
      }),
    );
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'RebootStopStartFleetInstances',
        actions: ['ec2:RebootInstances', 'ec2:StopInstances', 'ec2:StartInstances'],
        resources: [instances],
        conditions: { StringEquals: fleetOnly },
      }),
    );
    // arn:aws:autoscaling:<region>:<account>:autoScalingGroup:<uuid>:autoScalingGroupName/<name>
    const groups = stack.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: '*:autoScalingGroupName/*',
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'UnhealthyInFleetGroups',
        actions: ['autoscaling:SetInstanceHealth'],
        resources: [groups],
        conditions: { StringEquals: fleetOnly },
      }),
    );
    const defaultBus = stack.formatArn({ service: 'events', resource: 'event-bus', resourceName: 'default' });
    role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'UnhealthyEvent',
        actions: ['events:PutEvents'],
        resources: [defaultBus],
        conditions: { StringEquals: { 'events:source': UNHEALTHY_EVENT.source, 'events:detail-type': UNHEALTHY_EVENT.detailType } },
      }),
    );
    // aws:changeInstanceState polls the instance's state; describe calls have no resource-level permissions.
    role.addToPolicy(
      new iam.PolicyStatement({ sid: 'InstanceState', actions: ['ec2:DescribeInstances', 'ec2:DescribeInstanceStatus'], resources: ['*'] }),
    );
    if ((props.approvers ?? []).length > 0) approvalTopic.grantPublish(role);
    acknowledgeWildcardResources(
      role,
      [instances, groups, '*'],
      'instances and groups are scoped by the fleet tag condition (aws:ResourceTag); EC2 describe calls support no resource-level permissions',
    );

    // ---- The runbooks
    const documents: Partial<Record<RunbookKind, ssm.CfnDocument>> = {};
    for (const kind of RUNBOOK_KINDS) {
      const doc = new ssm.CfnDocument(this, `${kind[0].toUpperCase()}${kind.slice(1)}Runbook`, {
        documentType: 'Automation',
        documentFormat: 'JSON',
        content: {},
        name: `${props.documentNamePrefix}remediate-${kind.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
      });
      // As in TaskDocument: the registry schema takes Content as a string, this L1 only an object.
      doc.addPropertyOverride(
        'Content',
        stack.toJsonString(
          runbookContent(kind, {
            quarantineTagKey: settings.quarantineTagKey,
            approvers: props.approvers ?? [],
            approvalTimeoutMinutes,
            approvalTopicArn: approvalTopic.topicArn,
          }),
        ),
      );
      documents[kind] = doc;
    }
    this.documents = documents as Record<RunbookKind, ssm.CfnDocument>;

    // ---- The planner
    const minutes = settings.intervalMinutes;
    const wiring: RemediationWiring = {
      documents: Object.fromEntries(RUNBOOK_KINDS.map((k) => [k, this.documents[k].ref])) as RemediationWiring['documents'],
      automationRoleArn: role.roleArn,
      namespace: props.namespace,
    };
    this.handler = new MaintenanceFunction(this, 'Handler', {
      handler: 'remediate',
      description: 'gpu-maint remediation: verify, decide under blast-radius limits, start Automation runbooks',
      environment: {
        [REMEDIATION_ENV.variable]: JSON.stringify(settings),
        [REMEDIATION_WIRING_ENV.variable]: stack.toJsonString(wiring),
      },
      logRetentionDays: props.logRetentionDays ?? 30,
      timeoutSeconds: Math.min(300, Math.max(60, minutes * 60 - 30)),
    });
    const fn = this.handler.function;
    props.table.bindCollector(fn, { topic: props.topic, settings: props.alertSettings, chatbotTopic: props.chatbotTopic });
    const definitions = RUNBOOK_KINDS.map((k) =>
      stack.formatArn({ service: 'ssm', resource: 'automation-definition', resourceName: `${this.documents[k].ref}:*` }),
    );
    const executions = stack.formatArn({ service: 'ssm', resource: 'automation-execution', resourceName: '*' });
    const documentArns = RUNBOOK_KINDS.map((k) =>
      stack.formatArn({ service: 'ssm', resource: 'document', resourceName: this.documents[k].ref }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'StartRemediationRunbooks',
        actions: ['ssm:StartAutomationExecution'],
        resources: [...definitions, ...documentArns, executions],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'PassRunbookRole',
        actions: ['iam:PassRole'],
        resources: [role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
      }),
    );
    fn.addToRolePolicy(new iam.PolicyStatement({ sid: 'HostFacts', actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        sid: 'Metrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.namespace } },
      }),
    );
    acknowledgeWildcardResources(
      this.handler.role,
      [...definitions, executions],
      "only this stack's runbooks, any version; an execution id is not known before it starts",
    );

    // ---- The collector proposes (its table access comes from the alert binding).
    props.collector.addEnvironment(REMEDIATION_ENV.variable, JSON.stringify(settings));

    // ---- Schedule and alarm, as the stale-host sweep's.
    const scheduleRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': stack.account } },
      }),
    });
    scheduleRole.addToPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [fn.functionArn] }));
    props.deadLetterQueue?.grantSendMessages(scheduleRole);
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      description: 'gpu-maint: remediation planner',
      schedule: scheduler.ScheduleExpression.rate(Duration.minutes(minutes)),
      target: {
        bind: () => ({
          arn: fn.functionArn,
          role: scheduleRole,
          retryPolicy: { maximumRetryAttempts: 0 },
          ...(props.deadLetterQueue ? { deadLetterConfig: { arn: props.deadLetterQueue.queueArn } } : {}),
        }),
      },
    });
    const alarm = new cloudwatch.Alarm(this, 'ErrorsAlarm', {
      alarmDescription: 'gpu-maint remediation planner failing or runbooks not starting: faulty hosts are not remediated',
      metric: this.handler.metricErrors({ period: Duration.minutes(15) }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const action = new cwActions.SnsAction(props.alarmTopic ?? props.topic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms = [alarm];
  }

  /** Dashboard widgets: actions by rung, recovery outcomes, proposals held, storms. */
  dashboardWidgets(namespace: string, fleet: string): cloudwatch.IWidget[] {
    const count = (metricName: string, dimensions: Record<string, string>, label: string) =>
      new cloudwatch.Metric({
        namespace,
        metricName,
        dimensionsMap: { Fleet: fleet, ...dimensions },
        statistic: 'Sum',
        period: Duration.hours(1),
        label,
      });
    const actions = ['tag', 'notify-scheduler', 'reboot', 'replace', 'human'];
    return [
      new cloudwatch.GraphWidget({
        title: 'Remediations per hour (by action)',
        width: 8,
        left: [
          ...actions.map((a) => count(METRICS.RemediationActions, { Action: a }, a)),
          ...actions.slice(0, 4).map((a) => count(METRICS.RemediationActions, { Action: `${a} (dry run)` }, `${a} (dry run)`)),
        ],
      }),
      new cloudwatch.GraphWidget({
        title: 'Remediation outcomes per hour',
        width: 8,
        left: ['recovered', 'failed'].map((o) => count(METRICS.RemediationOutcomes, { Outcome: o }, o)),
      }),
      new cloudwatch.GraphWidget({
        title: 'Held by a limit / fleet-wide storms',
        width: 8,
        left: [count(METRICS.RemediationHeld, {}, 'held'), count(METRICS.RemediationStorms, {}, 'storms')],
      }),
    ];
  }
}
