/**
 * The app as `cdk synth` builds it: cdk-nag AwsSolutions registered, Lambdas bundled with local esbuild.
 * Synthesized once.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { Validations } from 'aws-cdk-lib';
import * as sns from 'aws-cdk-lib/aws-sns';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../bin/app';
import { testApp, testStack } from '../helpers/cdk';
import { cdkOutdir } from '../helpers/temp';

const outdir = cdkOutdir();
let built: ReturnType<typeof buildApp>;
let synthError: unknown;

beforeAll(() => {
  built = buildApp({ outdir });
  try {
    built.app.synth();
  } catch (err) {
    synthError = err;
  }
});

describe('cdk-nag AwsSolutions', () => {
  test('the app synthesizes with no unacknowledged finding', () => {
    expect(synthError).toBeUndefined();
  });

  test('a finding that is not acknowledged fails synthesis (the checks really run)', () => {
    const app = testApp();
    new sns.Topic(testStack('Bare', { app }), 'Topic');
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    expect(() => app.synth()).toThrow(/AwsSolutions-SNS3/);
  });

  test('every acknowledgement sits on one construct below the stack, with a reason', () => {
    const acknowledged = built.app.node
      .findAll()
      .flatMap((c) =>
        c.node.metadata
          .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
          .map((m) => ({ c, data: m.data as Record<string, string> })),
      );
    expect(acknowledged.length).toBeGreaterThan(0);
    for (const { c, data } of acknowledged) {
      expect(c === built.app || c === built.stack, c.node.path).toBe(false);
      for (const [rule, reason] of Object.entries(data)) expect(reason.length, `${c.node.path} ${rule}`).toBeGreaterThan(40);
    }
  });
});

describe('Lambda bundles', () => {
  const assetOf = (variable: string): string => {
    const template = JSON.parse(readFileSync(path.join(outdir, `${built.stack.artifactId}.template.json`), 'utf8'));
    const fn = Object.values<any>(template.Resources).find(
      (r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Environment?.Variables?.[variable],
    );
    const hash = String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    return path.join(outdir, `asset.${hash}`, 'index.js');
  };

  test.each([
    ['dispatch', 'GPU_MAINT_DISPATCH'],
    ['collect', 'GPU_MAINT_COLLECT'],
  ])('the %s Lambda is one minified file built by local esbuild', (_, variable) => {
    const file = assetOf(variable);
    expect(existsSync(file)).toBe(true);
    const code = readFileSync(file, 'utf8');
    // Minified: long lines, not one statement per line.
    expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
    expect(statSync(file).size).toBeLessThan(3 * 1024 * 1024);
  });

  test("the bundles carry the pinned AWS SDK instead of relying on the runtime's copy", () => {
    for (const variable of ['GPU_MAINT_DISPATCH', 'GPU_MAINT_COLLECT']) {
      expect(readFileSync(assetOf(variable), 'utf8')).not.toMatch(/require\("@aws-sdk\/client-[a-z]+"\)/);
    }
  });
});
