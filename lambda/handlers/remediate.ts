/**
 * Scheduled every remediation.intervalMinutes: verifies hosts in remediation, decides under the blast-radius
 * limits which proposed hosts are acted on now, starts their Automation runbooks and notifies.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { awsRemediationDeps } from '../adapters/aws/remediation-deps';
import { runRemediation } from '../core/remediation/run';

const logger = new Logger({ serviceName: 'gpu-maint-remediate' });
const deps = awsRemediationDeps(process.env, { warn: (message, details) => logger.warn(message, details ?? {}) });

export const handler = async (): Promise<{ acted: number; held: number; storms: number; failedToStart: number }> => {
  const run = await runRemediation(deps, new Date());
  await deps.metrics.flush();
  if (!run) return { acted: 0, held: 0, storms: 0, failedToStart: 0 };
  for (const d of run.plan.decisions) logger.info('remediation decision', { ...d, cause: d.cause.key });
  for (const o of run.plan.recoveries) logger.info('remediation outcome', { host: o.record.host, outcome: o.outcome, minutes: o.minutes });
  const summary = {
    acted: run.plan.decisions.filter((d) => d.kind === 'act').length,
    held: run.plan.decisions.filter((d) => d.kind === 'hold').length,
    storms: run.plan.newStorms.length,
    failedToStart: run.failedToStart.size,
  };
  // A runbook that could not start is in the notification; failing the invocation also raises the alarm.
  if (summary.failedToStart > 0)
    throw new Error(`${summary.failedToStart} remediation(s) could not start: ${[...run.failedToStart.values()].join('; ')}`);
  return summary;
};
