/**
 * Dispatch: from a request (`{ task, targets?, dryRun?, parameters? }`, from a schedule or by hand) to
 * SSM Run Command requests. Pure: the fleet directory (which managed instances match) and the command
 * sender are ports, implemented with SSM in lambda/adapters/aws/ssm-dispatch.ts.
 *
 * Targets: by default the fleet tag: one SendCommand with a tag target and no listing of the fleet first,
 * so a fleet of any size is one call (docs/scale.md); the number of instances SSM resolved the tag to is
 * read back from the command (its TargetCount), reported (a dispatch that matched nothing says so) and
 * published as the expected number of results, which the coverage alarm compares with the results
 * collected. A `shard` (scheduled shards of a large fleet, fleet.shards) is sent the same way to its shard
 * tag alone, whose value names the fleet (lambda/core/schedule/shards.ts). `targets.tag` narrows the
 * fleet further (both tags must match: the instances SSM lists with both are sent by id, because AWS
 * documents a command's tag targets one key at a time);
 * `targets.instanceIds` sends to those instances in calls of at most 50 ids (SendCommand's limit). These
 * by-hand dispatches, and dry runs, look instances up first.
 */
import { z } from 'zod';
import { shardTagValue } from './schedule/shards';
import { describeIssue } from './validation';

/** SendCommand accepts at most 50 InstanceIds per call. */
export const MAX_INSTANCE_IDS_PER_COMMAND = 50;

/** EC2 instance ids (i-) and hybrid-activation managed nodes (mi-). */
const INSTANCE_ID = /^(i|mi)-[0-9a-f]{8,17}$/;

export interface Tag {
  readonly key: string;
  readonly value: string;
}

/** What the dispatch Lambda knows about one task, from its environment. */
export interface DispatchTaskSettings {
  /** Name of this stack's SSM document for the task. */
  readonly documentName: string;
  /** How long SSM waits for an instance to pick the command up before DeliveryTimedOut. */
  readonly deliveryTimeoutSeconds: number;
  /** Run Command MaxConcurrency of this task; the fleet-wide value when absent. */
  readonly maxConcurrency?: string;
  /** Run Command MaxErrors of this task; the fleet-wide value when absent. */
  readonly maxErrors?: string;
}

/** The dispatch Lambda's configuration (one JSON environment variable, GPU_MAINT_DISPATCH). */
export const dispatchSettingsSchema = z.object({
  fleetTag: z.object({ key: z.string().min(1), value: z.string().min(1) }),
  maxConcurrency: z.string().min(1),
  maxErrors: z.string().min(1),
  outputBucket: z.string().min(3),
  /** Key prefix for command output, ending in `/`; the task name is appended per command. */
  outputKeyPrefix: z.string().regex(/^([^/].*\/)?$/, 'empty or a prefix ending in "/"'),
  /** Namespace of the ExpectedResults metric (coverage alarm); absent: not published. */
  metricsNamespace: z.string().min(1).optional(),
  /** Log group command output is also streamed to; absent: S3 output only (aws.commandOutputToCloudWatch). */
  commandLogGroup: z.string().min(1).optional(),
  /** Schedule shards (fleet.shards): a `shard` payload targets `<key> = <fleet>-<shard>` alone; absent: no shards. */
  shards: z.object({ tagKey: z.string().min(1), count: z.number().int().min(2) }).optional(),
  tasks: z.record(
    z.string(),
    z.object({
      documentName: z.string().min(1),
      deliveryTimeoutSeconds: z.number().int().min(30).max(2_592_000),
      /** The task's own rate control (lambda/tasks/rate-control.ts); the fleet-wide values when absent. */
      maxConcurrency: z.string().min(1).optional(),
      maxErrors: z.string().min(1).optional(),
    }),
  ),
});
export type DispatchSettings = z.infer<typeof dispatchSettingsSchema>;

export class DispatchPayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DispatchPayloadError';
  }
}

const payloadSchema = z.strictObject({
  task: z.string({ error: 'a task name such as "gpu-check"' }),
  targets: z
    .strictObject({
      tag: z
        .strictObject({
          key: z.string().min(1, 'a tag key').max(128),
          value: z.string().min(1, 'a tag value').max(256),
        })
        .optional(),
      instanceIds: z
        .array(z.string().regex(INSTANCE_ID, 'an instance id such as i-0123456789abcdef0 or mi-0123456789abcdef0'))
        .min(1, 'at least one instance id')
        .max(5000, 'at most 5000 instance ids (use a tag for larger sets)')
        .optional(),
    })
    .optional(),
  dryRun: z.boolean({ error: 'true or false' }).optional(),
  shard: z.number({ error: 'a shard number' }).int('a whole shard number').min(0, 'a shard number from 0').optional(),
  parameters: z.record(z.string(), z.string({ error: 'a string value' })).optional(),
});

