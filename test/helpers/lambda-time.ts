/**
 * Time for Lambda handlers under test: a fake time port (its sleeps advance its clock at once) and a
 * Lambda context with the remaining time the handler plans its waits by.
 */
import type { Context } from 'aws-lambda';
import type { WaitPort } from '../../lambda/core/call-rate';

/** A clock that starts at `startMs` and moves only when something sleeps on it. */
export function fakeWaitPort(startMs = Date.parse('2026-11-28T12:00:00Z')): WaitPort & { readonly sleptMs: number[] } {
  let now = startMs;
  const sleptMs: number[] = [];
  return {
    sleptMs,
    nowMs: () => now,
    sleep: async (ms) => {
      sleptMs.push(ms);
      now += ms;
    },
  };
}

/** A Lambda context with `remainingMs` left (the collector's timeout by default). */
export function lambdaContext(functionName: string, remainingMs = 120_000): Context {
  return { functionName, awsRequestId: 'req-1', getRemainingTimeInMillis: () => remainingMs } as unknown as Context;
}
