/**
 * The watcher's AWS resources in the synthesized stack (Template.fromStack): the dedicated event bus, the rule
 * into the watcher queue of the collect function, the hosts' PutEvents permission, and the State Manager
 * association whose document installs the bundled watcher and its unit. Lambda bundling skipped.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import type { ConfigInput } from '../../lambda/config/schema';
import { WATCH_DETAIL_TYPE, WATCH_EVENT_SOURCE } from '../../lambda/core/gpu/watch';
import { hostWatcherUnit } from '../../lambda/core/schedule/systemd';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import { watcherInstallScript } from '../../lib/constructs/watcher-association';
import { synthGpuMaintStack, TEST_ENV } from '../helpers/cdk';
import { tempDir } from '../helpers/temp';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;

function synth(input: ConfigInput = { fleet: { name: 'prod', tagKey: 'team:fleet' } }): Template {
  return synthGpuMaintStack(input, { env: TEST_ENV }).template;
}

let template: Template;
beforeAll(() => {
  template = synth();
}, 300_000);

const only = (t: Template, type: string) => {
  const found = Object.entries(t.findResources(type) as Resources);
  return found;
};
const busId = () => {
  const buses = only(template, 'AWS::Events::EventBus');
  expect(buses).toHaveLength(1);
  return buses[0][0];
};
const watcherDocument = () =>
  only(template, 'AWS::SSM::Document').find(([, r]) =>
    JSON.stringify(r.Properties.Content).includes('gpu-maint: installs the kernel-log watcher'),
  );

describe('the watcher event path', () => {
  test('a dedicated event bus carries a rule for the watcher source and detail-type only, into an SQS queue with a dead-letter queue', () => {
    const rules = only(template, 'AWS::Events::Rule').filter(([, r]) => JSON.stringify(r.Properties.EventBusName ?? '').includes(busId()));
    expect(rules).toHaveLength(1);
    const [, rule] = rules[0];
    expect(rule.Properties.EventPattern).toEqual({ source: [WATCH_EVENT_SOURCE], 'detail-type': [WATCH_DETAIL_TYPE] });
    expect(rule.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: { 'Fn::GetAtt': [expect.stringMatching(/^WatcherQueue/), 'Arn'] },
        DeadLetterConfig: expect.anything(),
      }),
    ]);
  });

  test('the watcher queue feeds the collect function with no batching window, reporting partial batch failures', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WatcherQueue'), 'Arn'] },
      FunctionName: { Ref: Match.stringLikeRegexp('^CollectHandlerFunction') },
      BatchSize: 10,
      MaximumBatchingWindowInSeconds: Match.absent(),
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  test('the instance policy allows PutEvents on that bus only, for the watcher source and detail-type', () => {
    const [, policy] = only(template, 'AWS::IAM::ManagedPolicy').find(([id]) => id.startsWith('InstancePolicy'))!;
    const statement = policy.Properties.PolicyDocument.Statement.find((s: { Sid?: string }) => s.Sid === 'PutWatcherEvents');
    expect(statement).toEqual({
      Sid: 'PutWatcherEvents',
      Effect: 'Allow',
      Action: 'events:PutEvents',
      Resource: { 'Fn::GetAtt': [busId(), 'Arn'] },
      Condition: { StringEquals: { 'events:source': WATCH_EVENT_SOURCE, 'events:detail-type': WATCH_DETAIL_TYPE } },
    });
  });

  test('gpuCheck.watch.enabled false leaves out the bus, the association and the permission', () => {
    const off = synth({ fleet: { name: 'prod' }, gpuCheck: { watch: { enabled: false } } });
    expect(only(off, 'AWS::Events::EventBus')).toHaveLength(0);
    expect(JSON.stringify(off.toJSON())).not.toContain('PutWatcherEvents');
    expect(JSON.stringify(off.toJSON())).not.toContain('installs the kernel-log watcher');
  });
});

describe('the State Manager association that installs the watcher', () => {
  test('targets the fleet tag, applies at once and hourly, and reports compliance', () => {
    const [docId] = watcherDocument()!;
    template.hasResourceProperties('AWS::SSM::Association', {
      Name: { Ref: docId },
      Targets: [{ Key: 'tag:team:fleet', Values: ['prod'] }],
      ScheduleExpression: 'rate(1 hour)',
      ApplyOnlyAtCronInterval: false,
      SyncCompliance: 'AUTO',
      ComplianceSeverity: 'HIGH',
    });
  });

  test('its document carries the exact bundled watcher and a unit that puts events on the stack’s bus', () => {
    const [, doc] = watcherDocument()!;
    const content = JSON.stringify(doc.Properties.Content);
    // The content is a Fn::Join (the bus ARN is resolved at deploy time); the script's lines are in it verbatim.
    for (const line of bundleTaskScript('gpu-watch')
      .split('\n')
      .filter((l) => l.length > 20)
      .slice(0, 40)) {
      expect(content).toContain(JSON.stringify(JSON.stringify(line)).slice(3, -3));
    }
    expect(content).toContain('Environment=GPU_MAINT_WATCH_EVENT_BUS=');
    expect(content).toContain(busId());
    expect(content).toContain('Restart=always');
  });
});

describe('the install script the document runs (real bash, a stand-in systemctl)', () => {
  function install(dir: string, unit: string, systemctlState = 'active') {
    const bin = path.join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const calls = path.join(dir, 'systemctl.calls');
    writeFileSync(
      path.join(bin, 'systemctl'),
      `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >>${JSON.stringify(calls)}\n[[ "$1" == is-active ]] && { [[ "$2" == --quiet ]] || echo ${systemctlState}; [[ ${systemctlState} == active ]]; exit; }\nexit 0\n`,
    );
    chmodSync(path.join(bin, 'systemctl'), 0o755);
    const script = watcherInstallScript(bundleTaskScript('gpu-watch'), unit, bundleTaskScript('gpu-watch-install'), '/var/lib/gpu-maint');
    const run = spawnSync('bash', ['-c', script], {
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, GPU_MAINT_INSTALL_ROOT: path.join(dir, 'root') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    const called = existsSync(calls) ? readFileSync(calls, 'utf8').trim().split('\n') : [];
    writeFileSync(calls, '');
    return { ...run, called };
  }
  const unit = (bus: string) =>
    hostWatcherUnit({
      scriptPath: '/usr/local/lib/gpu-maint/gpu-watch.sh',
      stateDir: '/var/lib/gpu-maint',
      environment: { GPU_MAINT_WATCH_EVENT_BUS: bus },
    }).content;

  test('the first run installs the watcher and its unit, reloads systemd, enables and restarts the service', () => {
    const dir = tempDir('gpu-maint-watch-install-');
    const run = install(dir, unit('arn:aws:events:eu-west-1:123456789012:event-bus/b1'));
    expect(run.status, run.stderr).toBe(0);
    expect(readFileSync(path.join(dir, 'root/usr/local/lib/gpu-maint/gpu-watch.sh'), 'utf8')).toBe(bundleTaskScript('gpu-watch'));
    expect(readFileSync(path.join(dir, 'root/etc/systemd/system/gpu-maint-watch.service'), 'utf8')).toContain('event-bus/b1');
    // The sandbox's one writable path must exist before systemd sets up the unit's namespace.
    expect(existsSync(path.join(dir, 'root/var/lib/gpu-maint'))).toBe(true);
    expect(run.called).toEqual([
      'daemon-reload',
      'enable gpu-maint-watch.service',
      'restart gpu-maint-watch.service',
      'is-active gpu-maint-watch.service',
    ]);
    expect(run.stdout).toContain('script_changed=true\nunit_changed=true\nrestarted=true\nactive=active\n');
  });

  test('a second run with the same files restarts nothing; a changed unit is reloaded and restarted', () => {
    const dir = tempDir('gpu-maint-watch-install-');
    install(dir, unit('arn:aws:events:eu-west-1:123456789012:event-bus/b1'));
    const again = install(dir, unit('arn:aws:events:eu-west-1:123456789012:event-bus/b1'));
    expect(again.called).not.toContain('restart gpu-maint-watch.service');
    expect(again.stdout).toContain('script_changed=false\nunit_changed=false\nrestarted=false\n');
    const changed = install(dir, unit('arn:aws:events:eu-west-1:123456789012:event-bus/b2'));
    expect(changed.called.slice(0, 3)).toEqual(['daemon-reload', 'enable gpu-maint-watch.service', 'restart gpu-maint-watch.service']);
  });

  test('a watcher that does not come up fails the run, naming the unit', () => {
    const dir = tempDir('gpu-maint-watch-install-');
    const run = install(dir, unit('arn:aws:events:eu-west-1:123456789012:event-bus/b1'), 'failed');
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('gpu-maint-watch.service is failed after the install');
  });
});

describe('the host unit', () => {
  test.each([
    ['a relative script path', { scriptPath: 'gpu-watch.sh' }, /script path must be an absolute path/],
    ['a value with a space', { environment: { GPU_MAINT_WATCH_EVENT_BUS: 'a b' } }, /GPU_MAINT_WATCH_EVENT_BUS must be one word/],
    ['a foreign variable', { environment: { PATH: '/x' } }, /environment names must be GPU_MAINT_\*, got: "PATH"/],
  ])('%s is rejected, naming the input', (_name, override, message) => {
    expect(() =>
      hostWatcherUnit({
        scriptPath: '/usr/local/lib/gpu-maint/gpu-watch.sh',
        stateDir: '/var/lib/gpu-maint',
        environment: {},
        ...override,
      }),
    ).toThrow(message);
  });

  const hasSystemdAnalyze = spawnSync('sh', ['-c', 'command -v systemd-analyze'], { stdio: 'ignore' }).status === 0;
  test.skipIf(!hasSystemdAnalyze)('systemd-analyze verify accepts it', () => {
    const dir = tempDir('gpu-maint-watch-unit-');
    const script = path.join(dir, 'gpu-watch.sh');
    writeFileSync(script, bundleTaskScript('gpu-watch'), { mode: 0o755 });
    const file = path.join(dir, 'gpu-maint-watch.service');
    writeFileSync(
      file,
      hostWatcherUnit({
        scriptPath: script,
        stateDir: dir,
        environment: { GPU_MAINT_WATCH_EVENT_BUS: 'arn:aws:events:eu-west-1:123456789012:event-bus/b' },
      }).content,
    );
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', file], { encoding: 'utf8', timeout: 60_000 });
    expect(verify.status, verify.stderr).toBe(0);
  });
});
