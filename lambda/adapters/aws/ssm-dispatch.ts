/**
 * SSM implementations of the dispatch ports: the fleet directory (DescribeInstanceInformation with tag
 * and instance-id filters, for by-hand dispatches only), the command sender (SendCommand) and the target
 * counter (ListCommands of the one command just sent), plus the expected-results metric (PutMetricData).
 */
import { type CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { DescribeInstanceInformationCommand, ListCommandsCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { EXPECTED_RESULTS_METRIC } from '../../core/coverage';
import type {
  CommandRequest,
  CommandSender,
  CommandTargetCounter,
  ExpectedResultsSink,
  FleetDirectory,
  ManagedInstance,
  Tag,
} from '../../core/dispatch';

export class SsmFleetDirectory implements FleetDirectory {
  constructor(private readonly ssm: SSMClient) {}

  async findManagedInstances(query: {
    readonly tags: readonly Tag[];
    readonly instanceIds?: readonly string[];
  }): Promise<ManagedInstance[]> {
    // Filters are ANDed: every tag must match, and the id must be one of instanceIds.
    const filters = query.tags.map((t) => ({ Key: `tag:${t.key}`, Values: [t.value] }));
    if (query.instanceIds) filters.push({ Key: 'InstanceIds', Values: [...query.instanceIds] });
    const found: ManagedInstance[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.ssm.send(new DescribeInstanceInformationCommand({ Filters: filters, MaxResults: 50, NextToken: nextToken }));
      for (const info of page.InstanceInformationList ?? []) {
        if (info.InstanceId) found.push({ instanceId: info.InstanceId, pingStatus: info.PingStatus ?? 'Unknown' });
      }
      nextToken = page.NextToken;
    } while (nextToken);
    return found;
  }
}

export class SsmCommandSender implements CommandSender {
  constructor(private readonly ssm: SSMClient) {}

  async send(request: CommandRequest): Promise<{ commandId: string }> {
    const targets =
      request.targets.kind === 'tags'
        ? { Targets: request.targets.tags.map((t) => ({ Key: `tag:${t.key}`, Values: [t.value] })) }
        : { InstanceIds: [...request.targets.instanceIds] };
    const response = await this.ssm.send(
      new SendCommandCommand({
        DocumentName: request.documentName,
        ...targets,
        Parameters: Object.fromEntries(Object.entries(request.parameters).map(([k, v]) => [k, [v]])),
        MaxConcurrency: request.maxConcurrency,
        MaxErrors: request.maxErrors,
        TimeoutSeconds: request.deliveryTimeoutSeconds,
        OutputS3BucketName: request.outputS3BucketName,
        OutputS3KeyPrefix: request.outputS3KeyPrefix,
        // Without a log group the agent writes to S3 only and makes no CloudWatch Logs calls (docs/scale.md).
        ...(request.cloudWatchLogGroupName
          ? { CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: request.cloudWatchLogGroupName } }
          : {}),
        Comment: request.comment,
      }),
    );
    const commandId = response.Command?.CommandId;
    if (!commandId) throw new Error(`SendCommand for ${request.documentName} returned no command id`);
    return { commandId };
  }
}

/** Command statuses after which SSM has resolved the command's targets. */
const PENDING = new Set(['Pending']);

/**
 * Reads Command.TargetCount (https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_Command.html)
 * of a tag-targeted command with ListCommands filtered to its id: one call, a few more while SSM has not
 * resolved the tag yet (status Pending, count 0). Undefined when it is still unresolved, or the call failed:
 * the command went out either way.
 */
export class SsmCommandTargetCounter implements CommandTargetCounter {
  constructor(
    private readonly ssm: SSMClient,
    private readonly options: {
      readonly attempts?: number;
      readonly delayMs?: number;
      readonly sleep?: (ms: number) => Promise<void>;
    } = {},
  ) {}

  async targetCount(commandId: string): Promise<number | undefined> {
    const attempts = this.options.attempts ?? 4;
    const sleep = this.options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const out = await this.ssm.send(new ListCommandsCommand({ CommandId: commandId }));
        const command = out.Commands?.[0];
        const count = command?.TargetCount;
        if (typeof count === 'number' && (count > 0 || !PENDING.has(command?.Status ?? 'Pending'))) return count;
      } catch {
        return undefined;
      }
      if (attempt < attempts) await sleep((this.options.delayMs ?? 1500) * attempt);
    }
    return undefined;
  }
}

/** The expected-results metric, one datapoint per dispatch, read by the coverage alarm (lib/constructs/coverage-alarm.ts). */
export class CloudWatchExpectedResults implements ExpectedResultsSink {
  constructor(
    private readonly cloudwatch: CloudWatchClient,
    private readonly namespace: string,
    private readonly fleet: string,
  ) {}

  async record(task: string, expected: number, at: Date): Promise<void> {
    await this.cloudwatch.send(
      new PutMetricDataCommand({
        Namespace: this.namespace,
        MetricData: [
          {
            MetricName: EXPECTED_RESULTS_METRIC,
            Value: expected,
            Unit: 'Count',
            Timestamp: at,
            Dimensions: [
              { Name: 'Fleet', Value: this.fleet },
              { Name: 'Task', Value: task },
            ],
          },
        ],
      }),
    );
  }
}
