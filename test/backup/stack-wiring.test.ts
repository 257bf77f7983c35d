/**
 * How the stack wires backups (lib/gpu-maint-stack.ts): the backup and restore-test documents default
 * to the stack's bucket with the aws-userid host key, the instance policy and prune Lambda exist, and
 * the stale-backup alarm notifies the alert topic. Synthesized once, bundling skipped.
 */

import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import type { GpuMaintStack } from '../../lib/gpu-maint-stack';
import { gpuMaintStack } from '../helpers/cdk';
import { documentContent } from '../helpers/documents';

let stack: GpuMaintStack;
let template: Template;

beforeAll(() => {
  stack = gpuMaintStack({ fleet: { name: 'prod' } }, { id: 'Wiring' });
  template = Template.fromStack(stack);
});

describe('backup wiring in the stack', () => {
  test.each(['backup', 'restore-test'] as const)('the %s document defaults to the stack bucket and the aws-userid host key', (task) => {
    const doc = Object.values<any>(template.toJSON().Resources).find(
      (r) => r.Type === 'AWS::SSM::Document' && documentContent(r.Properties.Content).description.startsWith(`gpu-maint ${task} `),
    );
    expect(documentContent(doc.Properties.Content).parameters.Destination.default).toEqual({
      'Fn::Join': ['', ['s3://', { Ref: stack.getLogicalId(stack.backupBucket.bucket.node.defaultChild as never) }, '/']],
    });
    expect(documentContent(doc.Properties.Content).parameters.HostKey.default).toBe('aws-userid');
  });

  test('the stale-backup alarm notifies the pipeline topic', () => {
    const alarm = template.toJSON().Resources[stack.getLogicalId(stack.backupPruner.staleBackupAlarm!.node.defaultChild as never)];
    expect(alarm.Properties.AlarmActions).toEqual([{ Ref: stack.getLogicalId(stack.alerts.pipelineTopic.node.defaultChild as never) }]);
    expect(alarm.Properties.TreatMissingData).toBe('breaching');
  });

  test('the stack outputs the backup bucket and the backup instance policy', () => {
    template.hasOutput('BackupBucketName', {});
    template.hasOutput('BackupInstancePolicyArn', {});
  });
});

describe('backup options from the config', () => {
  test('KMS with replication synthesizes, the replicas encrypted with backup.replicationKmsKeyArn', () => {
    const key = 'arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555';
    const replicaKey = 'arn:aws:kms:eu-central-1:123456789012:key/66666666-7777-8888-9999-000000000000';
    const s = gpuMaintStack(
      { backup: { kmsKeyArn: key, replicationBucketArn: 'arn:aws:s3:::gpu-maint-replica', replicationKmsKeyArn: replicaKey } },
      { id: 'Replicated' },
    );
    const bucket = Object.values<any>(Template.fromStack(s).toJSON().Resources).find((r) => r.Properties?.ReplicationConfiguration);
    expect(JSON.stringify(bucket.Properties.ReplicationConfiguration)).toContain(replicaKey);
  });

  test.each([
    ['backups go to another bucket', { destination: 's3://elsewhere/backups/' }],
    ['backups are not scheduled', { schedule: { enabled: false } }],
  ])('no stale-backup alarm when %s (it would sit in ALARM forever)', (_name, backup) => {
    const s = gpuMaintStack({ backup }, { id: 'Elsewhere' });
    expect(s.backupPruner.staleBackupAlarm).toBeUndefined();
    expect(JSON.stringify(Template.fromStack(s).toJSON())).not.toContain('StaleBackupsAlarm');
  });
});
