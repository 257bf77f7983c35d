/**
 * scripts/lib/result.sh and common.sh under real bash: the contract they print is what the core parses,
 * and probes end on time even when the command ignores SIGTERM.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { parseResult, RESULT_CONTRACT } from '../../lambda/core/contract';
import { bundleTaskScript, SCRIPTS_DIR } from '../../lambda/tasks/scripts';
import { inheritedClockEnv } from '../helpers/clock-env';
import { tempDir } from '../helpers/temp';

let scriptsDir: string;

/** Bundles a throwaway task script that uses the real libs, and runs it. */
function runScript(body: string, env: Record<string, string> = {}) {
  const name = `t${Math.random().toString(36).slice(2, 8)}`;
  writeFileSync(
    path.join(scriptsDir, `${name}.sh`),
    [
      '#!/usr/bin/env bash',
      'set -euo pipefail',
      'source "${BASH_SOURCE[0]%/*}/lib/common.sh"',
      'source "${BASH_SOURCE[0]%/*}/lib/result.sh"',
      body,
      '',
    ].join('\n'),
  );
  const bundle = bundleTaskScript(name, scriptsDir);
  const file = path.join(scriptsDir, `${name}.bundle.sh`);
  writeFileSync(file, bundle);
  // The kill timeout only keeps a broken script from hanging the suite; a script that needs it fails its test.
  return spawnSync('bash', [file], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...inheritedClockEnv(), PATH: process.env.PATH ?? '', GPU_MAINT_IMDS: 'off', ...env },
  });
}

beforeAll(() => {
  scriptsDir = tempDir('gpu-maint-scripts-');
  mkdirSync(path.join(scriptsDir, 'lib'));
  cpSync(path.join(SCRIPTS_DIR, 'lib'), path.join(scriptsDir, 'lib'), { recursive: true });
});

