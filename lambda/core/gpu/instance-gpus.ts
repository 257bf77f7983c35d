/**
 * Expected NVIDIA GPU count per EC2 instance type: a GPU that fell off the bus shows up as one GPU
 * fewer than the instance type has.
 *
 * Data: instance-gpu-counts.json, generated from aws/eks-node-monitoring-agent
 * internal/pkg/instanceinfo/instance-info.jsonl (Apache-2.0; copy in
 * test/fixtures/ec2/instance-gpu-counts.jsonl, 59 types). test/gpu/instance-gpus.test.ts checks
 * the JSON against that file.
 */
import data from './instance-gpu-counts.json';

const COUNTS: ReadonlyMap<string, number> = new Map(Object.entries(data.nvidiaGpuCount));

/** Instance types with a known GPU count, sorted. */
export const KNOWN_GPU_INSTANCE_TYPES: readonly string[] = [...COUNTS.keys()].sort();

/** NVIDIA GPUs an instance type has, or null when the type is not in the table (no count check). */
export function expectedGpuCountFor(instanceType: string | null | undefined): number | null {
  if (!instanceType) return null;
  return COUNTS.get(instanceType.trim().toLowerCase()) ?? null;
}

/**
 * The GPU count this host must have: the configured number, else the instance type's count, else null.
 * @param configured `gpuCheck.expectedGpuCount` (`auto` or a number)
 * @param instanceType the configured or detected instance type, if any
 */
export function resolveExpectedGpuCount(configured: 'auto' | number, instanceType: string | null): number | null {
  if (configured !== 'auto') return configured;
  return expectedGpuCountFor(instanceType);
}
