/**
 * Builds the collect Lambda's dependencies from its environment: SSM + S3 for invocation output,
 * CloudWatch for metrics, the alert policy (DynamoDB state, SNS notifications) for alerts, the Powertools
 * logger for the per-result line.
 * Environment (set by lib/constructs/result-collector.ts):
 *   GPU_MAINT_SETTINGS  evaluation settings (lambda/core/evaluation-settings.ts), JSON
 *   GPU_MAINT_COLLECT   { documents: [{ name, task }], outputBucket, outputKeyPrefix, namespace, maxConcurrency }, JSON
 *   GPU_MAINT_ALERT_*   the alert policy's settings, table and topics (AlertStateTable.bindCollector); required
 *   GPU_MAINT_REMEDIATION  when remediation.enabled (Remediation construct): gpu-check results with remediable
 *                       causes write their host's proposal to the alert state table.
 *   GPU_MAINT_DISK_PRESSURE  when cleanup.onDiskPressure is on (ResultCollector.enableCleanupOnDiskPressure):
 *                       { cooldownHours, dryRun, documentName, deliveryTimeoutSeconds, commandLogGroup, tableName }, JSON
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { z } from 'zod';
import { callerRateLimit } from '../../core/call-budget';
import { RateLimiter, type WaitPort } from '../../core/call-rate';
import type { CollectDeps, DiskPressureDeps, ResultLog } from '../../core/collect';
import { commandOutputKeyPrefix } from '../../core/dispatch';
import type { EvaluationSettings } from '../../core/evaluation-settings';
import { COLLECT_SETTINGS_ENV, COLLECT_WIRING_ENV, DISK_PRESSURE_WIRING_ENV } from '../../core/lambda-env';
import { systemClock } from '../../core/ports';
import type { TaskName } from '../../core/types';
import { taskDefinition } from '../../tasks/registry';
import { awsAlertSink } from './alert-sink';
import { DynamoDbCleanupCooldownStore } from './cleanup-cooldown-dynamodb';
import { SsmCleanupDispatcher } from './cleanup-dispatch-ssm';
import { CloudWatchMetricsSink } from './cloudwatch-metrics';
import { jsonEnv } from './env';
import { awsProposalStore } from './remediation-proposals';
import { SsmCommandSender } from './ssm-dispatch';
import { SsmInvocationOutputSource } from './ssm-invocation-output';

/** The disk-pressure trigger's adapters, or undefined when the construct did not enable it. */
function diskPressureDeps(
  env: NodeJS.ProcessEnv,
  wiring: z.infer<typeof COLLECT_WIRING_ENV.schema>,
  ssm: SSMClient,
): DiskPressureDeps | undefined {
  if (!env[DISK_PRESSURE_WIRING_ENV.variable]) return undefined;
  const dp = jsonEnv(DISK_PRESSURE_WIRING_ENV, env);
  return {
    policy: { enabled: true, cooldownHours: dp.cooldownHours, dryRun: dp.dryRun },
    // Items outlive the cooldown by a day, then TTL removes them.
    store: new DynamoDbCleanupCooldownStore(new DynamoDBClient({}), dp.tableName, { retainHours: dp.cooldownHours + 24 }),
    dispatcher: new SsmCleanupDispatcher(new SsmCommandSender(ssm), {
      documentName: dp.documentName,
      deliveryTimeoutSeconds: dp.deliveryTimeoutSeconds,
      outputBucket: wiring.outputBucket,
      outputKeyPrefix: wiring.outputKeyPrefix,
      ...(dp.commandLogGroup ? { commandLogGroup: dp.commandLogGroup } : {}),
    }),
  };
}

/**
 * The per-result log: a logger of its own, without the Lambda context (function ARN, request id, ...)
 * the handler's logger adds to every line, which would more than double a healthy line
 * (HEALTHY_LINE_BUDGET_BYTES, lambda/core/collect/log-record.ts).
 */
export function resultLog(): ResultLog {
  const logger = new Logger({ serviceName: 'gpu-maint-collect' });
  return { write: (record) => logger.info('task result', { result: record }) };
}

/**
 * Client settings of every collector client: throttled calls are retried in the process, with the SDK's
 * standard mode (exponential backoff with jitter, a retry quota per client), rather than failing the record
 * and waiting out the queue's visibility timeout: https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
 */
export const COLLECTOR_CLIENT_CONFIG = { retryMode: 'standard', maxAttempts: 8 } as const;

/** Wall-clock time and timers, for the call-rate limiter. */
export const systemWaitPort: WaitPort = {
  nowMs: () => Date.now(),
  sleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/** Where the collector's calls wait for a slot: the time port, and the deadline of the running invocation. */
export interface CollectCallTiming {
  readonly time: WaitPort;
  /** Epoch milliseconds after which a call that has not got its slot fails its record instead. */
  readonly deadlineMs: () => number;
}

export function awsCollectDeps(env: NodeJS.ProcessEnv, logger: Logger, timing: CollectCallTiming): CollectDeps {
  const settings = jsonEnv(COLLECT_SETTINGS_ENV, env) as EvaluationSettings;
  const wiring = jsonEnv(COLLECT_WIRING_ENV, env);
  const ssm = new SSMClient(COLLECTOR_CLIENT_CONFIG);
  // GetCommandInvocation's quota is shared by all of the collector's containers (docs/scale.md).
  const invocationApi = 'ssm:GetCommandInvocation';
  const invocationLimiter = new RateLimiter(invocationApi, callerRateLimit(invocationApi, wiring.maxConcurrency), timing.time);
  const diskPressure = diskPressureDeps(env, wiring, ssm);
  const remediation = awsProposalStore(env);
  const documents: Record<string, TaskName> = Object.fromEntries(wiring.documents.map((d) => [d.name, d.task as TaskName]));
  return {
    settings,
    documents,
    evaluatorFor: (task) => taskDefinition(task).evaluate,
    isFleetCheck: (task) => taskDefinition(task).fleetCheck,
    outputs: new SsmInvocationOutputSource({
      ssm,
      s3: new S3Client(COLLECTOR_CLIENT_CONFIG),
      outputBucket: wiring.outputBucket,
      outputKeyPrefix: wiring.outputKeyPrefix,
      // The dispatcher sends each task's commands under `<outputKeyPrefix><task>` (lambda/core/dispatch.ts).
      commandKeyPrefix: (ref) => {
        const task = documents[ref.documentName];
        return task ? commandOutputKeyPrefix(wiring.outputKeyPrefix, task) : undefined;
      },
      callRate: { limiter: invocationLimiter, deadlineMs: timing.deadlineMs },
      warn: (message, details) => logger.warn(message, details),
    }),
    metrics: new CloudWatchMetricsSink(new CloudWatchClient(COLLECTOR_CLIENT_CONFIG), wiring.namespace),
    alerts: awsAlertSink(env, { warn: (message, details) => logger.warn(message, details ?? {}) }),
    log: resultLog(),
    clock: systemClock,
    ...(diskPressure ? { diskPressure } : {}),
    ...(remediation ? { remediation } : {}),
  };
}
