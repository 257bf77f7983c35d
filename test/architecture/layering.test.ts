/** The layering rules (test/architecture/layering.ts) hold for the repository, and each rule can fail. */
import { describe, expect, test } from 'vitest';
import { REPO_ROOT } from '../helpers/fixtures';
import { checkLayering, formatViolation, importsOf, readSources } from './layering';

describe('the repository', () => {
  test('bin/, lib/ and lambda/ break no layering rule', () => {
    const files = readSources(REPO_ROOT);
    expect(files.length).toBeGreaterThan(50);
    expect(checkLayering(files).map(formatViolation)).toEqual([]);
  });
});

describe('each rule fails on a planted import', () => {
  test.each([
    ['lambda/core/gpu/x.ts', "import { S3Client } from '@aws-sdk/client-s3';", 'lambda/core is pure'],
    ['lambda/core/gpu/x.ts', "import { readFileSync } from 'node:fs';", 'lambda/core is pure'],
    ['lambda/core/gpu/x.ts', "import * as fs from 'fs';", 'lambda/core is pure'],
    ['lambda/core/gpu/x.ts', "import {\n  readFileSync,\n  writeFileSync,\n} from 'node:fs';", 'lambda/core is pure'],
    ['lambda/core/gpu/x.ts', "import { spawnSync } from 'node:child_process';", 'lambda/core is pure'],
    ['lambda/core/gpu/x.ts', "const cp = require('child_process');", 'lambda/core is pure'],
    ['lambda/core/gpu/x.ts', "import { FileBackupStore } from '../../adapters/local/backup-store-file';", 'lambda/core imports only'],
    ['lambda/core/gpu/x.ts', "import type { TaskName } from '../../tasks/parameters';", 'lambda/core imports only'],
    ['lambda/core/x.ts', "export { parse } from '../config/load';", 'lambda/core imports only'],
    ['lambda/config/x.ts', "import { GpuMaintStack } from '../../lib/stack';", 'never imports the CDK app'],
    ['lambda/tasks/x.ts', "const m = await import('../../bin/cli/main');", 'never imports the CDK app'],
    ['lambda/adapters/local/x.ts', "import { S3BackupStore } from '../aws/backup-store-s3';", 'local adapters never import AWS'],
    ['lambda/adapters/aws/x.ts', "import { FileBackupStore } from '../local/backup-store-file';", 'AWS adapters never import local'],
    ['lambda/handlers/x.ts', "import { expandHome } from '../adapters/local/paths';", 'handlers import only'],
  ])('%s with %s breaks "%s"', (file, line, rule) => {
    const violations = checkLayering([{ path: file, text: `${line}\n` }]);
    expect(violations.map((v) => v.rule)).toEqual([expect.stringContaining(rule)]);
  });

  test.each([
    ['lambda/core/gpu/x.ts', "import { z } from 'zod';\nimport type { Config } from '../../config/schema';\nimport { t } from '../types';"],
    ['lambda/handlers/x.ts', "import { a } from '../adapters/aws/alert-sink';\nimport { b } from '../tasks/parameters';"],
    ['lib/x.ts', "import { S3Client } from '@aws-sdk/client-s3';\nimport { c } from '../lambda/config/schema';"],
    ['bin/cli/x.ts', "import { a } from '../../lambda/adapters/aws/x';\nimport { b } from '../../lambda/adapters/local/y';"],
    ['lambda/core/gpu/x.ts', "// import { readFileSync } from 'node:fs';\n/* import '../../../lib/stack' */"],
  ])('%s may write %j', (file, text) => {
    expect(checkLayering([{ path: file, text }])).toEqual([]);
  });
});

test('imports are resolved relative to the importing file', () => {
  expect(importsOf({ path: 'lambda/core/gpu/x.ts', text: "import { a } from '../../config/schema.ts';" })).toEqual([
    { specifier: '../../config/schema.ts', module: 'lambda/config/schema' },
  ]);
});
