import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli';
import { tempDir } from '../helpers/temp';

function tempFile(name: string, content: string): string {
  const file = path.join(tempDir('gpu-maint-cli-'), name);
  writeFileSync(file, content);
  return file;
}

describe('usage and config errors exit 2 with a message', () => {
  test('an unknown task names the tasks that exist', async () => {
    const r = await runCli(['run', 'gpu-chek']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown task "gpu-chek"; expected one of: all, gpu-check, health-check/);
  });

  test('an invalid --set names the key, the value and what was expected', async () => {
    const r = await runCli(['--set', 'metrics.detail=host', 'run', 'health-check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('metrics.detail: got "host"; expected one of "fleet"|"instance"|"gpu"');
  });

  test('an invalid config file is reported with its path', async () => {
    const file = tempFile('bad.yaml', 'thresholds:\n  gpuTemperatureC:\n    critical: hot\n');
    const r = await runCli(['--config', file, 'run', 'gpu-check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`invalid config (${file}):`);
    expect(r.stderr).toContain('thresholds.gpuTemperatureC.critical: got "hot"; expected a number');
  });

  test('an unknown option is a usage error', async () => {
    const r = await runCli(['run', '--jsn', 'gpu-check']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--jsn'/);
  });

  test('--help exits 0 and lists the commands', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/run \[options\] <task\.\.\.>/);
    expect(r.stdout).toMatch(/evaluate/);
  });
});

describe('evaluate', () => {
  const truncated = '@@gpu-maint v1 begin task=health-check host=i-0abc at=2026-11-28T12:00:00Z\n@@gpu-maint section mounts\n';

  test('explains a truncated saved output instead of crashing', async () => {
    const r = await runCli(['evaluate', 'health-check', '--input', tempFile('out.txt', truncated), '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ task: 'health-check', host: 'i-0abc', status: 'failed' });
    expect(result.findings[0]).toMatchObject({ check: 'task.output', message: expect.stringContaining('truncated') });
  });

  test('reads the JSON of aws ssm get-command-invocation', async () => {
    const doc = { InstanceId: 'i-0feed', Status: 'TimedOut', ResponseCode: -1, StandardOutputContent: '', StandardErrorContent: '' };
    const r = await runCli(['evaluate', 'gpu-check', '--input', tempFile('inv.json', JSON.stringify(doc)), '--json']);
    const result = JSON.parse(r.stdout);
    expect(result).toMatchObject({ host: 'i-0feed', status: 'failed' });
    expect(result.findings[0]).toMatchObject({ check: 'task.failed', reading: 'TimedOut' });
  });

  test('a Failed invocation whose script exited non-zero is explained by its exit code, as the collector does', async () => {
    const doc = {
      InstanceId: 'i-0feed',
      Status: 'Failed',
      StatusDetails: 'Failed',
      ResponseCode: 3,
      StandardOutputContent: '',
      StandardErrorContent: 'nvidia-smi: not found',
    };
    const r = await runCli(['evaluate', 'gpu-check', '--input', tempFile('inv.json', JSON.stringify(doc)), '--json']);
    const result = JSON.parse(r.stdout);
    expect(result.findings[0]).toMatchObject({
      check: 'task.failed',
      reading: 3,
      message: expect.stringContaining('nvidia-smi: not found'),
    });
  });

  test('a delivery timeout is reported by its StatusDetails, as the collector does', async () => {
    const doc = {
      InstanceId: 'i-0feed',
      Status: 'TimedOut',
      StatusDetails: 'DeliveryTimedOut',
      ResponseCode: -1,
      StandardOutputContent: '',
    };
    const r = await runCli(['evaluate', 'gpu-check', '--input', tempFile('inv.json', JSON.stringify(doc)), '--json']);
    expect(JSON.parse(r.stdout).findings[0]).toMatchObject({ check: 'task.failed', reading: 'DeliveryTimedOut' });
  });

  test('a missing input file is a usage error naming it', async () => {
    const r = await runCli(['evaluate', 'gpu-check', '--input', '/nonexistent/out.txt']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--input /nonexistent/out.txt: cannot read (ENOENT)');
  });
});
