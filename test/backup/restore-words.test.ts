/** restore prints each unit in words, not as the script's key=value record. */
import { expect, test } from 'vitest';
import { restoreHeadline, unitInWords } from '../../bin/cli/commands/restore';

test.each([
  ['restored llama-fd97 files=3 bytes=1048576 path="llama"', 'restored llama-fd97 (3 entries, 1.0 MiB) → llama'],
  ['failed bert-51fb files=1 bytes=4 path="bert"', 'FAILED bert-51fb (1 entry, 4 B) → bert'],
  ['something else', 'something else'],
])('%j reads %j', (line, words) => {
  expect(unitInWords(line)).toBe(words);
});

const SUMMARY = { snapshot: '20261128T020000Z-42', host_key: 'h1', units_total: '2', files: '2', bytes: '5' };

test.each([
  [
    { ...SUMMARY, status: 'ok', units_done: '2', units_failed: '0' },
    'restored 2 of 2 units of snapshot 20261128T020000Z-42 (host h1) into /r: 2 entries, 5 B, verified',
  ],
  [
    { ...SUMMARY, status: 'failed', units_done: '1', units_failed: '1' },
    'restore of snapshot 20261128T020000Z-42 (host h1) into /r incomplete: 1 of 2 units restored and verified (2 entries, 5 B), 1 failed and replaced nothing',
  ],
  [{ status: 'failed', error: 'no snapshot' }, null],
])('the restore summary %j reads %j', (summary, words) => {
  expect(restoreHeadline(summary, '/r')).toBe(words);
});
