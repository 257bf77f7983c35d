/** Local mode: the same planner over <stateDir>/remediation.json; a decided action runs remediation.localCommand. */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { FileRemediationStore, remediationFilePath, runLocalRemediation } from '../../lambda/adapters/local/remediation-local';
import type { Notification } from '../../lambda/core/alerts/model';
import { remediationSettings } from '../../lambda/core/remediation/model';
import { recordProposal } from '../../lambda/core/remediation/run';
import type { TaskResult } from '../../lambda/core/types';
import { parseConfigForTest } from '../helpers/config';
import { tempDir } from '../helpers/temp';
import { at, date } from './helpers';

const xid79: TaskResult = {
  task: 'gpu-check',
  host: 'gpu-box',
  status: 'critical',
  at: at(0),
  findings: [{ check: 'gpu.xid', severity: 'critical', gpu: 2, message: 'GPU 2: Xid 79', reading: '79' }],
  metrics: [],
};

async function setup(remediation: Record<string, unknown>) {
  const stateDir = tempDir('gpu-maint-remediation-local-');
  const config = parseConfigForTest({ local: { stateDir }, remediation: { enabled: true, dryRun: false, ...remediation } });
  await recordProposal(xid79, new FileRemediationStore(remediationFilePath(stateDir)), remediationSettings(config));
  const sent: Notification[] = [];
  const run = await runLocalRemediation(config, { now: () => date(1) }, { send: async (n) => void sent.push(n) });
  return { stateDir, run, sent };
}

describe('local remediation', () => {
  test('without a command the recommendation is printed and recorded', async () => {
    const { sent, stateDir } = await setup({});
    expect(sent.map((n) => n.alerts[0].message)).toEqual([expect.stringMatching(/^remediation: rebooted gpu-box after Xid 79 on GPU 2/)]);
    const file = JSON.parse(readFileSync(remediationFilePath(stateDir), 'utf8'));
    expect(file.ledger.records.map((r: { action: string; execution: string }) => [r.action, r.execution])).toEqual([
      ['reboot', 'recommendation only (set remediation.localCommand to run a command)'],
    ]);
  });

  test('the configured command runs with the decision in its environment', async () => {
    const out = path.join(tempDir('gpu-maint-remediation-cmd-'), 'env.txt');
    await setup({ localCommand: `echo "$GPU_MAINT_REMEDIATION_ACTION $GPU_MAINT_REMEDIATION_HOST $GPU_MAINT_REMEDIATION_CAUSE" > ${out}` });
    expect(readFileSync(out, 'utf8')).toBe('reboot gpu-box xid-79\n');
  });

  test('a failing command is reported as not started and the proposal stays', async () => {
    const { run, stateDir } = await setup({ localCommand: 'echo "drain refused" >&2; exit 3' });
    expect([...(run?.failedToStart.values() ?? [])]).toEqual(['remediation.localCommand exited 3: drain refused']);
    expect(Object.keys(JSON.parse(readFileSync(remediationFilePath(stateDir), 'utf8')).proposals)).toEqual(['gpu-box']);
  });

  test('a second fault while the first remediation is unverified is not acted on again', async () => {
    const { stateDir } = await setup({});
    const config = parseConfigForTest({ local: { stateDir }, remediation: { enabled: true, dryRun: false } });
    await recordProposal({ ...xid79, at: at(5) }, new FileRemediationStore(remediationFilePath(stateDir)), remediationSettings(config));
    const again = await runLocalRemediation(config, { now: () => date(6) }, { send: async () => {} });
    expect(again?.plan.decisions.map((d) => [d.kind, d.kind === 'skip' ? d.reason : ''])).toEqual([['skip', 'in-remediation']]);
  });
});
