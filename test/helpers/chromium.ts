/**
 * Headless Chromium (Debian package `chromium`) driven over the DevTools protocol on 127.0.0.1: open a
 * page, collect console errors, exceptions and network requests, evaluate script, take a screenshot.
 * Protocol: https://chromedevtools.github.io/devtools-protocol/
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

interface Pending {
  resolve: (value: any) => void;
  reject: (err: Error) => void;
}

export interface PageEvents {
  readonly consoleErrors: string[];
  readonly exceptions: string[];
  readonly requests: string[];
}

export class Browser {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners: ((method: string, params: any, sessionId?: string) => void)[] = [];

  private constructor(
    private readonly proc: ChildProcess,
    private readonly socket: WebSocket,
    private readonly profileDir: string,
  ) {
    socket.on('message', (data) => {
      const msg = JSON.parse(String(data));
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`${msg.error.message} (${msg.error.code})`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.listeners) l(msg.method, msg.params, msg.sessionId);
      }
    });
  }

  /** Starts Chromium headless with a fresh profile; DevTools listens on a free 127.0.0.1 port. */
  static async launch(): Promise<Browser> {
    if (!CHROMIUM) throw new Error('chromium is not installed (Debian package chromium; .ci/run installs it)');
    const profileDir = mkdtempSync(path.join(os.tmpdir(), 'gpu-maint-chromium-'));
    const proc = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--no-default-browser-check',
        '--disable-extensions',
        '--disable-background-networking',
        '--disable-component-update',
        '--remote-debugging-address=127.0.0.1',
        '--remote-debugging-port=0',
        `--user-data-dir=${profileDir}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const endpoint = await new Promise<string>((resolve, reject) => {
      let stderr = '';
      const timer = setTimeout(() => reject(new Error(`chromium did not start its DevTools endpoint:\n${stderr}`)), 60_000);
      proc.stderr?.on('data', (chunk) => {
        stderr += String(chunk);
        const m = /DevTools listening on (ws:\/\/127\.0\.0\.1:\d+\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`chromium exited with ${code}:\n${stderr}`));
      });
    });
    const socket = new WebSocket(endpoint, { perMessageDeflate: false });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return new Browser(proc, socket, profileDir);
  }

  send(method: string, params: object = {}, sessionId?: string): Promise<any> {
    const id = this.nextId++;
    this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  /** Opens a page of the given size, records its console errors, exceptions and requests, and loads url. */
  async open(url: string, size: { width: number; height: number }, options: { javascript?: boolean } = {}): Promise<Page> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const events: PageEvents = { consoleErrors: [], exceptions: [], requests: [] };
    let loaded: () => void = () => {};
    const loadedPromise = new Promise<void>((resolve) => {
      loaded = resolve;
    });
    this.listeners.push((method, params, sid) => {
      if (sid !== sessionId) return;
      if (method === 'Runtime.consoleAPICalled' && (params.type === 'error' || params.type === 'assert'))
        events.consoleErrors.push(params.args.map((a: any) => a.value ?? a.description).join(' '));
      if (method === 'Runtime.exceptionThrown')
        events.exceptions.push(params.exceptionDetails.exception?.description ?? params.exceptionDetails.text);
      if (method === 'Log.entryAdded' && params.entry.level === 'error')
        events.consoleErrors.push(`${params.entry.source}: ${params.entry.text}`);
      if (method === 'Network.requestWillBeSent') events.requests.push(params.request.url);
      if (method === 'Page.loadEventFired') loaded();
    });
    for (const domain of ['Runtime', 'Log', 'Network', 'Page']) await this.send(`${domain}.enable`, {}, sessionId);
    await this.send('Emulation.setDeviceMetricsOverride', { ...size, deviceScaleFactor: 1, mobile: false }, sessionId);
    if (options.javascript === false) await this.send('Emulation.setScriptExecutionDisabled', { value: true }, sessionId);
    await this.send('Page.navigate', { url }, sessionId);
    await loadedPromise;
    return new Page(this, sessionId, events);
  }

  async close(): Promise<void> {
    try {
      await Promise.race([this.send('Browser.close'), new Promise((resolve) => setTimeout(resolve, 5000))]);
    } catch {
      // already closing
    }
    this.socket.close();
    if (this.proc.exitCode === null) {
      const exited = new Promise((resolve) => this.proc.once('exit', resolve));
      const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

export class Page {
  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
    readonly events: PageEvents,
  ) {}

  /** Evaluates an expression in the page and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.browser.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true }, this.sessionId);
    if (r.exceptionDetails) throw new Error(`page script failed: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** A PNG of the whole page. */
  async screenshot(): Promise<Buffer> {
    const { data } = await this.browser.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true }, this.sessionId);
    return Buffer.from(data, 'base64');
  }
}
