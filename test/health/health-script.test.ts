/**
 * scripts/health-check.sh under real bash, as its bundle runs on hosts, with fake tools first on PATH
 * and the core evaluating what it printed.
 */
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { runTaskScript } from '../../lambda/adapters/local/script-runner';
import { parseResult } from '../../lambda/core/contract';
import { evaluationSettings } from '../../lambda/core/evaluation-settings';
import { evaluateHealthCheck } from '../../lambda/core/health/evaluate';
import { parseDf } from '../../lambda/core/health/parse';
import { evaluateTaskOutput } from '../../lambda/core/task-evaluation';
import { inheritedClockEnv } from '../helpers/clock-env';
import { parseConfigForTest } from '../helpers/config';
import {
  calls,
  type FakeHost,
  fakeOutput,
  fakeTool,
  findingsOf,
  healthCheckBundle,
  makeHost,
  metricValue,
  minimalPath,
  runHealthCheck,
} from './harness';

const SPACE_HEADER = 'Filesystem     1024-blocks      Used Available Capacity Mounted on';
const INODE_HEADER = 'Filesystem      Inodes   IUsed   IFree IUse% Mounted on';

/** A fake df answering -P and -Pi from fixed outputs (one filesystem for every path). */
function fakeDf(host: FakeHost, space: string, inodes: string): void {
  const spaceFile = path.join(host.root, 'df-space.txt');
  const inodeFile = path.join(host.root, 'df-inodes.txt');
  writeFileSync(spaceFile, `${SPACE_HEADER}\n${space}\n`);
  writeFileSync(inodeFile, `${INODE_HEADER}\n${inodes}\n`);
  fakeTool(host, 'df', `if [[ "$1" == "-Pi" ]]; then cat ${JSON.stringify(inodeFile)}; else cat ${JSON.stringify(spaceFile)}; fi`);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
}

