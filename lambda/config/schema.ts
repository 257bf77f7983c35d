/**
 * The one configuration schema of gpu-maint, shared by local mode (bin/cli) and the CDK app (bin/app.ts).
 * Every key has a documented default, so an empty config is a working config. Thresholds, severities and
 * alert policy live here, not in bash: changing a threshold never needs a new SSM document.
 * Every object is strict: a misspelt key is an error (with a suggestion), never silently a default.
 */
import { z } from 'zod';
import { TASK_NAMES } from '../core/types';

/** Warning and critical levels side by side; null disables that level. */
function levels(defaults: { warning: number | null; critical: number | null }, direction: 'above' | 'below') {
  return z
    .strictObject({
      warning: z.number().nullable().default(defaults.warning),
      critical: z.number().nullable().default(defaults.critical),
    })
    .prefault({})
    .superRefine((v, ctx) => {
      if (v.warning === null || v.critical === null) return;
      const ordered = direction === 'above' ? v.warning <= v.critical : v.warning >= v.critical;
      if (!ordered) {
        ctx.addIssue({
          code: 'custom',
          path: ['warning'],
          message: `a warning level ${direction === 'above' ? '≤' : '≥'} the critical level (${v.critical}), since ${direction === 'above' ? 'higher' : 'lower'} readings are worse`,
        });
      }
    });
}

/** A whole number within [min, max], `dflt` when absent: most numeric settings are one. */
function wholeNumber(min: number, max: number, dflt: number) {
  return z.number().int().min(min).max(max).default(dflt);
}

/** A task schedule; each key defaults on its own, so `--set x.schedule.enabled=false` keeps the expression. */
function schedule(defaults: { expression: string; flexibleWindowMinutes?: number }) {
  return z
    .strictObject({
      /** EventBridge Scheduler expression: `rate(5 minutes)`, `cron(0 2 * * ? *)`. Also drives systemd/cron locally. */
      expression: z
        .string()
        .regex(/^(rate|cron|at)\(.+\)$/, 'rate(...), cron(...) or at(...)')
        .default(defaults.expression),
      /** Flexible window in minutes (0 = fire exactly) to spread a fleet's load. */
      flexibleWindowMinutes: z
        .number()
        .int()
        .min(0)
        .max(1440)
        .default(defaults.flexibleWindowMinutes ?? 0),
      enabled: z.boolean().default(true),
    })
    .prefault({});
}

/**
 * Builds the schema. Built on first use (configSchema), not when this module loads: zod takes about 13 ms
 * to build it on a small VM, a cost every CLI command paid at start although a command whose settings
 * were checked before needs no schema (bin/cli/config-memo.ts).
 */
