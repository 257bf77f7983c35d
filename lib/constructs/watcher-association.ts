/**
 * SSM State Manager association that installs the kernel-log watcher on every fleet host and keeps it
 * running: a Command document carrying the bundled scripts/gpu-watch.sh and its systemd unit
 * (lambda/core/schedule/systemd.ts hostWatcherUnit: restart always, CPU/memory/task limits, sandbox), run by
 * scripts/gpu-watch-install.sh. State Manager runs it at once on creation, on every change of the document
 * (a changed script is a new document) and on instances that newly carry the fleet tag, then on the schedule,
 * which starts a watcher someone stopped:
 * https://docs.aws.amazon.com/systems-manager/latest/userguide/state-manager-about.html
 * systemd restarts a watcher that exits within seconds (Restart=always); the association is the slower net.
 */
import { Stack } from 'aws-cdk-lib';
import type * as events from 'aws-cdk-lib/aws-events';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { hostWatcherUnit } from '../../lambda/core/schedule/systemd';
import { bundleTaskScript, SCRIPTS_DIR } from '../../lambda/tasks/scripts';
import { DOCUMENT_BUDGET_BYTES, documentBytesAsSent, MAX_DOCUMENT_BYTES, SCRIPT_HEREDOC_END, validateScript } from './task-document';

/** Where the installer puts the watcher on hosts (scripts/gpu-watch-install.sh SCRIPT_PATH). */
export const HOST_WATCHER_PATH = '/usr/local/lib/gpu-maint/gpu-watch.sh';
/** Ends the heredoc that carries the unit. */
const UNIT_HEREDOC_END = 'GPU_MAINT_UNIT_EOF';
const STEP_NAME = 'installWatcher';

export interface WatcherAssociationProps {
  /** The bus the watchers put their events on (WatcherEvents.eventBus). */
  readonly eventBus: events.IEventBus;
  /** Tag key that marks fleet instances, e.g. `gpu-maint:fleet`. */
  readonly fleetTagKey: string;
  /** Tag value of this fleet. */
  readonly fleetTagValue: string;
  /**
   * One event per GPU and Xid code per this many seconds (GPU_MAINT_WATCH_DEBOUNCE_S), 1-60.
   * @default 5
   */
  readonly debounceSeconds?: number;
  /**
   * When State Manager applies the association again on every target (at least 30 minutes apart).
   * @default 'rate(1 hour)'
   */
  readonly scheduleExpression?: string;
  /**
   * Targets updated at once: a count or a percentage.
   * @default '10%'
   */
  readonly maxConcurrency?: string;
  /**
   * Failures after which a run stops for the remaining targets: a count or a percentage.
   * @default '10%'
   */
  readonly maxErrors?: string;
  /**
   * State directory on hosts (gpu-check's, whose GPUs-seen state the watcher sends).
   * @default '/var/lib/gpu-maint'
   */
  readonly stateDir?: string;
  /**
   * Bucket for the output of each run.
   * @default - output only in the association history
   */
  readonly outputBucket?: s3.IBucket;
  /**
   * Key prefix of the output in outputBucket.
   * @default 'watch-install/'
   */
  readonly outputKeyPrefix?: string;
  /**
   * Where the scripts are bundled from.
   * @default scripts/ of this repository
   */
  readonly scriptsDir?: string;
}

/**
 * The document's script: the watcher, its unit and the installer written out byte for byte through quoted
 * heredocs (no expansion; the unit's bus ARN is resolved by CloudFormation), then the installer run.
 * Exported for tests, which run it with real bash.
 */
export function watcherInstallScript(watcher: string, unit: string, installer: string, stateDir: string): string {
  if (!/^\/[A-Za-z0-9._/-]+$/.test(stateDir))
    throw new Error(`the state dir must be an absolute path of letters, digits and . _ / -, got: ${JSON.stringify(stateDir)}`);
  return [
    '#!/usr/bin/env bash',
    '# gpu-maint watcher install: writes the bundled watcher, its unit and the installer, then runs the installer.',
    'set -euo pipefail',
    `export GPU_MAINT_STATE_DIR='${stateDir}'`,
    'gpu_maint_dir="$(mktemp -d "${TMPDIR:-/tmp}/gpu-maint-watch-install.XXXXXX")"',
    `trap 'rm -rf -- "\${gpu_maint_dir}"' EXIT`,
    `cat >"\${gpu_maint_dir}/gpu-watch.sh" <<'${SCRIPT_HEREDOC_END}'`,
    `${watcher}${SCRIPT_HEREDOC_END}`,
    `cat >"\${gpu_maint_dir}/gpu-maint-watch.service" <<'${UNIT_HEREDOC_END}'`,
    `${unit}${UNIT_HEREDOC_END}`,
    `cat >"\${gpu_maint_dir}/install.sh" <<'${SCRIPT_HEREDOC_END}'`,
    `${installer}${SCRIPT_HEREDOC_END}`,
    'GPU_MAINT_WATCH_SCRIPT_FILE="${gpu_maint_dir}/gpu-watch.sh" GPU_MAINT_WATCH_UNIT_FILE="${gpu_maint_dir}/gpu-maint-watch.service" \\',
    '  bash "${gpu_maint_dir}/install.sh"',
    '',
  ].join('\n');
}

