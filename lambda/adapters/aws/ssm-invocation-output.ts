/**
 * Fetches what an SSM command invocation produced, with as few SSM control-plane calls as possible
 * (docs/scale.md: GetCommandInvocation's quota is not published, and one call per result is the largest
 * item of the old call budget):
 * - Success: the stdout object the agent uploaded to the output bucket, read at its deterministic key
 *   (agentOutputKey). A Success status means exit 0, and the sections carry their own stderr.
 * - never ran (DeliveryTimedOut, Undeliverable, Cancelled, Terminated): nothing to read; the event's
 *   status is the result.
 * - anything else (Failed, timed out), or a Success whose object is missing (empty stdout, or a document
 *   this collector cannot map to a key prefix): GetCommandInvocation (retried while SSM has not caught up
 *   with its own event: InvocationDoesNotExist, or a status that is not final yet), and the full stdout
 *   from the output bucket when GetCommandInvocation's copy was cut at 24,000 characters.
 */
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetCommandInvocationCommand, type GetCommandInvocationCommandOutput, type SSMClient } from '@aws-sdk/client-ssm';
import type { RateLimiter } from '../../core/call-rate';
import {
  agentOutputKey,
  type InvocationOutput,
  type InvocationOutputSource,
  type InvocationRef,
  NEVER_RAN_STATUSES,
} from '../../core/collect';

/** GetCommandInvocation returns at most this much of stdout. */
export const SSM_INLINE_STDOUT_LIMIT_CHARS = 24_000;
/** What the SSM agent appends when it cuts the output it reports. */
const TRUNCATION_MARK = '---Output truncated---';
const NOT_FINAL = new Set(['Pending', 'InProgress', 'Delayed', 'Cancelling']);
/** Error names AWS SDKs give throttled requests. */
const THROTTLING = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'RequestLimitExceeded']);

export interface SsmInvocationOutputOptions {
  readonly ssm: SSMClient;
  readonly s3: S3Client;
  /** The stack's output bucket: the only bucket full output is read from. */
  readonly outputBucket: string;
  /** Key prefix command output is written under (the collector may read nothing else). */
  readonly outputKeyPrefix: string;
  /** GetCommandInvocation attempts before giving up. @default 6 */
  readonly attempts?: number;
  /** First retry delay; doubles each attempt (with jitter). @default 500 */
  readonly baseDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * The OutputS3KeyPrefix the invocation's command was sent with (e.g. `command-output/gpu-check`), or
   * undefined when unknown: then every result is read with GetCommandInvocation.
   */
  readonly commandKeyPrefix?: (ref: InvocationRef) => string | undefined;
  /**
   * Spaces GetCommandInvocation calls out to this container's share of its quota (lambda/core/call-budget.ts
   * callerRateLimit); a call that gets no slot before `deadlineMs()` fails its record (CallRateDeadlineError),
   * which the queue delivers again.
   * @default - calls are not limited
   */
  readonly callRate?: { readonly limiter: RateLimiter; readonly deadlineMs: () => number };
  /** Told about recoverable problems (full output unreadable). */
  readonly warn?: (message: string, details: Record<string, unknown>) => void;
}

export function isTruncated(stdout: string): boolean {
  return stdout.length >= SSM_INLINE_STDOUT_LIMIT_CHARS || stdout.trimEnd().endsWith(TRUNCATION_MARK);
}

/**
 * Bucket and key of an SSM StandardOutputUrl: path style (`https://s3.<region>.amazonaws.com/<bucket>/<key>`)
 * or virtual-hosted style (`https://<bucket>.s3.<region>.amazonaws.com/<key>`).
 */