export type DispatchPayload = z.infer<typeof payloadSchema>;

export type TargetSelection =
  | { readonly kind: 'tags'; readonly tags: readonly Tag[] }
  | { readonly kind: 'instances'; readonly instanceIds: readonly string[] };

export interface DispatchRequest {
  readonly task: string;
  readonly targets: TargetSelection;
  readonly dryRun: boolean;
  readonly parameters: Readonly<Record<string, string>>;
}

const PAYLOAD_WORDING = {
  root: '(payload)',
  unknownKey: 'unknown field (expected task, targets.tag, targets.instanceIds, shard, dryRun, parameters)',
};

/**
 * Validates a dispatch payload against this stack's tasks and their parameter patterns.
 * @throws DispatchPayloadError naming each bad field, its value and what was expected.
 */
export function parseDispatchPayload(
  input: unknown,
  settings: Pick<DispatchSettings, 'fleetTag' | 'tasks' | 'shards'>,
  parameterPatterns: (task: string) => Readonly<Record<string, string>>,
): DispatchRequest {
  const parsed = payloadSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  - ${describeIssue(issue, input, PAYLOAD_WORDING)}`);
    throw new DispatchPayloadError(`invalid dispatch payload:\n${lines.join('\n')}`);
  }
  const payload = parsed.data;
  const problems: string[] = [];
  const tasks = Object.keys(settings.tasks);
  if (!settings.tasks[payload.task]) {
    problems.push(`task: got ${JSON.stringify(payload.task)}; expected one of ${tasks.join(', ')}`);
  }
  if (payload.targets?.tag && payload.targets.instanceIds) {
    problems.push('targets: got both tag and instanceIds; expected one of them (SendCommand cannot mix tag targets and instance ids)');
  }
  if (payload.shard !== undefined) {
    if (!settings.shards) problems.push(`shard: got ${payload.shard}; this stack has no schedule shards (fleet.shards is 1)`);
    else if (payload.shard >= settings.shards.count)
      problems.push(`shard: got ${payload.shard}; expected 0-${settings.shards.count - 1} (fleet.shards is ${settings.shards.count})`);
    if (payload.targets) problems.push('shard: got both shard and targets; a shard is its own target (the shard tag)');
  }
  const patterns = settings.tasks[payload.task] ? parameterPatterns(payload.task) : {};
  for (const [name, value] of Object.entries(payload.parameters ?? {})) {
    const pattern = patterns[name];
    if (pattern === undefined) {
      const known = Object.keys(patterns);
      problems.push(
        `parameters.${name}: unknown parameter of ${payload.task}; expected ${known.length ? `one of ${known.join(', ')}` : 'none (this task takes no parameters)'}`,
      );
    } else if (!new RegExp(pattern).test(value)) {
      problems.push(`parameters.${name}: got ${JSON.stringify(value)}; expected a value matching ${pattern}`);
    }
  }
  if (problems.length) {
    throw new DispatchPayloadError(`invalid dispatch payload:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }

  let targets: TargetSelection;
  if (payload.shard !== undefined && settings.shards) {
    // The shard tag alone: its value names the fleet, so one command reaches the shard without a listing.
    targets = { kind: 'tags', tags: [{ key: settings.shards.tagKey, value: shardTagValue(settings.fleetTag.value, payload.shard) }] };
  } else if (payload.targets?.instanceIds) {
    targets = { kind: 'instances', instanceIds: [...new Set(payload.targets.instanceIds)] };
  } else {
    const extra = payload.targets?.tag;
    const tags: Tag[] = [settings.fleetTag];
    if (extra && !(extra.key === settings.fleetTag.key && extra.value === settings.fleetTag.value)) tags.push(extra);
    targets = { kind: 'tags', tags };
  }
  return { task: payload.task, targets, dryRun: payload.dryRun ?? false, parameters: payload.parameters ?? {} };
}

/** A managed node as SSM lists it. */
export interface ManagedInstance {
  readonly instanceId: string;
  /** SSM PingStatus: Online, ConnectionLost, Inactive. */
  readonly pingStatus: string;
}

/** Port: which SSM managed instances carry all these tags (and, when given, have one of these ids). */
export interface FleetDirectory {
  findManagedInstances(query: { readonly tags: readonly Tag[]; readonly instanceIds?: readonly string[] }): Promise<ManagedInstance[]>;
}

/** One SendCommand call. */
export interface CommandRequest {
  readonly documentName: string;
  readonly targets: TargetSelection;
  readonly parameters: Readonly<Record<string, string>>;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
  readonly deliveryTimeoutSeconds: number;
  readonly outputS3BucketName: string;
  readonly outputS3KeyPrefix: string;
  /** Also stream output to this log group (the agent then calls the Logs control plane per invocation). */
  readonly cloudWatchLogGroupName?: string;
  /** SendCommand Comment (at most 100 characters). */
  readonly comment: string;
}

