/**
 * A tiny DynamoDB behind aws-sdk-client-mock, enough for the alert table: Query (table and `hosts`
 * index), Scan with begins_with, PutItem/DeleteItem/TransactWriteItems with the two condition forms the
 * store uses. Conditions fail the way DynamoDB fails them, so races are real races.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  DynamoDBClient,
  PutItemCommand,
  type PutItemCommandInput,
  QueryCommand,
  ScanCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  type TransactWriteItemsCommandInput,
} from '@aws-sdk/client-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';

type Item = Record<string, AttributeValue>;

export class FakeAlertTable {
  readonly items = new Map<string, Item>();
  readonly mock = mockClient(DynamoDBClient);
  /** Number of first Query calls held until all of them arrived (to interleave two collectors). */
  private barrier: { size: number; waiting: (() => void)[] } | null = null;
  conditionFailures = 0;

  constructor() {
    this.mock.on(QueryCommand).callsFake(async (input) => {
      if (this.barrier) {
        const b = this.barrier;
        await new Promise<void>((resolve) => {
          b.waiting.push(resolve);
          if (b.waiting.length >= b.size) {
            this.barrier = null;
            for (const release of b.waiting) release();
          }
        });
      }
      const values = input.ExpressionAttributeValues ?? {};
      let items = [...this.items.values()];
      if (input.IndexName === 'hosts') items = items.filter((i) => i.kind?.S === values[':k'].S);
      else
        items = items.filter(
          (i) => i.host.S === values[':h'].S && (values[':p'] === undefined || i.sk.S?.startsWith(values[':p'].S as string)),
        );
      return { Items: structuredClone(items) };
    });
    this.mock.on(ScanCommand).callsFake(async (input) => {
      const prefix = input.ExpressionAttributeValues?.[':p']?.S ?? '';
      return { Items: structuredClone([...this.items.values()].filter((i) => i.sk.S?.startsWith(prefix))) };
    });
    this.mock.on(PutItemCommand).callsFake(async (input) => {
      if (!this.conditionHolds(input)) {
        this.conditionFailures++;
        throw new ConditionalCheckFailedException({ message: 'The conditional request failed', $metadata: {} });
      }
      this.items.set(this.key(input.Item as Item), structuredClone(input.Item as Item));
      return {};
    });
    this.mock.on(DeleteItemCommand).callsFake(async (input) => {
      const key = this.key(input.Key as Item);
      const old = this.items.get(key);
      this.items.delete(key);
      return input.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
    });
    this.mock.on(TransactWriteItemsCommand).callsFake(async (input: TransactWriteItemsCommandInput) => {
      const reasons: string[] = (input.TransactItems ?? []).map((t) =>
        t.Put && !this.conditionHolds(t.Put as PutItemCommandInput) ? 'ConditionalCheckFailed' : 'None',
      );
      if (reasons.includes('ConditionalCheckFailed')) {
        this.conditionFailures++;
        throw new TransactionCanceledException({
          message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${reasons.join(', ')}]`,
          $metadata: {},
          CancellationReasons: reasons.map((Code) => ({ Code })),
        });
      }
      for (const t of input.TransactItems ?? []) {
        if (t.Put) this.items.set(this.key(t.Put.Item as Item), structuredClone(t.Put.Item as Item));
        if (t.Delete) this.items.delete(this.key(t.Delete.Key as Item));
      }
      return {};
    });
  }

  /** The next `size` Query calls wait for each other: every collector loads before any saves. */
  interleaveNextLoads(size: number): void {
    this.barrier = { size, waiting: [] };
  }

  restore(): void {
    this.mock.restore();
  }

  private key(item: Item): string {
    return `${item.host.S}|${item.sk.S}`;
  }

  private conditionHolds(input: Pick<PutItemCommandInput, 'Item' | 'ConditionExpression' | 'ExpressionAttributeValues'>): boolean {
    const current = this.items.get(this.key(input.Item as Item));
    if (!input.ConditionExpression) return true;
    if (input.ConditionExpression === 'attribute_not_exists(sk)') return current === undefined;
    if (input.ConditionExpression === '#v = :v') return current?.version?.N === input.ExpressionAttributeValues?.[':v']?.N;
    throw new Error(`fake table: unsupported condition ${input.ConditionExpression}`);
  }
}
