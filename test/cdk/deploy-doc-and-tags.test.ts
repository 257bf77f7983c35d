/**
 * What docs/deploy.md promises about the synthesized stack, and the tags on every resource: the outputs
 * table lists exactly the stack's outputs, step 4 attaches every instance policy the stack outputs, and
 * every taggable resource (by the CloudFormation service spec) carries the project's tags plus `aws.tags`.
 * One synthesis with every optional part switched on, Lambda bundling skipped.
 */
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildApp } from '../../bin/app';
import type { ConfigInput } from '../../lambda/config/schema';
import { TASKS } from '../../lambda/tasks/registry';
import { projectTags, stackTags } from '../../lib/stack-tags';
import { taggableResourceTypes } from '../contracts/lib/cfn-schema';
import { REPO_ROOT } from '../helpers/fixtures';
import { cdkOutdir } from '../helpers/temp';

const CONFIG: ConfigInput = {
  fleet: { name: 'vision' },
  alerts: {
    emails: [{ address: 'ops@example.com' }],
    slack: { webhookSecret: 'gpu-maint/slack-webhook', chatbot: { workspaceId: 'T012AB3CD', channelId: 'C045EF6GH' } },
    pagerDuty: { routingKeySecret: 'gpu-maint/pagerduty' },
  },
  aws: { tags: { team: 'ml-platform', 'cost-center': '4711' } },
};

const deployDoc = readFileSync(path.join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');

/** `### Outputs` table names: backticked names of the first column, `<Task>` expanded over the registry. */
function documentedOutputs(): string[] {
  const section = deployDoc.split('### Outputs')[1]?.split(/\n#/)[0] ?? '';
  const names = section
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .flatMap((l) => [...(l.split('|')[1] ?? '').matchAll(/`([^`]+)`/g)].map((m) => m[1]));
  const pascal = (task: string) => task.replace(/(^|-)([a-z0-9])/g, (_, __, c: string) => c.toUpperCase());
  return names.flatMap((n) => (n.includes('<Task>') ? [...TASKS.keys()].map((t) => n.replace('<Task>', pascal(t))) : [n]));
}

let template: Template;
let config: ReturnType<typeof buildApp>['config'];

beforeAll(() => {
  const built = buildApp({ outdir: cdkOutdir(), context: { 'aws:cdk:bundling-stacks': [], gpuMaint: CONFIG }, nag: false });
  config = built.config;
  template = Template.fromStack(built.stack);
});

describe('docs/deploy.md against the synthesized stack', () => {
  test('the outputs table lists every stack output, and only those', () => {
    expect(documentedOutputs().sort()).toEqual(Object.keys(template.findOutputs('*')).sort());
  });

  const attachedBy = (text: string) => /for OUTPUT in ([^;]+);/.exec(text)?.[1].trim().split(/\s+/) ?? [];
  const policyOutputs = () => Object.keys(template.findOutputs('*')).filter((o) => o.endsWith('PolicyArn'));

  test('step 4 attaches every instance policy the stack outputs', () => {
    const step4 = deployDoc.split('## 4. Enroll the instances')[1]?.split('\n## ')[0] ?? '';
    expect(policyOutputs().length).toBeGreaterThan(1);
    expect(attachedBy(step4).sort()).toEqual(policyOutputs().sort());
  });

  test("docs/hybrid.md gives the hybrid nodes' role the same policies", () => {
    const hybrid = readFileSync(path.join(REPO_ROOT, 'docs', 'hybrid.md'), 'utf8');
    expect(attachedBy(hybrid).sort()).toEqual(policyOutputs().sort());
  });
});

describe('tags', () => {
  const taggable = taggableResourceTypes();

  test('every taggable resource carries the project tags and aws.tags', () => {
    const expected = stackTags(config);
    const resources = Object.entries(template.toJSON().Resources as Record<string, { Type: string; Properties?: Record<string, any> }>);
    const checked = resources.filter(([, r]) => taggable.has(r.Type));
    expect(checked.length).toBeGreaterThan(20);
    for (const [id, r] of checked) {
      const info = taggable.get(r.Type)!;
      const raw = r.Properties?.[info.tagPropertyName];
      const tags: Record<string, string> = Array.isArray(raw)
        ? Object.fromEntries(raw.map((t: { Key: string; Value: string }) => [t.Key, t.Value]))
        : (raw ?? {});
      expect(tags, `${id} (${r.Type})`).toMatchObject(expected);
    }
  });

  test('the project tags name the tool and the fleet', () => {
    expect(projectTags(config)).toEqual({ 'gpu-maint:app': 'gpu-maint', 'gpu-maint:fleet': 'vision' });
  });
});
