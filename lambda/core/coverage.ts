/**
 * Coverage: did the fleet report? The dispatcher publishes how many results a scheduled dispatch expects
 * (the instances SSM resolved the fleet tag to); every collected result whose script ran counts as
 * reported (ResultsReported, lambda/core/metrics.ts). The coverage alarm (lib/constructs/coverage-alarm.ts)
 * fires when reported / expected stays below a share, which one result anywhere cannot hide.
 */
import { NEVER_RAN_STATUSES } from './collect/event';
import { METRICS } from './metric-names';

/** Results one dispatch expects (dimensions Fleet, Task), one datapoint per dispatch. */
export const EXPECTED_RESULTS_METRIC = METRICS.ExpectedResults;

/** The coverage alarm's defaults (lib/constructs/coverage-alarm.ts), which bench/scale/simulate.ts evaluates too. */
export const COVERAGE_ALARM_DEFAULTS = {
  /** Share of the expected results below which a period is low. */
  minShare: 0.8,
  /** Minutes per period: at least two gpu-check periods, so results that arrive late even out. */
  periodMinutes: 15,
  /** Consecutive low periods before the alarm fires. */
  evaluationPeriods: 2,
} as const;

/** Whether a result counts as reported: the script ran (DeliveryTimedOut and friends are absences). */
export function countsAsReported(invocationStatus: string | undefined): boolean {
  return invocationStatus === undefined || !NEVER_RAN_STATUSES.has(invocationStatus);
}

/** Name of a fleet check's coverage alarm (lib/constructs/coverage-alarm.ts); `gpu-maint smoke` sets it to ALARM. */
export function coverageAlarmName(stackName: string, task: string): string {
  return `${stackName}-${task}-coverage`;
}
