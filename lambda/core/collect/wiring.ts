/**
 * The collect Lambda's wiring: what the ResultCollector construct puts in its environment and the
 * handler reads back, validated by the same schemas on both sides.
 */
import { z } from 'zod';
import { configSchema } from '../../config/schema';
import { isTaskName } from '../types';

/**
 * Time a collect invocation keeps after its last rate-limited call (lambda/core/call-rate.ts): the
 * record's own reads and writes and the batch's delivery (metrics, alerts). A record whose call would
 * wait past it fails and is delivered again.
 */
export const COLLECT_DELIVERY_RESERVE_MS = 20_000;

/** Evaluation settings as the collect Lambda receives them (GPU_MAINT_SETTINGS). Unknown keys pass through. */
export const evaluationSettingsSchema = z.looseObject({
  fleet: z.string().min(1),
  metricDetail: z.enum(['fleet', 'instance', 'gpu']),
  thresholds: z.lazy(() => configSchema().shape.thresholds),
  gpuCheck: z.looseObject({
    instanceType: z.string(),
    expectedGpuCount: z.union([z.literal('auto'), z.number()]),
    bootGraceMinutes: z.number(),
  }),
  backup: z.looseObject({ maxAgeHours: z.number() }),
});

/** Which of this stack's documents runs which task (GPU_MAINT_COLLECT.documents). */
export const documentTasksSchema = z.array(z.object({ name: z.string().min(1), task: z.string().refine(isTaskName, 'a task name') }));

/** Environment variable carrying the disk-pressure trigger's wiring (set by ResultCollector.enableCleanupOnDiskPressure). */
export const DISK_PRESSURE_ENV = 'GPU_MAINT_DISK_PRESSURE';

/** cleanup.onDiskPressure as the collect Lambda receives it; absent variable: the trigger is off. */
export const diskPressureWiringSchema = z.object({
  /** cleanup.cooldownHours */
  cooldownHours: z.number().min(0),
  /** cleanup.dryRun (the document's default; quoted in the alert) */
  dryRun: z.boolean(),
  /** This stack's cleanup document. */
  documentName: z.string().min(1),
  deliveryTimeoutSeconds: z.number().int().min(30).max(2_592_000),
  /** Log group Run Command also streams the cleanup's output to; absent: S3 only. */
  commandLogGroup: z.string().min(1).optional(),
  /** Table holding one cooldown item per host (the alert state table). */
  tableName: z.string().min(3),
});
export type DiskPressureWiring = z.infer<typeof diskPressureWiringSchema>;
