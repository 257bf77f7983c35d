/**
 * The environment the stack gives the collect function (ResultCollector, AlertStateTable.bindCollector), for
 * a config, one gpu-check document and an alert table, set on process.env: what the handler reads on its
 * first event. The tests that run the real handler, and the watcher's latency bench, start from it.
 */
import type { Config } from '../../lambda/config/schema';
import { ALERT_ENV, alertSettings } from '../../lambda/core/alerts/settings';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';

export function setCollectEnv(config: Config, topicArn: string, gpuCheckDocument: string, alertTable = 'alert-state'): void {
  process.env.GPU_MAINT_SETTINGS = JSON.stringify(evaluationSettings(config));
  process.env.GPU_MAINT_COLLECT = JSON.stringify({
    documents: [{ name: gpuCheckDocument, task: 'gpu-check' }],
    outputBucket: 'output-bucket',
    outputKeyPrefix: 'command-output/',
    namespace: 'GpuFleetMaintenance',
    maxConcurrency: 10,
  });
  process.env[ALERT_ENV.settings] = JSON.stringify(alertSettings(config));
  process.env[ALERT_ENV.table] = alertTable;
  process.env[ALERT_ENV.topicArn] = topicArn;
}
