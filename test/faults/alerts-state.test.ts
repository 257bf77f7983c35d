/**
 * Faults in the local alert state file (<stateDir>/alerts/state.json): whatever is in it, the task report
 * is printed, the damaged file is kept aside (never deleted) with a clear message, and alerting goes on
 * from an empty state.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterEach, expect, test } from 'vitest';
import { disposeFaultHosts, makeFaultHost, runCliProcess } from './cli-harness';

afterEach(disposeFaultHosts);

test.each([
  ['null', 'null'],
  ['a list', '[]'],
  ['cut short', '{"format": 1, "hosts": {"fault-h'],
  ['a host entry of null', '{"format": 1, "hosts": {"fault-host": null}, "silences": []}'],
  [
    'an alert of the wrong shape',
    '{"format": 1, "hosts": {"fault-host": {"host": "fault-host", "version": 1, "lastSeen": {}, "alerts": {"cleanup.run": 7}, "undelivered": []}}, "silences": []}',
  ],
  ['silences that are not a list', '{"format": 1, "hosts": {}, "silences": {"x": 1}}'],
])(
  'an alert state file that is %s: the report is printed, the file is moved aside with a message, a fresh state is written',
  async (_what, text) => {
    const host = makeFaultHost();
    const dir = path.join(host.stateDir, 'alerts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'state.json'), text);
    const run = await runCliProcess(host, ['run', 'cleanup']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('cleanup on fault-host: OK');
    const said = run.stdout + run.stderr;
    expect(said).not.toContain('TypeError');
    expect(said).toMatch(
      /alert state .*state\.json is damaged \(.+\); moved it to .*state\.json\.bad-\S+ and started with empty alert state/,
    );
    // The damaged file is kept, byte for byte, for a look.
    const aside = readdirSync(dir).filter((f) => f.startsWith('state.json.bad-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(path.join(dir, aside[0]), 'utf8')).toBe(text);
    // Alerting went on: a valid state with this host's latest run.
    const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8'));
    expect(state.format).toBe(1);
    expect(state.hosts['fault-host'].lastSeen.cleanup).toEqual(expect.any(String));
  },
);
