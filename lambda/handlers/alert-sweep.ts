/**
 * Scheduled every alerts.sweepIntervalMinutes: raises host.stale for hosts that stopped reporting
 * gpu-check, and sends notifications a silence withheld once it has ended.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { awsAlertDeps } from '../adapters/aws/alert-sink';
import { sweepHosts } from '../core/alerts/engine';

const logger = new Logger({ serviceName: 'gpu-maint-alert-sweep' });
const deps = awsAlertDeps(process.env, { warn: (message, details) => logger.warn(message, details ?? {}) });

export const handler = async (): Promise<{ notifications: number }> => {
  const sent = await sweepHosts(deps, new Date());
  logger.info('swept', { notifications: sent.length, hosts: [...new Set(sent.map((n) => n.host))] });
  return { notifications: sent.length };
};
