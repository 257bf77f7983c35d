/**
 * A tiny IMDSv2 server on 127.0.0.1 for script tests: PUT /latest/api/token issues a token, and
 * GET /latest/meta-data/<path> answers only with that token (as EC2 does with IMDSv2 required).
 * Start it in a test, pass `endpoint` as GPU_MAINT_IMDS_ENDPOINT, and close it after.
 */
import * as http from 'node:http';
import { closeServer, listenOnLoopback } from './loopback-server';

export interface ImdsServer {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  readonly endpoint: string;
  /** Requests received, as `METHOD path`. */
  readonly requests: string[];
  close(): Promise<void>;
}

export interface ImdsOptions {
  /** Metadata paths below /latest/meta-data/, e.g. `{ 'instance-type': 'p4d.24xlarge' }`. */
  readonly metadata: Readonly<Record<string, string>>;
}

const TOKEN = 'test-imds-token';

export async function startImdsServer(options: ImdsOptions): Promise<ImdsServer> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) {
        res.writeHead(400).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(TOKEN);
      return;
    }
    const prefix = '/latest/meta-data/';
    if (req.method === 'GET' && req.url?.startsWith(prefix)) {
      if (req.headers['x-aws-ec2-metadata-token'] !== TOKEN) {
        res.writeHead(401).end();
        return;
      }
      const value = options.metadata[req.url.slice(prefix.length)];
      if (value === undefined) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(value);
      return;
    }
    res.writeHead(404).end();
  });
  return {
    endpoint: await listenOnLoopback(server),
    requests,
    close: () => closeServer(server),
  };
}
