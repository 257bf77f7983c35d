/**
 * A small IAM policy evaluator for the subset the stack's template uses, so contract tests can ask
 * "is this request allowed?" offline. Within one account: explicit Deny wins, else any Allow (identity or
 * resource policy) allows, else default deny.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 * Condition operators: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
 * Not modelled: cross-account requests, SCPs/RCPs, permissions boundaries, session policies.
 */

export type Policy = { Statement: Statement | Statement[] };
export type Statement = {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Principal?: '*' | Record<string, string | string[]>;
  Condition?: Record<string, Record<string, unknown>>;
};

/** Who calls: a service principal (cloudwatch.amazonaws.com) or an IAM principal of an account. */
export type Caller = { service: string } | { account: string; arn?: string };

export type Request = {
  caller: Caller;
  action: string;
  resource: string;
  /** Request context keys (aws:SecureTransport, aws:userid, s3:prefix, ssm:resourceTag/...). */
  context?: Record<string, string | string[]>;
};

export type Decision = 'Allow' | 'ExplicitDeny' | 'ImplicitDeny';

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** `*` any run of characters, `?` one character; everything else literal. */
function glob(pattern: string, value: string, ignoreCase = false): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, ignoreCase ? 'is' : 's').test(value);
}

/** Policy variables like ${aws:userid} take the request's value; an absent key makes the element not match. */
function substitute(text: string, context: Record<string, string | string[]>): string | undefined {
  let missing = false;
  const out = text.replace(/\$\{([^}]+)\}/g, (_, key: string) => {
    const v = context[key];
    if (typeof v !== 'string') missing = true;
    return typeof v === 'string' ? v : '';
  });
  return missing ? undefined : out;
}

// Actions are case-insensitive ("service:action"); resources (ARNs) are case-sensitive.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
const actionMatches = (patterns: string[], action: string) => patterns.some((p) => glob(p, action, true));

function resourceMatches(patterns: string[], resource: string, context: Record<string, string | string[]>): boolean {
  return patterns.some((p) => {
    const s = substitute(p, context);
    return s !== undefined && glob(s, resource);
  });
}

function principalMatches(principal: Statement['Principal'], caller: Caller): boolean {
  if (principal === '*') return true;
  if (!principal) return false;
  if ('service' in caller) return list(principal.Service).includes(caller.service) || list(principal.AWS).includes('*');
  return list(principal.AWS).some(
    (p) => p === '*' || p === caller.account || p === caller.arn || new RegExp(`^arn:[^:]+:iam::${caller.account}:root$`).test(p),
  );
}

type Op = (requestValue: string, policyValue: string) => boolean;
const OPERATORS: Record<string, { test: Op; negated?: boolean }> = {
  StringEquals: { test: (r, p) => r === p },
  StringNotEquals: { test: (r, p) => r === p, negated: true },
  StringEqualsIgnoreCase: { test: (r, p) => r.toLowerCase() === p.toLowerCase() },
  StringNotEqualsIgnoreCase: { test: (r, p) => r.toLowerCase() === p.toLowerCase(), negated: true },
  StringLike: { test: (r, p) => glob(p, r) },
  StringNotLike: { test: (r, p) => glob(p, r), negated: true },
  ArnEquals: { test: (r, p) => r === p },
  ArnLike: { test: (r, p) => glob(p, r) },
  ArnNotEquals: { test: (r, p) => r === p, negated: true },
  ArnNotLike: { test: (r, p) => glob(p, r), negated: true },
  Bool: { test: (r, p) => r.toLowerCase() === p.toLowerCase() },
  NumericEquals: { test: (r, p) => Number(r) === Number(p) },
  NumericNotEquals: { test: (r, p) => Number(r) === Number(p), negated: true },
  NumericLessThan: { test: (r, p) => Number(r) < Number(p) },
  NumericLessThanEquals: { test: (r, p) => Number(r) <= Number(p) },
  NumericGreaterThan: { test: (r, p) => Number(r) > Number(p) },
  NumericGreaterThanEquals: { test: (r, p) => Number(r) >= Number(p) },
};