function close(server: { close(cb: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe.concurrent('health-check script: the run itself', () => {
  test('a healthy host gives a complete result with every check category and exit 0', async () => {
    const host = makeHost();
    fakeOutput(host, 'journalctl', { stdout: '' });
    fakeDf(host, '/dev/root 1000 100 900 10% /', '/dev/root 1000 100 900 10% /');
    const { exitCode, result } = await runHealthCheck(host);
    expect(exitCode).toBe(0);
    expect(result.status).toBe('ok');
    expect(new Set(result.findings.map((f) => f.check))).toEqual(
      new Set([
        'health.disk',
        'health.inodes',
        'health.memory',
        'health.load',
        'health.service',
        'health.journal',
        'health.endpoint',
        'health.reboot-required',
      ]),
    );
  });

  test('the real root filesystem is read with the real df, and its size matches df', async () => {
    const host = makeHost();
    const { result } = await runHealthCheck(host, { GPU_MAINT_MOUNTS: '/' });
    const [expected] = parseDf(execFileSync('df', ['-P', '/'], { encoding: 'utf8' }), 'space');
    const mounts = result.mounts as Array<{ mount: string; sizeBytes: number; usedPct: number }>;
    expect(mounts).toHaveLength(1);
    expect(mounts[0]).toMatchObject({ mount: expected.mount, sizeBytes: expected.total });
    expect(mounts[0].usedPct).toBeGreaterThanOrEqual(0);
    expect(mounts[0].usedPct).toBeLessThanOrEqual(100);
  });

  test('the real /proc meminfo and loadavg are read when no override is given', async () => {
    const host = makeHost();
    const { result } = await runHealthCheck(host, { GPU_MAINT_PROC_DIR: undefined });
    const available = metricValue(result, 'MemoryAvailablePct');
    expect(available).toBeGreaterThan(0);
    expect(available).toBeLessThanOrEqual(100);
    expect(metricValue(result, 'LoadPerCpu')).toBeGreaterThanOrEqual(0);
  });

  test.each([
    [{ GPU_MAINT_ENDPOINT_TIMEOUT_S: '0' }, /GPU_MAINT_ENDPOINT_TIMEOUT_S must be a whole number from 1 to 60, got: '0'/],
    [{ GPU_MAINT_JOURNAL_WINDOW_MIN: 'hour' }, /GPU_MAINT_JOURNAL_WINDOW_MIN must be a whole number from 1 to 10080, got: 'hour'/],
    [{ GPU_MAINT_SERVICES: 'sshd.service,bad unit' }, /GPU_MAINT_SERVICES must list systemd unit names .* got item: 'bad unit'/],
    [{ GPU_MAINT_ENDPOINTS: 'example.com' }, /GPU_MAINT_ENDPOINTS must list auto or host:port items .* got item: 'example.com'/],
  ])('invalid setting %j exits 1 naming the variable and value, before printing any result', async (env, message) => {
    const host = makeHost();
    const { exitCode, stdout, stderr } = await runHealthCheck(host, env);
    expect(exitCode).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toMatch(message);
  });
});

describe.concurrent('health-check script: configuration from the config file', () => {
  test('local mode passes mounts, services and an empty endpoint list (none, not auto) to the script', async () => {
    const host = makeHost();
    fakeOutput(host, 'systemctl', { stdout: 'Id=x.service\nLoadState=loaded\nActiveState=active\nSubState=running\nResult=success\n' });
    fakeOutput(host, 'journalctl', { stdout: '' });
    fakeDf(host, '/dev/root 1000 100 900 10% /', '/dev/root 1000 100 900 10% /');
    const config = parseConfigForTest({
      healthCheck: { mounts: [host.dataDir], services: ['x.service'], endpoints: [] },
      backup: { sources: [] },
      cleanup: { experiments: { paths: [] }, checkpoints: { paths: [] } },
    });
    const output = await runTaskScript('health-check', config, {
      stateDir: path.join(host.root, 'local-state'),
      env: {
        ...inheritedClockEnv(),
        PATH: `${host.bin}:${process.env.PATH}`,
        // EC2 as far as the script can tell: `auto` would probe, so [] must really mean none.
        GPU_MAINT_IMDS: 'auto',
        GPU_MAINT_IMDS_ENDPOINT: 'http://127.0.0.1:1',
        GPU_MAINT_HOST_ID: 'h',
        GPU_MAINT_PROC_DIR: host.procDir,
        GPU_MAINT_REBOOT_REQUIRED_FILE: host.rebootFile,
      },
    });
    const result = evaluateTaskOutput(output, evaluateHealthCheck, evaluationSettings(config), new Date());
    expect(result.status).toBe('ok');
    expect((result.mounts as Array<{ paths: string[] }>)[0].paths).toEqual([host.dataDir]);
    expect(findingsOf(result, 'health.service')).toEqual([expect.objectContaining({ message: '1 required unit active: x.service' })]);
    expect(findingsOf(result, 'health.endpoint')).toEqual([
      expect.objectContaining({ severity: 'ok', message: expect.stringContaining('none configured') }),
    ]);
  });
});

describe.concurrent('health-check script: disk and inodes', () => {
  test('a full filesystem is health.disk critical naming the mount, and DiskUsedPctMax is 100', async () => {
    const host = makeHost();
    fakeDf(host, '/dev/nvme1n1     1000000   950000         0     100% /data', '/dev/nvme1n1    65536    1000   64536    2% /data');
    const { result } = await runHealthCheck(host);
    expect(findingsOf(result, 'health.disk')).toEqual([
      expect.objectContaining({ severity: 'critical', message: '/data is 100% full (0 B free of 976.6 MiB)', reading: 100 }),
    ]);
    expect(metricValue(result, 'DiskUsedPctMax')).toBe(100);
    expect(calls(host, 'df')).toEqual([`-P -- ${host.dataDir}`, `-Pi -- ${host.dataDir}`]);
  });

  test('inodes running out is health.inodes critical even with free space', async () => {
    const host = makeHost();
    fakeDf(host, '/dev/nvme1n1 1000000 1000 999000 1% /data', '/dev/nvme1n1 65536 65000 536 100% /data');
    const { result } = await runHealthCheck(host);
    expect(findingsOf(result, 'health.disk')).toEqual([expect.objectContaining({ severity: 'ok' })]);
    expect(findingsOf(result, 'health.inodes')).toEqual([expect.objectContaining({ severity: 'critical', reading: 99.2 })]);
    expect(metricValue(result, 'InodesUsedPctMax')).toBe(99.2);
  });

  test('a mount point with spaces is kept whole, and two paths on it are reported once', async () => {
    const host = makeHost();
    const second = path.join(host.root, 'run');
    fakeDf(host, '/dev/sdb1 2000000 1000000 1000000 50% /mnt/my data', '/dev/sdb1 1000 10 990 1% /mnt/my data');
    const { result } = await runHealthCheck(host, { GPU_MAINT_MOUNTS: `${host.dataDir},${second}` });
    expect(result.mounts).toEqual([
      {
        mount: '/mnt/my data',
        filesystem: '/dev/sdb1',
        paths: [host.dataDir, second],
        usedPct: 50,
        inodesUsedPct: 1,
        sizeBytes: 2048000000,
        availBytes: 1024000000,
      },
    ]);
  });

  test('a path on a hung network filesystem times out alone; the other paths are still read', async () => {
    const host = makeHost();
    const hung = path.join(host.root, 'hung-nfs');
    // stat() of a dead hard-mounted NFS share blocks: the existence check itself never returns.
    fakeTool(host, 'test', `if [[ "$2" == ${JSON.stringify(hung)} ]]; then exec sleep 60; fi\n[ "$@" ]`);
    const { result } = await runHealthCheck(host, { GPU_MAINT_MOUNTS: `${hung},${host.dataDir}` });
    expect(findingsOf(result, 'health.disk')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        message: expect.stringMatching(new RegExp(`^cannot read space of ${hung}: .*hung network filesystem`)),
      }),
      expect.objectContaining({ severity: 'ok' }),
    ]);
    expect((result.mounts as unknown[]).length).toBe(1);
  });

  test('a configured path that does not exist is skipped with a note, not an alert', async () => {
    const host = makeHost();
    const missing = path.join(host.root, 'no-such-dir');
    const { result } = await runHealthCheck(host, { GPU_MAINT_MOUNTS: `${host.dataDir},${missing}` });
    expect(findingsOf(result, 'health.disk')).toEqual([
      expect.objectContaining({ severity: 'ok', message: expect.stringContaining(`not present, skipped: ${missing}`) }),
    ]);
    expect(result.mountPathsMissing).toEqual([missing]);
  });
});

