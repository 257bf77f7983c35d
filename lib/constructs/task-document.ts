/**
 * The SSM Command document of one task: a bash wrapper that turns the document's parameters into the
 * script's GPU_MAINT_* variables and runs the exact bundled script (lib/task-scripts.ts) that local
 * mode runs. SSM substitutes `{{ Name }}` as text, so every parameter has an anchored allowedPattern
 * and the script bytes are written through a quoted heredoc (no expansion at all): as text where it fits
 * the document's size limit, gzip-compressed and base64-encoded where it does not.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { Stack, Token } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { TASK_STEP_NAME } from '../../lambda/core/collect/event';
import type { TaskName } from '../../lambda/core/types';
import type { TaskParameter } from '../../lambda/tasks/parameters';

/** Ends the heredoc that carries the script; a script must not contain this line. */
export const SCRIPT_HEREDOC_END = 'GPU_MAINT_BUNDLE_EOF';
/**
 * SSM's limit on a document's content, which also counts the parameter values given at run time
 * (CreateDocument, Content: "must not exceed 64KB. This quota also includes the content specified for
 * input parameters at runtime",
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateDocument.html).
 */
export const MAX_DOCUMENT_BYTES = 64 * 1024;
/** Bytes of a document as sent, leaving 4 KiB of MAX_DOCUMENT_BYTES to the parameter values of a run. */
export const DOCUMENT_BUDGET_BYTES = 60 * 1024;
/**
 * Length a deploy-time value (a token in the content, e.g. the backup bucket's name: at most 63
 * characters) is counted with when the size is checked at synth time.
 */
export const TOKEN_MAX_BYTES = 128;
/**
 * What SSM treats as a reference: `{{ Name }}` (alphanumeric names) and `{{ssm:...}}`. Other braces, such
 * as docker's `--format '{{.Id}}'`, pass through untouched.
 */
const SSM_REFERENCE = /\{\{\s*([A-Za-z0-9]+|ssm(?:-secure)?:[^}]*?)\s*\}\}/;

export { TASK_STEP_NAME };

export interface TaskDocumentProps {
  /** Task this document runs, e.g. `gpu-check`. */
  readonly task: TaskName;
  /** The self-contained script (`bundleTaskScript`); these exact bytes run on the host. Must end with a newline. */
  readonly script: string;
  /** The task's parameters (lambda/tasks/<task>.ts); each becomes a document parameter and a GPU_MAINT_* variable. */
  readonly parameters: readonly TaskParameter[];
  /** Default value of every parameter, by parameter name (from config; may be a token, e.g. a bucket name). */
  readonly parameterDefaults: Readonly<Record<string, string>>;
  /**
   * How long the script may run on a host before SSM stops it (ExecutionTimedOut).
   * @default 3600
   */
  readonly executionTimeoutSeconds?: number;
  /**
   * How long SSM tries to deliver a command to an instance before DeliveryTimedOut; used by the dispatcher.
   * @default 600
   */
  readonly deliveryTimeoutSeconds?: number;
  /**
   * Names the document `<namePrefix><task>.<content hash>`: a changed script gets a new name, and every
   * version of every document of a stack shares the prefix (the collector's rule matches on it, so
   * commands still running on a replaced document are collected).
   * @default - CloudFormation generates the name
   */
  readonly namePrefix?: string;
  /**
   * State directory on hosts (cursors, locks), GPU_MAINT_STATE_DIR.
   * @default '/var/lib/gpu-maint'
   */
  readonly stateDir?: string;
}