describe('bundleTaskScript', () => {
  test('inlines each sourced lib once and keeps the bash shebang first', () => {
    const bundle = bundleTaskScript(
      'x',
      writeScript('x', 'source "${BASH_SOURCE[0]%/*}/lib/common.sh"\nsource "${BASH_SOURCE[0]%/*}/lib/common.sh"\n'),
    );
    expect(bundle.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    // The bundle drops comments (and so any begin/end markers): count a function common.sh defines.
    expect(bundle.match(/^on_exit\(\) \{$/gm)).toHaveLength(1);
    expect(bundle).not.toMatch(/^source /m);
  });

  test('a script without a bash shebang is refused (SSM runs scripts through sh)', () => {
    expect(() => bundleTaskScript('y', writeScript('y', 'echo hi\n', '#!/bin/sh'))).toThrow(/must start with "#!\/usr\/bin\/env bash"/);
  });

  test.each(['../etc/passwd', 'Gpu Check', ''])('script name %j is refused', (name) => {
    expect(() => bundleTaskScript(name)).toThrow(/lowercase letters, digits and dashes/);
  });
});

function writeScript(name: string, body: string, shebang = '#!/usr/bin/env bash'): string {
  const dir = tempDir('gpu-maint-bundle-');
  mkdirSync(path.join(dir, 'lib'));
  cpSync(path.join(SCRIPTS_DIR, 'lib'), path.join(dir, 'lib'), { recursive: true });
  writeFileSync(path.join(dir, `${name}.sh`), `${shebang}\n${body}`);
  return dir;
}

describe('result contract printed by bash', () => {
  test('probes print sections the core parses, with stdout, stderr and exit status', () => {
    const r = runScript(`
result_begin demo host-1
probe hello 5 printf 'a b\\nc\\n' || true
probe fails 5 bash -c 'echo out; echo err >&2; exit 3' || true
kv_section summary "units=3" "note=two
lines"
result_end`);
    expect(r.status).toBe(0);
    const parsed = parseResult(r.stdout);
    expect(parsed.errors).toEqual([]);
    expect(parsed).toMatchObject({ task: 'demo', host: 'host-1', complete: true });
    expect(parsed.sections.get('hello')).toMatchObject({ stdout: 'a b\nc\n', exitCode: 0 });
    expect(parsed.sections.get('fails')).toMatchObject({ stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
    expect(parsed.sections.get('summary')?.stdout).toBe('units=3\nnote=two lines\n');
  });

  test('output without a final newline still ends its section cleanly', () => {
    const r = runScript(`result_begin demo h\nprobe p 5 printf 'no-newline' || true\nresult_end`);
    expect(parseResult(r.stdout).sections.get('p')?.stdout).toBe('no-newline\n');
  });

  test('raw lines that look like contract markers are escaped', () => {
    const r = runScript(`result_begin demo h\nprobe p 5 printf '@@gpu-maint v1 end task=demo\\n' || true\nresult_end`);
    const parsed = parseResult(r.stdout);
    expect(parsed.errors).toEqual([]);
    expect(parsed.sections.get('p')?.stdout).toBe('@@gpu-maint v1 end task=demo\n');
  });

  test('a probe that ignores SIGTERM and never returns is killed on its deadline', () => {
    const r = runScript(`result_begin demo h\nprobe hang 1 bash -c 'trap "" TERM; while :; do sleep 1; done' || true\nresult_end`);
    const hang = parseResult(r.stdout).sections.get('hang');
    expect(hang?.timedOut).toBe(true);
    // It ended by itself (1 s limit + 3 s kill grace), not by the runner's 60 s kill.
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
  });

  test('logs go to stderr, never into the result', () => {
    const r = runScript(`GPU_MAINT_TASK=demo\nlog "hello operator"\nresult_begin demo h\nresult_end`);
    expect(r.stderr).toMatch(/gpu-maint\[demo\]: hello operator/);
    expect(r.stdout).not.toMatch(/hello operator/);
  });

  test.each([
    ['a,b , c', 'a\nb\nc\n'],
    ['', ''],
    [' , ', ''],
    ['/data/my models,/opt/ml', '/data/my models\n/opt/ml\n'],
  ])('split_list %j', (list, expected) => {
    const r = runScript('split_list "$LIST"', { LIST: list });
    expect(r.stdout).toBe(expected);
  });

  test('host_id prefers the configured override and otherwise falls back to the hostname off EC2', () => {
    expect(runScript('host_id', { GPU_MAINT_HOST_ID: 'i-0override' }).stdout.trim()).toBe('i-0override');
    expect(runScript('host_id').stdout.trim()).toBe(execFileSync('hostname', { encoding: 'utf8' }).trim());
  });

  test.each([
    ['of hundredths (/proc/uptime), 1.5 s ago', '%.2f', -1.5, /^1\.5\d$/],
    ['of hundredths after now: never negative', '%.2f', 60, /^0\.00$/],
    ['of nanoseconds (the wall clock where there is no /proc), 2.25 s ago', '%.9f', -2.25, /^2\.2\d$/],
  ])('elapsed_since a reading %s prints seconds with two decimals', (_, format, offset, expected) => {
    const r = runScript(
      `read -r up _ </proc/uptime; start="$(awk -v u="$up" 'BEGIN { printf "${format}", u + (${offset}) }')"; elapsed_since "$start"`,
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(expected);
  });

  test('host_id looks the id up once per script: a later call, -v and subshells included, reuses it', () => {
    // GIVEN a hostname that counts its runs
    const bin = path.join(scriptsDir, 'counting-bin');
    mkdirSync(bin, { recursive: true });
    const calls = path.join(bin, 'calls');
    writeFileSync(path.join(bin, 'hostname'), `#!/bin/sh\necho run >>'${calls}'\necho counted-host\n`, { mode: 0o755 });
    // WHEN the script asks three times, in the forms backup.sh uses
    const r = runScript(
      'host_id -v first; second="$(host_id)"; host_id -v third; printf "%s %s %s " "$first" "$second" "$third"; wc -l <"$CALLS"',
      {
        PATH: `${bin}:${process.env.PATH ?? ''}`,
        CALLS: calls,
      },
    );
    // THEN every answer is the hostname, and hostname ran once
    expect(r.stdout.trim()).toBe('counted-host counted-host counted-host 1');
  });
});

describe('contract constants', () => {
  test('bash and TypeScript name the same contract version, marker and exit statuses', () => {
    // GIVEN the constants lib/result.sh defines for bash
    const r = runScript(
      'printf "%s\\n" "${GPU_MAINT_CONTRACT_VERSION}" "${RESULT_EXIT_TIMED_OUT}" "${RESULT_EXIT_KILLED}" "${RESULT_EXIT_NOT_RUN}" "${RESULT_EXIT_NOT_FOUND}"\nresult_begin t h\nresult_end',
    );
    const [version, timedOut, killed, notRun, notFound, begin] = r.stdout.split('\n');
    // THEN each equals the TypeScript side's
    expect(Number(version)).toBe(RESULT_CONTRACT.version);
    expect({ timedOut: Number(timedOut), killed: Number(killed), notRun: Number(notRun), notFound: Number(notFound) }).toEqual(
      RESULT_CONTRACT.exit,
    );
    expect(begin.startsWith(`${RESULT_CONTRACT.marker} v${RESULT_CONTRACT.version} begin `)).toBe(true);
  });
});
