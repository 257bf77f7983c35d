/**
 * The memo of validated settings (bin/cli/config-memo.ts) and validateConfig's use of a memo
 * (lambda/config/load.ts): an input seen before is answered without the schema, anything else by it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { FileValidationMemo, MEMO_ENTRIES } from '../../bin/cli/config-memo';
import { ConfigError, loadConfig, type ValidationMemo, validateConfig } from '../../lambda/config/load';
import type { Config } from '../../lambda/config/schema';
import { tempDir } from '../helpers/temp';

const memoFile = (): string => path.join(tempDir('gpu-maint-memo-'), 'main.cjs.0123456789abcdef.config-memo.json');
const settings = (name: string): Config => loadConfig({ set: [`fleet.name=${name}`] });

/** A memo in memory. */
function memoryMemo(): ValidationMemo & { entries: Map<string, Config> } {
  return {
    entries: new Map(),
    recall(input) {
      return this.entries.get(input);
    },
    remember(input, config) {
      this.entries.set(input, config);
    },
  };
}

describe('FileValidationMemo', () => {
  test('recalls the settings remembered for the same input, and nothing for another', () => {
    const file = memoFile();
    new FileValidationMemo(file).remember('{"a":1}', settings('a'));
    const next = new FileValidationMemo(file);
    expect([next.recall('{"a":1}')?.fleet.name, next.recall('{"a":2}')]).toEqual(['a', undefined]);
  });

  test(`keeps the ${MEMO_ENTRIES} inputs remembered last`, () => {
    const file = memoFile();
    const memo = new FileValidationMemo(file);
    for (let i = 0; i <= MEMO_ENTRIES; i++) memo.remember(`{"n":${i}}`, settings(`f${i}`));
    const next = new FileValidationMemo(file);
    expect([next.recall('{"n":0}'), next.recall('{"n":1}')?.fleet.name, next.recall(`{"n":${MEMO_ENTRIES}}`)?.fleet.name]).toEqual([
      undefined,
      'f1',
      `f${MEMO_ENTRIES}`,
    ]);
  });

  test.each([
    ['not JSON', '{"format":1,"entries":[{"input":"{}","config":{'],
    ['of another format', JSON.stringify({ format: 2, entries: [{ input: '{}', config: {} }] })],
    ['with an entry whose settings are not an object', JSON.stringify({ format: 1, entries: [{ input: '{}', config: [] }] })],
    ['with an entry without its input', JSON.stringify({ format: 1, entries: [{ config: {} }] })],
  ])('a memo file %s remembers nothing', (_, text) => {
    const file = memoFile();
    writeFileSync(file, text);
    expect(new FileValidationMemo(file).recall('{}')).toBeUndefined();
  });

  test('where the file cannot be written nothing is remembered, and nothing is thrown', () => {
    // A folder that is a file: unwritable even for root.
    const blocker = path.join(tempDir('gpu-maint-memo-'), 'a-file');
    writeFileSync(blocker, '');
    const file = path.join(blocker, 'memo.json');
    expect(() => new FileValidationMemo(file).remember('{}', settings('x'))).not.toThrow();
    expect(new FileValidationMemo(file).recall('{}')).toBeUndefined();
  });
});

describe('validateConfig with a memo', () => {
  test('an input validated before is answered by the memo, without the schema', () => {
    const memo = memoryMemo();
    const input = { fleet: { name: 'gpu-a' } };
    memo.entries.set(JSON.stringify(input), { ...settings('gpu-a'), timeZone: 'from the memo' });
    expect(validateConfig(input, 'config', memo).timeZone).toBe('from the memo');
  });

  test('a new input is validated by the schema and remembered; a rejected one is not', () => {
    const memo = memoryMemo();
    expect(validateConfig({ fleet: { name: 'gpu-b' } }, 'config', memo).fleet.name).toBe('gpu-b');
    expect(() => validateConfig({ fleet: { nam: 'gpu-b' } }, 'config', memo)).toThrow(ConfigError);
    expect([...memo.entries.keys()]).toEqual([JSON.stringify({ fleet: { name: 'gpu-b' } })]);
  });

  test('settings from the memo still go through the checks that read this machine (cleanup roots)', () => {
    const memo = memoryMemo();
    const valid = settings('gpu-c');
    memo.entries.set('{}', {
      ...valid,
      backup: { ...valid.backup, sources: ['/data'] },
      cleanup: { ...valid.cleanup, experiments: { ...valid.cleanup.experiments, paths: ['/data/runs'] } },
    });
    expect(() => validateConfig({}, 'config', memo)).toThrow(
      /cleanup\.experiments\.paths\.0: got "\/data\/runs"; expected a cleanup root apart from backup source/,
    );
  });

  test('a memo file written by the CLI holds settings as they validated (a JSON round trip changes nothing)', () => {
    const file = memoFile();
    const config = loadConfig({ set: ['backup.sources=["/data/models","/data/ckpt"]', 'local.webhookUrl=https://hooks.example.com/x'] });
    new FileValidationMemo(file).remember('{}', config);
    expect(new FileValidationMemo(file).recall('{}')).toEqual(config);
    expect(readFileSync(file, 'utf8')).toContain('"format":1');
  });
});