export function parseS3Url(url: string): { bucket: string; key: string } | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  const path = u.pathname.replace(/^\//, '').split('/').map(decodeURIComponent);
  const virtual = /^(.+)\.s3[.-]/.exec(u.hostname);
  if (virtual) return path.join('/') ? { bucket: virtual[1], key: path.join('/') } : null;
  if (/^s3[.-]/.test(u.hostname) && path.length >= 2) return { bucket: path[0], key: path.slice(1).join('/') };
  return null;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class SsmInvocationOutputSource implements InvocationOutputSource {
  private readonly attempts: number;
  private readonly baseDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: SsmInvocationOutputOptions) {
    this.attempts = options.attempts ?? 6;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.sleep = options.sleep ?? defaultSleep;
  }

  async fetch(ref: InvocationRef): Promise<InvocationOutput> {
    if (NEVER_RAN_STATUSES.has(ref.status)) return { stdout: '', stderr: '', responseCode: null, status: ref.status };
    if (ref.status === 'Success') {
      const stdout = await this.readAgentOutput(ref);
      if (stdout !== null) return { stdout, stderr: '', responseCode: 0, status: 'Success' };
    }
    let invocation: GetCommandInvocationCommandOutput | null;
    try {
      invocation = await this.getInvocation(ref);
    } catch (err) {
      // A run that did not succeed is a finding whatever its output says: when SSM still throttles after
      // the client's retries, evaluate it from the event's status rather than fail the record into the
      // queue's visibility timeout (docs/scale.md: GetCommandInvocation's quota is not published).
      if (ref.status === 'Success' || !THROTTLING.has((err as Error).name)) throw err;
      this.options.warn?.('GetCommandInvocation throttled; evaluating the failed run from its event status', {
        commandId: ref.commandId,
        instanceId: ref.instanceId,
        status: ref.status,
      });
      return { stdout: '', stderr: '(output not read: GetCommandInvocation throttled)', responseCode: null, status: ref.status };
    }
    if (!invocation) {
      // SSM never recorded an invocation it could not deliver; the event's status is all there is.
      return { stdout: '', stderr: '', responseCode: null, status: ref.status };
    }
    let stdout = invocation.StandardOutputContent ?? '';
    if (isTruncated(stdout)) stdout = await this.readFullOutput(ref, invocation.StandardOutputUrl, stdout);
    return {
      stdout,
      stderr: invocation.StandardErrorContent ?? '',
      responseCode: typeof invocation.ResponseCode === 'number' ? invocation.ResponseCode : null,
      status: invocation.Status ?? ref.status,
      ...(invocation.StatusDetails ? { statusDetails: invocation.StatusDetails } : {}),
    };
  }

  /** The agent's stdout object, or null when there is none to read (the caller asks SSM instead). */
  private async readAgentOutput(ref: InvocationRef): Promise<string | null> {
    const prefix = this.options.commandKeyPrefix?.(ref);
    if (prefix === undefined || !prefix.startsWith(this.options.outputKeyPrefix)) return null;
    try {
      const object = await this.options.s3.send(
        new GetObjectCommand({ Bucket: this.options.outputBucket, Key: agentOutputKey(prefix, ref) }),
      );
      return (await object.Body?.transformToString('utf8')) ?? null;
    } catch (err) {
      const name = (err as Error).name;
      // No object: the script printed nothing (the agent uploads only non-empty output) or could not upload.
      if (name === 'NoSuchKey' || name === 'NotFound' || name === 'AccessDenied') return null;
      throw err;
    }
  }

  private async getInvocation(ref: InvocationRef): Promise<GetCommandInvocationCommandOutput | null> {
    for (let attempt = 1; ; attempt++) {
      try {
        const rate = this.options.callRate;
        if (rate) await rate.limiter.take(rate.deadlineMs());
        const out = await this.options.ssm.send(new GetCommandInvocationCommand({ CommandId: ref.commandId, InstanceId: ref.instanceId }));
        if (!NOT_FINAL.has(out.Status ?? '') || attempt >= this.attempts) return out;
      } catch (err) {
        if ((err as Error).name !== 'InvocationDoesNotExist') throw err;
        if (attempt >= this.attempts) {
          if (ref.status !== 'Success') return null;
          throw new Error(
            `GetCommandInvocation answered InvocationDoesNotExist ${attempt} times for command ${ref.commandId} on ${ref.instanceId}`,
          );
        }
      }
      const delay = this.baseDelayMs * 2 ** (attempt - 1);
      await this.sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }

  private async readFullOutput(ref: InvocationRef, url: string | undefined, inline: string): Promise<string> {
    const where = url ? parseS3Url(url) : null;
    const problem = !url
      ? 'the invocation has no StandardOutputUrl (output was not sent to S3)'
      : !where
        ? `StandardOutputUrl ${url} is not an S3 object URL`
        : where.bucket !== this.options.outputBucket || !where.key.startsWith(this.options.outputKeyPrefix)
          ? `StandardOutputUrl ${url} is outside s3://${this.options.outputBucket}/${this.options.outputKeyPrefix}`
          : null;
    if (problem || !where) {
      this.options.warn?.('full output unavailable; evaluating the truncated copy', {
        commandId: ref.commandId,
        instanceId: ref.instanceId,
        problem,
      });
      return inline;
    }
    try {
      const object = await this.options.s3.send(new GetObjectCommand({ Bucket: where.bucket, Key: where.key }));
      const text = await object.Body?.transformToString('utf8');
      if (text === undefined) throw new Error('empty response body');
      return text;
    } catch (err) {
      const name = (err as Error).name;
      // NoSuchKey/AccessDenied: the instance could not write its output (see docs/troubleshooting.md).
      if (name === 'NoSuchKey' || name === 'AccessDenied' || name === 'NotFound') {
        this.options.warn?.('full output not readable; evaluating the truncated copy', {
          commandId: ref.commandId,
          instanceId: ref.instanceId,
          object: `s3://${where.bucket}/${where.key}`,
          error: name,
        });
        return inline;
      }
      throw err;
    }
  }
}