describe.concurrent('health-check script: memory and load', () => {
  test('little available memory is health.memory critical with the percentage', async () => {
    const host = makeHost();
    writeFileSync(path.join(host.procDir, 'meminfo'), 'MemTotal: 1000000 kB\nMemFree: 10000 kB\nMemAvailable: 20000 kB\n');
    const { result } = await runHealthCheck(host);
    expect(findingsOf(result, 'health.memory')).toEqual([expect.objectContaining({ severity: 'critical', reading: 2 })]);
    expect(metricValue(result, 'MemoryAvailablePct')).toBe(2);
  });

  test('load is divided by the online CPU count', async () => {
    const host = makeHost();
    fakeOutput(host, 'getconf', { stdout: '8\n' });
    writeFileSync(path.join(host.procDir, 'loadavg'), '40.00 20.00 10.00 9/900 1234\n');
    const { result } = await runHealthCheck(host);
    expect(metricValue(result, 'LoadPerCpu')).toBe(2.5);
    expect(findingsOf(result, 'health.load')).toEqual([
      expect.objectContaining({ severity: 'warning', message: 'load 2.5 per CPU (5-min load 20 on 8 CPUs)' }),
    ]);
    expect(calls(host, 'getconf')).toEqual(['_NPROCESSORS_ONLN']);
  });
});

