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
import { ALERT_ENV } from '../../core/alerts/settings';
import type { MetricsBatch } from '../../core/collect';
import { REMEDIATION_ENV, REMEDIATION_WIRING_ENV } from '../../core/lambda-env';
import { alertStateFleetView } from '../../core/remediation/fleet-view';
import type { RemediationSettings } from '../../core/remediation/model';
import type { ProposalStore, RemediationDeps } from '../../core/remediation/run';
import { awsAlertDeps } from './alert-sink';
import { CloudWatchMetricsSink } from './cloudwatch-metrics';
import { jsonEnv } from './env';
import { AutomationExecutor, Ec2HostFacts } from './remediation-aws';
import { DynamoDbLedgerStore, DynamoDbProposalStore } from './remediation-store-dynamodb';

type Env = NodeJS.ProcessEnv;

function table(env: Env): string {
  const name = env[ALERT_ENV.table];
  if (!name)
    throw new Error(`${ALERT_ENV.table} is not set: remediation keeps its state in the alert state table (AlertStateTable.bindCollector)`);
  return name;
}

/** The collector's half: where proposals go. Undefined when remediation is off (the variable is absent). */
export function awsProposalStore(
  env: Env,
  client = new DynamoDBClient({}),
): { store: ProposalStore; settings: RemediationSettings } | undefined {
  if (!env[REMEDIATION_ENV.variable]) return undefined;
  const settings = jsonEnv(REMEDIATION_ENV, env);
  // A proposal outlives proposalMaxAgeHours by a day, then TTL removes it.
  return { store: new DynamoDbProposalStore(client, table(env), settings.proposalMaxAgeHours + 24), settings };
}

export function awsRemediationDeps(env: Env, log: AlertLog): RemediationDeps & { readonly metrics: MetricsBatch } {
  const settings = jsonEnv(REMEDIATION_ENV, env);
  const wiring = jsonEnv(REMEDIATION_WIRING_ENV, env);
  const alerts = awsAlertDeps(env, log);
  const dynamodb = new DynamoDBClient({});
  return {
    settings,
    proposals: new DynamoDbProposalStore(dynamodb, table(env), settings.proposalMaxAgeHours + 24),
    ledger: new DynamoDbLedgerStore(dynamodb, table(env)),
    fleet: alertStateFleetView(alerts.store, alerts.settings.staleAfterMinutes),
    hosts: new Ec2HostFacts(new EC2Client({}), settings.excludeTagKey),
    executor: new AutomationExecutor(new SSMClient({}), wiring),
    notifier: alerts.notifier,
    metrics: new CloudWatchMetricsSink(new CloudWatchClient({}), wiring.namespace),
    log,
  };
}
