/**
 * A small evaluator of SNS subscription filter policies with the MessageAttributes scope (the default),
 * for the operators this project uses: exact strings and numbers, `exists`, `prefix`, `anything-but`.
 * Semantics from AWS's documentation:
 * - no filter policy: every message (https://docs.aws.amazon.com/sns/latest/dg/message-filtering.html);
 * - every policy key must match an attribute, and one of its values must match that attribute's value;
 *   keys absent from the policy are ignored
 *   (https://docs.aws.amazon.com/sns/latest/dg/sns-subscription-filter-policies.html);
 * - String.Array attributes match when any element matches;
 * - `{"exists": false}` matches a message without that attribute only when the message has at least one
 *   attribute: "An empty set of attributes results in the filter not matching"
 *   (https://docs.aws.amazon.com/sns/latest/dg/attribute-key-matching.html).
 */
export interface MessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
}
export type MessageAttributes = Readonly<Record<string, MessageAttribute>>;
export type FilterPolicy = Readonly<Record<string, readonly unknown[]>>;

function values(attribute: MessageAttribute): (string | number)[] {
  const raw = attribute.StringValue ?? '';
  if (attribute.DataType.startsWith('String.Array')) {
    const parsed = JSON.parse(raw) as unknown[];
    return parsed.filter((v): v is string | number => typeof v === 'string' || typeof v === 'number');
  }
  if (attribute.DataType.startsWith('Number')) return [Number(raw)];
  return [raw];
}

function conditionMatches(condition: unknown, attribute: MessageAttribute | undefined, anyAttribute: boolean): boolean {
  if (condition !== null && typeof condition === 'object') {
    const op = condition as Record<string, unknown>;
    if ('exists' in op) return op.exists ? attribute !== undefined : attribute === undefined && anyAttribute;
    if (attribute === undefined) return false;
    const vs = values(attribute);
    if ('prefix' in op) return vs.some((v) => typeof v === 'string' && v.startsWith(String(op.prefix)));
    if ('anything-but' in op) {
      const excluded = [op['anything-but']].flat();
      return vs.some((v) => !excluded.includes(v));
    }
    throw new Error(`filter operator not supported by this evaluator: ${JSON.stringify(condition)}`);
  }
  if (attribute === undefined) return false;
  return values(attribute).some((v) => v === condition);
}

/** Whether SNS delivers a message with these attributes to a subscription with this filter policy. */
export function filterPolicyMatches(policy: FilterPolicy | undefined, attributes: MessageAttributes): boolean {
  if (policy === undefined) return true;
  const anyAttribute = Object.keys(attributes).length > 0;
  if (!anyAttribute) return false;
  return Object.entries(policy).every(([key, conditions]) => conditions.some((c) => conditionMatches(c, attributes[key], anyAttribute)));
}
