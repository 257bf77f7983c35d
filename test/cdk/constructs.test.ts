/**
 * Constructs on their own: the task document's wrapper run with real bash (the script it writes is the
 * bundle byte for byte), and the validation errors of the constructs' props.
 */

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../bin/app';
import type { TaskParameter } from '../../lambda/tasks/parameters';
import { taskDefinition } from '../../lambda/tasks/registry';
import { bundleTaskScript } from '../../lambda/tasks/scripts';
import { logRetention } from '../../lib/constructs/maintenance-function';
import { TaskDocument, type TaskDocumentProps, taskWrapperScript } from '../../lib/constructs/task-document';
import { TaskSchedule, type TaskScheduleProps } from '../../lib/constructs/task-schedule';
import { testStack } from '../helpers/cdk';
import { inheritedClockEnv } from '../helpers/clock-env';
import { cdkOutdir } from '../helpers/temp';

const stack = () => testStack('Test');

describe.each(['text', 'gzip-base64'] as const)('the task document wrapper carrying the script as %s, run with bash', (encoding) => {
  let dir: string;
  let captured: string;
  let env: Record<string, string>;
  const bundle = bundleTaskScript('gpu-check');

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-wrapper-'));
    const bin = path.join(dir, 'bin');
    mkdirSync(bin);
    // Stands in for the `bash "$script"` the wrapper ends with: keeps the script and the environment it got.
    writeFileSync(path.join(bin, 'bash'), '#!/bin/sh\ncp "$1" "$CAPTURE_DIR/script"\nenv > "$CAPTURE_DIR/env"\n');
    chmodSync(path.join(bin, 'bash'), 0o755);
    // What SSM does before running it: substitute each {{ Name }} with the parameter's value.
    const values: Record<string, string> = {
      InstanceType: 'p4d.24xlarge',
      NvidiaSmiTimeoutSeconds: '20',
      ImdsEndpoint: 'http://127.0.0.1:1',
    };
    let wrapper = taskWrapperScript('gpu-check', bundle, taskDefinition('gpu-check').parameters, '/var/lib/gpu-maint', encoding);
    for (const p of taskDefinition('gpu-check').parameters) wrapper = wrapper.replaceAll(`{{ ${p.name} }}`, values[p.name] ?? 'auto');
    writeFileSync(path.join(dir, 'wrapper.sh'), wrapper);
    execFileSync('/bin/bash', [path.join(dir, 'wrapper.sh')], {
      env: { ...inheritedClockEnv(), PATH: `${bin}:/usr/bin:/bin`, CAPTURE_DIR: dir, TMPDIR: dir },
    });
    captured = readFileSync(path.join(dir, 'script'), 'utf8');
    env = Object.fromEntries(
      readFileSync(path.join(dir, 'env'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('the script it runs is the bundle byte for byte', () => {
    expect(Buffer.from(captured).equals(Buffer.from(bundle))).toBe(true);
  });

  test('each parameter arrives as its GPU_MAINT_* variable', () => {
    expect(env).toMatchObject({
      GPU_MAINT_INSTANCE_TYPE: 'p4d.24xlarge',
      GPU_MAINT_NVSMI_TIMEOUT_S: '20',
      GPU_MAINT_STATE_DIR: '/var/lib/gpu-maint',
    });
  });

  test('the temporary copy of the script is removed afterwards', () => {
    const left = execFileSync('/bin/sh', ['-c', `ls "${dir}"`], { encoding: 'utf8' });
    expect(left).not.toMatch(/gpu-maint-gpu-check\./);
  });
});

describe('TaskDocument validation', () => {
  const param: TaskParameter = {
    name: 'Mounts',
    env: 'GPU_MAINT_MOUNTS',
    description: 'd',
    allowedPattern: '^/[a-z/]*$',
    fromConfig: () => '/',
  };
  const props = (over: Partial<TaskDocumentProps>): TaskDocumentProps => ({
    task: 'health-check',
    script: '#!/usr/bin/env bash\necho hi\n',
    parameters: [param],
    parameterDefaults: { Mounts: '/' },
    ...over,
  });

  test.each([
    [{ script: 'echo hi\n' }, 'must start with "#!/usr/bin/env bash"'],
    [{ script: '#!/usr/bin/env bash\necho hi' }, 'must end with a newline'],
    [{ script: '#!/usr/bin/env bash\nGPU_MAINT_BUNDLE_EOF\n' }, 'line 2 is GPU_MAINT_BUNDLE_EOF'],
    [{ script: '#!/usr/bin/env bash\necho "{{ Mounts }}"\n' }, 'line 2 contains "{{ Mounts }}", which SSM would replace'],
    [{ script: '#!/usr/bin/env bash\necho "{{ssm:/secret}}"\n' }, 'contains "{{ssm:/secret}}"'],
    [{ parameters: [{ ...param, allowedPattern: '/[a-z]*' }] }, 'allowedPattern must be anchored (^...$), got: /[a-z]*'],
    [{ parameterDefaults: { Mounts: 'relative' } }, 'default of parameter Mounts is "relative", which does not match ^/[a-z/]*$'],
    [{ parameterDefaults: {} }, 'parameter Mounts has no default value'],
    [{ parameterDefaults: { Mounts: '/', Other: 'x' } }, 'defaults given for unknown parameter(s): Other'],
    [{ deliveryTimeoutSeconds: 10 }, "deliveryTimeoutSeconds must be an integer 30-2592000 (SendCommand's range), got: 10"],
    [
      // Random-looking lines: too large even gzip-compressed and base64-encoded.
      {
        script: `#!/usr/bin/env bash\n${Array.from({ length: 2500 }, (_, i) => `echo ${createHash('sha256').update(String(i)).digest('base64')}\n`).join('')}`,
      },
      'the budget is 61440 (SSM accepts 65536 including run-time parameter values)',
    ],
    [{ namePrefix: 'aws-' }, 'SSM needs 3-128 letters, digits, _ - . not starting with aws or amazon'],
    [{ namePrefix: 'gpu maint ' }, 'namePrefix "gpu maint " gives the document name'],
  ])('%j fails with "%s"', (over, message) => {
    expect(() => new TaskDocument(stack(), 'Doc', props(over as Partial<TaskDocumentProps>))).toThrow(message);
  });

  test('braces SSM does not substitute, such as docker --format {{.Id}}, are accepted', () => {
    expect(
      () => new TaskDocument(stack(), 'Doc', props({ script: "#!/usr/bin/env bash\ndocker images --format '{{.Id}}'\n" })),
    ).not.toThrow();
  });
});

describe('TaskSchedule validation', () => {
  const props = (over: Partial<TaskScheduleProps>, s: Stack): TaskScheduleProps => ({
    task: 'gpu-check',
    expression: 'rate(5 minutes)',
    target: new lambda.Function(s, 'Fn', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler=()=>{}'),
    }),
    ...over,
  });

  test.each([
    [{ expression: 'every 5 minutes' }, 'expression must be rate(...), cron(...) or at(...), got: "every 5 minutes"'],
    [{ timeZone: 'Mars/Olympus' }, 'timeZone must be an IANA time zone such as Europe/Berlin, got: "Mars/Olympus"'],
    [{ flexibleWindowMinutes: 1441 }, 'flexibleWindowMinutes must be an integer 0-1440, got: 1441'],
    [{ retryAttempts: 200 }, 'retryAttempts must be an integer 0-185, got: 200'],
  ])('%j fails with "%s"', (over, message) => {
    const s = stack();
    expect(() => new TaskSchedule(s, 'Schedule', props(over, s))).toThrow(message);
  });
});

describe('other validation', () => {
  test('a log retention CloudWatch does not offer is an error listing the ones it does', () => {
    expect(() => logRetention(10)).toThrow('log retention must be one of 1, 3, 5, 7, 14, 30, 60, 90');
  });

  test('an alarm without an explicit TreatMissingData is refused by Monitoring', () => {
    const { stack: s } = buildApp({ outdir: cdkOutdir(), context: { 'aws:cdk:bundling-stacks': [] }, nag: false });
    const alarm = new cloudwatch.Alarm(s, 'Loose', {
      metric: s.monitoring.metricFleet('GpuTemperatureMax'),
      threshold: 1,
      evaluationPeriods: 1,
    });
    expect(() => s.monitoring.addAlarm(alarm, 'warning')).toThrow('must set treatMissingData explicitly');
  });
});