function buildConfigSchema() {
  /** Comma and `{{`/`}}` are reserved: lists travel to hosts as comma-separated SSM parameters. */
  // Control characters are refused: scripts and manifests carry these paths as text (a tab or CR would not
  // survive the round trip), and no real model directory needs them.
  const hostPath = z
    .string()
    .regex(/^\/[^,{}'"`$\\\p{Cc}]*$/u, 'an absolute path without commas, quotes, braces, $, backslashes or control characters');

  const endpoint = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port, e.g. ssm.eu-west-1.amazonaws.com:443');

  const unitName = z.string().regex(/^[A-Za-z0-9@._:-]+$/, 'a systemd unit name, e.g. nvidia-persistenced.service');

  /** Run Command MaxConcurrency and MaxErrors, fleet-wide or per task. */
  const maxConcurrency = z.string().regex(/^([1-9]\d{0,3}|[1-9]\d?%|100%)$/, 'a count 1-9999 or a percentage 1-100%');
  const maxErrors = z.string().regex(/^(\d{1,4}|\d{1,2}%|100%)$/, 'a count or a percentage');

  return z.strictObject({
    fleet: z
      .strictObject({
        /** Value of the Fleet metric dimension and default value of the target tag. @default 'default' */
        name: z
          .string()
          .regex(/^[A-Za-z0-9_.-]{1,64}$/, '1-64 letters, digits, _ . -')
          .default('default'),
        /** Tag key that marks instances of this fleet. @default 'gpu-maint:fleet' */
        tagKey: z.string().min(1).max(128).default('gpu-maint:fleet'),
        /**
         * Schedule shards (AWS; fleets above 10,000 hosts, docs/deploy.md#fleet-sizes-and-what-to-change):
         * with n > 1 every sharded task (gpu-check, health-check) gets n schedules, staggered over its
         * period, each sending one command to the hosts tagged `<shardTagKey> = <name>-<i>` (i = 0..n-1).
         * Every host must then carry a shard tag: a host without one is not checked. @default 1
         */
        shards: z.number().int().min(1).max(60).default(1),
        /** Tag key that puts a host in a schedule shard (with fleet.shards > 1). @default 'gpu-maint:shard' */
        shardTagKey: z.string().min(1).max(128).default('gpu-maint:shard'),
      })
      .prefault({}),

    /** IANA time zone for schedules (cron expressions) and local timers. @default 'UTC' */
    timeZone: z.string().min(1).default('UTC'),

    metrics: z
      .strictObject({
        /** CloudWatch namespace. @default 'GpuFleetMaintenance' */
        namespace: z
          .string()
          .regex(/^[A-Za-z0-9/_.#:-]{1,255}$/)
          .default('GpuFleetMaintenance'),
        /**
         * `fleet`: one series per metric for the whole fleet (cost independent of fleet size).
         * `instance`: adds per-instance series. `gpu`: also adds per-GPU series. @default 'fleet'
         */
        detail: z.enum(['fleet', 'instance', 'gpu']).default('fleet'),
      })
      .prefault({}),

    gpuCheck: z
      .strictObject({
        /** EC2 instance type, or `auto` to read it from IMDSv2. @default 'auto' */
        instanceType: z
          .union([z.literal('auto'), z.string().regex(/^[a-z0-9-]+\.[a-z0-9-]+$/, 'an EC2 instance type such as p5.48xlarge')])
          .default('auto'),
        /** GPUs this host must have, or `auto` from the instance type (unknown types: no count check). @default 'auto' */
        expectedGpuCount: z.union([z.literal('auto'), z.number().int().min(0).max(64)]).default('auto'),
        /** IMDS base URL (overridable for tests and IMDS proxies). @default 'http://169.254.169.254' */
        imdsEndpoint: z.url().default('http://169.254.169.254'),
        /** Deadline of each nvidia-smi call; a wedged driver never answers. @default 15 */
        nvidiaSmiTimeoutSeconds: wholeNumber(1, 40, 15),
        /** After boot NVML can briefly list fewer GPUs: a missing GPU within this window is a warning. @default 10 */
        bootGraceMinutes: wholeNumber(0, 120, 10),
        schedule: schedule({ expression: 'rate(5 minutes)' }),
        /** The kernel-log watcher (docs/watch.md): Xid errors alerted within seconds of the kernel line. */
        watch: z
          .strictObject({
            /** AWS: install the watcher on fleet hosts (State Manager) and collect its events from the stack's bus. @default true */
            enabled: z.boolean().default(true),
            /** One event per GPU and Xid code per this many seconds, with the count of lines. @default 5 */
            debounceSeconds: z.number().int().min(1).max(60).default(5),
          })
          .prefault({}),
      })
      .prefault({}),

    healthCheck: z
      .strictObject({
        /** Paths whose filesystems are checked for space and inodes (each path's mount). @default ['/'] */
        mounts: z.array(hostPath).default(['/']),
        /** Data directories whose mounts are checked too (backup sources and cleanup roots are added automatically). @default [] */
        dataDirs: z.array(hostPath).default([]),
        /** systemd units that must be active, e.g. `nvidia-persistenced.service`. @default [] */
        services: z.array(unitName).default([]),
        /**
         * host:port endpoints checked by TCP connect. `auto`: on EC2 the regional SSM, EC2 messages and S3
         * endpoints (reachable from private subnets through VPC endpoints or NAT); elsewhere none. @default 'auto'
         */
        endpoints: z.union([z.literal('auto'), z.array(endpoint)]).default('auto'),
        /** TCP connect timeout per endpoint. @default 3 */
        endpointTimeoutSeconds: wholeNumber(1, 10, 3),
        /** Window for counting journal errors (priority err and worse). @default 60 */
        journalWindowMinutes: wholeNumber(1, 1440, 60),
        schedule: schedule({ expression: 'rate(15 minutes)' }),
      })
      .prefault({}),

    thresholds: z
      .strictObject({
        gpuTemperatureC: levels({ warning: 83, critical: 90 }, 'above'),
        gpuMemoryTemperatureC: levels({ warning: 85, critical: 95 }, 'above'),
        /** Full GPU memory is normal during training (allocators cache), so only a warning by default. */
        gpuMemoryUsedPct: levels({ warning: 98, critical: null }, 'above'),
        /** Draw above the enforced limit means power sensing or capping has failed. */
        gpuPowerDrawPctOfLimit: levels({ warning: 105, critical: 120 }, 'above'),
        eccUncorrectedVolatile: levels({ warning: null, critical: 1 }, 'above'),
        /** NVIDIA advises replacement at 60 retired pages (single + double bit). */
        retiredPagesTotal: levels({ warning: 48, critical: 60 }, 'above'),
        diskUsedPct: levels({ warning: 85, critical: 95 }, 'above'),
        inodesUsedPct: levels({ warning: 85, critical: 95 }, 'above'),
        memoryAvailablePct: levels({ warning: 10, critical: 5 }, 'below'),
        /** 5-minute load average divided by CPU count. */
        loadPerCpu: levels({ warning: 1.5, critical: 3 }, 'above'),
        journalErrors: levels({ warning: 50, critical: null }, 'above'),
      })
      .prefault({}),

    backup: z
      .strictObject({
        /** Directories whose entries (at unitDepth) are backed up as archive units. @default ['/opt/ml/models'] */
        sources: z.array(hostPath).default(['/opt/ml/models']),
        /**
         * Globs left out: a name (`*.tmp`) matches at any depth, a path (`checkpoints/temp`) matches a trailing path,
         * a leading `/` anchors to the source root. @default ['*.tmp', 'checkpoints/temp']
         */
        exclude: z
          .array(z.string().regex(/^[^,\n{}'"`$\\]+$/, 'a glob without commas, quotes, braces, $ or backslashes'))
          .default(['*.tmp', 'checkpoints/temp']),
        /** Directory level that forms one archive unit: 1 = each top-level entry of a source. @default 1 */
        unitDepth: wholeNumber(1, 4, 1),
        /** `s3://bucket/prefix` or `file:///path`; default: `file://<local.stateDir>/backups` locally, the stack's bucket in AWS. */
        destination: z
          .string()
          .regex(
            /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/[^,\n{}'"`$\\]*)?|file:\/\/\/[^,\n{}'"`$\\]*)$/,
            's3://bucket[/prefix] or file:///absolute/path (no commas, quotes, braces, $ or backslashes)',
          )
          .optional(),
        /**
         * Name of a host's folder under backups/: `host` (the instance id on EC2, else the host name) or `aws-userid`
         * (the caller's IAM user id, `<role id>:<instance id>` for an instance role: the only per-instance value an
         * IAM policy can scope an S3 prefix to, see docs/backup.md). The stack's documents default to `aws-userid`.
         * @default 'host'
         */
        hostKey: z.enum(['host', 'aws-userid']).default('host'),
        /** Endpoint for S3-compatible stores (and tests). */
        s3EndpointUrl: z.url().optional(),
        /**
         * What sends the scripts' S3 requests: `curl` (signed by curl's --aws-sigv4, about 10 ms a request), `aws`
         * (the AWS CLI, 0.3-0.5 s of start-up a call), or `auto`: curl when it can sign for the run (credentials
         * from the environment or the instance profile, and its first requests accepted), else the AWS CLI; see
         * docs/backup.md. @default 'auto'
         */
        s3Client: z.enum(['auto', 'curl', 'aws']).default('auto'),
        /**
         * zstd level for units that compress. A unit whose sample (its largest files) saves less than 10% at this
         * level, such as fp16 weights, is stored with zstd --fast=1 instead: see docs/backup.md. @default 3
         */
        compressionLevel: wholeNumber(1, 19, 3),
        /** A unit whose sample saves less than this % at compressionLevel is stored with zstd --fast=1; 0: never. @default 10 */
        minCompressionSavingsPercent: wholeNumber(0, 100, 10),
        /**
         * What a file that cannot be read, or vanishes, while a unit is archived does: `warn` leaves it out with a
         * warning and still writes the snapshot (as restic and `tar --ignore-failed-read` do); `fail` fails the
         * backup. @default 'warn'
         */
        onUnreadable: z.enum(['warn', 'fail']).default('warn'),
        /**
         * Seconds one request to the backup store (S3 and S3-compatible) may wait for an answer before it is
         * retried (3 attempts in all), in the CLI, the prune Lambda's defaults and the scripts' AWS CLI calls. @default 60
         */
        storeTimeoutSeconds: wholeNumber(1, 3600, 60),
        /** A host's newest snapshot older than this raises backup.age. @default 26 */
        maxAgeHours: z.number().min(1).default(26),
        /** Days a deleted or overwritten object stays recoverable (noncurrent version expiry). @default 30 */
        undoDays: z.number().int().min(1).default(30),
        retention: z
          .strictObject({
            keepLast: z.number().int().min(1).default(7),
            keepDaily: z.number().int().min(0).default(14),
            keepWeekly: z.number().int().min(0).default(8),
            keepMonthly: z.number().int().min(0).default(12),
            /** Unreferenced archives are deleted only after this many days. @default 2 */
            graceDays: z.number().min(0).default(2),
          })
          .prefault({}),
        restoreTest: z
          .strictObject({
            /** Upper bound of bytes restored by the weekly restore test (a sample of units when exceeded). @default 10 GiB */
            maxBytes: z
              .number()
              .int()
              .min(1)
              .default(10 * 1024 ** 3),
          })
          .prefault({}),
        /** AWS only: SSE-KMS key ARN instead of SSE-S3. */
        kmsKeyArn: z.string().startsWith('arn:').optional(),
        /** AWS only: transition current versions to Glacier Instant Retrieval after N days. */
        glacierIrAfterDays: z.number().int().min(1).optional(),
        /** AWS only: Object Lock (governance) retention days; only on a new bucket. */
        objectLockDays: z.number().int().min(1).optional(),
        /** AWS only: replicate to this bucket ARN (3-2-1). */
        replicationBucketArn: z.string().startsWith('arn:').optional(),
        /** AWS only: KMS key ARN the replicas are encrypted with; required with both kmsKeyArn and replicationBucketArn. */
        replicationKmsKeyArn: z.string().startsWith('arn:').optional(),
        schedule: schedule({ expression: 'cron(0 2 * * ? *)', flexibleWindowMinutes: 30 }),
        restoreTestSchedule: schedule({ expression: 'cron(0 4 ? * SAT *)' }),
        pruneSchedule: schedule({ expression: 'cron(0 6 * * ? *)' }),
      })
      .prefault({}),

    cleanup: z
      .strictObject({
        /** Report only; operators turn this off deliberately (`cleanup.dryRun: false`). @default true */
        dryRun: z.boolean().default(true),
        /**
         * Lifts the maxDeleteFraction guard for one run (`--set cleanup.force=true`); never keep it in a config
         * file. Safety checks on roots (system paths, symlinks) cannot be forced. @default false
         */
        force: z.boolean().default(false),
        experiments: z
          .strictObject({
            /** Roots whose top-level run directories are cleaned. @default ['/opt/ml/experiments'] */
            paths: z.array(hostPath).default(['/opt/ml/experiments']),
            /** A run directory is deleted only when the newest entry anywhere inside is older than this. @default 30 */
            maxAgeDays: z.number().min(1).default(30),
          })
          .prefault({}),
        checkpoints: z
          .strictObject({
            /** Roots searched (recursively) for checkpoint files. @default ['/opt/ml/checkpoints'] */
            paths: z.array(hostPath).default(['/opt/ml/checkpoints']),
            /** File-name globs of checkpoint files; other files are never touched. */
            patterns: z
              .array(z.string().regex(/^[^,/{}'"`$\\\n]+$/, 'a file-name glob without commas, slashes, quotes, braces, $ or backslashes'))
              .default(['*.ckpt', '*.pt', '*.safetensors']),
            /** Matching files older than this are deleted, except the newest keepNewest per directory. @default 7 */
            maxAgeDays: z.number().min(0).default(7),
            /** Newest matching files kept per directory whatever their age. @default 3 */
            keepNewest: z.number().int().min(0).default(3),
          })
          .prefault({}),
        docker: z
          .strictObject({
            /** Remove images no container uses that were created more than unusedForHours ago. @default true */
            enabled: z.boolean().default(true),
            /** @default 168 */
            unusedForHours: z.number().int().min(1).default(168),
          })
          .prefault({}),
        caches: z
          .strictObject({
            /** pip's HTTP and wheel cache (~/.cache/pip). @default true */
            pip: z.boolean().default(true),
            /** conda's package tarballs and index cache (<conda>/pkgs). @default true */
            conda: z.boolean().default(true),
            /** Downloaded .deb / .rpm packages (apt or dnf/yum). @default true */
            apt: z.boolean().default(true),
            /** Hugging Face hub cache, trimmed least recently used first. @default false */
            huggingface: z.boolean().default(false),
            /** The Hugging Face cache is trimmed (least recently used first) down to this size. @default 200 */
            huggingfaceMaxGiB: z.number().min(0).default(200),
          })
          .prefault({}),
        /** A file with this name protects its directory and everything under it. @default '.keep' */
        protectMarker: z
          .string()
          .regex(/^[^/,{}'"`$\\\n]+$/, 'a file name without slashes, commas, quotes, braces, $ or backslashes')
          .refine((v) => v !== '.' && v !== '..', 'a file name other than . or ..')
          .default('.keep'),
        /** Path globs (`*` also matches `/`) protecting matching paths and everything under them. @default [] */
        protect: z.array(z.string().regex(/^[^,{}'"`$\\\n]+$/, 'a path glob without commas, quotes, braces, $ or backslashes')).default([]),
        /** A run refuses to delete more than this fraction of a root's bytes unless forced. @default 0.5 */
        maxDeleteFraction: z.number().gt(0).max(1).default(0.5),
        /** Dispatch cleanup to a host whose health-check reports health.disk critical. @default false */
        onDiskPressure: z.boolean().default(false),
        /** At most one disk-pressure cleanup per host within this many hours. @default 6 */
        cooldownHours: z.number().min(0).default(6),
        schedule: schedule({ expression: 'cron(0 3 ? * SUN *)' }),
      })
      .prefault({}),

    logrotate: z
      .strictObject({
        /** One block in /etc/logrotate.d/gpu-maint per group. Defaults mirror the old kit. */
        groups: z
          .array(
            z
              .strictObject({
                name: z.string().regex(/^[a-z0-9-]+$/, 'lowercase letters, digits and dashes'),
                paths: z
                  .array(
                    z
                      .string()
                      .regex(/^\/[^\s,{}'"`$\\]*$/, 'an absolute path or glob without spaces, commas, quotes, braces, $ or backslashes'),
                  )
                  .min(1),
                frequency: z.enum(['daily', 'weekly', 'monthly']).default('daily'),
                rotate: z.number().int().min(1).max(366),
                /** Rotate early once a log exceeds this size (e.g. 100M), between the regular rotations. */
                maxSize: z
                  .string()
                  .regex(/^\d+[kMG]?$/, 'a size such as 100M')
                  .optional(),
                compress: z.boolean().default(true),
                /** gzip is everywhere; zstd (/usr/bin/zstd) is faster and smaller where installed. @default 'gzip' */
                compressor: z.enum(['gzip', 'zstd']).default('gzip'),
                /** Copy then truncate in place (the writer keeps its file open). @default true unless create is set */
                copytruncate: z.boolean().optional(),
                /** Rename, then create a new file with `mode owner group`, e.g. `0640 app adm`. */
                create: z
                  .string()
                  .regex(/^0[0-7]{3} [a-z_][a-z0-9_-]* [a-z_][a-z0-9_-]*$/, '"0640 user group"')
                  .optional(),
                /** `user group` to rotate as, needed when the log directory is writable by a group or others. */
                su: z
                  .string()
                  .regex(/^[a-z_][a-z0-9_-]* [a-z_][a-z0-9_-]*$/, '"user group"')
                  .optional(),
                /** One command run once after the group's logs are rotated (e.g. to make the writer reopen them). */
                postrotate: z
                  .string()
                  .regex(/^[^\n]*\S[^\n]*$/, 'a single command line')
                  .refine((v) => !/^\s*(endscript|postrotate|prerotate)\b/.test(v), 'a command, not a logrotate keyword')
                  .optional(),
              })
              .refine((g) => !(g.create !== undefined && g.copytruncate === true), {
                message: 'either copytruncate or create, not both',
                path: ['copytruncate'],
              }),
          )
          .refine((groups) => new Set(groups.map((g) => g.name)).size === groups.length, 'group names must be unique')
          .default([
            {
              name: 'ml-api',
              paths: ['/var/log/ml-api/*.log'],
              frequency: 'daily',
              rotate: 14,
              compress: true,
              compressor: 'gzip',
              copytruncate: true,
            },
            {
              name: 'training',
              paths: ['/var/log/training/*.log'],
              frequency: 'weekly',
              rotate: 8,
              maxSize: '100M',
              compress: true,
              compressor: 'gzip',
              copytruncate: true,
            },
            {
              name: 'gpu-maint',
              paths: ['/var/log/gpu-maint/*.log'],
              frequency: 'daily',
              rotate: 7,
              compress: true,
              compressor: 'gzip',
              copytruncate: true,
            },
          ]),
      })
      .prefault({}),

    alerts: z
      .strictObject({
        /** Hours between repeats while an alert keeps firing, per severity. @default {critical: 4, warning: 24} */
        repeatIntervalHours: z
          .strictObject({ critical: z.number().positive().default(4), warning: z.number().positive().default(24) })
          .prefault({}),
        /**
         * Consecutive breaching evaluations before an alert fires, per check name; merged over the defaults
         * (checks not listed: 1). @default {'gpu.temperature': 2, 'gpu.power': 2, 'health.load': 2}
         */
        for: z
          .record(
            z.string().regex(/^[a-z]+\.[a-z-]+$/, 'a check name such as gpu.temperature (see docs/runbook.md)'),
            z.number().int().min(1).max(100),
          )
          .default({ 'gpu.temperature': 2, 'gpu.power': 2, 'health.load': 2 }),
        /**
         * Minutes an alert keeps firing after its last breach, per check (Prometheus' keep_firing_for): event
         * checks such as gpu.xid are reported once per incident, and must not resolve at the next run.
         * @default {'gpu.xid': 60}
         */
        keepFiringForMinutes: z
          .record(
            z.string().regex(/^[a-z]+\.[a-z-]+$/, 'a check name such as gpu.xid (see docs/runbook.md)'),
            z.number().int().min(0).max(10080),
          )
          .default({ 'gpu.xid': 60 }),
        /**
         * Flap damping (docs/alerts.md#flapping): an alert that starts firing `firings` times within
         * `windowMinutes` is notified once as FLAPPING instead of FIRING, stays firing through clear readings,
         * and resolves once clear for `stableMinutes`. Escalations and repeats are still notified.
         */
        flapping: z
          .strictObject({
            /** @default true */
            enabled: z.boolean().default(true),
            /** Starts within the window that make an alert flapping (the first is the ordinary FIRING). @default 2 */
            firings: z.number().int().min(2).max(100).default(2),
            /** @default 60 */
            windowMinutes: z.number().int().min(1).max(1440).default(60),
            /** Minutes a flapping alert must stay clear before it resolves. @default 30 */
            stableMinutes: z.number().int().min(1).max(1440).default(30),
          })
          .prefault({}),
        /** A host with no gpu-check result for this long raises host.stale. @default 20 */
        staleAfterMinutes: z.number().int().min(1).default(20),
        /** Severity of host.stale. @default 'warning' */
        staleSeverity: z.enum(['warning', 'critical']).default('warning'),
        /** Hosts silent this long are forgotten (no more host.stale repeats; their state expires). @default 7 */
        forgetHostAfterDays: z.number().positive().default(7),
        /** How often the stale-host sweep runs (AWS schedule; the simulator's virtual sweep). @default 5 */
        sweepIntervalMinutes: wholeNumber(1, 60, 5),
        /**
         * Base of the runbook links in notifications (`#<check>` is appended), e.g. the docs/runbook.md URL in
         * your repository host. @default 'docs/runbook.md'
         */
        runbookUrl: z.string().min(1).default('docs/runbook.md'),
        /** Email addresses subscribed to the alert topic (AWS); `minSeverity: critical` filters on the severity attribute. */
        emails: z
          .array(z.strictObject({ address: z.email(), minSeverity: z.enum(['warning', 'critical']).default('warning') }))
          .default([]),
        slack: z
          .strictObject({
            /** Secrets Manager secret name or ARN holding the Slack webhook URL (never the URL itself). */
            webhookSecret: z.string().min(1).optional(),
            /**
             * AWS Chatbot (Amazon Q Developer in chat applications): the Slack workspace and channel ids, from the
             * Chatbot console after authorizing the workspace. @default - no Chatbot channel
             */
            chatbot: z
              .strictObject({
                workspaceId: z.string().regex(/^[A-Z0-9]{8,12}$/, 'a Slack workspace id such as T012AB3CD'),
                channelId: z.string().regex(/^[A-Z0-9]{8,12}$/, 'a Slack channel id such as C012AB3CD'),
              })
              .optional(),
          })
          .prefault({}),
        pagerDuty: z
          .strictObject({
            /** Secrets Manager secret name or ARN holding the Events API v2 routing key. */
            routingKeySecret: z.string().min(1).optional(),
            /** Alerts below this severity are not sent to PagerDuty. @default 'critical' */
            minSeverity: z.enum(['warning', 'critical']).default('critical'),
          })
          .prefault({}),
      })
      .prefault({}),

    /**
     * Remediation of GPU hosts in confirmed fatal states (docs/remediation.md): quarantine tag, an event for the
     * users' scheduler, reboot, replace, under blast-radius limits. Off by default; turn it on with dryRun first.
     */
    remediation: z
      .strictObject({
        /** Decide and record remediations at all. @default false */
        enabled: z.boolean().default(false),
        /** Record (and notify) what would be done, act on nothing. Turn off only after a dry-run period. @default true */
        dryRun: z.boolean().default(true),
        /**
         * Highest rung of the ladder tag → notify-scheduler → reboot → replace that may run; a remedy above it
         * stops at this rung and asks a human. @default 'reboot'
         */
        maxAction: z.enum(['tag', 'notify-scheduler', 'reboot', 'replace']).default('reboot'),
        /** Hosts in remediation at once: at most this many ... @default 2 */
        maxHostsAtOnce: z.number().int().min(1).max(10_000).default(2),
        /** ... and at most this % of the fleet (rounded down; one host is always allowed). @default 5 */
        maxPercentAtOnce: z.number().gt(0).max(100).default(5),
        /** Remediations started in any hour: at most this many ... @default 4 */
        maxPerHour: z.number().int().min(1).max(10_000).default(4),
        /** ... and at most this % of the fleet (rounded down; one host is always allowed). @default 10 */
        maxPercentPerHour: z.number().gt(0).max(100).default(10),
        /**
         * Storm guard: when more than this share of the fleet shows the same cause within stormWindowMinutes, the
         * cause is fleet-wide (a driver rollout, a bad config): no host is remediated for it, one alert is sent. @default 0.1
         */
        stormShare: z.number().gt(0).max(1).default(0.1),
        /** The storm guard needs at least this many hosts with the same cause (small fleets). @default 3 */
        stormMinHosts: z.number().int().min(2).default(3),
        /** Proposals seen within this window count towards the storm guard. @default 15 */
        stormWindowMinutes: z.number().int().min(1).max(1440).default(15),
        /** A host is not remediated again within this many minutes of its last remediation. @default 60 */
        cooldownMinutes: z.number().int().min(0).default(60),
        /** A second remediation of a host within this window escalates to replace, or to a human; never a second reboot. @default 24 */
        repeatWindowHours: z.number().min(1).max(720).default(24),
        /** The first gpu-check at least this long after an action verifies it. @default 5 */
        verifyAfterMinutes: z.number().int().min(1).max(240).default(5),
        /** No healthy gpu-check within this long after an action: recovery failed, the host escalates. @default 30 */
        recoveryTimeoutMinutes: z.number().int().min(5).max(1440).default(30),
        /** A proposal nobody acted on (held by a limit or the window) is dropped after this long. @default 6 */
        proposalMaxAgeHours: z.number().min(1).max(72).default(6),
        /** How often the remediation planner runs (AWS schedule; the simulator's virtual period). @default 5 */
        intervalMinutes: z.number().int().min(1).max(60).default(5),
        /**
         * Remediations start only inside this weekly window, in `timeZone`; outside it a proposal waits (up to
         * proposalMaxAgeHours). @default - any time
         */
        maintenanceWindow: z
          .strictObject({
            /** Days the window opens. @default every day */
            days: z
              .array(z.enum(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']))
              .min(1)
              .default(['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun']),
            /** HH:MM the window opens. */
            start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time HH:MM such as 02:00'),
            /** HH:MM the window closes (before start: the window runs past midnight). */
            end: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'a time HH:MM such as 06:00'),
          })
          .refine((w) => w.start !== w.end, { message: 'a window whose end differs from its start', path: ['end'] })
          .optional(),
        /** Instances carrying this tag (any value) are never remediated. @default 'gpu-maint:no-remediation' */
        excludeTagKey: z.string().min(1).max(128).default('gpu-maint:no-remediation'),
        /** Tag the quarantine rung sets, its value the reason and time. @default 'gpu-maint:quarantine' */
        quarantineTagKey: z
          .string()
          .min(1)
          .max(128)
          .refine((k) => !k.startsWith('aws:'), 'a tag key not starting with aws: (reserved by AWS)')
          .default('gpu-maint:quarantine'),
        /**
         * AWS only: IAM user or role ARNs whose approval (SSM Automation aws:approve, requested through SNS) a
         * reboot or replace waits for. @default [] (no approval step)
         */
        approvers: z
          .array(z.string().regex(/^arn:aws[a-z-]*:(iam|sts)::\d{12}:.+$/, 'an IAM user or role ARN'))
          .max(10)
          .default([]),
        /** Minutes an approval request waits before the action is cancelled (and the host escalates to a human). @default 60 */
        approvalTimeoutMinutes: z.number().int().min(5).max(10_080).default(60),
        /**
         * Local mode: a command run (bash -c, under the same limits) for a decided action, with GPU_MAINT_REMEDIATION_ACTION,
         * _HOST, _CAUSE and _REASON in its environment, e.g. a drain script. @default - print the recommendation only
         */
        localCommand: z.string().min(1).optional(),
        /** Local mode: seconds the command may run. @default 300 */
        localCommandTimeoutSeconds: z.number().int().min(1).max(3600).default(300),
      })
      .prefault({}),

    aws: z
      .strictObject({
        /** Region for the stack; unset = the CLI's environment. */
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'a region such as eu-west-1')
          .optional(),
        /**
         * SSM Run Command MaxConcurrency for every task, over each task's own default
         * (lambda/tasks/rate-control.ts, docs/deploy.md#rate-control). @default - per task
         */
        maxConcurrency: maxConcurrency.optional(),
        /** MaxErrors for every task, over each task's own default. @default - per task */
        maxErrors: maxErrors.optional(),
        /** Rate control of one task, over everything else: `{ backup: { maxConcurrency: '10%', deliveryTimeoutSeconds: 21600 } }`. */
        rateControl: z
          .partialRecord(
            z.enum(TASK_NAMES),
            z.strictObject({
              maxConcurrency: maxConcurrency.optional(),
              maxErrors: maxErrors.optional(),
              deliveryTimeoutSeconds: z.number().int().min(30).max(2_592_000).optional(),
            }),
          )
          .default({}),
        /**
         * Also stream every command's output to CloudWatch Logs (SendCommand CloudWatchOutputConfig). Off by
         * default: the SSM agent on every host then calls the Logs control plane (CreateLogGroup,
         * CreateLogStream, DescribeLogStreams) per invocation, whose account-wide quotas a fleet of a few
         * hundred hosts exceeds (docs/scale.md). Output always goes to the S3 output bucket. @default false
         */
        commandOutputToCloudWatch: z.boolean().default(false),
        /**
         * Concurrent collect Lambda invocations (the SQS event source's maximum concurrency, 2-1000). 10 keep
         * up with 10,000 hosts; raise it with the fleet (50 for 50,000, bench/README.md's simulation). @default 10
         */
        collectorMaxConcurrency: z.number().int().min(2).max(1000).default(10),
        /** Days Lambda and command logs are kept. @default 30 */
        logRetentionDays: z.number().int().min(1).default(30),
        /**
         * Tags on the stack and every taggable resource in it, added to the project's own (`gpu-maint:app`,
         * `gpu-maint:fleet`, lib/stack-tags.ts), e.g. `{ team: ml-platform, cost-center: '4711' }`. Keys 1-128
         * and values 1-256 characters of letters, digits, spaces and `_ . : / = + - @`; keys starting with
         * `aws:` (AWS's) or `gpu-maint:` (the project's) are refused
         * (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-cloudformation-stack-tag.html).
         * @default {}
         */
        tags: z
          .record(
            z
              .string()
              .regex(
                /^(?!aws:|gpu-maint:)[\p{L}\p{N}\s_.:/=+\-@]{1,128}$/u,
                'a tag key of 1-128 letters, digits, spaces, _ . : / = + - @, not starting with aws: or gpu-maint:',
              ),
            z.string().regex(/^[\p{L}\p{N}\s_.:/=+\-@]{1,256}$/u, 'a tag value of 1-256 letters, digits, spaces, _ . : / = + - @'),
          )
          .default({}),
      })
      .prefault({}),

    local: z
      .strictObject({
        /** Where local mode keeps state, metrics, the Prometheus textfile and backups. @default '~/.local/state/gpu-maint' */
        stateDir: z.string().min(1).default('~/.local/state/gpu-maint'),
        /** Optional webhook (e.g. Slack incoming webhook) that local alerts are posted to. */
        webhookUrl: z.url().optional(),
      })
      .prefault({}),
  });
}

let builtConfigSchema: ReturnType<typeof buildConfigSchema> | undefined;

/** The config schema (built once, on first use). */
export function configSchema(): ReturnType<typeof buildConfigSchema> {
  builtConfigSchema ??= buildConfigSchema();
  return builtConfigSchema;
}

export type Config = z.infer<ReturnType<typeof configSchema>>;
export type ConfigInput = z.input<ReturnType<typeof configSchema>>;
export type Thresholds = Config['thresholds'];
export type ThresholdLevels = Thresholds[keyof Thresholds];
