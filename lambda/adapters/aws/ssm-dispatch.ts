/**
 * SSM implementations of the dispatch ports: the fleet directory (DescribeInstanceInformation with tag
 * and instance-id filters) and the command sender (SendCommand).
 */
import { DescribeInstanceInformationCommand, SendCommandCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { CommandRequest, CommandSender, FleetDirectory, ManagedInstance, Tag } from '../../core/dispatch';

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
        CloudWatchOutputConfig: { CloudWatchOutputEnabled: true, CloudWatchLogGroupName: request.cloudWatchLogGroupName },
        Comment: request.comment,
      }),
    );
    const commandId = response.Command?.CommandId;
    if (!commandId) throw new Error(`SendCommand for ${request.documentName} returned no command id`);
    return { commandId };
  }
}