/** One operator block: every key must hold (AND); a key holds when any policy value matches (OR). */
function conditionHolds(operatorName: string, block: Record<string, unknown>, context: Record<string, string | string[]>): boolean {
  let name = operatorName;
  let setOp: 'ForAnyValue' | 'ForAllValues' | undefined;
  const prefixed = /^(ForAnyValue|ForAllValues):(.+)$/.exec(name);
  if (prefixed) [setOp, name] = [prefixed[1] as 'ForAnyValue' | 'ForAllValues', prefixed[2]];
  const ifExists = name.endsWith('IfExists');
  if (ifExists) name = name.slice(0, -'IfExists'.length);
  return Object.entries(block).every(([key, raw]) => {
    const policyValues = list(raw as string | string[]).map(String);
    const present = Object.hasOwn(context, key);
    if (name === 'Null') return policyValues.some((v) => (v === 'true') === !present);
    const op = OPERATORS[name];
    if (!op) throw new Error(`iam-eval: condition operator "${operatorName}" is not supported; add it with its documented semantics`);
    // A missing key: "the values do not match and the condition is false. If the policy condition requires that the
    // key is not matched, such as StringNotLike or ArnNotLike, and the right key is not present, the condition is
    // true" (condition operators page above); IfExists is true; ForAllValues over an empty set is true.
    if (!present) return ifExists || op.negated === true || setOp === 'ForAllValues';
    const requestValues = list(context[key]);
    const values = policyValues.map((v) => substitute(v, context)).filter((v): v is string => v !== undefined);
    const matchOne = (r: string) => values.some((p) => op.test(r, p));
    if (setOp === 'ForAllValues') return requestValues.every((r) => (op.negated ? !matchOne(r) : matchOne(r)));
    const anyMatch = requestValues.some(matchOne);
    return op.negated ? !anyMatch : anyMatch;
  });
}

function statementApplies(s: Statement, req: Request, isResourcePolicy: boolean): boolean {
  const context = req.context ?? {};
  if (isResourcePolicy && !principalMatches(s.Principal, req.caller)) return false;
  if (s.Action !== undefined && !actionMatches(list(s.Action), req.action)) return false;
  if (s.NotAction !== undefined && actionMatches(list(s.NotAction), req.action)) return false;
  if (s.Resource !== undefined && !resourceMatches(list(s.Resource), req.resource, context)) return false;
  if (s.NotResource !== undefined && resourceMatches(list(s.NotResource), req.resource, context)) return false;
  return Object.entries(s.Condition ?? {}).every(([op, block]) => conditionHolds(op, block, context));
}

/** The decision for one request, given the caller's identity policies and the target's resource policies. */
export function evaluate(req: Request, identityPolicies: readonly Policy[], resourcePolicies: readonly Policy[] = []): Decision {
  const applying = [
    ...identityPolicies.flatMap((p) => list(p.Statement).filter((s) => statementApplies(s, req, false))),
    ...resourcePolicies.flatMap((p) => list(p.Statement).filter((s) => statementApplies(s, req, true))),
  ];
  if (applying.some((s) => s.Effect === 'Deny')) return 'ExplicitDeny';
  return applying.some((s) => s.Effect === 'Allow') ? 'Allow' : 'ImplicitDeny';
}

/** Every action a policy names (for checking them against the service authorization reference). */
export function namedActions(policy: Policy): string[] {
  return list(policy.Statement).flatMap((s) => [...list(s.Action), ...list(s.NotAction)]);
}

// ---- Intrinsic functions -> concrete values, for a template synthesized with a fixed account and region.

export type Env = { account: string; region: string; partition: string };
type Resources = Record<string, { Type: string; Properties?: Record<string, any> }>;