/** Port: sends one command and returns its id. */
export interface CommandSender {
  send(request: CommandRequest): Promise<{ readonly commandId: string }>;
}

/** Port: how many instances SSM resolved a tag-targeted command to (undefined when it could not tell yet). */
export interface CommandTargetCounter {
  targetCount(commandId: string): Promise<number | undefined>;
}

/** Port: the number of results a dispatch expects, for the coverage alarm (a metric per task). */
export interface ExpectedResultsSink {
  record(task: string, expected: number, at: Date): Promise<void>;
}

export interface DispatchResult {
  readonly task: string;
  readonly dryRun: boolean;
  /** `sent`: commands went out; `planned`: dry run; `no-match`: no managed instance matched, nothing sent. */
  readonly outcome: 'sent' | 'planned' | 'no-match';
  readonly targets: TargetSelection;
  /** Managed instances that matched the targets when dispatched (-1: a fleet-tag command whose count SSM did not tell). */
  readonly matchedInstances: number;
  /** Matched instances whose SSM agent is not Online: expect DeliveryTimedOut from them. */
  readonly offlineInstances: readonly string[];
  /** Requested instance ids that were not sent to, with the reason. */
  readonly skipped: readonly { readonly instanceId: string; readonly reason: string }[];
  readonly commands: readonly { readonly commandId: string; readonly instanceIds?: readonly string[] }[];
  /** SendCommand calls that failed (the others still went out); empty when all succeeded. */
  readonly failures: readonly { readonly error: string; readonly instanceIds?: readonly string[] }[];
  /** Planned SendCommand requests (dry run only). */
  readonly planned?: readonly CommandRequest[];
  /** One line for people: what happened. */
  readonly message: string;
}

export interface DispatchDeps {
  readonly settings: DispatchSettings;
  readonly directory: FleetDirectory;
  readonly sender: CommandSender;
  /** Reads a fleet-tag command's target count back. Absent: the count is reported as unknown (-1). */
  readonly targetCounter?: CommandTargetCounter;
  /** Where the expected number of results goes. Absent: not published. */
  readonly expected?: ExpectedResultsSink;
  readonly now?: () => Date;
}

/** OutputS3KeyPrefix of a task's commands: the collector reads the agent's output under it (agentOutputKey). */
export function commandOutputKeyPrefix(outputKeyPrefix: string, task: string): string {
  return `${outputKeyPrefix}${task}`;
}

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function describeTags(tags: readonly Tag[]): string {
  return tags.map((t) => `${t.key}=${t.value}`).join(' and ');
}

/**
 * The scheduled path: one SendCommand to the fleet tag, no listing. The target count SSM resolved is the
 * number of results to expect (published for the coverage alarm); zero means no instance carries the tag.
 */
async function dispatchToFleetTag(request: DispatchRequest, command: CommandRequest, deps: DispatchDeps): Promise<DispatchResult> {
  const tags = request.targets.kind === 'tags' ? request.targets.tags : [];
  let commandId: string;
  try {
    ({ commandId } = await deps.sender.send(command));
  } catch (err) {
    throw new Error(`${request.task}: every SendCommand call failed: ${(err as Error).name}: ${(err as Error).message}`);
  }
  const count = (await deps.targetCounter?.targetCount(commandId)) ?? -1;
  if (count >= 0) await deps.expected?.record(request.task, count, deps.now?.() ?? new Date());
  const common = {
    task: request.task,
    dryRun: false,
    targets: request.targets,
    matchedInstances: count,
    offlineInstances: [],
    skipped: [],
    commands: [{ commandId }],
    failures: [],
  };
  if (count === 0) {
    return {
      ...common,
      outcome: 'no-match',
      message: `${request.task}: no SSM managed instance carries ${describeTags(tags)} (command ${commandId} has no target)`,
    };
  }
  const howMany = count < 0 ? 'the instances carrying' : `${count} instance(s) carrying`;
  return { ...common, outcome: 'sent', message: `${request.task}: sent 1 command to ${howMany} ${describeTags(tags)} (${commandId})` };
}

