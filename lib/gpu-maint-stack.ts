/**
 * The gpu-maint stack: everything `cdk deploy` puts in an account, built from the validated config.
 *
 *   schedules ─> dispatch Lambda ─SendCommand─> SSM documents (one per registered task) ─> hosts
 *   invocation events ─> rule ─> SQS ─> collect Lambda ─> metrics, alerts (SNS), one log line per result
 *   dashboard + pipeline alarms
 *
 * Documents, schedules and run limits come from the task registry (lambda/tasks/registry.ts): a task
 * added there gets its document, its dispatch entry and its schedule without stack edits.
 */
import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { Config } from '../lambda/config/schema';
import { alertSettings } from '../lambda/core/alerts/settings';
import { evaluationSettings } from '../lambda/core/evaluation-settings';
import { remediationSettings } from '../lambda/core/remediation/model';
import { parseScheduleExpression, rateSeconds } from '../lambda/core/schedule/expression';
import { shardSchedules } from '../lambda/core/schedule/shards';
import type { TaskName } from '../lambda/core/types';
import { rateControlFor } from '../lambda/tasks/rate-control';
import { TASKS } from '../lambda/tasks/registry';
import { bundleTaskScript, SCRIPTS_DIR } from '../lambda/tasks/scripts';
import { AlertForwarder } from './constructs/alert-forwarder';
import { AlertStaleSweep } from './constructs/alert-stale-sweep';
import { AlertStateTable } from './constructs/alert-state-table';
import { AlertSubscriptions } from './constructs/alert-subscriptions';
import { AlertTopic } from './constructs/alert-topic';
import { BackupBucket } from './constructs/backup-bucket';
import { BackupInstancePolicy } from './constructs/backup-instance-policy';
import { BackupPruner } from './constructs/backup-pruner';
import { CoverageAlarm } from './constructs/coverage-alarm';
import { Dispatcher } from './constructs/dispatcher';
import { InstancePolicy } from './constructs/instance-policy';
import { LogrotateAssociation } from './constructs/logrotate-association';
import { logRetention } from './constructs/maintenance-function';
import { Monitoring } from './constructs/monitoring';
import { OutputBucket } from './constructs/output-bucket';
import { Remediation } from './constructs/remediation';
import { ResultCollector } from './constructs/result-collector';
import { TaskDocument } from './constructs/task-document';
import { TaskSchedule } from './constructs/task-schedule';
import { TaskScheduleGroup } from './constructs/task-schedule-group';
import { WatcherAssociation } from './constructs/watcher-association';
import { WatcherEvents } from './constructs/watcher-events';
import { tagStack } from './stack-tags';

/** Minutes between gpu-check runs for the dashboard: the rate, or 5 for a cron schedule. */
function gpuCheckPeriodMinutes(config: Config): number {
  const schedule = parseScheduleExpression(config.gpuCheck.schedule.expression);
  return schedule.kind === 'rate' ? Math.min(1440, Math.max(1, Math.round(rateSeconds(schedule) / 60))) : 5;
}

export interface GpuMaintStackProps extends StackProps {
  /** Validated configuration (lib/config/load.ts). */
  readonly config: Config;
  /**
   * Where the task scripts are bundled from.
   * @default scripts/ of this repository
   */
  readonly scriptsDir?: string;
}

function pascal(name: string): string {
  return name.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
}

