/**
 * Disk-pressure cleanup dispatch: SSM SendCommand of this stack's cleanup document to one instance,
 * with the document's parameter defaults (the deployed cleanup config, dry run included). The
 * collector's role may send it only to instances carrying the fleet tag (IAM condition), as the
 * dispatcher's may.
 */
import type { CleanupDispatcher } from '../../core/cleanup/disk-pressure';
import { type CommandSender, commandOutputKeyPrefix } from '../../core/dispatch';

export interface SsmCleanupDispatcherSettings {
  readonly documentName: string;
  readonly deliveryTimeoutSeconds: number;
  readonly outputBucket: string;
  /** Prefix ending in `/` (or empty); `cleanup` is appended, as for scheduled runs. */
  readonly outputKeyPrefix: string;
  /** Also stream output to this log group; absent: S3 only. */
  readonly commandLogGroup?: string;
}

export class SsmCleanupDispatcher implements CleanupDispatcher {
  constructor(
    private readonly sender: CommandSender,
    private readonly settings: SsmCleanupDispatcherSettings,
  ) {}

  async dispatchCleanup(host: string): Promise<{ id: string }> {
    const { commandId } = await this.sender.send({
      documentName: this.settings.documentName,
      targets: { kind: 'instances', instanceIds: [host] },
      parameters: {},
      maxConcurrency: '1',
      maxErrors: '0',
      deliveryTimeoutSeconds: this.settings.deliveryTimeoutSeconds,
      outputS3BucketName: this.settings.outputBucket,
      outputS3KeyPrefix: commandOutputKeyPrefix(this.settings.outputKeyPrefix, 'cleanup'),
      ...(this.settings.commandLogGroup ? { cloudWatchLogGroupName: this.settings.commandLogGroup } : {}),
      comment: `gpu-maint cleanup: disk pressure on ${host}`.slice(0, 100),
    });
    return { id: `command ${commandId}` };
  }
}
