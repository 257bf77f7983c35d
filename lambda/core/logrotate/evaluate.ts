/**
 * Log rotation from config: `logrotate.groups` rendered as the content of /etc/logrotate.d/gpu-maint
 * (pure), and the evaluator of scripts/logrotate-apply.sh, which writes that file atomically, validates
 * it with `logrotate -d` and restores the previous file when validation fails.
 */
import type { Config } from '../../config/schema';
import { type ParsedResult, parseKeyValues } from '../contract';
import { METRICS } from '../metric-names';
import type { Evaluation, EvaluationContext, TaskEvaluator } from '../task-evaluation';
import type { Finding } from '../types';

export type LogrotateGroup = Config['logrotate']['groups'][number];

/** Where the rendered file is installed on hosts. */
export const LOGROTATE_TARGET = '/etc/logrotate.d/gpu-maint';

const ZSTD_LINES = ['compresscmd /usr/bin/zstd', 'compressoptions -q', 'compressext .zst', 'uncompresscmd /usr/bin/unzstd'];

function groupBlock(group: LogrotateGroup): string[] {
  if (group.paths.length === 0) throw new Error(`logrotate group ${group.name}: no paths`);
  for (const p of group.paths) {
    if (!/^\/[^\s,{}'"`$\\]*$/.test(p)) {
      throw new Error(
        `logrotate group ${group.name}: path ${JSON.stringify(p)} must be absolute, without blanks, commas, quotes, braces, $ or backslashes`,
      );
    }
  }
  if (group.create !== undefined && group.copytruncate === true) {
    throw new Error(`logrotate group ${group.name}: set either copytruncate or create, not both`);
  }
  const body: string[] = [group.frequency, `rotate ${group.rotate}`];
  if (group.maxSize) body.push(`maxsize ${group.maxSize}`);
  body.push('missingok', 'notifempty');
  if (group.compress) {
    body.push('compress');
    if (group.compressor === 'zstd') body.push(...ZSTD_LINES);
  } else {
    body.push('nocompress');
  }
  if (group.create !== undefined) body.push(`create ${group.create}`);
  // Default: copy and truncate, so writers that never reopen their log keep working.
  else if (group.copytruncate !== false) body.push('copytruncate');
  if (group.su) body.push(`su ${group.su}`);
  if (group.postrotate) {
    if (/\n/.test(group.postrotate) || /^\s*endscript\s*$/.test(group.postrotate)) {
      throw new Error(`logrotate group ${group.name}: postrotate must be one command line, got ${JSON.stringify(group.postrotate)}`);
    }
    body.push('sharedscripts', 'postrotate', `    ${group.postrotate}`, 'endscript');
  }
  return [`# ${group.name}`, `${group.paths.join(' ')} {`, ...body.map((l) => `    ${l}`), '}'];
}

/** The content of /etc/logrotate.d/gpu-maint for the configured groups. */
export function renderLogrotateConfig(groups: readonly LogrotateGroup[]): string {
  const names = new Set<string>();
  for (const g of groups) {
    if (names.has(g.name)) throw new Error(`logrotate group names must be unique: ${JSON.stringify(g.name)} appears twice`);
    names.add(g.name);
  }
  const lines = [
    `# ${LOGROTATE_TARGET}: written by gpu-maint from logrotate.groups in its configuration.`,
    '# Edits here are overwritten: change the configuration and run `gpu-maint run logrotate` instead.',
  ];
  for (const g of groups) lines.push('', ...groupBlock(g));
  if (groups.length === 0) lines.push('', '# (no groups configured)');
  return `${lines.join('\n')}\n`;
}

/** The rendered file as SSM can carry it through `{{ }}` text substitution. */
export function logrotateConfigBase64(groups: readonly LogrotateGroup[]): string {
  const bytes = new TextEncoder().encode(renderLogrotateConfig(groups));
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

function firstError(text: string): string | null {
  const line = text
    .split('\n')
    .map((l) => l.trim())
    .find((l) => /^error:/.test(l));
  return line ?? null;
}

/** What the failed apply left behind, from its summary: restored, untouched, or changed and not restored. */
function outcomeOf(kv: Record<string, string>): string {
  if (kv.rolled_back === 'true') return 'the previous file was restored';
  if (kv.changed === 'true') return 'the file was changed and the previous one could not be restored: fix it by hand';
  return 'nothing was changed';
}

export const evaluateLogrotate: TaskEvaluator = (parsed: ParsedResult, _ctx: EvaluationContext): Evaluation => {
  const section = parsed.sections.get('logrotate-apply');
  if (!section) throw new Error('no logrotate-apply section in the output');
  const kv = parseKeyValues(section.stdout);
  const target = kv.target ?? LOGROTATE_TARGET;
  const validation = parsed.sections.get('logrotate-validate');
  const mainValidation = parsed.sections.get('logrotate-validate-main');
  const findings: Finding[] = [];
  const details = {
    logrotate: {
      target,
      changed: kv.changed === 'true',
      valid: kv.valid === 'true',
      rolledBack: kv.rolled_back === 'true',
      sha256: kv.sha256 ?? null,
      previousSha256: kv.previous_sha256 || null,
      groups: kv.groups !== undefined && /^\d+$/.test(kv.groups) ? Number(kv.groups) : null,
    },
  };
  if (kv.valid === 'true') {
    findings.push({
      check: 'logrotate.config',
      severity: 'ok',
      message: `${target} ${kv.changed === 'true' ? 'updated' : 'up to date'} and valid (logrotate -d)${details.logrotate.groups !== null ? `, ${details.logrotate.groups} group(s)` : ''}`,
    });
  } else {
    const why =
      kv.message ||
      firstError(`${validation?.stdout ?? ''}\n${validation?.stderr ?? ''}`) ||
      firstError(`${mainValidation?.stdout ?? ''}\n${mainValidation?.stderr ?? ''}`) ||
      'logrotate -d rejected it';
    findings.push({
      check: 'logrotate.config',
      severity: 'critical',
      message: `new ${target} rejected: ${why}; ${outcomeOf(kv)}`,
    });
  }
  return { findings, readings: [{ name: METRICS.LogrotateConfigValid, value: kv.valid === 'true' ? 1 : 0, unit: 'Count' }], details };
};