describe.concurrent('health-check script: systemd units', () => {
  test('a failed unit is health.service critical; an active one is not reported as a problem', async () => {
    const host = makeHost();
    fakeTool(
      host,
      'systemctl',
      `case "\${*: -1}" in
  nvidia-persistenced.service) printf 'Id=nvidia-persistenced.service\\nLoadState=loaded\\nActiveState=failed\\nSubState=failed\\nResult=exit-code\\n' ;;
  *) printf 'Id=%s\\nLoadState=loaded\\nActiveState=active\\nSubState=running\\nResult=success\\n' "\${*: -1}" ;;
esac`,
    );
    const { result } = await runHealthCheck(host, { GPU_MAINT_SERVICES: 'amazon-ssm-agent.service,nvidia-persistenced.service' });
    expect(findingsOf(result, 'health.service')).toEqual([
      expect.objectContaining({ severity: 'critical', message: 'nvidia-persistenced.service is failed (failed), last result exit-code' }),
    ]);
    expect(metricValue(result, 'FailedServices')).toBe(1);
    expect(calls(host, 'systemctl')).toContain('show --property=Id,LoadState,ActiveState,SubState,Result -- nvidia-persistenced.service');
  });

  test('a required unit that is not installed is critical', async () => {
    const host = makeHost();
    fakeOutput(host, 'systemctl', {
      stdout: 'Id=dcgm.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\nResult=success\n',
    });
    const { result } = await runHealthCheck(host, { GPU_MAINT_SERVICES: 'dcgm.service' });
    expect(findingsOf(result, 'health.service')).toEqual([
      expect.objectContaining({ severity: 'critical', message: 'dcgm.service is not installed (unit not found)' }),
    ]);
  });

  test('systemctl on a host whose init is not systemd is a warning that the units cannot be checked', async () => {
    const host = makeHost();
    fakeOutput(host, 'systemctl', {
      stderr: "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n",
      exitCode: 1,
    });
    const { result } = await runHealthCheck(host, { GPU_MAINT_SERVICES: 'docker.service' });
    expect(findingsOf(result, 'health.service')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        message: 'cannot check docker.service: systemd is not running on this host (systemctl cannot reach it)',
      }),
    ]);
    expect(metricValue(result, 'FailedServices')).toBeUndefined();
  });

  test('a host with no systemd at all (no systemctl, no journalctl) still gives a complete result', async () => {
    const host = makeHost();
    const { exitCode, stdout, result } = await runHealthCheck(host, { PATH: minimalPath(host), GPU_MAINT_SERVICES: 'docker.service' });
    expect(exitCode).toBe(0);
    expect(parseResult(stdout).errors).toEqual([]);
    expect(findingsOf(result, 'health.service')).toEqual([
      expect.objectContaining({
        severity: 'warning',
        message: 'cannot check docker.service: systemctl not found: this host does not run systemd',
      }),
    ]);
    expect(findingsOf(result, 'health.journal')).toEqual([
      expect.objectContaining({ severity: 'ok', message: 'journal not checked: journalctl not found: no systemd journal on this host' }),
    ]);
    expect(findingsOf(result, 'health.reboot-required')).toEqual([
      expect.objectContaining({ severity: 'ok', message: expect.stringMatching(/^cannot tell/) }),
    ]);
  });
});

