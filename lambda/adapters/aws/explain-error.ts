/**
 * AWS SDK errors in the operator's words, each with the fix: the one place that maps an SDK error
 * (region, credentials, access, missing stack or bucket, unreachable endpoint) to a message. Used by
 * the CLI's AWS paths (invoke, snapshots/prune/restore on S3, silence).
 *
 * Error names and messages relied on:
 * - "Region is missing" is thrown by the SDK's region resolver when no region is configured
 *   (https://github.com/aws/aws-sdk-js-v3/issues/6343).
 * - CredentialsProviderError "Could not load credentials from any providers" when the default chain
 *   finds none (https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/setting-credentials-node.html).
 * - ExpiredToken / ExpiredTokenException / RequestExpired for expired session credentials;
 *   InvalidClientTokenId / UnrecognizedClientException / InvalidAccessKeyId / SignatureDoesNotMatch for
 *   keys AWS does not know (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_general.html).
 * - AccessDenied / AccessDeniedException / AuthorizationError / UnauthorizedOperation carry
 *   "User: <arn> is not authorized to perform: <action> on resource: <arn>" when IAM denies
 *   (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html,
 *   https://aws.amazon.com/premiumsupport/knowledge-center/troubleshoot-iam-policy-issues/).
 * - CloudFormation answers DescribeStacks for a missing stack with ValidationError
 *   "Stack with id <name> does not exist"
 *   (https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html).
 * - S3: NoSuchBucket, and network errors (ECONNREFUSED, ENOTFOUND, ETIMEDOUT) from the HTTP handler.
 */

export interface AwsErrorContext {
  /** The IAM action the call needed, e.g. `lambda:InvokeFunction`. */
  readonly action: string;
  /** What it was called on, e.g. a function name, `s3://bucket/prefix`, a stack name. */
  readonly resource?: string;
  readonly region?: string;
  /** Where a region can be given for this command, e.g. `--region`. */
  readonly regionOption?: string;
  /** The stack output of the managed policy that grants the action, e.g. `BackupInstancePolicyArn`. */
  readonly policyOutput?: string;
  /** The stack the command works with (named in the policy hint). */
  readonly stack?: string;
  /** S3 bucket and endpoint of a backup store (named in every store error). */
  readonly bucket?: string;
  readonly endpoint?: string;
}

interface SdkError {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly Code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly cause?: unknown;
}

const EXPIRED = new Set(['ExpiredToken', 'ExpiredTokenException', 'RequestExpired', 'TokenRefreshRequired']);
const INVALID = new Set(['InvalidClientTokenId', 'UnrecognizedClientException', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);
const DENIED = new Set(['AccessDenied', 'AccessDeniedException', 'AuthorizationError', 'UnauthorizedOperation', 'Forbidden']);
const NETWORK = /\b(ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET|EHOSTUNREACH|ENETUNREACH)\b/;

/** Thrown when an AWS call fails; `message` says what to do. */
export class AwsCallError extends Error {
  constructor(
    message: string,
    /** The class the error was mapped to (for tests and --json). */
    readonly kind: AwsErrorKind,
    override readonly cause?: unknown,
  ) {
    super(message);
    this.name = 'AwsCallError';
  }
}

export type AwsErrorKind =
  | 'region-missing'
  | 'credentials-missing'
  | 'credentials-expired'
  | 'credentials-invalid'
  | 'access-denied'
  | 'stack-not-found'
  | 'bucket-not-found'
  | 'endpoint-unreachable'
  | 'other';

function errorName(err: SdkError): string {
  return err.name ?? err.Code ?? err.code ?? 'Error';
}

function networkCode(err: SdkError): string | null {
  for (let e: unknown = err, depth = 0; e && depth < 4; e = (e as SdkError).cause, depth++) {
    const candidate = e as SdkError;
    const m = NETWORK.exec(`${candidate.code ?? ''} ${candidate.name ?? ''} ${candidate.message ?? ''}`);
    if (m) return m[1];
  }
  return null;
}

/** Where the store is, for store errors: `bucket B at endpoint E` (or the AWS S3 endpoint). */
function storeWhere(ctx: AwsErrorContext): string {
  return `bucket ${ctx.bucket} at ${ctx.endpoint ? `endpoint ${ctx.endpoint}` : `the AWS S3 endpoint${ctx.region ? ` of ${ctx.region}` : ''}`}`;
}

/** Classifies an SDK error. */
export function classifyAwsError(err: unknown): AwsErrorKind {
  const e = (err ?? {}) as SdkError;
  const name = errorName(e);
  const message = e.message ?? '';
  if (/Region is missing/i.test(message)) return 'region-missing';
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(message)) return 'credentials-missing';
  if (EXPIRED.has(name) || /token .*expired|has expired/i.test(message)) return 'credentials-expired';
  if (INVALID.has(name)) return 'credentials-invalid';
  if (DENIED.has(name) || /is not authorized to perform/i.test(message)) return 'access-denied';
  if (name === 'ValidationError' && /Stack with id .* does not exist/i.test(message)) return 'stack-not-found';
  if (name === 'NoSuchBucket') return 'bucket-not-found';
  if (networkCode(e)) return 'endpoint-unreachable';
  return 'other';
}

