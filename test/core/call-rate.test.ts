/**
 * The client-side call rate (lambda/core/call-rate.ts) on a fake clock, and the budget share it is
 * sized from (lambda/core/call-budget.ts callerRateLimit).
 */
import { describe, expect, test } from 'vitest';
import { API_QUOTAS, callerRateLimit, REQUIRED_HEADROOM } from '../../lambda/core/call-budget';
import { CallRateDeadlineError, RateLimiter, TokenBucket } from '../../lambda/core/call-rate';
import { fakeWaitPort } from '../helpers/lambda-time';

const T0 = 1_000_000;

describe('TokenBucket', () => {
  test('a full bucket lets its burst through without waiting', () => {
    const bucket = new TokenBucket({ perSecond: 2, burst: 3 }, T0);
    expect([1, 2, 3].map(() => bucket.reserve(T0, T0 + 60_000))).toEqual([0, 0, 0]);
  });

  test('once empty, each further call waits one refill interval more than the one before', () => {
    const bucket = new TokenBucket({ perSecond: 2, burst: 1 }, T0);
    expect([1, 2, 3].map(() => bucket.reserve(T0, T0 + 60_000))).toEqual([0, 500, 1000]);
  });

  test('idle time refills the bucket up to its burst and no further', () => {
    const bucket = new TokenBucket({ perSecond: 1, burst: 2 }, T0);
    bucket.reserve(T0, T0 + 60_000);
    bucket.reserve(T0, T0 + 60_000);
    const later = T0 + 3_600_000;
    expect([1, 2, 3].map(() => bucket.reserve(later, later + 60_000))).toEqual([0, 0, 1000]);
  });

  test('a call whose token comes after its deadline reserves nothing', () => {
    const bucket = new TokenBucket({ perSecond: 1, burst: 1 }, T0);
    bucket.reserve(T0, T0);
    expect(bucket.reserve(T0, T0 + 999)).toBeNull();
    // The refused call took no token: the next one still gets the first free slot.
    expect(bucket.reserve(T0, T0 + 1000)).toBe(1000);
  });

  test.each([
    [{ perSecond: 0, burst: 1 }, /perSecond must be a number > 0, got: 0/],
    [{ perSecond: Number.NaN, burst: 1 }, /perSecond must be a number > 0, got: NaN/],
    [{ perSecond: 1, burst: 0.5 }, /burst must be a number ≥ 1, got: 0.5/],
  ])('%o is refused, naming the bad value', (limit, message) => {
    expect(() => new TokenBucket(limit, T0)).toThrow(message);
  });
});

describe('RateLimiter', () => {
  test('callers are spaced out at the rate, the waits taken on the time port', async () => {
    const time = fakeWaitPort(T0);
    const limiter = new RateLimiter('ssm:GetCommandInvocation', { perSecond: 0.5, burst: 1 }, time);
    const calledAt: number[] = [];
    for (let i = 0; i < 3; i++) {
      await limiter.take(T0 + 60_000);
      calledAt.push(time.nowMs() - T0);
    }
    expect(calledAt).toEqual([0, 2000, 4000]);
  });

  test('a caller that would wait past its deadline fails at once with CallRateDeadlineError', async () => {
    const time = fakeWaitPort(T0);
    const limiter = new RateLimiter('ssm:GetCommandInvocation', { perSecond: 0.5, burst: 1 }, time);
    await limiter.take(T0 + 1000);
    await expect(limiter.take(T0 + 1000)).rejects.toThrow(CallRateDeadlineError);
    expect(time.sleptMs).toEqual([]);
  });
});

describe('callerRateLimit', () => {
  test("each of the collector's containers gets an even share of the quota's usable part", () => {
    const quota = API_QUOTAS['ssm:GetCommandInvocation'].quota.perSecond;
    expect(callerRateLimit('ssm:GetCommandInvocation', 10).perSecond * 10).toBeCloseTo(quota / REQUIRED_HEADROOM, 10);
  });

  test('a share below one call a second still allows one call at a time', () => {
    expect(callerRateLimit('ssm:GetCommandInvocation', 20).burst).toBe(1);
  });

  test('an API without a quota entry is refused, naming it', () => {
    expect(() => callerRateLimit('ssm:Unknown', 10)).toThrow(/ssm:Unknown has no quota in API_QUOTAS/);
  });

  test.each([0, 1.5])('callers %s is refused', (callers) => {
    expect(() => callerRateLimit('ssm:GetCommandInvocation', callers)).toThrow(`callers must be an integer ≥ 1, got: ${callers}`);
  });
});
