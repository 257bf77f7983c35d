/**
 * The IAM evaluator (test/contracts/lib/iam-eval.ts) against AWS's documented evaluation logic:
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 */
import { describe, expect, test } from 'vitest';
import { evaluate, type Policy, type Request, resolve } from './lib/iam-eval';

const me = { account: '111111111111' };
const req = (action: string, resource: string, context: Request['context'] = {}): Request => ({ caller: me, action, resource, context });
const allow = (extra: object = {}): Policy => ({
  Statement: [{ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::b/*', ...extra }],
});

describe('evaluate', () => {
  test('nothing allows: implicit deny (default deny)', () => {
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k'), [])).toBe('ImplicitDeny');
  });

  test('an explicit Deny wins over an Allow', () => {
    const deny: Policy = { Statement: [{ Effect: 'Deny', Action: 's3:*', Resource: '*' }] };
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k'), [allow(), deny])).toBe('ExplicitDeny');
  });

  test.each([
    ['S3:getobject', 'arn:aws:s3:::b/k', 'Allow'],
    ['s3:GetObject', 'arn:aws:s3:::B/k', 'ImplicitDeny'],
    ['s3:PutObject', 'arn:aws:s3:::b/k', 'ImplicitDeny'],
  ])('action %s on %s: %s (actions ignore case, resources do not)', (action, resource, decision) => {
    expect(evaluate(req(action, resource), [allow()])).toBe(decision);
  });

  test('wildcards: * any run, ? one character, in actions and resources', () => {
    const p: Policy = { Statement: [{ Effect: 'Allow', Action: 's3:Get*', Resource: 'arn:aws:secretsmanager:r:a:secret:s-??????' }] };
    expect(evaluate(req('s3:GetObjectTagging', 'arn:aws:secretsmanager:r:a:secret:s-AbCdEf'), [p])).toBe('Allow');
    expect(evaluate(req('s3:GetObjectTagging', 'arn:aws:secretsmanager:r:a:secret:s-AbC'), [p])).toBe('ImplicitDeny');
  });

  test('NotAction and NotResource match everything but the listed', () => {
    const p: Policy = { Statement: [{ Effect: 'Allow', NotAction: 's3:Delete*', NotResource: 'arn:aws:s3:::secret/*' }] };
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k'), [p])).toBe('Allow');
    expect(evaluate(req('s3:DeleteObject', 'arn:aws:s3:::b/k'), [p])).toBe('ImplicitDeny');
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::secret/k'), [p])).toBe('ImplicitDeny');
  });

  test('a policy variable takes the request value; without it the resource does not match', () => {
    const p = allow({ Resource: 'arn:aws:s3:::b/home/${aws:userid}/*' });
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/home/AROA1:i-1/x', { 'aws:userid': 'AROA1:i-1' }), [p])).toBe('Allow');
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/home/AROA1:i-2/x', { 'aws:userid': 'AROA1:i-1' }), [p])).toBe('ImplicitDeny');
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/home/AROA1:i-1/x'), [p])).toBe('ImplicitDeny');
  });

  test.each([
    ['StringEquals', { k: 'a' }, { k: 'a' }, true],
    ['StringEquals', { k: 'a' }, { k: 'A' }, false],
    ['StringEquals', { k: 'a' }, {}, false],
    ['StringNotEquals', { k: 'a' }, { k: 'b' }, true],
    ['StringNotEquals', { k: 'a' }, {}, true],
    ['StringLike', { k: 'a*' }, { k: 'abc' }, true],
    ['ArnLike', { k: 'arn:aws:cloudwatch:r:1:alarm:*' }, { k: 'arn:aws:cloudwatch:r:1:alarm:x' }, true],
    ['ArnEquals', { k: 'arn:aws:events:r:1:rule/x' }, { k: 'arn:aws:events:r:1:rule/y' }, false],
    ['Bool', { k: 'false' }, { k: 'false' }, true],
    ['Bool', { k: 'false' }, {}, false],
    ['NumericLessThan', { k: 1.2 }, { k: '1.0' }, true],
    ['NumericLessThan', { k: 1.2 }, { k: '1.2' }, false],
    ['Null', { k: 'true' }, {}, true],
    ['Null', { k: 'false' }, {}, false],
    ['StringEqualsIfExists', { k: 'a' }, {}, true],
    ['StringEqualsIfExists', { k: 'a' }, { k: 'b' }, false],
    ['ForAnyValue:StringEquals', { k: 'a' }, { k: ['b', 'a'] }, true],
    ['ForAllValues:StringEquals', { k: 'a' }, { k: ['b', 'a'] }, false],
    ['ForAllValues:StringEquals', { k: 'a' }, {}, true],
  ])('%s %j with context %j holds: %s', (operator, block, context, holds) => {
    const p = allow({ Condition: { [operator]: block } });
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k', context as Record<string, string>), [p])).toBe(
      holds ? 'Allow' : 'ImplicitDeny',
    );
  });

  test('keys of one operator AND, values of one key OR', () => {
    const p = allow({ Condition: { StringEquals: { a: ['1', '2'], b: '3' } } });
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k', { a: '2', b: '3' }), [p])).toBe('Allow');
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k', { a: '2', b: '4' }), [p])).toBe('ImplicitDeny');
  });

  test('an unknown operator is an error naming it, not a silent match', () => {
    const p = allow({ Condition: { DateGreaterThan: { k: 'x' } } });
    expect(() => evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k', { k: 'x' }), [p])).toThrow(/DateGreaterThan/);
  });

  test('a resource policy applies only to the principals it names', () => {
    const topic: Policy = {
      Statement: [{ Effect: 'Allow', Principal: { Service: 'events.amazonaws.com' }, Action: 'sns:Publish', Resource: 't' }],
    };
    expect(evaluate({ caller: { service: 'events.amazonaws.com' }, action: 'sns:Publish', resource: 't' }, [], [topic])).toBe('Allow');
    expect(evaluate({ caller: { service: 'cloudwatch.amazonaws.com' }, action: 'sns:Publish', resource: 't' }, [], [topic])).toBe(
      'ImplicitDeny',
    );
    expect(evaluate({ caller: me, action: 'sns:Publish', resource: 't' }, [], [topic])).toBe('ImplicitDeny');
  });

  test('within one account, identity or resource policy alone allows; a Deny in either denies', () => {
    const bucket: Policy = {
      Statement: [
        { Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
      ],
    };
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k', { 'aws:SecureTransport': 'true' }), [allow()], [bucket])).toBe('Allow');
    expect(evaluate(req('s3:GetObject', 'arn:aws:s3:::b/k', { 'aws:SecureTransport': 'false' }), [allow()], [bucket])).toBe('ExplicitDeny');
  });
});

describe('resolve', () => {
  const resources = { B: { Type: 'AWS::S3::Bucket' }, T: { Type: 'AWS::SNS::Topic' }, D: { Type: 'AWS::SSM::Document' } };
  const env = { account: '111111111111', region: 'eu-west-1', partition: 'aws' };

  test('Ref, Fn::GetAtt Arn, Fn::Join and Fn::Sub give concrete ARNs; policy variables stay', () => {
    expect(resolve({ 'Fn::Join': ['', [{ 'Fn::GetAtt': ['B', 'Arn'] }, '/x/${aws:userid}/*']] }, resources, env)).toBe(
      'arn:aws:s3:::b/x/${aws:userid}/*',
    );
    expect(resolve({ Ref: 'T' }, resources, env)).toBe('arn:aws:sns:eu-west-1:111111111111:T');
    expect(resolve({ 'Fn::Sub': 'arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:document/${D}' }, resources, env)).toBe(
      'arn:aws:ssm:eu-west-1:111111111111:document/D',
    );
  });

  test('a reference to a resource that is not in the template is an error naming it', () => {
    expect(() => resolve({ Ref: 'Nope' }, resources, env)).toThrow(/Nope/);
  });
});