/** The physical name a logical id stands for here: the logical id itself (lower-cased for buckets). */
function physicalName(id: string, type: string): string {
  return type === 'AWS::S3::Bucket' ? id.toLowerCase() : id;
}

function refValue(id: string, resources: Resources, env: Env): string {
  if (id === 'AWS::Partition') return env.partition;
  if (id === 'AWS::Region') return env.region;
  if (id === 'AWS::AccountId') return env.account;
  const r = resources[id];
  if (!r) throw new Error(`iam-eval: Ref to unknown resource "${id}"`);
  // Ref of a topic is its ARN; of other resources used in policies, the name.
  // https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-sns-topic.html#aws-resource-sns-topic-return-values
  if (r.Type === 'AWS::SNS::Topic') return `arn:${env.partition}:sns:${env.region}:${env.account}:${id}`;
  if (r.Type === 'AWS::IAM::ManagedPolicy') return `arn:${env.partition}:iam::${env.account}:policy/${id}`;
  return physicalName(id, r.Type);
}

function arnOf(id: string, resources: Resources, env: Env): string {
  const r = resources[id];
  if (!r) throw new Error(`iam-eval: Fn::GetAtt of unknown resource "${id}"`);
  const { partition: p, region, account } = env;
  const name = physicalName(id, r.Type);
  const arns: Record<string, string> = {
    'AWS::S3::Bucket': `arn:${p}:s3:::${name}`,
    'AWS::SQS::Queue': `arn:${p}:sqs:${region}:${account}:${name}`,
    'AWS::DynamoDB::Table': `arn:${p}:dynamodb:${region}:${account}:table/${name}`,
    'AWS::Lambda::Function': `arn:${p}:lambda:${region}:${account}:function:${name}`,
    'AWS::Logs::LogGroup': `arn:${p}:logs:${region}:${account}:log-group:${name}:*`,
    'AWS::IAM::Role': `arn:${p}:iam::${account}:role/${name}`,
    'AWS::Events::Rule': `arn:${p}:events:${region}:${account}:rule/${name}`,
    'AWS::Events::EventBus': `arn:${p}:events:${region}:${account}:event-bus/${name}`,
    'AWS::SNS::Topic': `arn:${p}:sns:${region}:${account}:${name}`,
  };
  const arn = arns[r.Type];
  if (!arn) throw new Error(`iam-eval: no ARN format for ${r.Type} (${id})`);
  return arn;
}

/** Resolves Ref, Fn::GetAtt (Arn), Fn::Join and Fn::Sub throughout a value; IAM policy variables stay. */
export function resolve(value: unknown, resources: Resources, env: Env): any {
  if (Array.isArray(value)) return value.map((v) => resolve(v, resources, env));
  if (!value || typeof value !== 'object') return value;
  const o = value as Record<string, any>;
  if (typeof o.Ref === 'string') return refValue(o.Ref, resources, env);
  if (Array.isArray(o['Fn::GetAtt'])) {
    const [id, attr] = o['Fn::GetAtt'];
    if (attr !== 'Arn') throw new Error(`iam-eval: Fn::GetAtt ${id}.${attr} is not supported`);
    return arnOf(id, resources, env);
  }
  if (Array.isArray(o['Fn::Join'])) {
    const [sep, parts] = o['Fn::Join'];
    return (resolve(parts, resources, env) as string[]).join(sep);
  }
  if (o['Fn::Sub'] !== undefined) {
    const [text, vars] = Array.isArray(o['Fn::Sub']) ? o['Fn::Sub'] : [o['Fn::Sub'], {}];
    return (text as string).replace(/\$\{([^}!]+)\}/g, (whole, key: string) => {
      if (key in vars) return String(resolve(vars[key], resources, env));
      if (key.startsWith('AWS::')) return refValue(key, resources, env);
      if (key.includes(':')) return whole; // an IAM policy variable such as ${aws:userid}
      const [id, attr] = key.split('.');
      return attr ? arnOf(id, resources, env) : refValue(id, resources, env);
    });
  }
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, resources, env)]));
}
