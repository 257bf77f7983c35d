/**
 * The watcher's AWS path without AWS, for tests and bench/watch: the real scripts/gpu-watch.sh (bundled)
 * following a fake journal, a stand-in `aws` CLI that records each `events put-events` entry, and the
 * EventBridge envelope those entries become on the rule's SQS queue, as the collect Lambda receives it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { SQSRecord } from 'aws-lambda';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import { REPO_ROOT } from './fixtures';

export { setCollectEnv } from './collect-env';

export const FAKES_BIN = path.join(REPO_ROOT, 'test', 'fakes', 'bin');

/** One `--entries` JSON array per line, then the `--region` given, in `<dir>/put-events.jsonl`. */
const FAKE_AWS = `#!/usr/bin/env bash
# Stand-in aws CLI: records \`events put-events\` calls and reports no failed entry.
set -euo pipefail
entries="" region=""
while (($# > 0)); do
  case "$1" in
    --entries) entries="$2"; shift ;;
    --region) region="$2"; shift ;;
  esac
  shift
done
printf '%s\\t%s\\n' "\${region}" "\${entries}" >>"\${FAKE_AWS_PUT_EVENTS:?}"
echo 0
`;

export interface PutEventsCall {
  readonly region: string;
  readonly entries: readonly { Source: string; DetailType: string; EventBusName: string; Detail: string }[];
}

export interface WatcherOnBus {
  /** Appends kernel lines to the journal the fake journalctl follows. */
  readonly journal: string;
  /** The watcher's state dir (GPU_MAINT_STATE_DIR). */
  readonly stateDir: string;
  readonly child: ChildProcess;
  /** The put-events calls so far. */
  calls(): PutEventsCall[];
  /** Resolves once the follower has started (lines appended later are followed). */
  following(): Promise<void>;
  /** Stops the watcher's process group; resolves when it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts the bundled watcher on a fake journal with `GPU_MAINT_WATCH_EVENT_BUS` set, the stand-in `aws`
 * first on PATH. Every wait is bounded by `waitMs`.
 */
export function startWatcherOnBus(dir: string, options: { env?: Record<string, string>; waitMs?: number } = {}): WatcherOnBus {
  const waitMs = options.waitMs ?? 30_000;
  const bin = path.join(dir, 'aws-bin');
  const stateDir = path.join(dir, 'state');
  const journal = path.join(dir, 'journal');
  const putEvents = path.join(dir, 'put-events.jsonl');
  const script = path.join(dir, 'gpu-watch.sh');
  for (const d of [bin, stateDir]) mkdirSync(d, { recursive: true });
  writeFileSync(path.join(bin, 'aws'), FAKE_AWS);
  chmodSync(path.join(bin, 'aws'), 0o755);
  writeFileSync(journal, '');
  writeFileSync(putEvents, '');
  writeFileSync(script, bundleTaskScript('gpu-watch'), { mode: 0o700 });
  const child = spawn('bash', [script], {
    env: {
      ...process.env,
      PATH: `${bin}:${FAKES_BIN}:${process.env.PATH}`,
      LC_ALL: 'C',
      FAKE_JOURNAL_FILE: journal,
      FAKE_AWS_PUT_EVENTS: putEvents,
      GPU_MAINT_STATE_DIR: stateDir,
      GPU_MAINT_IMDS: 'off',
      GPU_MAINT_HOST_ID: 'i-0watchbus',
      GPU_MAINT_WATCH_SOURCE: 'journal',
      GPU_MAINT_WATCH_EVENT_BUS: 'arn:aws:events:eu-west-1:111122223333:event-bus/gpu-maint-watch',
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  child.stderr?.resume();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cursor = path.join(stateDir, 'gpu-watch.journal-cursor');
  return {
    journal,
    stateDir,
    child,
    calls: () =>
      readFileSync(putEvents, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => {
          const [region, entries] = l.split('\t');
          return { region, entries: JSON.parse(entries) };
        }),
    following: () => pollUntil(() => existsSync(cursor), waitMs, 'the fake journalctl to start following'),
    async stop() {
      try {
        process.kill(-(child.pid as number), 'SIGTERM');
      } catch {
        // already gone
      }
      await Promise.race([exited, sleep(waitMs)]);
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `ready` every 20 ms; rejects after `timeoutMs` naming what it waited for. */
export async function pollUntil(ready: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * The event EventBridge delivers for one PutEvents entry (envelope fields, `detail` parsed from the
 * entry's Detail string): https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-events-structure.html
 * Wrapped as the SQS record the collect Lambda receives from the rule's queue target.
 */
export function busRecord(entry: PutEventsCall['entries'][number], id: string, time: Date): SQSRecord {
  const event = {
    version: '0',
    id: `evt-${id}`,
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: '111122223333',
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: 'eu-west-1',
    resources: [],
    detail: JSON.parse(entry.Detail),
  };
  return { messageId: id, body: JSON.stringify(event) } as SQSRecord;
}
