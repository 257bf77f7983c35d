/**
 * The latest result of each task, one JSON file per task under <stateDir>/results/, replaced
 * atomically on each run: what `gpu-maint report` shows as "now" (findings, disks per mount, the
 * latest cleanup), which metrics.jsonl does not hold.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { TaskResult } from '../../core/types';

export function latestResultsDir(stateDir: string): string {
  return path.join(stateDir, 'results');
}

export function writeLatestResult(stateDir: string, result: TaskResult): void {
  const dir = latestResultsDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${result.task}.json`);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(result, null, 1)}\n`);
  renameSync(tmp, file);
}

/** Every task's latest result; a file that cannot be read is named in `problems`, never thrown. */
export function readLatestResults(stateDir: string): { results: TaskResult[]; problems: string[] } {
  const dir = latestResultsDir(stateDir);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { results: [], problems: [] };
    return { results: [], problems: [`${dir}: ${(err as Error).message}`] };
  }
  const results: TaskResult[] = [];
  const problems: string[] = [];
  for (const name of names.sort()) {
    const file = path.join(dir, name);
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as TaskResult;
      if (typeof parsed?.task !== 'string' || !Array.isArray(parsed.findings) || !Array.isArray(parsed.metrics))
        throw new Error('not a task result (expected task, findings and metrics)');
      results.push(parsed);
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message}`);
    }
  }
  return { results, problems };
}
