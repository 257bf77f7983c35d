/**
 * Scheduled every alerts.sweepIntervalMinutes: raises host.stale for hosts that stopped reporting
 * gpu-check, and sends notifications a silence withheld once it has ended. Hosts are swept in parallel
 * chunks, each host's notifications sent as soon as it is committed; hosts left when the function's time
 * runs low are found again by the next sweep.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { awsAlertDeps } from '../adapters/aws/alert-sink';
import { sweepHosts } from '../core/alerts/engine';

const logger = new Logger({ serviceName: 'gpu-maint-alert-sweep' });
const deps = awsAlertDeps(process.env, { warn: (message, details) => logger.warn(message, details ?? {}) });
/** Time kept back for the last hosts in flight and the summary line. */
const RESERVE_MS = 20_000;

export const handler = async (
  _event?: unknown,
  context?: Context,
): Promise<{ notifications: number; deferred: number; parked: number }> => {
  const outOfTime = context ? () => context.getRemainingTimeInMillis() < RESERVE_MS : undefined;
  const { notifications, deferred, parked } = await sweepHosts(deps, new Date(), { ...(outOfTime ? { outOfTime } : {}) });
  const log = deferred > 0 ? logger.warn.bind(logger) : logger.info.bind(logger);
  log('swept', {
    notifications: notifications.length,
    deferred,
    parked,
    hosts: [...new Set(notifications.map((n) => n.host))].slice(0, 50),
  });
  // A refused notification is parked in its host's state; failing the invocation raises the sweep's alarm.
  if (parked > 0) throw new Error(`${parked} sweep notification(s) could not be sent; parked for the next evaluation`);
  return { notifications: notifications.length, deferred, parked };
};
