/**
 * dispatch Lambda: `{ task, targets?, dryRun?, parameters? }` (from a schedule or by hand) → SSM Run
 * Command. Returns what was targeted and the command ids; a bad payload fails with a message naming
 * the field. Environment: GPU_MAINT_DISPATCH (lambda/core/dispatch.ts DispatchSettings, JSON).
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { SSMClient } from '@aws-sdk/client-ssm';
import type { Context } from 'aws-lambda';
import { TASK_PARAMETERS } from '../../lib/task-parameters';
import { jsonEnv } from '../adapters/aws/env';
import { SsmCommandSender, SsmFleetDirectory } from '../adapters/aws/ssm-dispatch';
import { dispatch, type DispatchResult, dispatchSettingsSchema, parseDispatchPayload } from '../core/dispatch';
import type { TaskName } from '../core/types';

const logger = new Logger({ serviceName: 'gpu-maint-dispatch' });
const settings = jsonEnv('GPU_MAINT_DISPATCH', dispatchSettingsSchema);
const ssm = new SSMClient({});
const deps = { settings, directory: new SsmFleetDirectory(ssm), sender: new SsmCommandSender(ssm) };
const parameterPatterns = (task: string) =>
  Object.fromEntries((TASK_PARAMETERS[task as TaskName] ?? []).map((p) => [p.name, p.allowedPattern]));

export const handler = async (event: unknown, context: Context): Promise<DispatchResult> => {
  logger.addContext(context);
  const request = parseDispatchPayload(event, settings, parameterPatterns);
  const result = await dispatch(request, deps);
  const { planned: _planned, ...summary } = result;
  if (result.outcome === 'no-match' || result.failures.length) logger.warn(result.message, { dispatch: summary });
  else logger.info(result.message, { dispatch: summary });
  return result;
};
