/**
 * Validates a template's resource properties against the CloudFormation resource schemas the CDK's own
 * service spec ships (@aws-cdk/aws-service-spec db.json.gz, built from the CloudFormation registry):
 * unknown properties, required properties, types and allowed values. Values that are intrinsic functions
 * (Ref, Fn::*) are checked only where their type cannot be wrong (they resolve at deploy time). The data
 * carries no patterns or lengths; those are not checked here.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

type TypeSpec =
  | { type: 'string' | 'number' | 'integer' | 'boolean' | 'json' | 'date-time' | 'null' | 'tag'; allowedValues?: string[] }
  | { type: 'array' | 'map'; element: TypeSpec }
  | { type: 'ref'; reference: { $ref: string } }
  | { type: 'union'; types: TypeSpec[] };
interface PropertySpec {
  type: TypeSpec;
  required?: boolean;
}
interface ShapeSpec {
  name: string;
  properties: Record<string, PropertySpec>;
}

export interface ServiceSpec {
  resource(type: string): ShapeSpec | undefined;
  typeDefinition(id: string): ShapeSpec;
}

export function loadServiceSpec(file = require.resolve('@aws-cdk/aws-service-spec/db.json.gz')): ServiceSpec {
  const db = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
  const resources = new Map<string, ShapeSpec>();
  for (const r of Object.values<any>(db.schema.resource.entities)) resources.set(r.cloudFormationType, r);
  const types = db.schema.typeDefinition.entities as Record<string, ShapeSpec>;
  const byId = new Map<string, ShapeSpec>(Object.values<any>(types).map((t) => [t.$id, t]));
  return {
    resource: (type) => resources.get(type),
    typeDefinition: (id) => {
      const t = byId.get(id);
      if (!t) throw new Error(`service spec: no type definition ${id}`);
      return t;
    },
  };
}

function isIntrinsic(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::'));
}

/** Problems of one value against its type, each `path: what`. */
function checkValue(spec: ServiceSpec, type: TypeSpec, value: unknown, path: string): string[] {
  if (isIntrinsic(value)) {
    // A list-valued intrinsic (Fn::Split, Fn::GetAZs) may stand for an array; any may stand for a scalar.
    return [];
  }
  switch (type.type) {
    case 'string':
      if (typeof value !== 'string') return [`${path}: expected a string, got ${JSON.stringify(value)?.slice(0, 60)}`];
      if (type.allowedValues && !type.allowedValues.includes(value))
        return [`${path}: ${JSON.stringify(value)} is not one of ${type.allowedValues.join(', ')}`];
      return [];
    case 'date-time':
      return typeof value === 'string' ? [] : [`${path}: expected a date-time string`];
    case 'number':
      return typeof value === 'number' || (typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value))
        ? []
        : [`${path}: expected a number, got ${JSON.stringify(value)}`];
    case 'integer':
      return (typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && /^-?\d+$/.test(value))
        ? []
        : [`${path}: expected an integer, got ${JSON.stringify(value)}`];
    case 'boolean':
      return typeof value === 'boolean' || value === 'true' || value === 'false'
        ? []
        : [`${path}: expected a boolean, got ${JSON.stringify(value)}`];
    case 'json':
      return typeof value === 'object' || typeof value === 'string' ? [] : [`${path}: expected JSON, got ${JSON.stringify(value)}`];
    case 'null':
      return value === null ? [] : [`${path}: expected null`];
    case 'tag':
      return checkShape(
        spec,
        {
          name: 'Tag',
          properties: { Key: { type: { type: 'string' }, required: true }, Value: { type: { type: 'string' }, required: true } },
        },
        value,
        path,
      );
    case 'array':
      if (!Array.isArray(value)) return [`${path}: expected an array, got ${JSON.stringify(value)?.slice(0, 60)}`];
      return value.flatMap((v, i) => checkValue(spec, type.element, v, `${path}[${i}]`));
    case 'map':
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected a map`];
      return Object.entries(value).flatMap(([k, v]) => checkValue(spec, type.element, v, `${path}.${k}`));
    case 'ref':
      return checkShape(spec, spec.typeDefinition(type.reference.$ref), value, path);
    case 'union': {
      const attempts = type.types.map((t) => checkValue(spec, t, value, path));
      return attempts.some((a) => a.length === 0) ? [] : (attempts.sort((a, b) => a.length - b.length)[0] ?? []);
    }
  }
}

function checkShape(spec: ServiceSpec, shape: ShapeSpec, value: unknown, path: string): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [`${path}: expected an object (${shape.name})`];
  const problems: string[] = [];
  for (const [name, p] of Object.entries(shape.properties)) {
    if (p.required && (value as Record<string, unknown>)[name] === undefined) problems.push(`${path}.${name}: required`);
  }
  for (const [name, v] of Object.entries(value)) {
    const p = shape.properties[name];
    if (!p) problems.push(`${path}.${name}: not a property of ${shape.name}`);
    else problems.push(...checkValue(spec, p.type, v, `${path}.${name}`));
  }
  return problems;
}

/** Every problem of every resource's properties, as `LogicalId.Path: what`. */
export function validateTemplate(
  spec: ServiceSpec,
  template: { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> },
): string[] {
  const problems: string[] = [];
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === 'AWS::CDK::Metadata' || r.Type.startsWith('Custom::')) continue;
    const shape = spec.resource(r.Type);
    if (!shape) {
      problems.push(`${id}: unknown resource type ${r.Type}`);
      continue;
    }
    problems.push(...checkShape(spec, shape, r.Properties ?? {}, id));
  }
  return problems;
}

/** How a taggable resource type carries tags: its property and form (`standard`: [{Key, Value}], `map`: {key: value}). */
export interface TagInformation {
  readonly tagPropertyName: string;
  readonly variant: string;
}

/** Resource types that take tags, from the same service spec: type → where its tags go. */
export function taggableResourceTypes(file = require.resolve('@aws-cdk/aws-service-spec/db.json.gz')): ReadonlyMap<string, TagInformation> {
  const db = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
  const out = new Map<string, TagInformation>();
  for (const r of Object.values<any>(db.schema.resource.entities)) if (r.tagInformation) out.set(r.cloudFormationType, r.tagInformation);
  return out;
}
