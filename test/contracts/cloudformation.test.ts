/**
 * CloudFormation's view of the synthesized template: every resource's properties against the registry
 * schemas in the CDK's service spec, SSM documents as CloudFormation sends them, and literal-name
 * references. Each check also runs on a broken copy of the template, to prove it can fail.
 */
import { beforeAll, describe, expect, test } from 'vitest';
import { DOCUMENT_BUDGET_BYTES } from '../../lib/constructs/task-document';
import { loadServiceSpec, type ServiceSpec, validateTemplate } from './lib/cfn-schema';
import { literalReferencesWithoutDependency } from './lib/references';
import { type CfnTemplate, synthFullStack } from './lib/stack';

let template: CfnTemplate;
let spec: ServiceSpec;
const copy = (): CfnTemplate => structuredClone(template);
const ofType = (t: CfnTemplate, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);

beforeAll(() => {
  template = synthFullStack().template;
  spec = loadServiceSpec();
});

describe('resource properties against the CloudFormation registry schemas', () => {
  test('the template has no problem', () => {
    expect(Object.keys(template.Resources).length).toBeGreaterThan(50);
    expect(validateTemplate(spec, template)).toEqual([]);
  });

  test.each([
    [
      'a missing required property',
      (t: CfnTemplate) => delete ofType(t, 'AWS::SSM::Document')[0][1].Properties!.Content,
      /\.Content: required/,
    ],
    [
      'a value outside the allowed values',
      (t: CfnTemplate) => (ofType(t, 'AWS::SSM::Document')[0][1].Properties!.DocumentFormat = 'XML'),
      /DocumentFormat: "XML" is not one of YAML, JSON, TEXT/,
    ],
    [
      'a wrong type',
      (t: CfnTemplate) => (ofType(t, 'AWS::Lambda::Function')[0][1].Properties!.MemorySize = 'lots'),
      /MemorySize: expected an integer/,
    ],
    [
      'an unknown property',
      (t: CfnTemplate) => (ofType(t, 'AWS::SQS::Queue')[0][1].Properties!.RetentionDays = 14),
      /RetentionDays: not a property of Queue/,
    ],
    [
      'a nested property of the wrong type',
      (t: CfnTemplate) => (ofType(t, 'AWS::Scheduler::Schedule')[0][1].Properties!.FlexibleTimeWindow = { Mode: 'SOMETIMES' }),
      /FlexibleTimeWindow.Mode: "SOMETIMES" is not one of/,
    ],
  ])('fails on %s', (_name, breakIt, problem) => {
    const broken = copy();
    breakIt(broken);
    expect(validateTemplate(spec, broken).join('\n')).toMatch(problem);
  });
});

/** A document's Content as CloudFormation sends it: the string, each reference at its longest value. */
function contentAsSent(content: unknown, referenceBytes = 63): string {
  if (typeof content === 'string') return content;
  const join = (content as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (!join) throw new Error(`Content is an object: CloudFormation would re-serialize it (pretty-printed) before CreateDocument`);
  return join[1].map((p) => (typeof p === 'string' ? p : 'x'.repeat(referenceBytes))).join(join[0]);
}

describe('SSM documents as CloudFormation sends them', () => {
  test.each(['gpu-check', 'health-check', 'backup', 'restore-test', 'restore', 'cleanup', 'logrotate'])(
    'the %s document is within the budget, measured on the string sent',
    (task) => {
      const [, doc] = ofType(template, 'AWS::SSM::Document').find(([, r]) =>
        contentAsSent(r.Properties!.Content).includes(`"gpu-maint ${task} (`),
      )!;
      const bytes = Buffer.byteLength(contentAsSent(doc.Properties!.Content), 'utf8');
      expect(bytes).toBeLessThanOrEqual(DOCUMENT_BUDGET_BYTES);
    },
  );

  test('the check fails on an object Content, which CloudFormation would pretty-print', () => {
    const [, doc] = ofType(template, 'AWS::SSM::Document')[0];
    expect(() => contentAsSent(JSON.parse(contentAsSent(doc.Properties!.Content)))).toThrow(/re-serialize/);
  });
});

describe('references by literal name', () => {
  test('every resource that names another depends on it', () => {
    expect(literalReferencesWithoutDependency(template)).toEqual([]);
  });

  test('the check fails on an association naming its document by a literal string', () => {
    const broken = copy();
    const [docId, doc] = ofType(broken, 'AWS::SSM::Document').find(([, r]) => String(r.Properties!.Name).includes('.logrotate.'))!;
    const [assocId, assoc] = ofType(broken, 'AWS::SSM::Association')[0];
    assoc.Properties!.Name = doc.Properties!.Name;
    expect(literalReferencesWithoutDependency(broken)).toContain(
      `${assocId} names ${docId} (${doc.Properties!.Name}) literally, without a dependency on it`,
    );
  });
});

describe('partitions', () => {
  test('no ARN in the template hard-codes the aws partition (GovCloud and China deploy the same template)', () => {
    expect(JSON.stringify(template)).not.toMatch(/"arn:aws:/);
  });

  test('the check fails on a hard-coded ARN', () => {
    const broken = copy();
    ofType(broken, 'AWS::SQS::Queue')[0][1].Properties!.RedrivePolicy = { deadLetterTargetArn: 'arn:aws:sqs:eu-west-1:123456789012:q' };
    expect(JSON.stringify(broken)).toMatch(/"arn:aws:/);
  });
});
