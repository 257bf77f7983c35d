/**
 * Remediation locally: the same proposals, planner and limits over <stateDir>/remediation.json, with this
 * machine as the fleet. A decided action prints the recommendation and, with remediation.localCommand, runs
 * that command (e.g. a drain script) under remediation.localCommandTimeoutSeconds with the decision in its
 * environment: GPU_MAINT_REMEDIATION_ACTION, _HOST, _CAUSE, _REASON.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { Config } from '../../config/schema';
import type { Notifier } from '../../core/alerts/ports';
import { alertSettings } from '../../core/alerts/settings';
import type { Clock } from '../../core/ports';
import { alertStateFleetView } from '../../core/remediation/fleet-view';
import { emptyLedger, type Proposal, type RemediationLedger, remediationSettings } from '../../core/remediation/model';
import { causeLabel } from '../../core/remediation/notify';
import {
  type ActDecision,
  LedgerConflictError,
  type LedgerStore,
  type ProposalStore,
  type RemediationExecutor,
  type RemediationRun,
  runRemediation,
} from '../../core/remediation/run';
import { alertStateFilePath, FileAlertStateStore } from './alert-state-file';
import { localStateDir } from './paths';

interface RemediationFile {
  readonly proposals: Record<string, Proposal>;
  readonly ledger: RemediationLedger;
}

export function remediationFilePath(stateDir: string): string {
  return path.join(stateDir, 'remediation.json');
}

/** Proposals and ledger in one JSON file, replaced atomically (write then rename). */
export class FileRemediationStore implements ProposalStore, LedgerStore {
  constructor(readonly file: string) {}

  private read(): RemediationFile {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { proposals: {}, ledger: emptyLedger() };
      throw err;
    }
    try {
      const data = JSON.parse(text) as Partial<RemediationFile>;
      return { proposals: data.proposals ?? {}, ledger: data.ledger ?? emptyLedger() };
    } catch (err) {
      throw new Error(`${this.file}: not JSON (${(err as Error).message}); move it aside to start over`);
    }
  }

  private write(data: RemediationFile): void {
    mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(data, null, 2)}\n`);
    renameSync(tmp, this.file);
  }

  async get(host: string): Promise<Proposal | null> {
    return this.read().proposals[host] ?? null;
  }

  async put(proposal: Proposal): Promise<void> {
    const data = this.read();
    this.write({ ...data, proposals: { ...data.proposals, [proposal.host]: proposal } });
  }

  async list(): Promise<readonly Proposal[]> {
    return Object.values(this.read().proposals);
  }

  async delete(hosts: readonly string[]): Promise<void> {
    const data = this.read();
    const proposals = { ...data.proposals };
    for (const h of hosts) delete proposals[h];
    this.write({ ...data, proposals });
  }

  async load(): Promise<RemediationLedger> {
    return this.read().ledger;
  }

  async save(previous: RemediationLedger, next: RemediationLedger): Promise<void> {
    const data = this.read();
    if (data.ledger.version !== previous.version) throw new LedgerConflictError(`${this.file} is at version ${data.ledger.version}`);
    this.write({ ...data, ledger: next });
  }
}

/** Runs remediation.localCommand for a decision; without one, the printed recommendation is the action. */
export function localCommandExecutor(config: Config): RemediationExecutor {
  return {
    async execute(d: ActDecision) {
      const command = config.remediation.localCommand;
      if (!command) return 'recommendation only (set remediation.localCommand to run a command)';
      const run = spawnSync('bash', ['-c', command], {
        env: {
          ...process.env,
          GPU_MAINT_REMEDIATION_ACTION: d.action,
          GPU_MAINT_REMEDIATION_HOST: d.host,
          GPU_MAINT_REMEDIATION_CAUSE: d.cause.key,
          GPU_MAINT_REMEDIATION_REASON: `${causeLabel(d.cause.key, d.cause.gpu)}${d.reason ? `; ${d.reason}` : ''}`,
        },
        timeout: config.remediation.localCommandTimeoutSeconds * 1000,
        killSignal: 'SIGKILL',
        encoding: 'utf8',
      });
      if (run.error) throw new Error(`remediation.localCommand: ${run.error.message}`);
      if (run.status !== 0) {
        throw new Error(
          `remediation.localCommand exited ${run.status ?? run.signal}: ${(run.stderr || run.stdout).trim().split('\n').slice(-1)[0] ?? ''}`,
        );
      }
      return `remediation.localCommand exited 0`;
    },
  };
}

/** The local proposal store (the collect step's half), or undefined when remediation is off. */
export function localProposalStore(config: Config): { store: ProposalStore; settings: ReturnType<typeof remediationSettings> } | undefined {
  if (!config.remediation.enabled) return undefined;
  return { store: new FileRemediationStore(remediationFilePath(localStateDir(config))), settings: remediationSettings(config) };
}

/** One planner run on this machine: its alert state is the fleet view, its hostname the one host. */
export async function runLocalRemediation(config: Config, clock: Clock, notifier: Notifier): Promise<RemediationRun | null> {
  const stateDir = localStateDir(config);
  const store = new FileRemediationStore(remediationFilePath(stateDir));
  const alerts = new FileAlertStateStore(alertStateFilePath(stateDir), clock);
  return runRemediation(
    {
      settings: remediationSettings(config),
      proposals: store,
      ledger: store,
      fleet: alertStateFleetView(alerts, alertSettings(config).staleAfterMinutes),
      hosts: { facts: async (hosts) => new Map(hosts.map((h) => [h, { exists: true, excluded: false, replaceBy: null }])) },
      executor: localCommandExecutor(config),
      notifier,
    },
    clock.now(),
  );
}
