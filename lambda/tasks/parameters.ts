/**
 * How configuration reaches task scripts: each task declares its parameters once (in its file beside
 * this one), and the same declaration becomes environment variables in local mode and SSM document
 * parameters (with an anchored allowedPattern, since SSM substitutes `{{ }}` as text) in AWS. This
 * module holds the parameter shape, the patterns several tasks share and the backup store's parameters.
 */
import * as path from 'node:path';
import { localStateDir } from '../adapters/local/paths';
import type { Config } from '../config/schema';

export interface TaskParameter {
  /** SSM document parameter name, e.g. `Mounts`. */
  readonly name: string;
  /** Environment variable the script reads, e.g. `GPU_MAINT_MOUNTS`. */
  readonly env: string;
  readonly description: string;
  /** Anchored regular expression every value must match (SSM allowedPattern). */
  readonly allowedPattern: string;
  /** Value from config. */
  readonly fromConfig: (config: Config) => string;
}

/** Comma-separated absolute paths without characters that could break out of a quoted string, nor control characters. */
export const PATH_LIST = '^(/[^,{}\'"`$\\\\\\x00-\\x1f\\x7f]*)?(,/[^,{}\'"`$\\\\\\x00-\\x1f\\x7f]*)*$';
/** Comma-separated path globs without characters that could break out of a quoted string. */
export const PATH_GLOB_LIST = '^([^,{}\'"`$\\\\\\n]+)?(,[^,{}\'"`$\\\\\\n]+)*$';
export const SMALL_INT = '^[0-9]{1,5}$';
export const BOOLEAN = '^(true|false)$';
export const DECIMAL = '^[0-9]{1,6}(\\.[0-9]{1,6})?$';

export function unique(items: readonly string[]): string[] {
  return [...new Set(items)];
}

/** A non-negative number as plain decimal text with at most 6 decimals (never exponent notation). */
export function decimal(value: number): string {
  return value.toFixed(6).replace(/\.?0+$/, '');
}

/** `file://<local.stateDir>/backups` unless backup.destination is set (the stack sets the bucket for its documents). */
export function backupDestination(c: Config): string {
  return c.backup.destination ?? `file://${path.join(path.resolve(localStateDir(c)), 'backups')}`;
}

const BACKUP_DESTINATION = '^(s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[^,{}\'"`$\\\\\\n]*)?|file:///[^,{}\'"`$\\\\\\n]*)$';
const URL_OR_EMPTY = '^(https?://[A-Za-z0-9.:/_-]+)?$';
const HOST_KEY_MODE = '^(host|aws-userid)$';

/** Where backups live; shared by backup, restore-test and restore. */
export const BACKUP_STORE_PARAMETERS: readonly TaskParameter[] = [
  {
    name: 'Destination',
    env: 'GPU_MAINT_BACKUP_DESTINATION',
    description: 'Backup destination: s3://bucket[/prefix] or file:///absolute/path.',
    allowedPattern: BACKUP_DESTINATION,
    fromConfig: backupDestination,
  },
  {
    name: 'S3EndpointUrl',
    env: 'GPU_MAINT_S3_ENDPOINT_URL',
    description: 'Endpoint of an S3-compatible store; empty for AWS S3.',
    allowedPattern: URL_OR_EMPTY,
    fromConfig: (c) => c.backup.s3EndpointUrl ?? '',
  },
  {
    name: 'S3Client',
    env: 'GPU_MAINT_S3_CLIENT',
    description: 'What sends S3 requests: auto (curl when it can sign them, else the AWS CLI), curl or aws.',
    allowedPattern: '^(auto|curl|aws)$',
    fromConfig: (c) => c.backup.s3Client,
  },
  {
    name: 'StoreTimeoutSeconds',
    env: 'GPU_MAINT_STORE_READ_TIMEOUT_S',
    description:
      'Seconds one request to the backup store may wait for an answer (curl --speed-time, AWS CLI --cli-read-timeout; 3 attempts).',
    allowedPattern: '^[0-9]{1,4}$',
    fromConfig: (c) => String(c.backup.storeTimeoutSeconds),
  },
  {
    name: 'HostKey',
    env: 'GPU_MAINT_BACKUP_HOST_KEY',
    description: "Name of this host's folder under backups/: host (instance id or host name) or aws-userid (<role id>:<instance id>).",
    allowedPattern: HOST_KEY_MODE,
    fromConfig: (c) => c.backup.hostKey,
  },
];
