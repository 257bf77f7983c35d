/**
 * The part of the configuration that evaluation needs. Lambdas receive it as one JSON environment
 * variable set by the construct; local mode derives it from the loaded config.
 */
import type { Config, Thresholds } from '../config/schema';
import type { MetricDetail } from './metrics';

export interface EvaluationSettings {
  readonly fleet: string;
  readonly metricDetail: MetricDetail;
  readonly thresholds: Thresholds;
  readonly gpuCheck: {
    readonly instanceType: string;
    readonly expectedGpuCount: 'auto' | number;
    readonly bootGraceMinutes: number;
  };
  readonly backup: {
    readonly maxAgeHours: number;
  };
}

export function evaluationSettings(config: Config): EvaluationSettings {
  return {
    fleet: config.fleet.name,
    metricDetail: config.metrics.detail,
    thresholds: config.thresholds,
    gpuCheck: {
      instanceType: config.gpuCheck.instanceType,
      expectedGpuCount: config.gpuCheck.expectedGpuCount,
      bootGraceMinutes: config.gpuCheck.bootGraceMinutes,
    },
    backup: { maxAgeHours: config.backup.maxAgeHours },
  };
}
