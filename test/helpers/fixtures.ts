/** Test data kept in the repository (real nvidia-smi captures, Xid lines, EC2 GPU counts): test/fixtures, see SOURCES.md there. */
import * as path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const FIXTURES_DIR = path.join(REPO_ROOT, 'test', 'fixtures');
export const fixture = (...parts: string[]): string => path.join(FIXTURES_DIR, ...parts);
