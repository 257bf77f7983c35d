/**
 * The collector's half of remediation: where gpu-check results propose their host. Present only when the
 * Remediation construct set GPU_MAINT_REMEDIATION (remediation.enabled); its own file, so the collector
 * reaches no runbook or EC2 call (test/contracts/iam.test.ts reads the calls each handler reaches).
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ALERT_ENV } from '../../core/alerts/settings';
import { REMEDIATION_ENV } from '../../core/lambda-env';
import type { RemediationSettings } from '../../core/remediation/model';
import type { ProposalStore } from '../../core/remediation/run';
import { jsonEnv } from './env';
import { DynamoDbProposalStore } from './remediation-store-dynamodb';

type Env = NodeJS.ProcessEnv;

/** The alert state table, which holds remediation's proposals and ledger too. */
export function remediationTable(env: Env): string {
  const name = env[ALERT_ENV.table];
  if (!name)
    throw new Error(`${ALERT_ENV.table} is not set: remediation keeps its state in the alert state table (AlertStateTable.bindCollector)`);
  return name;
}

/** Where proposals go; undefined when remediation is off (the variable is absent). */
export function awsProposalStore(
  env: Env,
  client = new DynamoDBClient({}),
): { store: ProposalStore; settings: RemediationSettings } | undefined {
  if (!env[REMEDIATION_ENV.variable]) return undefined;
  const settings = jsonEnv(REMEDIATION_ENV, env);
  // A proposal outlives proposalMaxAgeHours by a day, then TTL removes it.
  return { store: new DynamoDbProposalStore(client, remediationTable(env), settings.proposalMaxAgeHours + 24), settings };
}
