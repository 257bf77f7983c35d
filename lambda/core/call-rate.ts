/**
 * A client-side request rate for one AWS API in one process: a token bucket that refills `perSecond`
 * tokens a second up to `burst`, the model AWS's own throttling uses
 * (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html). Callers reserve a token
 * before each call and wait until it is theirs, so that calls spread out instead of being throttled by
 * AWS and retried (lambda/core/call-budget.ts callerRateLimit sizes the bucket).
 *
 * Pure: time comes in as milliseconds, waiting goes through a port; bench/scale/simulate.ts runs the
 * same bucket on simulated time.
 */

/** A bucket's size: sustained calls per second and the calls it may make at once after being idle. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

export class TokenBucket {
  private tokens: number;
  private updatedAtMs: number;

  constructor(
    private readonly limit: RateLimit,
    nowMs: number,
  ) {
    if (!(Number.isFinite(limit.perSecond) && limit.perSecond > 0))
      throw new Error(`TokenBucket: perSecond must be a number > 0, got: ${limit.perSecond}`);
    if (!(Number.isFinite(limit.burst) && limit.burst >= 1))
      throw new Error(`TokenBucket: burst must be a number ≥ 1, got: ${limit.burst}`);
    this.tokens = limit.burst;
    this.updatedAtMs = nowMs;
  }

  /**
   * Reserves the next token: the milliseconds to wait before using it, or null (nothing reserved) when
   * the token would only be there after `deadlineMs`. Reservations queue up: a second caller that asks
   * while the first is still waiting gets the token after it.
   */
  reserve(nowMs: number, deadlineMs: number): number | null {
    if (nowMs > this.updatedAtMs) {
      this.tokens = Math.min(this.limit.burst, this.tokens + ((nowMs - this.updatedAtMs) / 1000) * this.limit.perSecond);
      this.updatedAtMs = nowMs;
    }
    const waitMs = this.tokens >= 1 ? 0 : ((1 - this.tokens) / this.limit.perSecond) * 1000;
    if (nowMs + waitMs > deadlineMs) return null;
    this.tokens -= 1;
    return waitMs;
  }
}

/** The time a limiter waits on: the adapter's clock and timer, or a test's fake ones. */
export interface WaitPort {
  nowMs(): number;
  sleep(ms: number): Promise<void>;
}

/** A call that could not get its token before its deadline: the caller fails the work item, to be retried. */
export class CallRateDeadlineError extends Error {
  override readonly name = 'CallRateDeadlineError';
}

/** A token bucket callers wait on. */
export class RateLimiter {
  private readonly bucket: TokenBucket;

  constructor(
    readonly api: string,
    limit: RateLimit,
    private readonly time: WaitPort,
  ) {
    this.bucket = new TokenBucket(limit, time.nowMs());
  }

  /** Waits for a token; throws CallRateDeadlineError, without waiting, when none is free before `deadlineMs`. */
  async take(deadlineMs: number): Promise<void> {
    const now = this.time.nowMs();
    const waitMs = this.bucket.reserve(now, deadlineMs);
    if (waitMs === null)
      throw new CallRateDeadlineError(`${this.api}: no call slot free before the deadline (${Math.round(deadlineMs - now)} ms away)`);
    if (waitMs > 0) await this.time.sleep(waitMs);
  }
}
