/**
 * The remediation Lambda's dependencies, from the environment its construct sets (lib/constructs/remediation.ts):
 *   GPU_MAINT_REMEDIATION         the planner's settings (lambda/core/remediation/model.ts), JSON
 *   GPU_MAINT_REMEDIATION_WIRING  the Automation runbooks, their role, the metric namespace, JSON
 *   GPU_MAINT_ALERT_*             the alert state table (proposals, ledger, recovery evidence) and topic
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { AlertLog } from '../../core/alerts/engine';
import type { MetricsBatch } from '../../core/collect';
import { REMEDIATION_ENV, REMEDIATION_WIRING_ENV } from '../../core/lambda-env';
import { alertStateFleetView } from '../../core/remediation/fleet-view';
import type { RemediationDeps } from '../../core/remediation/run';
import { awsAlertDeps } from './alert-sink';
import { CloudWatchMetricsSink } from './cloudwatch-metrics';
import { jsonEnv } from './env';
import { AutomationExecutor, Ec2HostFacts } from './remediation-aws';
import { remediationTable } from './remediation-proposals';
import { DynamoDbLedgerStore, DynamoDbProposalStore } from './remediation-store-dynamodb';

type Env = NodeJS.ProcessEnv;

export function awsRemediationDeps(env: Env, log: AlertLog): RemediationDeps & { readonly metrics: MetricsBatch } {
  const settings = jsonEnv(REMEDIATION_ENV, env);
  const wiring = jsonEnv(REMEDIATION_WIRING_ENV, env);
  const alerts = awsAlertDeps(env, log);
  const dynamodb = new DynamoDBClient({});
  return {
    settings,
    proposals: new DynamoDbProposalStore(dynamodb, remediationTable(env), settings.proposalMaxAgeHours + 24),
    ledger: new DynamoDbLedgerStore(dynamodb, remediationTable(env)),
    fleet: alertStateFleetView(alerts.store, alerts.settings.staleAfterMinutes),
    hosts: new Ec2HostFacts(new EC2Client({}), settings.excludeTagKey),
    executor: new AutomationExecutor(new SSMClient({}), wiring),
    notifier: alerts.notifier,
    metrics: new CloudWatchMetricsSink(new CloudWatchClient({}), wiring.namespace),
    log,
  };
}
