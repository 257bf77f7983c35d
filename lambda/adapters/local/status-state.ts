/**
 * Reads what the local status page shows from the state dir: metrics.jsonl (history), the latest
 * result of each task (results/), and the alert state (alerts/state.json). Anything unreadable is
 * reported in `problems` and the page is still written from the rest.
 */
import { readFileSync } from 'node:fs';
import type { HostAlertState } from '../../core/alerts/model';
import type { MetricPoint } from '../../core/status/model';
import type { TaskResult } from '../../core/types';
import { alertStateFilePath, FileAlertStateStore } from './alert-state-file';
import { readLatestResults } from './latest-results';

export interface LocalStatusState {
  readonly metrics: MetricPoint[];
  readonly latest: TaskResult[];
  readonly alerts: HostAlertState[];
  readonly problems: string[];
}

/** Lines of metrics.jsonl at or after `since`; malformed lines are counted, not fatal. */
export function readMetricsHistory(file: string, since: Date): { metrics: MetricPoint[]; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { metrics: [], problems: [] };
    return { metrics: [], problems: [`${file}: ${(err as Error).message}`] };
  }
  const metrics: MetricPoint[] = [];
  let bad = 0;
  const sinceMs = since.getTime();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const m = JSON.parse(line) as MetricPoint;
      const t = Date.parse(m.time);
      if (typeof m.name !== 'string' || typeof m.value !== 'number' || Number.isNaN(t) || typeof m.dimensions !== 'object') {
        bad++;
      } else if (t >= sinceMs) {
        metrics.push(m);
      }
    } catch {
      bad++;
    }
  }
  return { metrics, problems: bad ? [`${file}: ${bad} line(s) are not metric records and were skipped`] : [] };
}

export async function readLocalStatusState(o: { stateDir: string; metricsFile: string; since: Date }): Promise<LocalStatusState> {
  const history = readMetricsHistory(o.metricsFile, o.since);
  const latest = readLatestResults(o.stateDir);
  const problems = [...history.problems, ...latest.problems];
  const alerts: HostAlertState[] = [];
  try {
    const store = new FileAlertStateStore(alertStateFilePath(o.stateDir));
    for (const h of await store.listHosts()) alerts.push(await store.load(h.host));
  } catch (err) {
    problems.push(`${alertStateFilePath(o.stateDir)}: ${(err as Error).message}`);
  }
  return { metrics: history.metrics, latest: latest.results, alerts, problems };
}