describe.concurrent('health-check script: journal errors', () => {
  test.each([
    ['"No journal files were found." on stderr', { stdout: '-- No entries --\n', stderr: 'No journal files were found.\n' }],
    ['"No journal files were found." on stdout', { stdout: 'No journal files were found.\n' }],
    ['"-- No entries --"', { stdout: '-- No entries --\n' }],
    ['no output at all', { stdout: '' }],
  ])('%s counts as 0 errors, ok', async (_name, out) => {
    const host = makeHost();
    fakeOutput(host, 'journalctl', out);
    const { result } = await runHealthCheck(host);
    expect(findingsOf(result, 'health.journal')).toEqual([expect.objectContaining({ severity: 'ok', reading: 0 })]);
    expect(metricValue(result, 'JournalErrors')).toBe(0);
  });

  test('real error lines are counted, in the configured window, at priority err and worse', async () => {
    const host = makeHost();
    fakeOutput(host, 'journalctl', {
      stdout: 'kernel: EXT4-fs error (device nvme0n1p1)\nsshd[1]: fatal: oops\ndockerd[2]: failed to start\n',
    });
    const { result } = await runHealthCheck(host, { GPU_MAINT_JOURNAL_WINDOW_MIN: '15' });
    expect(findingsOf(result, 'health.journal')).toEqual([
      expect.objectContaining({
        severity: 'ok',
        reading: 3,
        message: expect.stringMatching(
          /^3 journal entries of priority err or worse in the last 15 min; latest: dockerd\[2\]: failed to start/,
        ),
      }),
    ]);
    expect(calls(host, 'journalctl')).toEqual(['-p err..emerg --since -15 min -o cat --no-pager -q']);
  });

  test('a flood of errors is counted in full while the result carries only a sample', async () => {
    const host = makeHost();
    fakeTool(host, 'journalctl', `for i in $(seq 1 5000); do echo "nvidia-persistenced[9]: error $i: \${RANDOM}${'x'.repeat(300)}"; done`);
    const { stdout, result } = await runHealthCheck(host);
    expect(metricValue(result, 'JournalErrors')).toBe(5000);
    expect(findingsOf(result, 'health.journal')).toEqual([expect.objectContaining({ severity: 'warning', reading: 5000 })]);
    // SSM keeps only 24,000 characters of stdout.
    expect(stdout.length).toBeLessThan(12_000);
    expect((result.journal as { sample: string[] }).sample).toHaveLength(20);
  });
});

describe.concurrent('health-check script: endpoints', () => {
  test('a listening endpoint is reachable and a closed port is a warning naming host:port and the error', async () => {
    const open = createServer((socket) => socket.destroy());
    const openPort = await listen(open);
    const closed = createServer();
    const closedPort = await listen(closed);
    await close(closed);
    try {
      const host = makeHost();
      const { result } = await runHealthCheck(host, { GPU_MAINT_ENDPOINTS: `127.0.0.1:${openPort},127.0.0.1:${closedPort}` });
      expect(findingsOf(result, 'health.endpoint')).toEqual([
        expect.objectContaining({ severity: 'warning', message: `127.0.0.1:${closedPort} unreachable: Connection refused` }),
      ]);
      expect(result.endpoints).toEqual([
        expect.objectContaining({ endpoint: `127.0.0.1:${openPort}`, reachable: true, error: null }),
        expect.objectContaining({ endpoint: `127.0.0.1:${closedPort}`, reachable: false, error: 'Connection refused' }),
      ]);
      expect(metricValue(result, 'EndpointsUnreachable')).toBe(1);
    } finally {
      await close(open);
    }
  });

  test('endpoints `auto` off EC2 checks nothing and says why', async () => {
    const host = makeHost();
    const { result } = await runHealthCheck(host, { GPU_MAINT_ENDPOINTS: 'auto' });
    expect(findingsOf(result, 'health.endpoint')).toEqual([
      expect.objectContaining({ severity: 'ok', message: expect.stringContaining('not on EC2') }),
    ]);
    expect(metricValue(result, 'EndpointsUnreachable')).toBeUndefined();
  });
});

/** Sources the bundle (which then defines its functions without running) and calls one. */
function callFunction(snippet: string, env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'bash',
      ['-c', `source "$1"; ${snippet}`, 'health-check', healthCheckBundle()],
      { env: { ...inheritedClockEnv(), PATH: process.env.PATH ?? '', GPU_MAINT_IMDS: 'off', ...env }, encoding: 'utf8' },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
}

const IP_LITERAL = /^(\d{1,3}(\.\d{1,3}){3}|\[?[0-9a-f:]*:[0-9a-f:]*\]?)$/i;

