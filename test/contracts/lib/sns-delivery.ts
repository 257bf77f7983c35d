/**
 * Who hears what: every SNS subscription of a template, evaluated against every kind of message each
 * publisher sends to its topic (test/contracts/lib/sns-filter.ts).
 */
import type { MessageAttributes } from './sns-filter';
import { filterPolicyMatches } from './sns-filter';
import type { CfnTemplate } from './stack';

export interface PublishedMessage {
  /** What it is, for failure messages. */
  readonly name: string;
  /** Logical id of the topic it is published to. */
  readonly topic: string;
  readonly attributes: MessageAttributes;
  /** Severity when it has one (host alerts); pipeline messages count as critical. */
  readonly severity: 'warning' | 'critical';
}

export interface Subscriber {
  readonly id: string;
  readonly protocol: string;
  readonly endpoint: string;
  readonly topic: string;
  readonly filterPolicy?: Record<string, unknown[]>;
}

export function subscribers(template: CfnTemplate): Subscriber[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::SNS::Subscription')
    .map(([id, r]) => {
      const p = r.Properties ?? {};
      if (p.FilterPolicyScope && p.FilterPolicyScope !== 'MessageAttributes')
        throw new Error(`${id}: scope ${p.FilterPolicyScope} not evaluated`);
      return {
        id,
        protocol: p.Protocol,
        endpoint: typeof p.Endpoint === 'string' ? p.Endpoint : JSON.stringify(p.Endpoint),
        topic: p.TopicArn.Ref,
        ...(p.FilterPolicy ? { filterPolicy: p.FilterPolicy } : {}),
      };
    });
}

/** Pairs (subscriber, message) that `wants` says must be delivered but the filter drops, and the reverse. */
export function deliveryMismatches(
  subs: readonly Subscriber[],
  messages: readonly PublishedMessage[],
  wants: (s: Subscriber, m: PublishedMessage) => boolean,
): string[] {
  const out: string[] = [];
  for (const s of subs) {
    for (const m of messages.filter((msg) => msg.topic === s.topic)) {
      const delivered = filterPolicyMatches(s.filterPolicy as never, m.attributes);
      const wanted = wants(s, m);
      if (delivered !== wanted) out.push(`${s.protocol} ${s.endpoint} ${wanted ? 'misses' : 'gets unwanted'} ${m.name}`);
    }
  }
  return out;
}