function shellSingleQuoted(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * How the document carries the script: `text`, readable in the SSM console, or `gzip-base64`, for a script
 * that as text would not fit the document's size limit (the larger backup and restore scripts).
 */
export type ScriptEncoding = 'text' | 'gzip-base64';

/** The script gzip-compressed (level 9, no name or time in the header) and base64-encoded in lines of 76. */
export function gzipBase64Lines(script: string): string[] {
  return (
    gzipSync(Buffer.from(script, 'utf8'), { level: 9 })
      .toString('base64')
      .match(/.{1,76}/g) ?? []
  );
}

/**
 * The document's script: exports, then the bundle written verbatim to a temp file and run with bash.
 * Exported for tests, which run it with real bash.
 */
export function taskWrapperScript(
  task: string,
  script: string,
  parameters: readonly TaskParameter[],
  stateDir: string,
  encoding: ScriptEncoding = 'text',
): string {
  const exports = parameters.map((p) => `export ${p.env}='{{ ${p.name} }}'`);
  const writeScript =
    encoding === 'text'
      ? [
          `cat >"\${gpu_maint_script}" <<'${SCRIPT_HEREDOC_END}'`,
          // The script ends with a newline, so it is followed directly by the heredoc's end line.
          `${script}${SCRIPT_HEREDOC_END}`,
        ]
      : [
          `# scripts/${task}.sh, gzip-compressed and base64-encoded: as text it would not fit an SSM document (64 KB).`,
          `base64 -d <<'${SCRIPT_HEREDOC_END}' | gzip -dc >"\${gpu_maint_script}"`,
          ...gzipBase64Lines(script),
          SCRIPT_HEREDOC_END,
        ];
  return [
    '#!/usr/bin/env bash',
    `# gpu-maint ${task}: SSM puts each document parameter into the exports below (after checking it`,
    '# against its allowedPattern); the bundled task script is then written out byte for byte and run with bash.',
    'set -euo pipefail',
    `export GPU_MAINT_STATE_DIR=${shellSingleQuoted(stateDir)}`,
    ...exports,
    `gpu_maint_script="$(mktemp "\${TMPDIR:-/tmp}/gpu-maint-${task}.XXXXXX")"`,
    `trap 'rm -f -- "\${gpu_maint_script}"' EXIT`,
    ...writeScript,
    'bash "${gpu_maint_script}"',
    '',
  ].join('\n');
}

export class TaskDocument extends Construct {
  readonly task: TaskName;
  /** The document's name (a new name whenever the content changes). */
  readonly documentName: string;
  readonly parameters: readonly TaskParameter[];
  readonly deliveryTimeoutSeconds: number;
  readonly executionTimeoutSeconds: number;
  readonly document: ssm.CfnDocument;
  /** Size of the content as CloudFormation sends it to CreateDocument (tokens at TOKEN_MAX_BYTES). */
  readonly contentBytes: number;
  /** How the script is carried: as text unless that would not fit DOCUMENT_BUDGET_BYTES. */
  readonly scriptEncoding: ScriptEncoding;

  constructor(scope: Construct, id: string, props: TaskDocumentProps) {
    super(scope, id);
    const where = `TaskDocument ${this.node.path}`;
    const executionTimeoutSeconds = props.executionTimeoutSeconds ?? 3600;
    const deliveryTimeoutSeconds = props.deliveryTimeoutSeconds ?? 600;
    const stateDir = props.stateDir ?? '/var/lib/gpu-maint';
    if (!Number.isInteger(executionTimeoutSeconds) || executionTimeoutSeconds < 1 || executionTimeoutSeconds > 172_800) {
      throw new Error(`${where}: executionTimeoutSeconds must be an integer 1-172800, got: ${executionTimeoutSeconds}`);
    }
    if (!Number.isInteger(deliveryTimeoutSeconds) || deliveryTimeoutSeconds < 30 || deliveryTimeoutSeconds > 2_592_000) {
      throw new Error(
        `${where}: deliveryTimeoutSeconds must be an integer 30-2592000 (SendCommand's range), got: ${deliveryTimeoutSeconds}`,
      );
    }
    if (!/^\/[A-Za-z0-9._/-]*$/.test(stateDir)) {
      throw new Error(`${where}: stateDir must be an absolute path of letters, digits and . _ / -, got: ${JSON.stringify(stateDir)}`);
    }
    validateScript(where, props.script);

    const parameters: Record<string, Record<string, string>> = {};
    for (const p of props.parameters) {
      if (!/^\^.*\$$/.test(p.allowedPattern)) {
        throw new Error(`${where}: parameter ${p.name} allowedPattern must be anchored (^...$), got: ${p.allowedPattern}`);
      }
      if (!/^GPU_MAINT_[A-Z0-9_]+$/.test(p.env) || !/^[A-Za-z0-9]+$/.test(p.name)) {
        throw new Error(
          `${where}: parameter ${JSON.stringify(p.name)} must be alphanumeric with a GPU_MAINT_* variable, got env ${JSON.stringify(p.env)}`,
        );
      }
      const value = props.parameterDefaults[p.name];
      if (value === undefined) throw new Error(`${where}: parameter ${p.name} has no default value`);
      if (!Token.isUnresolved(value) && !new RegExp(p.allowedPattern).test(value)) {
        throw new Error(`${where}: default of parameter ${p.name} is ${JSON.stringify(value)}, which does not match ${p.allowedPattern}`);
      }
      parameters[p.name] = { type: 'String', description: p.description, default: value, allowedPattern: p.allowedPattern };
    }
    const unknown = Object.keys(props.parameterDefaults).filter((name) => !props.parameters.some((p) => p.name === name));
    if (unknown.length) throw new Error(`${where}: defaults given for unknown parameter(s): ${unknown.join(', ')}`);

    const textWrapper = taskWrapperScript(props.task, props.script, props.parameters, stateDir);
    const contentOf = (wrapper: string) => ({
      schemaVersion: '2.2',
      description: `gpu-maint ${props.task} (${Stack.of(this).stackName}): runs the bundled scripts/${props.task}.sh and prints its result contract on stdout.`,
      parameters,
      mainSteps: [
        {
          action: 'aws:runShellScript',
          name: TASK_STEP_NAME,
          precondition: { StringEquals: ['platformType', 'Linux'] },
          inputs: { timeoutSeconds: executionTimeoutSeconds, runCommand: wrapper.replace(/\n$/, '').split('\n') },
        },
      ],
    });
    this.scriptEncoding = documentBytesAsSent(contentOf(textWrapper)) > DOCUMENT_BUDGET_BYTES ? 'gzip-base64' : 'text';
    const wrapper =
      this.scriptEncoding === 'text' ? textWrapper : taskWrapperScript(props.task, props.script, props.parameters, stateDir, 'gzip-base64');
    const declared = new Set(props.parameters.map((p) => p.name));
    const undeclared = [...wrapper.matchAll(new RegExp(SSM_REFERENCE.source, 'g'))].map((m) => m[1]).filter((name) => !declared.has(name));
    if (undeclared.length) throw new Error(`${where}: the document refers to undeclared parameter(s) ${undeclared.join(', ')}`);
    const content = contentOf(wrapper);
    const stack = Stack.of(this);
    // Content goes to CloudFormation as a JSON string, which it passes to CreateDocument as it is; an
    // object would be re-serialized by CloudFormation's handler (pretty-printed, a tenth larger).
    this.contentBytes = documentBytesAsSent(content);
    if (this.contentBytes > DOCUMENT_BUDGET_BYTES) {
      throw new Error(
        `${where}: document content is ${this.contentBytes} bytes as sent; the budget is ${DOCUMENT_BUDGET_BYTES} (SSM accepts ${MAX_DOCUMENT_BYTES} including run-time parameter values): make scripts/${props.task}.sh smaller`,
      );
    }

    let name: string | undefined;
    if (props.namePrefix !== undefined) {
      // Hash of the resolved content (tokens as their stable references, e.g. {"Ref":"Bucket..."}).
      const hash = createHash('sha256')
        .update(JSON.stringify(stack.resolve(content)))
        .digest('hex')
        .slice(0, 12);
      name = `${props.namePrefix}${props.task}.${hash}`;
      if (!/^[A-Za-z0-9_.-]{3,128}$/.test(name) || /^(aws|amazon)/i.test(name)) {
        throw new Error(
          `${where}: namePrefix ${JSON.stringify(props.namePrefix)} gives the document name ${JSON.stringify(name)}; SSM needs 3-128 letters, digits, _ - . not starting with aws or amazon`,
        );
      }
    }
    this.document = new ssm.CfnDocument(this, 'Document', {
      documentType: 'Command',
      documentFormat: 'JSON',
      content: {},
      name,
    });
    // The registry schema of AWS::SSM::Document takes Content as an object or a string; this aws-cdk-lib's
    // L1 still accepts only an object, hence the override.
    this.document.addPropertyOverride('Content', stack.toJsonString(content));
    this.task = props.task;
    // Always the Ref, never the literal name: every consumer (association, dispatcher, IAM) then depends on
    // the document, so CloudFormation creates it first and deletes it last.
    this.documentName = this.document.ref;
    this.parameters = props.parameters;
    this.deliveryTimeoutSeconds = deliveryTimeoutSeconds;
    this.executionTimeoutSeconds = executionTimeoutSeconds;
  }

  /** ARN of the document, for IAM (`ssm:SendCommand`). */
  get documentArn(): string {
    return Stack.of(this).formatArn({ service: 'ssm', resource: 'document', resourceName: this.documentName });
  }
}

/**
 * Bytes of the content string CloudFormation receives (`Stack.toJsonString` of the content): compact
 * JSON, each unresolved token counted at TOKEN_MAX_BYTES.
 */
export function documentBytesAsSent(content: unknown): number {
  let tokens = 0;
  const json = JSON.stringify(content, (_key, value: unknown) => {
    if (typeof value === 'string' && Token.isUnresolved(value)) {
      tokens++;
      return '';
    }
    return value;
  });
  return Buffer.byteLength(json, 'utf8') + tokens * TOKEN_MAX_BYTES;
}

export function validateScript(where: string, script: string): void {
  if (!script.startsWith('#!/usr/bin/env bash\n')) {
    throw new Error(
      `${where}: script must start with "#!/usr/bin/env bash" (SSM runs scripts through sh), got: ${JSON.stringify(script.slice(0, 40))}`,
    );
  }
  if (!script.endsWith('\n')) throw new Error(`${where}: script must end with a newline (its bytes are written through a heredoc)`);
  const lines = script.split('\n');
  const heredocEnd = lines.indexOf(SCRIPT_HEREDOC_END);
  if (heredocEnd >= 0)
    throw new Error(`${where}: script line ${heredocEnd + 1} is ${SCRIPT_HEREDOC_END}, which would end the heredoc early`);
  const reference = SSM_REFERENCE;
  const braces = lines.findIndex((line) => reference.test(line));
  if (braces >= 0) {
    throw new Error(
      `${where}: script line ${braces + 1} contains ${JSON.stringify(reference.exec(lines[braces])?.[0])}, which SSM would replace as a document parameter: ${JSON.stringify(lines[braces].trim().slice(0, 80))}; build the text without literal double braces (e.g. printf '{%s' '{')`,
    );
  }
}
