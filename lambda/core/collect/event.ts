/**
 * Collect, step 0: the SSM "EC2 Command Invocation Status-change Notification" event as the collector's
 * SQS queue delivers it, parsed into the invocation it is about, and where the agent wrote its output.
 */
import { z } from 'zod';

export const INVOCATION_STATUS_CHANGE = 'EC2 Command Invocation Status-change Notification';

/** Invocation statuses after which nothing changes any more: the collector's EventBridge rule matches these. */
export const TERMINAL_INVOCATION_STATUSES = [
  'Success',
  'Failed',
  'TimedOut',
  'Cancelled',
  'Undeliverable',
  'DeliveryTimedOut',
  'ExecutionTimedOut',
  'Terminated',
] as const;

export class InvalidEventError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidEventError';
  }
}

const eventSchema = z.object({
  source: z.literal('aws.ssm'),
  'detail-type': z.literal(INVOCATION_STATUS_CHANGE),
  time: z.string().optional(),
  detail: z.object({
    'command-id': z.string().min(1),
    'document-name': z.string().min(1),
    'instance-id': z.string().min(1),
    status: z.string().min(1),
  }),
});

/** The invocation an event is about. */
export interface InvocationRef {
  readonly commandId: string;
  readonly instanceId: string;
  readonly documentName: string;
  /** Status from the event, e.g. Success or DeliveryTimedOut. */
  readonly status: string;
  readonly eventTime?: string;
}

/** Parses an SQS message body holding the EventBridge event. @throws InvalidEventError */
export function parseInvocationEvent(body: string): InvocationRef {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new InvalidEventError(`message body is not JSON: ${JSON.stringify(body.slice(0, 120))}`);
  }
  const parsed = eventSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(event)'}: ${i.message}`).join('; ');
    throw new InvalidEventError(`not an SSM "${INVOCATION_STATUS_CHANGE}" event: ${problems}`);
  }
  const d = parsed.data.detail;
  return {
    commandId: d['command-id'],
    instanceId: d['instance-id'],
    documentName: d['document-name'],
    status: d.status,
    ...(parsed.data.time ? { eventTime: parsed.data.time } : {}),
  };
}

/**
 * Name of each task document's one step. With the plugin name it is part of the key the SSM agent writes
 * the step's output to (see {@link agentOutputKey}).
 */
export const TASK_STEP_NAME = 'runTask';

/**
 * Statuses of invocations that never ran a script: SSM holds no output for them, so the event's status is
 * all there is to read (no GetCommandInvocation call).
 */
export const NEVER_RAN_STATUSES: ReadonlySet<string> = new Set(['DeliveryTimedOut', 'Undeliverable', 'Cancelled', 'Terminated']);

/**
 * Key of the stdout object the SSM agent uploads for one step of one invocation:
 * `<OutputS3KeyPrefix>/<commandId>/<instanceId>/<plugin>/<step>/stdout`, colons removed from plugin and step
 * names (`aws:runShellScript` → `awsrunShellScript`). Read from the agent's source: the key prefix is
 * `path.Join(OutputS3KeyPrefix, CommandID, instanceId)` (agent/runcommand/utils.go), the step's output
 * handler appends plugin and step names without colons (agent/framework/processor/executer/iohandler/iohandler.go,
 * agent/fileutil/fileutil.go BuildS3Path) and the file name `stdout`, uploaded only when not empty
 * (agent/framework/processor/executer/iohandler/iomodule/fileS3.go), all before the agent reports the
 * invocation's status: https://github.com/aws/amazon-ssm-agent (commit 1c217c89). AWS's documentation
 * shows the same layout: https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/ssm/aws.sdk.kotlin.services.ssm.model/-command-plugin/output-s3-key-prefix.html
 */
export function agentOutputKey(
  commandPrefix: string,
  ref: Pick<InvocationRef, 'commandId' | 'instanceId'>,
  stepName = TASK_STEP_NAME,
): string {
  const prefix = commandPrefix.replace(/\/+$/, '');
  const parts = [prefix, ref.commandId, ref.instanceId, 'awsrunShellScript', stepName.replaceAll(':', ''), 'stdout'];
  return parts.filter((p) => p !== '').join('/');
}
