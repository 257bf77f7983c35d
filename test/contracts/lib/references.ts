/**
 * Literal-name references: a resource that names another by a literal string (not Ref/GetAtt) gives
 * CloudFormation no dependency, so it may create the consumer first (or, on a rename, before the new
 * producer) and delete the producer while still in use. Finds every such reference without a dependency.
 */
const NAME_PROPERTIES = [
  'Name',
  'TopicName',
  'QueueName',
  'BucketName',
  'FunctionName',
  'TableName',
  'LogGroupName',
  'RoleName',
  'AlarmName',
  'DashboardName',
];

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown>; DependsOn?: string | string[] }>;

/** Strings of a resource's properties; metric dimensions name what they measure, which need not exist yet. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) strings(v, out);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) if (k !== 'Dimensions') strings(v, out);
  return out;
}

function referencedIds(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referencedIds(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string') out.add(o.Ref);
    if (Array.isArray(o['Fn::GetAtt'])) out.add(String(o['Fn::GetAtt'][0]));
    for (const v of Object.values(o)) referencedIds(v, out);
  }
  return out;
}

export function literalReferencesWithoutDependency(template: { Resources: Resources }): string[] {
  const names: { id: string; name: string }[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    for (const p of NAME_PROPERTIES) {
      const v = r.Properties?.[p];
      if (typeof v === 'string' && v.length >= 3) names.push({ id, name: v });
    }
  }
  const problems: string[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    const texts = strings(r.Properties ?? {});
    const depends = new Set([...referencedIds(r.Properties ?? {}), ...[r.DependsOn ?? []].flat()]);
    for (const n of names) {
      if (n.id === id || depends.has(n.id)) continue;
      if (texts.some((t) => t === n.name || t.includes(`/${n.name}`) || t.includes(`:${n.name}`))) {
        problems.push(`${id} names ${n.id} (${n.name}) literally, without a dependency on it`);
      }
    }
  }
  return problems;
}
