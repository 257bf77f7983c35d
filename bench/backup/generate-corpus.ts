/**
 * Writes a corpus that looks like fp16 model weights to a directory: `model-<m>/shard-<s>.safetensors`.
 * Each 16-bit value has a random sign and mantissa and an exponent from a narrow band (weights cluster
 * around small magnitudes), so the data barely compresses, like real checkpoints.
 *
 * Usage: npx tsx bench/backup/generate-corpus.ts <dir> [total MiB = 512] [models = 4] [shards per model = 4]
 *        npx tsx bench/backup/generate-corpus.ts --rewrite <file>   (new weights of the same size: a partial change)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';

function usage(message: string): never {
  console.error(`generate-corpus: ${message}\nusage: generate-corpus.ts <dir> [total MiB] [models] [shards per model]`);
  process.exit(2);
}

/** Fills a buffer with fp16-like weights: random sign and mantissa, exponents from a narrow band. */
function weights(bytes: number): Buffer {
  const buf = randomBytes(bytes);
  // Little-endian fp16: the high byte holds the sign, 5 exponent bits and 2 mantissa bits.
  for (let i = 1; i < buf.length; i += 2) {
    const b = buf[i];
    buf[i] = (b & 0x80) | ((0x0a + (b % 5)) << 2) | (b & 0x03);
  }
  return buf;
}

if (process.argv[2] === '--rewrite') {
  const file = process.argv[3];
  if (!file) usage('--rewrite needs a <file>');
  writeFileSync(file, weights(statSync(file).size));
  console.log(`rewrote ${file}`);
  process.exit(0);
}

const [dir, totalArg = '512', modelsArg = '4', shardsArg = '4'] = process.argv.slice(2);
if (!dir) usage('missing <dir>');
const [totalMiB, models, shards] = [totalArg, modelsArg, shardsArg].map(Number);
if (![totalMiB, models, shards].every((n) => Number.isInteger(n) && n > 0))
  usage(`sizes must be positive integers, got: ${totalArg} ${modelsArg} ${shardsArg}`);

const shardBytes = Math.floor((totalMiB * 1024 * 1024) / (models * shards) / 2) * 2;
for (let m = 0; m < models; m++) {
  const modelDir = path.join(dir, `model-${m}`);
  mkdirSync(modelDir, { recursive: true });
  for (let s = 0; s < shards; s++) {
    writeFileSync(path.join(modelDir, `shard-${s}.safetensors`), weights(shardBytes));
  }
}
console.log(`${models * shards} shards of ${shardBytes} bytes in ${dir}`);
