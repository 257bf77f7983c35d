/** The SNS filter evaluator (test/contracts/lib/sns-filter.ts) against AWS's documented examples. */
import { describe, expect, test } from 'vitest';
import { filterPolicyMatches } from './lib/sns-filter';

const S = (v: string) => ({ DataType: 'String', StringValue: v });
const A = (v: string[]) => ({ DataType: 'String.Array', StringValue: JSON.stringify(v) });

describe('filterPolicyMatches', () => {
  test('no policy: every message, with or without attributes', () => {
    expect(filterPolicyMatches(undefined, {})).toBe(true);
  });

  test('a value list matches when the attribute has one of the values', () => {
    expect(filterPolicyMatches({ severity: ['critical'] }, { severity: S('critical') })).toBe(true);
    expect(filterPolicyMatches({ severity: ['critical'] }, { severity: S('warning') })).toBe(false);
  });

  test('a missing attribute does not match a value', () => {
    expect(filterPolicyMatches({ severity: ['critical'] }, { status: S('firing') })).toBe(false);
  });

  test('every key of the policy must match (AND), one value per key (OR)', () => {
    const policy = { severity: ['critical', 'warning'], status: ['firing'] };
    expect(filterPolicyMatches(policy, { severity: S('warning'), status: S('firing') })).toBe(true);
    expect(filterPolicyMatches(policy, { severity: S('warning'), status: S('resolved') })).toBe(false);
  });

  test('a String.Array attribute matches when any element does', () => {
    expect(filterPolicyMatches({ check: ['gpu.xid'] }, { check: A(['disk.used', 'gpu.xid']) })).toBe(true);
  });

  test('exists:false matches a message whose other attributes are there but this one is not', () => {
    expect(filterPolicyMatches({ store: [{ exists: false }] }, { customer_interests: A(['baseball']) })).toBe(true);
  });

  test('exists:false never matches a message without attributes (AWS: "An empty set of attributes results in the filter not matching")', () => {
    expect(filterPolicyMatches({ severity: ['critical', { exists: false }] }, {})).toBe(false);
  });

  test('exists:true needs the attribute', () => {
    expect(filterPolicyMatches({ store: [{ exists: true }] }, { store: S('fans') })).toBe(true);
    expect(filterPolicyMatches({ store: [{ exists: true }] }, { other: S('x') })).toBe(false);
  });

  test('prefix and anything-but', () => {
    expect(filterPolicyMatches({ host: [{ prefix: 'i-' }] }, { host: S('i-0abc') })).toBe(true);
    expect(filterPolicyMatches({ status: [{ 'anything-but': ['resolved'] }] }, { status: S('resolved') })).toBe(false);
  });
});
