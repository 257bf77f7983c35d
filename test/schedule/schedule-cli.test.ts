/** `gpu-maint schedule`: systemd units and crontab lines for the configured schedules. */
import { spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/temp';

const hasSystemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;
const CLI_ENTRY = path.resolve(__dirname, '..', '..', 'bin', 'gpu-maint.cjs');

const RESTORE_TEST_OFF = 'backup.restoreTestSchedule={"expression":"cron(0 4 ? * SAT *)","enabled":false}';
const tmp = () => tempDir('gpu-maint-schedule-');
const originalPath = process.env.PATH;
afterEach(() => {
  process.env.PATH = originalPath;
});

describe('schedule --systemd', () => {
  test('writes a service and a timer per enabled schedule and the watcher service, which systemd-analyze verify accepts', async () => {
    const dir = tmp();
    const run = await runCli(['--set', 'timeZone=Europe/Berlin', '--set', RESTORE_TEST_OFF, 'schedule', '--systemd', '--dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(
      ['backup', 'backup-prune', 'cleanup', 'gpu-check', 'health-check']
        .flatMap((id) => [`gpu-maint-${id}.service`, `gpu-maint-${id}.timer`])
        .concat('gpu-maint-failure@.service')
        .concat('gpu-maint-watch.service')
        .sort(),
    );
    if (hasSystemdAnalyze) {
      expect(run.stdout).toContain('(systemd-analyze verify: ok)');
      const verify = spawnSync('systemd-analyze', ['verify', '--man=no', ...readdirSync(dir).map((f) => path.join(dir, f))], {
        encoding: 'utf8',
      });
      expect(verify.status, verify.stderr).toBe(0);
    }
  });

  test('the cleanup timer fires Sundays at 03:00 in the configured time zone and catches up after downtime', async () => {
    const dir = tmp();
    await runCli(['--set', 'timeZone=Europe/Berlin', 'schedule', '--systemd', '--dir', dir]);
    const timer = readFileSync(path.join(dir, 'gpu-maint-cleanup.timer'), 'utf8');
    expect(timer).toContain('OnCalendar=Sun *-*-* 03:00:00 Europe/Berlin\n');
    expect(timer).toContain('Persistent=true\n');
    expect(timer).toContain('Unit=gpu-maint-cleanup.service\n');
  });

  test('the backup timer spreads its start over the flexible window', async () => {
    const dir = tmp();
    await runCli(['schedule', '--systemd', '--dir', dir]);
    expect(readFileSync(path.join(dir, 'gpu-maint-backup.timer'), 'utf8')).toContain('RandomizedDelaySec=30min\n');
  });

  test('the service runs this CLI with the same config file and overrides', async () => {
    const dir = tmp();
    const config = path.join(tmp(), 'my config.yaml');
    writeFileSync(config, 'fleet:\n  name: lab\n');
    await runCli(['--config', config, '--set', 'cleanup.dryRun=false', 'schedule', '--systemd', '--dir', dir]);
    const service = readFileSync(path.join(dir, 'gpu-maint-cleanup.service'), 'utf8');
    expect(service).toContain(`ExecStart=${process.execPath} ${CLI_ENTRY} --config "${config}" --set cleanup.dryRun=false run cleanup\n`);
    expect(service).toContain('IOSchedulingClass=idle\n');
  });

  test('a rate that does not divide an hour becomes an interval timer', async () => {
    const dir = tmp();
    await runCli(['--set', 'gpuCheck.schedule.expression=rate(7 minutes)', 'schedule', '--systemd', '--dir', dir]);
    const timer = readFileSync(path.join(dir, 'gpu-maint-gpu-check.timer'), 'utf8');
    expect(timer).toContain('OnActiveSec=420s\nOnUnitActiveSec=420s\n');
  });

  test('without --dir the units are printed', async () => {
    const run = await runCli(['schedule', '--systemd', '--no-verify']);
    expect(run.stdout).toContain('### gpu-maint-gpu-check.timer\n');
    expect(run.stdout).toContain('OnCalendar=*-*-* *:00/5:00\n');
  });

  test('--install writes the units, reloads systemd, enables the timers and removes units of disabled schedules', async () => {
    // GIVEN a unit dir holding a unit generated earlier for a schedule now disabled, and a fake systemctl
    const dir = tmp();
    const bin = tmp();
    const calls = path.join(bin, 'calls');
    writeFileSync(path.join(bin, 'systemctl'), `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >>${JSON.stringify(calls)}\n`);
    chmodSync(path.join(bin, 'systemctl'), 0o755);
    process.env.PATH = `${bin}:${originalPath}`;
    await runCli(['schedule', '--systemd', '--dir', dir]);
    writeFileSync(path.join(dir, 'unrelated.service'), '[Service]\nExecStart=/bin/true\n');
    // WHEN it is installed again with the restore test disabled
    const run = await runCli(['--set', RESTORE_TEST_OFF, 'schedule', '--systemd', '--install', '--dir', dir]);
    // THEN systemd was told, and only the stale generated units were removed
    expect(run.code, run.stderr).toBe(0);
    const lines = readFileSync(calls, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('disable --now gpu-maint-restore-test.timer');
    expect(lines[1]).toBe('daemon-reload');
    expect(lines[2]).toMatch(
      /^enable --now gpu-maint-gpu-check\.timer gpu-maint-health-check\.timer .*gpu-maint-cleanup\.timer .*gpu-maint-backup-prune\.timer$/,
    );
    expect(readdirSync(dir)).not.toContain('gpu-maint-restore-test.timer');
    expect(readdirSync(dir)).toContain('unrelated.service');
  });

  test('an expression systemd cannot take exits 2 naming it', async () => {
    const run = await runCli(['--set', 'cleanup.schedule.expression=cron(0 3 * * SUN *)', 'schedule', '--systemd']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('cron(0 3 * * SUN *): exactly one of day-of-month and day-of-week must be ?');
  });
});

describe('schedule --cron', () => {
  test('prints one crontab line per enabled schedule', async () => {
    const run = await runCli(['schedule', '--cron', '--log-dir', '/var/log/gm']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`\n0 3 * * 0 ${process.execPath} ${CLI_ENTRY} run cleanup >>/var/log/gm/cleanup.log 2>&1\n`);
    expect(run.stdout).toContain(`\n*/5 * * * * ${process.execPath} ${CLI_ENTRY} run gpu-check >>/var/log/gm/gpu-check.log 2>&1\n`);
  });

  test('a schedule cron cannot express exits 2', async () => {
    const run = await runCli(['--set', 'healthCheck.schedule.expression=rate(7 minutes)', 'schedule', '--cron']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('rate(7 minutes): cron can only repeat at intervals that divide an hour or a day');
  });

  test.each([
    [['schedule'], 'choose one of --systemd or --cron'],
    [['schedule', '--systemd', '--cron'], 'choose one of --systemd or --cron'],
    [['schedule', '--cron', '--install'], '--install and --dir go with --systemd'],
  ])('%j is a usage error', async (args, message) => {
    const run = await runCli(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(message);
  });
});

describe('schedule --systemd: the kernel-log watcher', () => {
  test('a watcher service runs `gpu-maint watch`, restarted always, with resource limits and a sandbox that may write only the state dir', async () => {
    const dir = tempDir('gpu-maint-watch-unit-');
    await runCli(['--set', 'local.stateDir=/var/lib/gpu-maint-test', 'schedule', '--systemd', '--no-verify', '--dir', dir]);
    const unit = readFileSync(path.join(dir, 'gpu-maint-watch.service'), 'utf8');
    expect(unit).toMatch(/^ExecStart=\S+ \S+ --set local\.stateDir=\/var\/lib\/gpu-maint-test watch$/m);
    // systemd cannot open a missing writable path for the sandbox: the state dir is made first, outside it.
    expect(unit).toMatch(/^ExecStartPre=\+\/bin\/mkdir -p \/var\/lib\/gpu-maint-test\nExecStart=/m);
    for (const line of [
      'Restart=always',
      'StartLimitIntervalSec=0',
      'CPUQuota=20%',
      'MemoryMax=256M',
      'TasksMax=64',
      'ProtectSystem=strict',
      'ReadWritePaths=/var/lib/gpu-maint-test',
      'NoNewPrivileges=yes',
      'WantedBy=multi-user.target',
    ]) {
      expect(unit).toContain(`\n${line}\n`);
    }
  });
});
