import { describe, expect, test } from 'vitest';
import { parseKeyValues, parseResult } from '../../lambda/core/contract';

const complete = [
  '@@gpu-maint v1 begin task=gpu-check host=i-0abc at=2026-11-28T12:00:00Z',
  '@@gpu-maint section list',
  'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)',
  '@@gpu-maint status list exit=0 seconds=0.12',
  '@@gpu-maint section query',
  '@@gpu-maint stderr query',
  "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.",
  '@@gpu-maint status query exit=9 seconds=0.50',
  '@@gpu-maint v1 end task=gpu-check',
  '',
].join('\n');

describe('parseResult', () => {
  test('a complete result yields its header, sections and no errors', () => {
    const r = parseResult(complete);
    expect(r).toMatchObject({ version: 1, task: 'gpu-check', host: 'i-0abc', at: '2026-11-28T12:00:00Z', complete: true, errors: [] });
    expect(r.sections.get('list')).toEqual({
      name: 'list',
      stdout: 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-0)\n',
      stderr: '',
      exitCode: 0,
      seconds: 0.12,
      timedOut: false,
    });
  });

  test('stderr of a probe is kept apart from its stdout', () => {
    const query = parseResult(complete).sections.get('query');
    expect(query?.stdout).toBe('');
    expect(query?.stderr).toContain("couldn't communicate");
    expect(query?.exitCode).toBe(9);
  });

  test('output cut before the end line is reported as truncated', () => {
    const cut = complete.slice(0, complete.indexOf('@@gpu-maint v1 end'));
    const r = parseResult(cut);
    expect(r.complete).toBe(false);
    expect(r.errors.join()).toMatch(/truncated/);
  });

  test('output cut inside a section names that section', () => {
    const cut = complete.slice(0, complete.indexOf('@@gpu-maint status list'));
    const r = parseResult(cut);
    expect(r.errors.join()).toMatch(/inside section list/);
    expect(r.sections.get('list')?.exitCode).toBeNull();
  });

  test.each([
    ['empty output', ''],
    ['an error message', 'bash: line 1: /tmp/x: Permission denied\n'],
    ['JSON', '{"foo": 1}'],
  ])('%s is not a result and says so', (_name, text) => {
    const r = parseResult(text);
    expect(r.version).toBeNull();
    expect(r.errors[0]).toMatch(/not a gpu-maint task result/);
  });

  test('an unsupported contract version is an error', () => {
    const r = parseResult(complete.replace(/v1 /g, 'v2 '));
    expect(r.errors).toContain('contract version 2 is not supported (expected 1)');
  });

  test('escaped marker lines inside raw output are restored, not parsed', () => {
    const text = complete.replace('GPU 0: NVIDIA', '\\@@gpu-maint v1 end task=fake\nGPU 0: NVIDIA');
    const r = parseResult(text);
    expect(r.sections.get('list')?.stdout).toMatch(/^@@gpu-maint v1 end task=fake\n/);
    expect(r.errors).toEqual([]);
  });

  test.each([
    [124, true],
    [137, true],
    [0, false],
    [1, false],
  ])('exit %i marks timedOut=%s', (code, timedOut) => {
    const r = parseResult(complete.replace('exit=0 seconds=0.12', `exit=${code} seconds=20`));
    expect(r.sections.get('list')?.timedOut).toBe(timedOut);
  });

  test('CRLF line endings are accepted', () => {
    expect(parseResult(complete.replace(/\n/g, '\r\n')).errors).toEqual([]);
  });
});

test('parseKeyValues keeps values with = and ignores lines without a key', () => {
  expect(parseKeyValues('a=1\nurl=s3://b/k?x=y\nnoise\n=bad\n')).toEqual({ a: '1', url: 's3://b/k?x=y' });
});
