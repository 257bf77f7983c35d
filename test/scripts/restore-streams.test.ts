/**
 * restore_plan_streams (scripts/lib/backup-restore.sh) under real bash: how a file:// restore puts its
 * units into the streams that one zstd and one tar each extract. Units are given as they would be
 * selected from a manifest (path below the source, the source's dir below the target, bytes).
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { SCRIPTS_DIR } from '../../lambda/tasks/scripts';

interface Unit {
  readonly path: string;
  readonly bytes: number;
  /** The source's dir below the target; empty with one source. */
  readonly sub?: string;
}

/** The streams planned for these units, each as the paths of its units in extraction order. */
function plan(units: readonly Unit[]): string[][] {
  const lib = (name: string) => `source ${JSON.stringify(path.join(SCRIPTS_DIR, 'lib', name))}`;
  const script = [
    ...['common.sh', 'result.sh', 's3-http.sh', 'backup-store.sh', 'json.sh', 'backup-manifest.sh', 'backup-restore.sh'].map(lib),
    // One unit per input line: path, source dir, bytes, separated by `|` (a tab is whitespace to read:
    // an empty source dir would vanish).
    'k=0',
    "while IFS='|' read -r p sub bytes; do",
    '  RU_ID[k]="u${k}" RU_PATH[k]="${p}" RU_SUB[k]="${sub}" RU_SOURCE_BYTES[k]="${bytes}"',
    '  k=$((k + 1))',
    'done',
    'restore_plan_streams "${!RU_ID[@]}"',
    'for n in "${!RESTORE_STREAM_UNITS[@]}"; do',
    '  [[ -n "${RESTORE_STREAM_UNITS[n]}" ]] || continue',
    '  line=""',
    '  for k in ${RESTORE_STREAM_UNITS[n]}; do',
    '    [[ "${RU_DIR[k]}" == "s${n}" ]] || { echo "unit ${k} in stream ${n} has dir ${RU_DIR[k]}" >&2; exit 1; }',
    '    line+="${line:+ }${RU_SUB[k]:+${RU_SUB[k]}:}${RU_PATH[k]}"',
    '  done',
    '  printf "%s\\n" "${line}"',
    'done',
  ].join('\n');
  const run = spawnSync('bash', ['-c', script], {
    encoding: 'utf8',
    input: units.map((u) => `${u.path}|${u.sub ?? ''}|${u.bytes}\n`).join(''),
    env: { PATH: process.env.PATH ?? '' },
  });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' '));
}

const MiB = 1 << 20;

test('a model and its shards share a stream, the shards first, and the two streams split the bytes', () => {
  const units: Unit[] = [];
  for (const model of ['m0', 'm1', 'm2', 'm3']) {
    units.push({ path: model, bytes: 1000 });
    for (const shard of [0, 1]) units.push({ path: `${model}/shard-${shard}.bin`, bytes: 16 * MiB });
  }
  expect(plan(units)).toEqual([
    ['m0/shard-0.bin', 'm0/shard-1.bin', 'm0', 'm2/shard-0.bin', 'm2/shard-1.bin', 'm2'],
    ['m1/shard-0.bin', 'm1/shard-1.bin', 'm1', 'm3/shard-0.bin', 'm3/shard-1.bin', 'm3'],
  ]);
});

test('a group goes to the stream with fewer bytes so far', () => {
  expect(
    plan([
      { path: 'big', bytes: 100 },
      { path: 'a', bytes: 30 },
      { path: 'b', bytes: 30 },
      { path: 'c', bytes: 30 },
    ]),
  ).toEqual([['big'], ['a', 'b', 'c']]);
});

test('a large file below a unit of another source is a group of its own, in a stream of its own source', () => {
  // Sources /data (sub data) and /data/models (sub data/models): the second's unit lies inside the first's tree.
  const streams = plan([
    { path: 'models', sub: 'data', bytes: 10 },
    { path: 'llama/w.bin', sub: 'data/models', bytes: 10 },
  ]);
  expect(streams).toEqual([['data:models'], ['data/models:llama/w.bin']]);
});

test('one unit alone makes one stream', () => {
  expect(plan([{ path: 'only', bytes: 5 }])).toEqual([['only']]);
});

test('a stream that reaches 256 archives is closed and another one opened: every unit in one stream', () => {
  const units = Array.from({ length: 600 }, (_, i) => ({ path: `d${String(i).padStart(3, '0')}`, bytes: 1 }));
  const streams = plan(units);
  // The first stream closes at 256; the new one then has fewer bytes than the other open one (255).
  expect(streams.map((s) => s.length)).toEqual([256, 255, 89]);
  expect(streams.flat().sort()).toEqual(units.map((u) => u.path));
});