export class GpuMaintStack extends Stack {
  readonly config: Config;
  /** One SSM document per registered task. */
  readonly documents = new Map<TaskName, TaskDocument>();
  readonly outputBucket: OutputBucket;
  readonly commandLogGroup: logs.LogGroup;
  readonly alerts: AlertTopic;
  readonly instancePolicy: InstancePolicy;
  readonly dispatcher: Dispatcher;
  readonly scheduleGroup: TaskScheduleGroup;
  /** Each scheduled task's schedules: one, or one per shard (fleet.shards) for a sharded task. */
  readonly schedules = new Map<TaskName, readonly TaskSchedule[]>();
  readonly collector: ResultCollector;
  /** Alert policy state (DynamoDB) the collector and the stale-host sweep share. */
  readonly alertState: AlertStateTable;
  readonly alertSweep: AlertStaleSweep;
  /** Slack/PagerDuty forwarder; absent unless alerts.slack.webhookSecret or alerts.pagerDuty.routingKeySecret is set. */
  readonly alertForwarder?: AlertForwarder;
  /** AWS Chatbot channel; absent unless alerts.slack.chatbot is set (emails are subscribed by AlertTopic). */
  readonly alertSubscriptions?: AlertSubscriptions;
  readonly monitoring: Monitoring;
  /** Applies /etc/logrotate.d/gpu-maint on fleet hosts (State Manager); absent when no logrotate task is registered. */
  readonly logrotate?: LogrotateAssociation;
  /** Where backups go (the backup and restore-test documents default to it). */
  readonly backupBucket: BackupBucket;
  /** Attach to the fleet instance role: each instance reads and writes only its own backups, deletes none. */
  readonly backupInstancePolicy: BackupInstancePolicy;
  /** Remediation planner and runbooks; absent unless remediation.enabled. */
  readonly remediation?: Remediation;
  /** Daily retention over the backup bucket and the stale-backup audit and alarm. */
  readonly backupPruner: BackupPruner;
  /** The kernel-log watcher's bus, rule and queue into the collector; absent when gpuCheck.watch.enabled is false. */
  readonly watcherEvents?: WatcherEvents;
  /** Installs and keeps the watcher running on fleet hosts; absent when gpuCheck.watch.enabled is false. */
  readonly watcherAssociation?: WatcherAssociation;

