/**
 * Replayed history: real NVIDIA Xid kernel lines (test/fixtures/xid/xid-lines.txt) reach the collect path as
 * the kernel-log watcher's results, between clean gpu-checks of every host, and the remediation replay
 * produces exactly the expected actions; the same lines on a tenth of the fleet at once produce none.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import type { ScenarioEvent } from '../../lambda/core/alerts/simulate';
import { watchEventResult } from '../../lambda/core/gpu/watch';
import { simulateRemediation } from '../../lambda/core/remediation/simulate';
import type { Finding, TaskResult } from '../../lambda/core/types';
import { fixture } from '../helpers/fixtures';
import { at, settingsFor } from './helpers';

const LINES = readFileSync(fixture('xid', 'xid-lines.txt'), 'utf8').split('\n');
/** The real line with this Xid code (and text), as captured. */
function line(code: number, text = ''): string {
  const found = LINES.find((l) => !l.startsWith('#') && new RegExp(`NVRM: Xid \\([^)]*\\): ${code},`).test(l) && l.includes(text));
  if (!found) throw new Error(`no Xid ${code} line containing ${JSON.stringify(text)} in xid-lines.txt`);
  return found;
}

let seq = 0;
function event(result: TaskResult): ScenarioEvent {
  return { kind: 'result', line: ++seq, at: result.at as string, result };
}

function gpuCheck(host: string, minutes: number, findings: Finding[] = []): ScenarioEvent {
  return event({ task: 'gpu-check', host, status: findings.length ? 'critical' : 'ok', at: at(minutes), findings, metrics: [] });
}

function kernel(host: string, minutes: number, kernelLine: string): ScenarioEvent {
  const result = watchEventResult({ source: 'gpu-maint.watcher', host, at: at(minutes), key: 'k', count: 1, line: kernelLine }, new Map());
  if (!result) throw new Error(`not an Xid line: ${kernelLine}`);
  return event(result);
}

/** Every host's clean gpu-check every 5 minutes for `hours`, except where `sick` says otherwise. */
function fleet(hosts: number, hours: number, sick: (host: string, minutes: number) => Finding[] | null = () => null): ScenarioEvent[] {
  const out: ScenarioEvent[] = [];
  for (let m = 0; m < hours * 60; m += 5) {
    for (let i = 0; i < hosts; i++) {
      const host = `i-${String(i).padStart(2, '0')}`;
      out.push(gpuCheck(host, m, sick(host, m) ?? []));
    }
  }
  return out;
}

const unresponsive: Finding = { check: 'gpu.unresponsive', severity: 'critical', message: 'nvidia-smi did not answer within 15 s' };

describe('replayed history of real fault patterns', () => {
  const settings = settingsFor({ maxAction: 'replace', maxHostsAtOnce: 2, maxPercentAtOnce: 10 });

  test('produces exactly the expected actions and outcomes', async () => {
    const events = [
      // i-05 stays unresponsive after its reboot: recovery fails and escalates.
      ...fleet(20, 6, (host, m) => (host === 'i-05' && m >= 210 && m < 240 ? [unresponsive] : null)),
      kernel('i-01', 12, line(79, 'GPU has fallen off the bus')), // reboot, recovers
      kernel('i-02', 31, line(13, 'Multiple Warp Errors')), // application fault: nothing
      kernel('i-02', 32, line(94, 'python3')), // contained ECC: the application's, nothing
      kernel('i-03', 42, line(48, 'double bit error')), // reboot, recovers
      kernel('i-03', 122, line(48, 'double bit error')), // again within a day: replace, never a second reboot
      kernel('i-04', 62, line(31, 'engmask 00000101')), // MMU fault: nothing
      kernel('i-05', 202, line(119, 'GSP')), // reboot, stays sick: replace
    ];
    const actions = (await simulateRemediation(events, settings)).map((r) => [r.at.slice(11, 16), r.host, r.kind, r.action ?? '', r.cause]);
    expect(actions).toEqual([
      ['00:15', 'i-01', 'act', 'reboot', 'xid-79'],
      ['00:25', 'i-01', 'recovered', 'reboot', 'xid-79'],
      ['00:45', 'i-03', 'act', 'reboot', 'xid-48'],
      ['00:55', 'i-03', 'recovered', 'reboot', 'xid-48'],
      ['02:05', 'i-03', 'act', 'replace', 'xid-48'],
      ['02:15', 'i-03', 'recovered', 'replace', 'xid-48'],
      ['03:25', 'i-05', 'act', 'reboot', 'xid-119'],
      ['03:35', 'i-05', 'failed', 'reboot', 'xid-119'],
      ['03:35', 'i-05', 'act', 'replace', 'xid-119'],
      ['03:45', 'i-05', 'failed', 'replace', 'xid-119'],
      ['03:45', 'i-05', 'human', '', 'xid-119'],
    ]);
  });

  test('a recovered reboot is reported with the time it took', async () => {
    const events = [...fleet(20, 1), kernel('i-01', 12, line(79, 'GPU has fallen off the bus'))];
    const recovered = (await simulateRemediation(events, settings)).find((r) => r.kind === 'recovered');
    expect(recovered?.message).toBe('remediation: rebooted i-01 after Xid 79; healthy again 5 min later');
  });

  test('a fleet-wide storm produces no action and one alert', async () => {
    const hosts = Array.from({ length: 6 }, (_, i) => `i-${String(i).padStart(2, '0')}`);
    const events = [...fleet(40, 3), ...hosts.map((h, i) => kernel(h, 21 + (i % 3), line(79, 'GPU has fallen off the bus')))];
    const out = await simulateRemediation(events, settingsFor({ stormShare: 0.1, maxHostsAtOnce: 10, maxPercentAtOnce: 50 }));
    expect([out.filter((r) => r.kind === 'act').length, out.filter((r) => r.kind === 'storm').map((r) => r.cause)]).toEqual([
      0,
      ['xid-79'],
    ]);
  });
});
