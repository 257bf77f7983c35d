/** In-memory proposal and ledger stores: the simulator, tests, and a single local process. */
import { emptyLedger, type Proposal, type RemediationLedger } from './model';
import { LedgerConflictError, type LedgerStore, type ProposalStore } from './run';

export class MemoryProposalStore implements ProposalStore {
  readonly proposals = new Map<string, Proposal>();

  async get(host: string): Promise<Proposal | null> {
    return this.proposals.get(host) ?? null;
  }

  async put(proposal: Proposal): Promise<void> {
    this.proposals.set(proposal.host, proposal);
  }

  async list(): Promise<readonly Proposal[]> {
    return [...this.proposals.values()];
  }

  async delete(hosts: readonly string[]): Promise<void> {
    for (const h of hosts) this.proposals.delete(h);
  }
}

export class MemoryLedgerStore implements LedgerStore {
  constructor(public ledger: RemediationLedger = emptyLedger()) {}

  async load(): Promise<RemediationLedger> {
    return this.ledger;
  }

  async save(previous: RemediationLedger, next: RemediationLedger): Promise<void> {
    if (this.ledger.version !== previous.version) {
      throw new LedgerConflictError(`stored version ${this.ledger.version}, loaded ${previous.version}`);
    }
    this.ledger = next;
  }
}