  constructor(scope: Construct, id: string, props: GpuMaintStackProps) {
    const { config, scriptsDir, ...stackProps } = props;
    super(scope, id, {
      description: `gpu-maint: scheduled checks and maintenance of GPU fleet "${config.fleet.name}" through SSM Run Command`,
      ...stackProps,
    });
    this.config = config;
    tagStack(this, config);
    const retentionDays = config.aws.logRetentionDays;
    logRetention(retentionDays); // fails early, naming the allowed values

    // ---- Storage, logs, notifications -------------------------------------------------------------
    this.outputBucket = new OutputBucket(this, 'CommandOutput', { expirationDays: retentionDays });
    this.commandLogGroup = new logs.LogGroup(this, 'CommandLogs', { retention: logRetention(retentionDays) });
    this.alerts = new AlertTopic(this, 'Alerts', { emails: config.alerts.emails });
    this.instancePolicy = new InstancePolicy(this, 'InstancePolicy', {
      outputBucket: this.outputBucket,
      commandLogGroup: this.commandLogGroup,
    });
    this.backupBucket = new BackupBucket(this, 'Backups', {
      undoDays: config.backup.undoDays,
      kmsKeyArn: config.backup.kmsKeyArn,
      glacierIrAfterDays: config.backup.glacierIrAfterDays,
      objectLockDays: config.backup.objectLockDays,
      replicationBucketArn: config.backup.replicationBucketArn,
      replicationKmsKeyArn: config.backup.replicationKmsKeyArn,
    });
    this.backupInstancePolicy = new BackupInstancePolicy(this, 'BackupInstancePolicy', { backupBucket: this.backupBucket });

    // ---- One SSM document per registered task -----------------------------------------------------
    // Parameter defaults that are not plain config values (e.g. the backup bucket), by task and parameter name.
    // Backups go to this stack's bucket unless backup.destination names another S3 bucket.
    const backupDefaults = config.backup.destination?.startsWith('s3://') ? {} : this.backupBucket.documentParameterDefaults();
    const parameterDefaultOverrides: Partial<Record<TaskName, Record<string, string>>> = {
      backup: backupDefaults,
      'restore-test': backupDefaults,
      restore: backupDefaults,
    };
    // Stack names cannot contain dots, so this prefix is this stack's alone.
    const documentNamePrefix = `gpu-maint.${this.stackName}.`;
    const rateControl = (task: TaskName) => rateControlFor(task, config.aws);
    for (const def of TASKS.values()) {
      const { parameters } = def;
      this.documents.set(
        def.name,
        new TaskDocument(this, `${pascal(def.name)}Document`, {
          task: def.name,
          script: bundleTaskScript(def.script, scriptsDir ?? SCRIPTS_DIR),
          parameters,
          parameterDefaults: {
            ...Object.fromEntries(parameters.map((p) => [p.name, p.fromConfig(config)])),
            ...parameterDefaultOverrides[def.name],
          },
          namePrefix: documentNamePrefix,
          executionTimeoutSeconds: rateControl(def.name).executionTimeoutSeconds,
          deliveryTimeoutSeconds: rateControl(def.name).deliveryTimeoutSeconds,
        }),
      );
    }
    const documents = [...this.documents.values()];
    // ---- Log rotation: State Manager applies the logrotate document daily and to new fleet hosts ------
    const logrotateDocument = this.documents.get('logrotate');
    if (logrotateDocument) {
      this.logrotate = new LogrotateAssociation(this, 'Logrotate', {
        documentName: logrotateDocument.documentName,
        parameters: Object.fromEntries(logrotateDocument.parameters.map((p) => [p.name, p.fromConfig(config)])),
        fleetTagKey: config.fleet.tagKey,
        fleetTagValue: config.fleet.name,
        maxConcurrency: rateControl('logrotate').maxConcurrency,
        maxErrors: rateControl('logrotate').maxErrors,
        outputBucket: this.outputBucket.bucket,
        outputKeyPrefix: `${this.outputBucket.outputKeyPrefix}logrotate/`,
        // EventBridge messages carry no message attributes: the unfiltered pipeline topic.
        alertTopic: this.alerts.pipelineTopic,
      });
    }

    // ---- Dispatch and schedules -------------------------------------------------------------------
    this.dispatcher = new Dispatcher(this, 'Dispatch', {
      documents,
      fleetTagKey: config.fleet.tagKey,
      fleetTagValue: config.fleet.name,
      // Every task has its own; these apply to none but satisfy the construct's fleet-wide fallback.
      maxConcurrency: config.aws.maxConcurrency ?? '10%',
      maxErrors: config.aws.maxErrors ?? '10%',
      rateControl: Object.fromEntries(
        documents.map((d) => [d.task, { maxConcurrency: rateControl(d.task).maxConcurrency, maxErrors: rateControl(d.task).maxErrors }]),
      ),
      outputBucket: this.outputBucket,
      commandLogGroup: this.commandLogGroup,
      cloudWatchOutput: config.aws.commandOutputToCloudWatch,
      metricsNamespace: config.metrics.namespace,
      shards: { tagKey: config.fleet.shardTagKey, count: config.fleet.shards },
      logRetentionDays: retentionDays,
    });
    this.scheduleGroup = new TaskScheduleGroup(this, 'Schedules');
    for (const document of documents) {
      const definition = TASKS.get(document.task)?.schedule;
      const schedule = definition?.fromConfig(config);
      if (!schedule) continue;
      const sharded = definition?.sharded === true && config.fleet.shards > 1;
      const shards = sharded ? shardSchedules(schedule.expression, config.fleet.name, config.fleet.shards) : [undefined];
      this.schedules.set(
        document.task,
        shards.map(
          (shard) =>
            new TaskSchedule(this, `${pascal(document.task)}${shard ? `Shard${shard.shard}` : ''}Schedule`, {
              task: document.task,
              ...(shard ? { shard: shard.shard } : {}),
              expression: shard?.expression ?? schedule.expression,
              timeZone: config.timeZone,
              flexibleWindowMinutes: schedule.flexibleWindowMinutes,
              enabled: schedule.enabled,
              target: this.dispatcher.handler.function,
              group: this.scheduleGroup.group,
              deadLetterQueue: this.scheduleGroup.deadLetterQueue,
            }),
        ),
      );
    }

    this.backupPruner = new BackupPruner(this, 'BackupPrune', {
      backupBucket: this.backupBucket,
      fleet: config.fleet.name,
      metricsNamespace: config.metrics.namespace,
      maxAgeHours: config.backup.maxAgeHours,
      retention: config.backup.retention,
      logRetentionDays: retentionDays,
      scheduleExpression: config.backup.pruneSchedule.expression,
      timeZone: config.timeZone,
      enabled: config.backup.pruneSchedule.enabled,
      scheduleGroup: this.scheduleGroup.group,
      deadLetterQueue: this.scheduleGroup.deadLetterQueue,
      // Only when this fleet backs up here: otherwise nothing ever makes this bucket's snapshots fresh.
      staleBackupAlarm: config.backup.schedule.enabled && !config.backup.destination?.startsWith('s3://'),
    });

    // ---- Results ----------------------------------------------------------------------------------
    this.collector = new ResultCollector(this, 'Collect', {
      documents,
      documentNamePrefix,
      outputBucket: this.outputBucket,
      alertTopic: this.alerts.topic,
      settings: evaluationSettings(config),
      namespace: config.metrics.namespace,
      logRetentionDays: retentionDays,
      maxConcurrency: config.aws.collectorMaxConcurrency,
    });
    // ---- Kernel-log watcher: Xid events from hosts into the same collector and alert state ------------
    if (config.gpuCheck.watch.enabled) {
      this.watcherEvents = new WatcherEvents(this, 'Watcher', {
        collector: this.collector.handler.function,
        instancePolicy: this.instancePolicy,
        deadLetterQueue: this.collector.deadLetterQueue,
      });
      this.watcherAssociation = new WatcherAssociation(this, 'WatcherInstall', {
        eventBus: this.watcherEvents.eventBus,
        fleetTagKey: config.fleet.tagKey,
        fleetTagValue: config.fleet.name,
        debounceSeconds: config.gpuCheck.watch.debounceSeconds,
        scriptsDir,
        outputBucket: this.outputBucket.bucket,
        outputKeyPrefix: `${this.outputBucket.outputKeyPrefix}watch-install/`,
      });
    }
    // ---- Alert policy: state per (host, check), stale-host sweep, Slack/PagerDuty/Chatbot routing ------
    const policy = alertSettings(config);
    const slack = config.alerts.slack;
    if (slack.chatbot)
      this.alertSubscriptions = new AlertSubscriptions(this, 'AlertRouting', {
        topic: this.alerts.topic,
        pipelineTopic: this.alerts.pipelineTopic,
        chatbot: slack.chatbot,
      });
    const chatbotTopic = this.alertSubscriptions?.chatbotTopic;
    this.alertState = new AlertStateTable(this, 'AlertState');
    this.alertState.bindCollector(this.collector.handler.function, { topic: this.alerts.topic, settings: policy, chatbotTopic });
    // ---- Disk-pressure cleanup: the collector sends cleanup to a host whose disk is critical ---------
    if (config.cleanup.onDiskPressure) {
      const cleanupDocument = this.documents.get('cleanup');
      if (!cleanupDocument) throw new Error('cleanup.onDiskPressure is true, but no cleanup task is registered (lambda/tasks/registry.ts)');
      this.collector.enableCleanupOnDiskPressure({
        cleanupDocument,
        // One `cleanup-cooldown` item per host beside its alert items (lambda/adapters/aws/cleanup-cooldown-dynamodb.ts).
        cooldownTable: this.alertState.table,
        cooldownHours: config.cleanup.cooldownHours,
        dryRun: config.cleanup.dryRun,
        fleetTagKey: config.fleet.tagKey,
        fleetTagValue: config.fleet.name,
        ...(config.aws.commandOutputToCloudWatch ? { commandLogGroup: this.commandLogGroup } : {}),
      });
    }
    // ---- Remediation (off by default): the collector proposes, the planner decides, Automation acts ------
    if (config.remediation.enabled) {
      this.remediation = new Remediation(this, 'Remediation', {
        settings: remediationSettings(config),
        table: this.alertState,
        topic: this.alerts.topic,
        alertSettings: policy,
        chatbotTopic,
        collector: this.collector.handler.function,
        fleetTagKey: config.fleet.tagKey,
        fleetTagValue: config.fleet.name,
        documentNamePrefix,
        namespace: config.metrics.namespace,
        approvers: config.remediation.approvers,
        approvalTimeoutMinutes: config.remediation.approvalTimeoutMinutes,
        approvalTopic: this.alerts.pipelineTopic,
        alarmTopic: this.alerts.pipelineTopic,
        logRetentionDays: retentionDays,
        deadLetterQueue: this.scheduleGroup.deadLetterQueue,
      });
    }
    this.alertSweep = new AlertStaleSweep(this, 'AlertSweep', {
      table: this.alertState,
      topic: this.alerts.topic,
      alarmTopic: this.alerts.pipelineTopic,
      settings: policy,
      chatbotTopic,
      logRetentionDays: retentionDays,
      deadLetterQueue: this.scheduleGroup.deadLetterQueue,
    });
    // Every scheduled function: Lambda's own async retries bounded, failures to the schedule DLQ (alarmed).
    this.scheduleGroup.routeAsyncFailures(this.dispatcher.handler.function);
    this.scheduleGroup.routeAsyncFailures(this.backupPruner.function.function);
    // A failed sweep is made up by the next one minutes later.
    this.scheduleGroup.routeAsyncFailures(this.alertSweep.handler.function, { retryAttempts: 0 });
    if (slack.webhookSecret || config.alerts.pagerDuty.routingKeySecret) {
      this.alertForwarder = new AlertForwarder(this, 'AlertForwarder', {
        topic: this.alerts.topic,
        pipelineTopic: this.alerts.pipelineTopic,
        slackWebhookSecret: slack.webhookSecret,
        pagerDutyRoutingKeySecret: config.alerts.pagerDuty.routingKeySecret,
        pagerDutyMinSeverity: config.alerts.pagerDuty.minSeverity,
        logRetentionDays: retentionDays,
      });
    }

    // ---- Dashboard and pipeline alarms ------------------------------------------------------------
    this.monitoring = new Monitoring(this, 'Monitoring', {
      dashboardName: this.stackName.replace(/[^A-Za-z0-9_-]/g, '-'),
      namespace: config.metrics.namespace,
      fleet: config.fleet.name,
      metricDetail: config.metrics.detail,
      tasks: documents.map((d) => d.task),
      thresholds: config.thresholds,
      alarmTopic: this.alerts.pipelineTopic,
      dispatcher: this.dispatcher.handler,
      collector: this.collector,
      schedules: this.scheduleGroup,
      gpuCheckPeriodMinutes: gpuCheckPeriodMinutes(config),
      runbookUrl: config.alerts.runbookUrl,
    });
    // Coverage of the fleet checks: results reported against the instances each dispatch reached.
    for (const { name: task, fleetCheck, schedule } of TASKS.values()) {
      if (!fleetCheck || !this.schedules.has(task) || !(schedule?.fromConfig(config).enabled ?? false)) continue;
      const coverage = new CoverageAlarm(this, `${pascal(task)}Coverage`, {
        namespace: config.metrics.namespace,
        fleet: config.fleet.name,
        task,
      });
      this.monitoring.addAlarm(coverage.alarm, 'critical');
    }

    // These constructs already notify the pipeline topic; addAlarm lists them without a second action.
    // A failing sweep hides hosts that stop reporting; a failing forwarder still leaves the emails.
    for (const alarm of this.alertSweep.alarms) this.monitoring.addAlarm(alarm, 'critical');
    for (const alarm of this.alertForwarder?.alarms ?? []) this.monitoring.addAlarm(alarm, 'warning');
    if (this.documents.has('cleanup')) this.monitoring.addCleanupSection({ logrotateFailedRuns: this.logrotate?.metricFailedRuns() });
    if (this.backupPruner.staleBackupAlarm) this.monitoring.addAlarm(this.backupPruner.staleBackupAlarm, 'warning');
    this.monitoring.monitorFunction('prune', this.backupPruner.function);
    if (this.remediation) {
      for (const alarm of this.remediation.alarms) this.monitoring.addAlarm(alarm, 'critical');
      this.monitoring.addSection('Remediation', ...this.remediation.dashboardWidgets(config.metrics.namespace, config.fleet.name));
    }
    this.monitoring.addSection('Backups', ...this.backupPruner.dashboardWidgets());

    // ---- Outputs (read by `gpu-maint invoke` and the docs) ---------------------------------------
    new CfnOutput(this, 'DispatchFunctionName', {
      value: this.dispatcher.handler.function.functionName,
      description: 'Invoke with {"task":"gpu-check"} to run a task now (gpu-maint invoke does this).',
    });
    new CfnOutput(this, 'AlertTopicArn', {
      value: this.alerts.topic.topicArn,
      description: 'SNS topic of host alerts (with message attributes).',
    });
    new CfnOutput(this, 'PipelineTopicArn', {
      value: this.alerts.pipelineTopic.topicArn,
      description: 'SNS topic of pipeline alarms (CloudWatch) and EventBridge messages; subscriptions here must be unfiltered.',
    });
    new CfnOutput(this, 'OutputBucketName', { value: this.outputBucket.bucket.bucketName, description: 'Full command output (expires).' });
    new CfnOutput(this, 'CommandLogGroupName', {
      value: this.commandLogGroup.logGroupName,
      description: 'Run Command output streamed from hosts.',
    });
    new CfnOutput(this, 'InstancePolicyArn', {
      value: this.instancePolicy.policy.managedPolicyArn,
      description: 'Attach to the fleet instance role (with AmazonSSMManagedInstanceCore).',
    });
    new CfnOutput(this, 'BackupBucketName', {
      value: this.backupBucket.bucketName,
      description: 'Backups: backups/<role id>:<instance id>/ per instance.',
    });
    new CfnOutput(this, 'BackupInstancePolicyArn', {
      value: this.backupInstancePolicy.policy.managedPolicyArn,
      description: 'Attach to the fleet instance role too: each instance reads and writes only its own backups.',
    });
    new CfnOutput(this, 'FleetTag', {
      value: `${config.fleet.tagKey}=${config.fleet.name}`,
      description: 'Instances carrying this tag are the fleet.',
    });
    if (this.watcherEvents)
      new CfnOutput(this, 'WatcherEventBusArn', {
        value: this.watcherEvents.eventBus.eventBusArn,
        description: 'Event bus of the kernel-log watcher (GPU_MAINT_WATCH_EVENT_BUS of hosts installed without the association).',
      });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    new CfnOutput(this, 'DashboardUrl', {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards/dashboard/${this.monitoring.dashboard.dashboardName}`,
    });
    new CfnOutput(this, 'ResultsDeadLetterQueueUrl', { value: this.collector.deadLetterQueue.queueUrl });
    for (const document of documents) {
      new CfnOutput(this, `${pascal(document.task)}DocumentName`, {
        value: document.documentName,
        description: `SSM document of ${document.task}.`,
      });
    }
  }
}
