/**
 * dispatch Lambda: `{ task, targets?, dryRun?, parameters? }` (from a schedule or by hand) → SSM Run
 * Command. Returns what was targeted and the command ids; a bad payload fails with a message naming
 * the field. Environment: GPU_MAINT_DISPATCH (lambda/core/dispatch.ts DispatchSettings, JSON).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { jsonEnv } from '../adapters/aws/env';
import { CloudWatchExpectedResults, SsmCommandSender, SsmCommandTargetCounter, SsmFleetDirectory } from '../adapters/aws/ssm-dispatch';
import { type DispatchDeps, type DispatchResult, dispatch, parseDispatchPayload } from '../core/dispatch';
import { DISPATCH_ENV } from '../core/lambda-env';
import { parameterPatterns } from '../tasks/registry';

const logger = new Logger({ serviceName: 'gpu-maint-dispatch' });
let built: DispatchDeps | undefined; // once per container, on the first event

function awsDispatchDeps(): DispatchDeps {
  // Throttled calls are retried in the process with backoff and jitter (SDK standard mode):
  // https://docs.aws.amazon.com/sdkref/latest/guide/feature-retry-behavior.html
  const ssm = new SSMClient({ retryMode: 'standard', maxAttempts: 8 });
  const settings = jsonEnv(DISPATCH_ENV);
  return {
    settings,
    directory: new SsmFleetDirectory(ssm),
    sender: new SsmCommandSender(ssm),
    targetCounter: new SsmCommandTargetCounter(ssm),
    ...(settings.metricsNamespace
      ? {
          expected: new CloudWatchExpectedResults(
            new CloudWatchClient({ retryMode: 'standard', maxAttempts: 8 }),
            settings.metricsNamespace,
            settings.fleetTag.value,
          ),
        }
      : {}),
  };
}

export const handler = async (event: unknown, context: Context): Promise<DispatchResult> => {
  logger.addContext(context);
  const deps = (built ??= awsDispatchDeps());
  const request = parseDispatchPayload(event, deps.settings, parameterPatterns);
  const result = await dispatch(request, deps);
  const { planned: _planned, ...summary } = result;
  if (result.outcome === 'no-match' || result.failures.length) logger.warn(result.message, { dispatch: summary });
  else logger.info(result.message, { dispatch: summary });
  return result;
};
