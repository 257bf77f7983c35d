/**
 * An HTTP proxy on 127.0.0.1 in front of s3rver (which leaves SigV4 signatures unchecked) that checks every request's
 * AWS Signature Version 4 as S3 does: the canonical request rebuilt from what arrived (the key decoded and
 * URI-encoded again, https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html), signed
 * by the AWS SDK's own signer (@smithy/signature-v4) with the credentials S3 would hold, and compared with
 * the request's. A mismatch is answered `403 SignatureDoesNotMatch` as S3 answers it; a match is passed on.
 * Requests signed for STS (a form body, hashed into the signature) are checked the same way and answered
 * here: GetCallerIdentity with the user id given for the access key.
 */
import { createHash, createHmac } from 'node:crypto';
import * as http from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { closeServer, listenOnLoopback } from './loopback-server';

export interface SigV4Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface SignedRequest {
  /** `METHOD /path?query`, as received. */
  readonly line: string;
  /** Whether the signature is the one AWS's signer computes. */
  readonly valid: boolean;
  /** The headers the request signed (SignedHeaders). */
  readonly signedHeaders: readonly string[];
  /** The access key id it was signed with. */
  readonly keyId: string;
}

export interface SigV4Proxy {
  readonly endpoint: string;
  readonly requests: SignedRequest[];
  /** Credentials S3 holds for the caller from now on (a rotation). */
  setCredentials(credentials: readonly SigV4Credentials[]): void;
  close(): Promise<void>;
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** SHA-256 and HMAC-SHA-256 in the shape the signer takes. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {}
}

/** S3's URI encoding of one path segment: everything but A-Z a-z 0-9 - _ . ~ as %XX of its UTF-8 bytes. */
function awsUriEncode(segment: string): string {
  return [...Buffer.from(segment, 'utf8')]
    .map((b) => {
      const c = String.fromCharCode(b);
      return /[A-Za-z0-9\-_.~]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
    })
    .join('');
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/(s3|sts)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

/** `20261203T024000Z` → Date. */
function amzDate(value: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) throw new Error(`x-amz-date '${value}' is not in the basic ISO 8601 form`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

interface Verdict {
  readonly valid: boolean;
  readonly signed: string[];
  readonly keyId: string;
  readonly service: string;
}

/** Checks a request's signature; `body` is the payload of a request signed with its hash (STS), else empty. */
async function verify(req: http.IncomingMessage, credentials: readonly SigV4Credentials[], body?: Buffer): Promise<Verdict> {
  const auth = AUTHORIZATION.exec(String(req.headers.authorization ?? ''));
  if (!auth) return { valid: false, signed: [], keyId: '', service: '' };
  const [, keyId, , region, service, signedList, signature] = auth;
  const signed = signedList.split(';');
  const creds = credentials.find((c) => c.accessKeyId === keyId);
  if (!creds) return { valid: false, signed, keyId, service };
  const url = new URL(req.url ?? '/', 'http://placeholder');
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const value = req.headers[name];
    if (value === undefined) return { valid: false, signed, keyId, service };
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const signer = new SignatureV4({
    service,
    region,
    credentials: creds,
    sha256: NodeSha256,
    uriEscapePath: false,
    applyChecksum: false,
  });
  const out = await signer.sign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname: '127.0.0.1',
      path: url.pathname
        .split('/')
        .map((s) => awsUriEncode(decodeURIComponent(s)))
        .join('/'),
      query,
      headers,
      body,
    },
    { signingDate: amzDate(headers['x-amz-date'] ?? '') },
  );
  const computed = /Signature=([0-9a-f]{64})/.exec(String(out.headers.authorization))?.[1];
  return { valid: computed === signature, signed, keyId, service };
}

const signatureDoesNotMatch =
  '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message></Error>';

/** Answers an STS request whose signature was checked: GetCallerIdentity, with the key's user id. */
function answerSts(body: Buffer, userId: string | undefined, res: http.ServerResponse): void {
  if (new URLSearchParams(body.toString('utf8')).get('Action') !== 'GetCallerIdentity' || !userId) {
    res.writeHead(400, { 'content-type': 'text/xml' }).end('<ErrorResponse><Error><Code>InvalidAction</Code></Error></ErrorResponse>');
    return;
  }
  res
    .writeHead(200, { 'content-type': 'text/xml' })
    .end(
      `<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><GetCallerIdentityResult><Arn>arn:aws:sts::123456789012:assumed-role/gpu-host/i-0abc</Arn><UserId>${userId}</UserId><Account>123456789012</Account></GetCallerIdentityResult></GetCallerIdentityResponse>`,
    );
}

/**
 * Starts the proxy in front of `target` (s3rver's URL), accepting these credentials; `userIds` are the
 * STS user ids of access keys.
 */
export async function startSigV4Proxy(
  target: string,
  credentials: readonly SigV4Credentials[],
  userIds: Readonly<Record<string, string>> = {},
): Promise<SigV4Proxy> {
  const requests: SignedRequest[] = [];
  let accepted = [...credentials];
  const upstream = new URL(target);
  const server = http.createServer((req, res) => {
    if (/\/sts\/aws4_request/.test(String(req.headers.authorization))) {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        verify(req, accepted, body).then(
          ({ valid, signed, keyId }) => {
            requests.push({ line: `${req.method} ${req.url}`, valid, signedHeaders: signed, keyId });
            if (valid) answerSts(body, userIds[keyId], res);
            else res.writeHead(403, { 'content-type': 'text/xml' }).end(signatureDoesNotMatch);
          },
          () => res.writeHead(500).end(),
        );
      });
      return;
    }
    req.pause();
    verify(req, accepted).then(
      ({ valid, signed, keyId }) => {
        requests.push({ line: `${req.method} ${req.url}`, valid, signedHeaders: signed, keyId });
        if (!valid) {
          req.resume();
          res.writeHead(403, { 'content-type': 'application/xml' }).end(signatureDoesNotMatch);
          return;
        }
        const forward = http.request(
          {
            host: upstream.hostname,
            port: upstream.port,
            method: req.method,
            path: req.url,
            // s3rver knows one key id (and does not check SigV4 signatures): the request goes on under it.
            headers: { ...req.headers, authorization: String(req.headers.authorization).replace(/Credential=[^/]+/, 'Credential=S3RVER') },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => res.destroy());
        req.pipe(forward);
        req.resume();
      },
      () => res.writeHead(500).end(),
    );
  });
  return {
    endpoint: await listenOnLoopback(server),
    requests,
    setCredentials: (next) => {
      accepted = [...next];
    },
    close: () => closeServer(server),
  };
}
