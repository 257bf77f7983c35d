/**
 * Progress of long work: records from the scripts become one updating line with rate and ETA, on a
 * terminal only (the launcher under `script`, a real pty), never in a pipe or with --json.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { formatElapsed, formatProgress, ProgressLine, parseProgressRecord } from '../../lambda/adapters/local/progress';
import { inheritedClockEnv } from '../helpers/clock-env';
import { REPO_ROOT } from '../helpers/fixtures';

const RECORD = 'progress: task=backup unit=llama-3 units=3/10 bytes=104857600/1048576000';

describe('progress records', () => {
  test('a record is parsed into units and bytes done of total', () => {
    expect(parseProgressRecord(RECORD)).toEqual({
      task: 'backup',
      unit: 'llama-3',
      unitsDone: 3,
      unitsTotal: 10,
      bytesDone: 104857600,
      bytesTotal: 1048576000,
    });
  });

  test.each(['2026-11-28T12:00:00Z gpu-maint[backup]: uploading', 'progress: task=backup units=x/1 bytes=1/2', ''])(
    '%j is not a record',
    (line) => {
      expect(parseProgressRecord(line)).toBeNull();
    },
  );

  test('the line shows unit, bytes done of total, rate, ETA and elapsed time', () => {
    const record = parseProgressRecord(RECORD);
    expect(record && formatProgress(record, 10)).toBe(
      'backup 3/10 units · llama-3 · 100.0 MiB of 1000.0 MiB · 10.0 MiB/s · ETA 1:30 · 0:10 elapsed',
    );
  });

  test('before any byte is done there is no rate and no ETA', () => {
    expect(formatProgress({ task: 'restore', unit: '', unitsDone: 0, unitsTotal: 2, bytesDone: 0, bytesTotal: 10 }, 3)).toBe(
      'restore 0/2 units · 0 B of 10 B · 0:03 elapsed',
    );
  });

  test('a task without records shows how long it has been running, and stop clears the line', () => {
    let now = 0;
    const lines: string[] = [];
    const progress = new ProgressLine(
      'gpu-check',
      (l) => lines.push(l),
      () => now,
      0,
    );
    now = 75_000;
    expect(progress.line('2026-11-28T12:00:00Z gpu-maint[gpu-check]: a log line')).toBe(false);
    expect(progress.line(RECORD.replace('task=backup', 'task=gpu-check'))).toBe(true);
    progress.stop();
    expect(lines[0]).toBe(formatElapsed('gpu-check', 0));
    expect(lines[1]).toMatch(/^gpu-check 3\/10 units .* 1:15 elapsed$/);
    expect(lines.at(-1)).toBe('');
  });
});

describe('the launcher shows progress on a terminal only', () => {
  let root: string;
  let args: string[];
  let env: NodeJS.ProcessEnv;

  beforeAll(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-progress-'));
    fs.mkdirSync(path.join(root, 'models/llama'), { recursive: true });
    fs.writeFileSync(path.join(root, 'models/llama/w.bin'), 'weights');
    fs.mkdirSync(path.join(root, 'models/bert'));
    fs.writeFileSync(path.join(root, 'models/bert/w.bin'), 'bert');
    args = [
      path.join(REPO_ROOT, 'bin', 'gpu-maint.cjs'),
      '--set',
      `local.stateDir=${path.join(root, 'state')}`,
      '--set',
      `backup.sources=["${path.join(root, 'models')}"]`,
      'run',
      'backup',
    ];
    env = {
      ...inheritedClockEnv(),
      PATH: process.env.PATH,
      HOME: root,
      LANG: 'C.UTF-8',
      GPU_MAINT_HOST_ID: 'pty-host',
      GPU_MAINT_IMDS: 'off',
      TERM: 'xterm',
    };
  });

  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Runs the launcher on a pseudo-terminal (util-linux script); returns what the terminal got. */
  function onTerminal(extra: string[]): string {
    const command = [process.execPath, ...args, ...extra].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
    const run = spawnSync('script', ['-qfec', `stty cols 160 rows 40; exec ${command}`, '/dev/null'], {
      cwd: REPO_ROOT,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(run.status, run.stderr).toBe(0);
    return run.stdout;
  }

  test('on a terminal the backup rewrites one line with units, bytes, rate and ETA', () => {
    const screen = onTerminal([]);
    // Each state of the line starts with a carriage return and ends by erasing the rest of the line.
    const states = screen.split('\r').filter((s) => s.endsWith('\u001b[K'));
    expect(states).toContainEqual(expect.stringMatching(/^backup 2\/2 units · \S+ · 11 B of 11 B · .*\/s · ETA 0:00 · \d+:\d\d elapsed/));
    expect(screen).not.toContain('progress: task=');
    expect(stripVTControlCharacters(screen)).toContain('backup on pty-host: OK');
    expect(screen).toContain('\u001b[32m✓');
  });

  test('with --json on a terminal there is no progress line', () => {
    const screen = onTerminal(['--json']);
    expect(screen).not.toMatch(/units · |elapsed/);
    // The terminal gets stderr too: the document starts at the first line that is just "{".
    expect(JSON.parse(screen.slice(screen.search(/^\{\r?$/m))).task).toBe('backup');
  });

  test('in a pipe there is no progress line and no colour', () => {
    const run = spawnSync(process.execPath, args, { cwd: REPO_ROOT, env, encoding: 'utf8', timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toMatch(/units · |elapsed|\r/);
    expect(run.stdout).not.toContain('\u001b[');
    expect(run.stdout).toContain('backup on pty-host: OK');
  });
});
