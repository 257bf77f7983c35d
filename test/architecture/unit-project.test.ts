/**
 * The `unit` project stays fast: its files (test/unit-files.json) import nothing that runs bash scripts,
 * external tools, CDK synthesis or servers. Checked on each file's own imports.
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures';
import { globToRegExp, slowImports } from './unit-project';

function testFiles(): string[] {
  const out: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(REPO_ROOT, rel), { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${rel}/${e.name}`);
      else if (e.name.endsWith('.test.ts')) out.push(`${rel}/${e.name}`);
    }
  };
  walk('test');
  return out;
}

describe('the unit project', () => {
  const { unit, unitIsolated } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'unit-files.json'), 'utf8')) as Record<
    string,
    string[]
  >;
  const patterns = [...unit, ...unitIsolated].map(globToRegExp);
  const unitFiles = testFiles().filter((f) => patterns.some((re) => re.test(f)));

  test('holds the pure test files', () => {
    expect(unitFiles).toEqual(expect.arrayContaining(['test/core/contract.test.ts', 'test/architecture/unit-project.test.ts']));
    expect(unitFiles).not.toContain('test/backup/backup-s3.test.ts');
  });

  test('imports nothing that spawns processes, synthesizes CDK apps or starts servers', () => {
    const hits = unitFiles.flatMap((f) => slowImports(f, readFileSync(path.join(REPO_ROOT, f), 'utf8')).map((s) => `${f}: ${s}`));
    expect(hits).toEqual([]);
  });
});

describe('the checks find what they look for', () => {
  test.each([
    ['test/alerts/{cli,policy}.test.ts', 'test/alerts/policy.test.ts', true],
    ['test/alerts/{cli,policy}.test.ts', 'test/alerts/local.test.ts', false],
    ['test/architecture/**/*.test.ts', 'test/architecture/x/y.test.ts', true],
    ['test/core/*.test.ts', 'test/core/x/y.test.ts', false],
  ])('%s matches %s: %s', (glob, file, matches) => {
    expect(globToRegExp(glob).test(file)).toBe(matches);
  });

  test.each([
    ["import { spawnSync } from 'node:child_process';"],
    ["import { App } from 'aws-cdk-lib';"],
    ["import { runTaskScript } from '../../lambda/adapters/local/script-runner';"],
    ["import { ScriptHarness } from './harness';"],
  ])('test/backup/x.test.ts with %s is slow', (line) => {
    expect(slowImports('test/backup/x.test.ts', line)).toHaveLength(1);
  });
});