export async function dispatch(request: DispatchRequest, deps: DispatchDeps): Promise<DispatchResult> {
  const { settings } = deps;
  const task = settings.tasks[request.task];
  if (!task) throw new DispatchPayloadError(`task ${JSON.stringify(request.task)} has no document in this stack`);
  const fleetTags = [settings.fleetTag];
  const base = {
    documentName: task.documentName,
    parameters: request.parameters,
    maxConcurrency: task.maxConcurrency ?? settings.maxConcurrency,
    maxErrors: task.maxErrors ?? settings.maxErrors,
    deliveryTimeoutSeconds: task.deliveryTimeoutSeconds,
    outputS3BucketName: settings.outputBucket,
    outputS3KeyPrefix: commandOutputKeyPrefix(settings.outputKeyPrefix, request.task),
    ...(settings.commandLogGroup ? { cloudWatchLogGroupName: settings.commandLogGroup } : {}),
    comment: `gpu-maint ${request.task}`.slice(0, 100),
  };

  const fleetWide = request.targets.kind === 'tags' && request.targets.tags.length === 1;
  if (fleetWide && !request.dryRun) return dispatchToFleetTag(request, { ...base, targets: request.targets }, deps);

  let matched: ManagedInstance[];
  let skipped: { instanceId: string; reason: string }[] = [];
  let requests: CommandRequest[];
  if (request.targets.kind === 'tags') {
    matched = await deps.directory.findManagedInstances({ tags: request.targets.tags });
    if (matched.length === 0) requests = [];
    else if (request.targets.tags.length === 1) requests = [{ ...base, targets: request.targets }];
    // Run Command does not take several tag filters in one command: the instances both tags matched
    // are sent by id instead.
    else
      requests = chunk(
        matched.map((m) => m.instanceId),
        MAX_INSTANCE_IDS_PER_COMMAND,
      ).map((instanceIds) => ({ ...base, targets: { kind: 'instances', instanceIds } }));
  } else {
    const wanted = request.targets.instanceIds;
    matched = [];
    for (const ids of chunk(wanted, MAX_INSTANCE_IDS_PER_COMMAND)) {
      matched.push(...(await deps.directory.findManagedInstances({ tags: fleetTags, instanceIds: ids })));
    }
    const found = new Set(matched.map((m) => m.instanceId));
    const sendable = wanted.filter((id) => found.has(id));
    skipped = wanted
      .filter((id) => !found.has(id))
      .map((instanceId) => ({
        instanceId,
        reason: `not an SSM managed instance in this region carrying the fleet tag ${describeTags(fleetTags)}`,
      }));
    requests = chunk(sendable, MAX_INSTANCE_IDS_PER_COMMAND).map((instanceIds) => ({
      ...base,
      targets: { kind: 'instances', instanceIds },
    }));
  }
  const offlineInstances = matched.filter((m) => m.pingStatus !== 'Online').map((m) => m.instanceId);
  const common = {
    task: request.task,
    dryRun: request.dryRun,
    targets: request.targets,
    matchedInstances: matched.length,
    offlineInstances,
    skipped,
  };
  const offlineNote = offlineInstances.length
    ? `; ${offlineInstances.length} not Online (${offlineInstances.slice(0, 5).join(', ')}${offlineInstances.length > 5 ? ', ...' : ''})`
    : '';
  const skippedNote = skipped.length
    ? `; skipped ${skipped.length}: ${skipped
        .slice(0, 5)
        .map((s) => s.instanceId)
        .join(', ')}${skipped.length > 5 ? ', ...' : ''}`
    : '';

  if (requests.length === 0) {
    const what =
      request.targets.kind === 'tags'
        ? `no SSM managed instance carries ${describeTags(request.targets.tags)}`
        : `none of the ${request.targets.instanceIds.length} instance id(s) is an SSM managed instance carrying ${describeTags(fleetTags)}`;
    return { ...common, outcome: 'no-match', commands: [], failures: [], message: `${request.task}: ${what}; nothing sent${skippedNote}` };
  }
  if (request.dryRun) {
    return {
      ...common,
      outcome: 'planned',
      commands: [],
      failures: [],
      planned: requests,
      message: `${request.task}: dry run, would send ${requests.length} command(s) to ${matched.length} instance(s)${offlineNote}${skippedNote}`,
    };
  }
  const commands: { commandId: string; instanceIds?: readonly string[] }[] = [];
  const failures: { error: string; instanceIds?: readonly string[] }[] = [];
  // Every chunk is attempted: one rejected call must not lose the commands already sent.
  for (const req of requests) {
    const ids = req.targets.kind === 'instances' ? { instanceIds: req.targets.instanceIds } : {};
    try {
      const { commandId } = await deps.sender.send(req);
      commands.push({ commandId, ...ids });
    } catch (err) {
      failures.push({ error: `${(err as Error).name}: ${(err as Error).message}`, ...ids });
    }
  }
  if (commands.length === 0) {
    throw new Error(`${request.task}: every SendCommand call failed: ${failures.map((f) => f.error).join('; ')}`);
  }
  const failedNote = failures.length ? `; ${failures.length} SendCommand call(s) FAILED: ${failures.map((f) => f.error).join('; ')}` : '';
  return {
    ...common,
    outcome: 'sent',
    commands,
    failures,
    message: `${request.task}: sent ${commands.length} command(s) to ${matched.length} instance(s) (${commands.map((c) => c.commandId).join(', ')})${offlineNote}${skippedNote}${failedNote}`,
  };
}
