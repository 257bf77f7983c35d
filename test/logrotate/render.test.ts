/** logrotate.groups → /etc/logrotate.d/gpu-maint, checked by the real logrotate. */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { type LogrotateGroup, logrotateConfigBase64, renderLogrotateConfig } from '../../lambda/core/logrotate/evaluate';
import { runCli } from '../helpers/cli';
import { parseConfigForTest } from '../helpers/config';
import { tempDir } from '../helpers/temp';

const group = (over: Partial<LogrotateGroup> & Pick<LogrotateGroup, 'name' | 'paths'>): LogrotateGroup => ({
  frequency: 'daily',
  rotate: 7,
  compress: true,
  compressor: 'gzip',
  ...over,
});

function logrotate(args: string[]): { status: number | null; output: string } {
  const r = spawnSync('logrotate', args, { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('renderLogrotateConfig', () => {
  test('the default groups mirror the old kit: ML API daily x14, training weekly x8 or at 100M, our own logs', () => {
    const text = renderLogrotateConfig(parseConfigForTest().logrotate.groups);
    expect(text).toContain('/var/log/ml-api/*.log {\n    daily\n    rotate 14\n');
    expect(text).toContain('/var/log/training/*.log {\n    weekly\n    rotate 8\n    maxsize 100M\n');
    expect(text).toContain('/var/log/gpu-maint/*.log {\n    daily\n    rotate 7\n');
    expect(text.endsWith('}\n')).toBe(true);
  });

  test('the default configuration passes logrotate -d', () => {
    const dir = tempDir('gpu-maint-lr-');
    const file = path.join(dir, 'gpu-maint');
    writeFileSync(file, renderLogrotateConfig(parseConfigForTest().logrotate.groups), { mode: 0o644 });
    const r = logrotate(['-d', '-s', path.join(dir, 'state'), file]);
    expect(r.status, r.output).toBe(0);
  });

  test.each([
    [
      'zstd compression',
      { compressor: 'zstd' as const },
      ['compresscmd /usr/bin/zstd', 'compressext .zst', 'uncompresscmd /usr/bin/unzstd'],
    ],
    ['create mode owner group', { create: '0640 root root' }, ['create 0640 root root']],
    [
      'su and a postrotate command',
      { su: 'root root', postrotate: 'systemctl kill -s HUP ml-api.service' },
      ['su root root', 'sharedscripts', 'postrotate', '        systemctl kill -s HUP ml-api.service', '    endscript'],
    ],
    ['no compression', { compress: false }, ['nocompress']],
  ])('%s renders and passes logrotate -d', (_name, over, lines) => {
    const dir = tempDir('gpu-maint-lr-');
    const text = renderLogrotateConfig([group({ name: 'app', paths: [`${dir}/logs/*.log`], ...over })]);
    for (const line of lines) expect(text.split('\n')).toContain(line.startsWith(' ') ? line : `    ${line}`);
    const file = path.join(dir, 'gpu-maint');
    writeFileSync(file, text, { mode: 0o644 });
    const r = logrotate(['-d', '-s', path.join(dir, 'state'), file]);
    expect(r.status, r.output).toBe(0);
  });

  test('copytruncate is the default, and create replaces it', () => {
    expect(renderLogrotateConfig([group({ name: 'a', paths: ['/l/*.log'] })])).toContain('    copytruncate\n');
    expect(renderLogrotateConfig([group({ name: 'a', paths: ['/l/*.log'], create: '0640 app adm' })])).not.toContain('copytruncate');
  });

  test.each([
    [[group({ name: 'a', paths: ['/l/*.log'], create: '0640 a b', copytruncate: true })], 'set either copytruncate or create, not both'],
    [[group({ name: 'a', paths: ['/l/*.log'] }), group({ name: 'a', paths: ['/m/*.log'] })], 'group names must be unique'],
    [[group({ name: 'a', paths: ['relative/*.log'] })], 'must be absolute'],
  ])('bad groups are refused with the reason', (groups, message) => {
    expect(() => renderLogrotateConfig(groups)).toThrow(message);
  });

  test('a forced rotation with a temp state file rotates and compresses', () => {
    // GIVEN a log with content and the rendered config for it
    const dir = tempDir('gpu-maint-lr-');
    mkdirSync(path.join(dir, 'logs'));
    writeFileSync(path.join(dir, 'logs', 'api.log'), 'line 1\nline 2\n');
    const file = path.join(dir, 'gpu-maint');
    writeFileSync(file, renderLogrotateConfig([group({ name: 'api', paths: [`${dir}/logs/*.log`], compressor: 'zstd' })]), { mode: 0o644 });
    // WHEN logrotate is forced to rotate
    const r = logrotate(['-f', '-s', path.join(dir, 'state'), file]);
    // THEN the log was copied, truncated in place and compressed with zstd
    expect(r.status, r.output).toBe(0);
    expect(readdirSync(path.join(dir, 'logs')).sort()).toEqual(['api.log', 'api.log.1.zst']);
    expect(statSync(path.join(dir, 'logs', 'api.log')).size).toBe(0);
    const unzstd = spawnSync('zstd', ['-dc', path.join(dir, 'logs', 'api.log.1.zst')], { encoding: 'utf8' });
    expect(unzstd.stdout).toBe('line 1\nline 2\n');
    expect(existsSync(path.join(dir, 'state'))).toBe(true);
  });
});

describe('transport and CLI', () => {
  test('the base64 parameter decodes to the rendered file', () => {
    const groups = parseConfigForTest().logrotate.groups;
    expect(Buffer.from(logrotateConfigBase64(groups), 'base64').toString('utf8')).toBe(renderLogrotateConfig(groups));
  });

  test('gpu-maint logrotate --print shows the file', async () => {
    const run = await runCli(['--set', 'logrotate.groups=[{"name":"x","paths":["/var/log/x/*.log"],"rotate":3}]', 'logrotate', '--print']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('/var/log/x/*.log {\n    daily\n    rotate 3\n');
  });

  test('gpu-maint logrotate without --print is a usage error', async () => {
    const run = await runCli(['logrotate']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('use --print');
  });

  test('an invalid group in config exits 2 naming the key', async () => {
    const run = await runCli([
      '--set',
      'logrotate.groups=[{"name":"x","paths":["/var/log/x/*.log"],"rotate":3,"create":"0640 a b","copytruncate":true}]',
      'logrotate',
      '--print',
    ]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('logrotate.groups.0.copytruncate');
  });
});
