/**
 * Remediation state in the alert state table, in a partition of its own (`host = #remediation`), which the
 * alert store never reads and the sparse hosts index never sees (its items carry no `kind`):
 *   sk `proposal#<host>`  one item per proposed host (the proposal as JSON), expiring by TTL
 *   sk `ledger`           the fleet's ledger (JSON) under `version`: every save is a conditional put on the
 *                         version loaded, so of two planners only one commits (the other re-plans).
 * One partition takes a proposal write per unhealthy host per gpu-check: a storm of 5,000 hosts in five
 * minutes is ~17 writes/s, far below a partition's 1,000 write units per second
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import { ALERT_TABLE_KEYS } from '../../core/alerts/ports';
import { emptyLedger, type Proposal, type RemediationLedger } from '../../core/remediation/model';
import { LedgerConflictError, type LedgerStore, type ProposalStore } from '../../core/remediation/run';

export const REMEDIATION_PARTITION = '#remediation';
export const PROPOSAL_SK_PREFIX = 'proposal#';
export const LEDGER_SK = 'ledger';

const S = (value: string): AttributeValue => ({ S: value });
const N = (value: number): AttributeValue => ({ N: String(value) });
const key = (sk: string): Record<string, AttributeValue> => ({
  [ALERT_TABLE_KEYS.partitionKey]: S(REMEDIATION_PARTITION),
  [ALERT_TABLE_KEYS.sortKey]: S(sk),
});

function parseJson<T>(item: Record<string, AttributeValue> | undefined, what: string): T | null {
  const text = item?.data?.S;
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new Error(`remediation ${what} item is not JSON (${(err as Error).message})`);
  }
}

export class DynamoDbProposalStore implements ProposalStore {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
    /** Hours a proposal outlives its latest result before TTL removes it (remediation.proposalMaxAgeHours plus a margin). */
    private readonly retainHours: number,
  ) {}

  async get(host: string): Promise<Proposal | null> {
    const out = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: key(`${PROPOSAL_SK_PREFIX}${host}`), ConsistentRead: true }),
    );
    return parseJson<Proposal>(out.Item, `proposal of ${host}`);
  }

  async put(proposal: Proposal): Promise<void> {
    await this.client.send(
      new PutItemCommand({
        TableName: this.tableName,
        Item: {
          ...key(`${PROPOSAL_SK_PREFIX}${proposal.host}`),
          data: S(JSON.stringify(proposal)),
          [ALERT_TABLE_KEYS.ttl]: N(Math.floor(Date.parse(proposal.lastSeenAt) / 1000 + this.retainHours * 3600)),
        },
      }),
    );
  }

  async list(): Promise<readonly Proposal[]> {
    const out: Proposal[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': ALERT_TABLE_KEYS.partitionKey, '#sk': ALERT_TABLE_KEYS.sortKey },
          ExpressionAttributeValues: { ':pk': S(REMEDIATION_PARTITION), ':prefix': S(PROPOSAL_SK_PREFIX) },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        const p = parseJson<Proposal>(item, 'proposal');
        if (p) out.push(p);
      }
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async delete(hosts: readonly string[]): Promise<void> {
    // Few per run (bounded by the limits, plus expired ones): one DeleteItem each, the table's granted actions.
    for (const h of hosts) {
      await this.client.send(new DeleteItemCommand({ TableName: this.tableName, Key: key(`${PROPOSAL_SK_PREFIX}${h}`) }));
    }
  }
}

export class DynamoDbLedgerStore implements LedgerStore {
  constructor(
    private readonly client: DynamoDBClient,
    readonly tableName: string,
  ) {}

  async load(): Promise<RemediationLedger> {
    const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: key(LEDGER_SK), ConsistentRead: true }));
    return parseJson<RemediationLedger>(out.Item, 'ledger') ?? emptyLedger();
  }

  async save(previous: RemediationLedger, next: RemediationLedger): Promise<void> {
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: { ...key(LEDGER_SK), version: N(next.version), data: S(JSON.stringify(next)) },
          ConditionExpression: previous.version === 0 ? 'attribute_not_exists(#pk)' : '#v = :v',
          ExpressionAttributeNames: previous.version === 0 ? { '#pk': ALERT_TABLE_KEYS.partitionKey } : { '#v': 'version' },
          ...(previous.version === 0 ? {} : { ExpressionAttributeValues: { ':v': N(previous.version) } }),
        }),
      );
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) throw new LedgerConflictError(`version ${previous.version} was replaced`);
      throw err;
    }
  }
}
