/**
 * Each Lambda's configuration contract, named once: the environment variable and the schema of its JSON
 * value. The construct that sets a variable (lib/) and the handler that reads it (lambda/handlers,
 * lambda/adapters/aws) both use the contract here, so the two sides cannot drift apart.
 */
import { z } from 'zod';
import { ALERT_ENV } from './alerts/settings';
import { PRUNE_SETTINGS_ENV, pruneSettingsSchema } from './backup/prune';
import { DISK_PRESSURE_ENV, diskPressureWiringSchema, documentTasksSchema, evaluationSettingsSchema } from './collect';
import { dispatchSettingsSchema } from './dispatch';
import { remediationSettingsSchema } from './remediation/model';

export interface JsonEnvContract<S extends z.ZodType> {
  /** Environment variable name, e.g. `GPU_MAINT_DISPATCH`. */
  readonly variable: string;
  /** Schema of the variable's JSON value. */
  readonly schema: S;
}

function contract<S extends z.ZodType>(variable: string, schema: S): JsonEnvContract<S> {
  return { variable, schema };
}

/** dispatch Lambda: fleet tag, rate control, output locations and this stack's documents per task. */
export const DISPATCH_ENV = contract('GPU_MAINT_DISPATCH', dispatchSettingsSchema);

/** collect Lambda: the evaluation settings (thresholds, fleet, metric detail). */
export const COLLECT_SETTINGS_ENV = contract('GPU_MAINT_SETTINGS', evaluationSettingsSchema);

/** collect Lambda: this stack's documents, where output lands and the metric namespace (alerting: ALERT_ENV). */
export const COLLECT_WIRING_ENV = contract(
  'GPU_MAINT_COLLECT',
  z.object({
    documents: documentTasksSchema,
    outputBucket: z.string().min(3),
    outputKeyPrefix: z.string(),
    namespace: z.string().min(1),
    /** The event source's maxConcurrency: how many containers share the collector's call budget. */
    maxConcurrency: z.number().int().min(1),
  }),
);

/** collect Lambda, only with cleanup.onDiskPressure: how to start cleanup on a host. */
export const DISK_PRESSURE_WIRING_ENV = contract(DISK_PRESSURE_ENV, diskPressureWiringSchema);

/** The remediation Lambda's resources, beside its settings (REMEDIATION_ENV). */
export const remediationWiringSchema = z.object({
  /** The stack's Automation runbooks, one per rung (replace has two ways). */
  documents: z.object({
    tag: z.string().min(1),
    notifyScheduler: z.string().min(1),
    reboot: z.string().min(1),
    replaceAsg: z.string().min(1),
    stopStart: z.string().min(1),
  }),
  /** Role the runbooks run as (AutomationAssumeRole). */
  automationRoleArn: z.string().startsWith('arn:'),
  namespace: z.string().min(1),
});
export type RemediationWiring = z.infer<typeof remediationWiringSchema>;

/** collect Lambda and remediation Lambda, only with remediation.enabled: the planner's settings. */
export const REMEDIATION_ENV = contract('GPU_MAINT_REMEDIATION', remediationSettingsSchema);

/** remediation Lambda: its runbooks, their role and the metric namespace. */
export const REMEDIATION_WIRING_ENV = contract('GPU_MAINT_REMEDIATION_WIRING', remediationWiringSchema);

/** prune Lambda: bucket, retention, fleet and namespace. */
export const PRUNE_ENV = contract(PRUNE_SETTINGS_ENV, pruneSettingsSchema);

/** Alerting Lambdas (collect, sweep, forwarder): plain-string variables, names in ALERT_ENV. */
export { ALERT_ENV };