describe.concurrent('health-check script: default endpoints', () => {
  test.each(['us-east-1', 'eu-central-2', 'ap-southeast-5', 'us-gov-west-1'])(
    'the defaults for %s are regional AWS host names, never an IP literal',
    async (region) => {
      const lines = (await callFunction(`default_endpoints ${region} amazonaws.com`)).trim().split('\n');
      expect(lines).toEqual([
        `ssm.${region}.amazonaws.com:443`,
        `ec2messages.${region}.amazonaws.com:443`,
        `ssmmessages.${region}.amazonaws.com:443`,
        `s3.${region}.amazonaws.com:443`,
        `sts.${region}.amazonaws.com:443`,
      ]);
      for (const line of lines) expect(line.slice(0, line.lastIndexOf(':'))).not.toMatch(IP_LITERAL);
    },
  );

  test.each([
    ['eu-west-1', undefined, 'ssm.eu-west-1.amazonaws.com:443'],
    ['cn-north-1', undefined, 'ssm.cn-north-1.amazonaws.com.cn:443'],
    ['cn-northwest-1', 'amazonaws.com.cn', 'ssm.cn-northwest-1.amazonaws.com.cn:443'],
  ])('`auto` on EC2 in %s (IMDS domain %s) resolves to %s first', async (region, domain, first) => {
    const imds = createHttpServer((req, res) => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') return res.end('token-1');
      if (req.headers['x-aws-ec2-metadata-token'] !== 'token-1') return res.writeHead(401).end();
      if (req.url === '/latest/meta-data/placement/region') return res.end(region);
      if (req.url === '/latest/meta-data/services/domain' && domain) return res.end(domain);
      res.writeHead(404).end();
    });
    const port = await new Promise<number>((resolve) =>
      imds.listen(0, '127.0.0.1', () => resolve((imds.address() as { port: number }).port)),
    );
    try {
      const out = await callFunction('resolve_endpoints auto', {
        GPU_MAINT_IMDS: 'auto',
        GPU_MAINT_IMDS_ENDPOINT: `http://127.0.0.1:${port}`,
      });
      const targets = /^targets=(.*)$/m.exec(out)?.[1].split(',') ?? [];
      expect(targets).toHaveLength(5);
      expect(targets[0]).toBe(first);
      expect(out).toMatch(new RegExp(`^region=${region}$`, 'm'));
    } finally {
      await close(imds);
    }
  });

  test('`auto` on EC2 without a readable region reports the problem instead of guessing', async () => {
    const out = await callFunction('resolve_endpoints auto', { GPU_MAINT_IMDS: 'auto', GPU_MAINT_IMDS_ENDPOINT: 'http://127.0.0.1:1' });
    expect(out).toMatch(/^targets=$/m);
    expect(out).toMatch(/^error=cannot read the region from IMDS/m);
  });
});

describe.concurrent('health-check script: reboot-required', () => {
  test('/var/run/reboot-required present is a warning naming the packages that asked', async () => {
    const host = makeHost();
    writeFileSync(host.rebootFile, '*** System restart required ***\n');
    writeFileSync(`${host.rebootFile}.pkgs`, 'linux-image-6.8.0-1015-aws\nlibc6\nlibc6\n');
    const { result } = await runHealthCheck(host);
    expect(findingsOf(result, 'health.reboot-required')).toEqual([
      expect.objectContaining({ severity: 'warning', message: 'reboot required by linux-image-6.8.0-1015-aws, libc6' }),
    ]);
    expect(metricValue(result, 'RebootRequired')).toBe(1);
  });

  test.each([
    {
      exitCode: 1,
      severity: 'warning',
      metric: 1,
      stdout:
        'Core libraries or services have been updated since boot-up:\n  * kernel\n\nReboot is required to fully utilize these updates.\n',
    },
    {
      exitCode: 0,
      severity: 'ok',
      metric: 0,
      stdout: 'No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n',
    },
  ])('needs-restarting -r exiting $exitCode (RHEL family) is $severity', async ({ exitCode, stdout, severity, metric }) => {
    const host = makeHost();
    fakeOutput(host, 'needs-restarting', { stdout, exitCode });
    const { result } = await runHealthCheck(host, { PATH: `${host.bin}:${minimalPath(host)}` });
    expect(findingsOf(result, 'health.reboot-required')).toEqual([expect.objectContaining({ severity })]);
    expect(metricValue(result, 'RebootRequired')).toBe(metric);
    expect(calls(host, 'needs-restarting')).toEqual(['-r']);
  });
});
