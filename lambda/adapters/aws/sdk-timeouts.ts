/**
 * Bounded AWS SDK calls: a connection timeout, a per-attempt request timeout that fails the attempt
 * (smithy's node-http-handler only warns past requestTimeout unless throwOnRequestTimeout is set, since
 * 4.4.0), and a bounded number of attempts. Without them an endpoint that accepts TCP and never answers
 * holds a call forever. https://docs.aws.amazon.com/sdk-for-javascript/v3/developer-guide/node-configuring-maxsockets.html
 * (requestHandler shorthand), https://npmjs.com/package/@aws-sdk/util-retry (maxAttempts).
 */
export interface SdkTimeouts {
  readonly requestHandler: { readonly connectionTimeout: number; readonly requestTimeout: number; readonly throwOnRequestTimeout: true };
  readonly maxAttempts: number;
}

/** Default seconds one request may wait for an answer (backup.storeTimeoutSeconds). */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 60;
/** Attempts per call (the first and two retries, with the SDK's backoff). */
export const MAX_ATTEMPTS = 3;

/** Client options bounding every call: at most about MAX_ATTEMPTS × (connect + request timeout) plus backoff. */
export function sdkTimeouts(requestTimeoutSeconds = DEFAULT_REQUEST_TIMEOUT_SECONDS): SdkTimeouts {
  const requestTimeout = requestTimeoutSeconds * 1000;
  return {
    requestHandler: { connectionTimeout: Math.min(10_000, requestTimeout), requestTimeout, throwOnRequestTimeout: true },
    maxAttempts: MAX_ATTEMPTS,
  };
}