const COUNT_OR_PERCENT = /^([1-9]\d{0,3}|[1-9]\d?%|100%)$/;
const ERRORS_COUNT_OR_PERCENT = /^(\d{1,4}|\d{1,2}%|100%)$/;

export class WatcherAssociation extends Construct {
  readonly document: ssm.CfnDocument;
  readonly association: ssm.CfnAssociation;
  /** Size of the document content as CloudFormation sends it. */
  readonly contentBytes: number;

  constructor(scope: Construct, id: string, props: WatcherAssociationProps) {
    super(scope, id);
    const where = `WatcherAssociation ${this.node.path}`;
    const debounce = props.debounceSeconds ?? 5;
    const scheduleExpression = props.scheduleExpression ?? 'rate(1 hour)';
    const maxConcurrency = props.maxConcurrency ?? '10%';
    const maxErrors = props.maxErrors ?? '10%';
    if (!Number.isInteger(debounce) || debounce < 1 || debounce > 60)
      throw new Error(`${where}: debounceSeconds must be a whole number from 1 to 60, got: ${debounce}`);
    const rate = /^rate\((\d+) (minute|hour|day)s?\)$/.exec(scheduleExpression);
    if (!rate && !/^cron\(.+\)$/.test(scheduleExpression))
      throw new Error(`${where}: scheduleExpression must be rate(...) or cron(...), got: ${JSON.stringify(scheduleExpression)}`);
    if (rate && rate[2] === 'minute' && Number(rate[1]) < 30)
      throw new Error(`${where}: State Manager runs associations at most every 30 minutes, got: ${scheduleExpression}`);
    if (!COUNT_OR_PERCENT.test(maxConcurrency))
      throw new Error(`${where}: maxConcurrency must be a count or a percentage, got: ${JSON.stringify(maxConcurrency)}`);
    if (!ERRORS_COUNT_OR_PERCENT.test(maxErrors))
      throw new Error(`${where}: maxErrors must be a count or a percentage, got: ${JSON.stringify(maxErrors)}`);
    if (!props.fleetTagKey || !props.fleetTagValue)
      throw new Error(
        `${where}: fleetTagKey and fleetTagValue must not be empty, got: ${JSON.stringify(`${props.fleetTagKey}=${props.fleetTagValue}`)}`,
      );

    const scriptsDir = props.scriptsDir ?? SCRIPTS_DIR;
    const watcher = bundleTaskScript('gpu-watch', scriptsDir);
    const installer = bundleTaskScript('gpu-watch-install', scriptsDir);
    validateScript(`${where} (gpu-watch.sh)`, watcher);
    validateScript(`${where} (gpu-watch-install.sh)`, installer);
    const stateDir = props.stateDir ?? '/var/lib/gpu-maint';
    const unit = hostWatcherUnit({
      scriptPath: HOST_WATCHER_PATH,
      stateDir,
      environment: { GPU_MAINT_WATCH_EVENT_BUS: props.eventBus.eventBusArn, GPU_MAINT_WATCH_DEBOUNCE_S: String(debounce) },
    }).content;
    if (unit.split('\n').includes(UNIT_HEREDOC_END)) throw new Error(`${where}: the unit contains ${UNIT_HEREDOC_END}`);
    const script = watcherInstallScript(watcher, unit, installer, stateDir);

    const stack = Stack.of(this);
    const content = {
      schemaVersion: '2.2',
      description: `gpu-maint: installs the kernel-log watcher (scripts/gpu-watch.sh) as gpu-maint-watch.service and keeps it running (${stack.stackName}).`,
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: STEP_NAME,
          precondition: { StringEquals: ['platformType', 'Linux'] },
          inputs: { timeoutSeconds: 300, runCommand: script.replace(/\n$/, '').split('\n') },
        },
      ],
    };
    this.contentBytes = documentBytesAsSent(content);
    if (this.contentBytes > DOCUMENT_BUDGET_BYTES)
      throw new Error(
        `${where}: document content is ${this.contentBytes} bytes as sent; SSM accepts ${MAX_DOCUMENT_BYTES}: make scripts/gpu-watch.sh smaller`,
      );
    this.document = new ssm.CfnDocument(this, 'Document', { documentType: 'Command', documentFormat: 'JSON', content: {} });
    // As TaskDocument: Content as a compact JSON string (an object would be pretty-printed by CloudFormation).
    this.document.addPropertyOverride('Content', stack.toJsonString(content));

    this.association = new ssm.CfnAssociation(this, 'Association', {
      name: this.document.ref,
      targets: [{ key: `tag:${props.fleetTagKey}`, values: [props.fleetTagValue] }],
      scheduleExpression,
      // At once on creation, on every change, and on instances that newly match the tag.
      applyOnlyAtCronInterval: false,
      // An unwatched host is an Xid alerted minutes late.
      complianceSeverity: 'HIGH',
      syncCompliance: 'AUTO',
      maxConcurrency,
      maxErrors,
      outputLocation: props.outputBucket
        ? {
            s3Location: {
              outputS3BucketName: props.outputBucket.bucketName,
              outputS3KeyPrefix: props.outputKeyPrefix ?? 'watch-install/',
            },
          }
        : undefined,
    });
  }
}
