/**
 * Single-host units: state in systemd's StateDirectory=, sandboxing with only the written paths
 * writable, an OnFailure= handler that alerts, checked with systemd-analyze (verify and the offline
 * security score) where it is installed.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { unitFailedResult } from '../../bin/cli/commands/alerts';
import { DEFAULT_STATE_DIR, resolveStateDir } from '../../lambda/adapters/local/paths';
import { validateConfig as parseConfig } from '../../lambda/config/load';
import { scheduledJobs } from '../../lambda/core/schedule/jobs';
import { systemdUnits } from '../../lambda/core/schedule/systemd';
import { TASKS } from '../../lambda/tasks/registry';
import { runCli } from '../helpers/cli';

const hasSystemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;
const config = parseConfig({ cleanup: { experiments: { paths: ['/data/runs'] } }, backup: { destination: 'file:///mnt/backup' } });
const units = systemdUnits(scheduledJobs(config, TASKS.values()), {
  command: ['/usr/bin/node', '/opt/gpu-maint/bin/gpu-maint.cjs'],
  timeZone: 'UTC',
});
const unit = (name: string) => units.find((u) => u.name === name)?.content ?? '';
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('systemd units', () => {
  test.each(units.filter((u) => u.name.endsWith('.service')).map((u) => u.name))(
    '%s is sandboxed and keeps its state in /var/lib/gpu-maint',
    (name) => {
      const text = unit(name);
      for (const line of [
        'StateDirectory=gpu-maint',
        'ProtectSystem=strict',
        'ProtectHome=read-only',
        'PrivateTmp=true',
        'NoNewPrivileges=true',
        'UMask=0022',
      ]) {
        expect(text).toContain(`\n${line}\n`);
      }
    },
  );

  test('every task unit reports its failure through the failure unit', () => {
    expect(unit('gpu-maint-gpu-check.service')).toContain('\nOnFailure=gpu-maint-failure@%n.service\n');
    expect(unit('gpu-maint-failure@.service')).toContain(
      'ExecStart=/usr/bin/node /opt/gpu-maint/bin/gpu-maint.cjs alerts unit-failed %i\n',
    );
  });

  test('only the paths a task writes are writable: cleanup roots and caches, a local backup destination', () => {
    expect(unit('gpu-maint-cleanup.service')).toContain(
      'ReadWritePaths=-/data/runs -/opt/ml/checkpoints -/root -/home -/var/cache -/opt/conda\n',
    );
    expect(unit('gpu-maint-backup.service')).toContain('ReadWritePaths=-/mnt/backup\n');
    expect(unit('gpu-maint-gpu-check.service')).not.toContain('ReadWritePaths=');
  });

  test.runIf(hasSystemdAnalyze)('systemd-analyze verify accepts them and security scores each service 6.5 or better', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-sandbox-'));
    dirs.push(dir);
    for (const u of units) writeFileSync(path.join(dir, u.name), u.content);
    const services = units.filter((u) => u.name.endsWith('.service') && !u.name.includes('@')).map((u) => path.join(dir, u.name));
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', ...services], { encoding: 'utf8' });
    expect(verify.status, verify.stderr).toBe(0);
    for (const service of services) {
      const security = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', service], { encoding: 'utf8' });
      const score = Number(/Overall exposure level for \S+: ([\d.]+)/.exec(security.stdout)?.[1]);
      expect(score, security.stdout.slice(-300)).toBeLessThanOrEqual(6.5);
    }
  });
});

describe('state directory', () => {
  test.each([
    [DEFAULT_STATE_DIR, { STATE_DIRECTORY: '/var/lib/gpu-maint' }, '/var/lib/gpu-maint'],
    [DEFAULT_STATE_DIR, { STATE_DIRECTORY: '/var/lib/gpu-maint:/var/lib/other' }, '/var/lib/gpu-maint'],
    [DEFAULT_STATE_DIR, {}, path.join(os.homedir(), '.local/state/gpu-maint')],
    ['/srv/gpu-maint', { STATE_DIRECTORY: '/var/lib/gpu-maint' }, '/srv/gpu-maint'],
  ])('local.stateDir %s with %j is %s', (configured, env, expected) => {
    expect(resolveStateDir(configured, env)).toBe(expected);
  });

  test("the schema's default is the one that defers to systemd", () => {
    expect(parseConfig({}).local.stateDir).toBe(DEFAULT_STATE_DIR);
  });
});

describe('alerts unit-failed', () => {
  test('a failed task unit is a critical task.failed result of its task', () => {
    const r = unitFailedResult('gpu-maint-backup-prune.service', 'gpu-1', new Date('2026-11-28T12:00:00Z'));
    expect(r).toMatchObject({ task: 'backup', host: 'gpu-1', status: 'failed' });
    expect(r.findings[0]).toMatchObject({
      check: 'task.failed',
      severity: 'critical',
      message: expect.stringContaining('journalctl -u gpu-maint-backup-prune.service'),
    });
  });

  test('the command alerts through local alerting, and refuses other units', async () => {
    const state = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-unit-failed-'));
    dirs.push(state);
    const run = await runCli(['--set', `local.stateDir=${state}`, 'alerts', 'unit-failed', 'gpu-maint-cleanup.service']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('task.failed');
    expect(readFileSync(path.join(state, 'alerts', 'state.json'), 'utf8')).toContain('task.failed');
    const bad = await runCli(['alerts', 'unit-failed', 'sshd.service']);
    expect(bad.code).toBe(2);
  });
});
