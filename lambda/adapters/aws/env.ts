/** Reads a Lambda's JSON configuration from one environment variable, validated, with a clear error. */
import type { z } from 'zod';
import type { JsonEnvContract } from '../../core/lambda-env';
import { describeIssue } from '../../core/validation';

export function jsonEnv<S extends z.ZodType>(contract: JsonEnvContract<S>, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const { variable: name, schema } = contract;
  const raw = env[name];
  if (raw === undefined || raw === '') {
    throw new Error(`environment variable ${name} is not set; the stack's construct sets it (redeploy the stack)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new Error(`environment variable ${name} is not JSON: ${JSON.stringify(raw.slice(0, 120))}`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => describeIssue(i, json, { root: '(top level)', unknownKey: 'unknown field' }))
      .join('; ');
    throw new Error(`environment variable ${name} is invalid: ${problems}`);
  }
  return parsed.data;
}
