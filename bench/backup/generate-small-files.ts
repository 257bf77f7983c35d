/**
 * Writes a corpus of many small files, like experiment logs and tokenizer or dataset caches:
 * `<dir>/run-<d>/part-<f>.log`, sizes spread evenly over 1-64 KiB, text made of a fixed vocabulary in
 * random order (zstd shrinks it about 3x, as it does real logs). Seeded: the same arguments write the
 * same bytes.
 *
 * Usage: npx tsx bench/backup/generate-small-files.ts <dir> [files = 40000] [dirs = 400]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

function usage(message: string): never {
  console.error(`generate-small-files: ${message}\nusage: generate-small-files.ts <dir> [files] [dirs]`);
  process.exit(2);
}

const [dir, filesArg = '40000', dirsArg = '400'] = process.argv.slice(2);
if (!dir) usage('missing <dir>');
const [files, dirs] = [filesArg, dirsArg].map(Number);
if (![files, dirs].every((n) => Number.isInteger(n) && n > 0) || dirs > files)
  usage(`files and dirs must be positive integers, dirs <= files, got: ${filesArg} ${dirsArg}`);

const words = (
  'step loss lr grad_norm epoch tokens throughput samples eval accuracy perplexity warmup checkpoint ' +
  'shard rank world_size nccl allreduce latency ms s GiB batch seq_len vocab merges bpe tokenizer ' +
  'dataset cache hit miss index offset bytes done info warn debug 0 1 2 3 4 5 6 7 8 9 0.001 3e-4 ='
).split(' ');
let state = 0x9e3779b9;
// xorshift32: fast, seeded, good enough to make text that compresses like logs.
const next = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return state >>> 0;
};
const perDir = Math.ceil(files / dirs);
let written = 0;
for (let d = 0; d < dirs && written < files; d++) {
  const sub = path.join(dir, `run-${String(d).padStart(4, '0')}`);
  mkdirSync(sub, { recursive: true });
  for (let f = 0; f < perDir && written < files; f++, written++) {
    const size = 1024 + (next() % (63 * 1024 + 1));
    const parts: string[] = [];
    let length = 0;
    while (length < size) {
      const w = words[next() % words.length];
      parts.push(w);
      length += w.length + 1;
    }
    writeFileSync(path.join(sub, `part-${String(f).padStart(4, '0')}.log`), parts.join(' ').slice(0, size));
  }
}
console.log(`${written} files in ${dirs} dirs in ${dir}`);
