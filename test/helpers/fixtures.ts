/** Shared fixtures (real nvidia-smi captures, Xid lines, EC2 GPU counts): ../shared/fixtures beside the repo. */
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES_DIR = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures');
export const fixture = (...parts: string[]): string => path.join(FIXTURES_DIR, ...parts);
