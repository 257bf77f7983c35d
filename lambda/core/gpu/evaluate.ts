/**
 * Evaluates gpu-check output (scripts/gpu-check.sh) into findings, metric readings and details.
 *
 * The output is read once (check-input.ts), then each check runs in its own module under checks/ and
 * returns a CheckOutcome: gpu.driver, gpu.unresponsive, gpu.count, then the per-GPU checks (gpu.temperature,
 * gpu.memory, gpu.ecc, gpu.row-remap, gpu.retired-pages, gpu.throttle, gpu.pcie, gpu.power) when
 * nvidia-smi gave a table, then gpu.xid. docs/gpu-check.md describes each rule.
 */
import { addReading, type CheckOutcome, combineOutcomes, emptyOutcome } from '../check-outcome';
import type { ParsedResult } from '../contract';
import type { MetricName } from '../metric-names';
import type { GpuMetricReading, Reading } from '../metrics';
import type { Evaluation, EvaluationContext, TaskEvaluator } from '../task-evaluation';
import { readGpuCheckInput } from './check-input';
import { countCheck, countGpus } from './checks/count';
import { driverCheck } from './checks/driver';
import { eccCheck } from './checks/ecc';
import { memoryCheck } from './checks/memory';
import { pcieCheck } from './checks/pcie';
import { memoryUsedPct, round1 } from './checks/per-gpu';
import { powerCheck } from './checks/power';
import { retiredPagesCheck } from './checks/retired-pages';
import { rowRemapCheck } from './checks/row-remap';
import { temperatureCheck } from './checks/temperature';
import { throttleCheck } from './checks/throttle';
import { unresponsiveCheck } from './checks/unresponsive';
import { xidCheck } from './checks/xid';

/** Run only when nvidia-smi gave a GPU table: each gives one finding per affected GPU, or one ok finding. */
const PER_GPU_CHECKS = [temperatureCheck, memoryCheck, eccCheck, rowRemapCheck, retiredPagesCheck, throttleCheck, pcieCheck, powerCheck];

export const evaluateGpuCheck: TaskEvaluator = (parsed: ParsedResult, ctx: EvaluationContext): Evaluation => {
  const input = readGpuCheckInput(parsed, ctx.settings);
  const checks = combineOutcomes([
    driverCheck(input),
    unresponsiveCheck(input),
    countCheck(input),
    ...(input.rows.length > 0 ? PER_GPU_CHECKS.map((check) => check(input)) : []),
    xidCheck(input),
  ]);
  const gpus = input.rows.map((r) => r.reading);

  // Readings of the host as a whole, from every check's findings.
  const host: CheckOutcome = emptyOutcome();
  const unhealthy = new Set(checks.findings.filter((f) => f.severity !== 'ok' && f.gpu !== undefined).map((f) => f.gpu));
  addReading(host, 'GpusUnhealthy', unhealthy.size + countGpus(input).missing, 'Count');
  const utilizations = gpus.map((g) => g.utilizationPct).filter((u): u is number => u !== null);
  addReading(
    host,
    'GpuUtilizationAvg',
    utilizations.length ? round1(utilizations.reduce((a, b) => a + b, 0) / utilizations.length) : null,
    'Percent',
  );

  const gpuReadings: GpuMetricReading[] = [];
  for (const g of gpus) {
    const per = (name: MetricName, value: number | null, unit: Reading['unit']) => {
      if (value !== null) gpuReadings.push({ name, value, unit, gpu: g.index });
    };
    per('GpuTemperature', g.temperatureC, 'None');
    per('GpuUtilization', g.utilizationPct, 'Percent');
    per('GpuMemoryUsedPct', memoryUsedPct(g), 'Percent');
    per('GpuPowerDraw', g.powerDrawW, 'None');
  }

  return {
    findings: checks.findings,
    readings: [...checks.readings, ...host.readings],
    gpuReadings,
    details: { gpus, ...checks.details, instanceType: input.instanceType, expectedGpuCount: input.expected },
  };
};