/** The message, with the fix, for an SDK error raised by one call. */
export function explainAwsError(err: unknown, ctx: AwsErrorContext): string {
  const e = (err ?? {}) as SdkError;
  const kind = classifyAwsError(err);
  const raw = `${errorName(e)}: ${e.message ?? String(err)}`;
  const on = ctx.resource ? ` on ${ctx.resource}` : '';
  switch (kind) {
    case 'region-missing':
      return `no AWS region configured for ${ctx.action}: ${ctx.regionOption ? `pass ${ctx.regionOption} <region>, ` : ''}set AWS_REGION, or set aws.region in the config`;
    case 'credentials-missing':
      return `no AWS credentials found for ${ctx.action}: run \`aws configure\` or \`aws sso login\`, or set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); on an instance, attach an instance role`;
    case 'credentials-expired':
      return `the AWS credentials have expired (${raw}): refresh them (\`aws sso login\`, or a new session from \`aws sts assume-role\`) and run the command again`;
    case 'credentials-invalid':
      return `AWS does not recognise these credentials (${errorName(e)}): check AWS_PROFILE / AWS_ACCESS_KEY_ID, or that the keys were not deleted or rotated`;
    case 'access-denied': {
      const m = /not authorized to perform:? ([\w-]+:[\w*]+)(?: on resource:? (\S+?))?(?: because|\s*$|\.)/i.exec(e.message ?? '');
      const action = m?.[1] ?? ctx.action;
      const resource = m?.[2] ?? ctx.resource;
      const who = /User: (\S+)/.exec(e.message ?? '')?.[1];
      const policy = ctx.policyOutput
        ? `attach the policy in the ${ctx.policyOutput} output of stack ${ctx.stack ?? 'GpuMaint'} to ${who ?? 'the role in use'} (docs/deploy.md, step 4)`
        : `grant ${who ?? 'the role in use'} ${action}${resource ? ` on ${resource}` : ''}`;
      const where = ctx.bucket ? ` (${storeWhere(ctx)})` : '';
      return `access denied: ${action}${resource ? ` on ${resource}` : ''}${where}; ${policy}`;
    }
    case 'stack-not-found':
      return `stack ${ctx.stack ?? ctx.resource ?? '?'} not found in ${ctx.region ?? 'this region'}`;
    case 'bucket-not-found':
      return `${storeWhere(ctx)}: no such bucket; check backup.destination (and backup.s3EndpointUrl for an S3-compatible store)`;
    case 'endpoint-unreachable':
      return `cannot reach ${ctx.bucket ? storeWhere(ctx) : (ctx.endpoint ?? `the AWS endpoint for ${ctx.action}`)} (${networkCode(e)}): check the URL, the network and any proxy`;
    default:
      return `${ctx.action}${on} failed: ${raw}${ctx.bucket ? ` (${storeWhere(ctx)})` : ''}`;
  }
}

/** Runs one AWS call; an SDK error becomes an AwsCallError whose message says the fix. */
export async function awsCall<T>(ctx: AwsErrorContext, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AwsCallError) throw err;
    throw new AwsCallError(explainAwsError(err, ctx), classifyAwsError(err), err);
  }
}
