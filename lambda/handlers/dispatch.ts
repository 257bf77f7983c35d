/**
 * dispatch Lambda: `{ task, targets?, dryRun?, parameters? }` (from a schedule or by hand) → SSM Run
 * Command. Returns what was targeted and the command ids; a bad payload fails with a message naming
 * the field. Environment: GPU_MAINT_DISPATCH (lambda/core/dispatch.ts DispatchSettings, JSON).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { jsonEnv } from '../adapters/aws/env';
import { SsmCommandSender, SsmFleetDirectory } from '../adapters/aws/ssm-dispatch';
import { type DispatchDeps, type DispatchResult, dispatch, parseDispatchPayload } from '../core/dispatch';
import { DISPATCH_ENV } from '../core/lambda-env';
import { parameterPatterns } from '../tasks/registry';

const logger = new Logger({ serviceName: 'gpu-maint-dispatch' });
let built: DispatchDeps | undefined; // once per container, on the first event

function awsDispatchDeps(): DispatchDeps {
  const ssm = new SSMClient({});
  return {
    settings: jsonEnv(DISPATCH_ENV),
    directory: new SsmFleetDirectory(ssm),
    sender: new SsmCommandSender(ssm),
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
