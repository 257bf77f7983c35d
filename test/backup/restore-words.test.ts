/** restore prints each unit in words, not as the script's key=value record. */
import { expect, test } from 'vitest';
import { unitInWords } from '../../bin/cli/commands/restore';

test.each([
  ['restored llama-fd97 files=3 bytes=1048576 path="llama"', 'restored llama-fd97 (3 entries, 1.0 MiB) → llama'],
  ['failed bert-51fb files=1 bytes=4 path="bert"', 'FAILED bert-51fb (1 entry, 4 B) → bert'],
  ['something else', 'something else'],
])('%j reads %j', (line, words) => {
  expect(unitInWords(line)).toBe(words);
});
