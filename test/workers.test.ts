// halfbyte in worker_threads: each worker loads its own addon instance, generates the main
// thread's greedy text, and tears down cleanly when it disposes, forgets to, or is terminated
// mid-load or mid-generation. Run in a child process so a crash shows as a failed exit, not a lost runner.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, modelPath } from './helpers.js';

const root = join(fixtures, '..', '..');

describe('worker_threads', () => {
  it('generate in workers, exit undisposed, survive terminate mid-load and mid-generation', () => {
    const out = execFileSync(
      process.execPath,
      [join(root, 'test', 'worker-script.mjs'), join(root, 'dist', 'esm', 'index.js'), modelPath('stories260K.gguf')],
      { encoding: 'utf8', timeout: 120_000 },
    );
    const result = JSON.parse(out.trim().split('\n').pop()!) as {
      expected: string;
      workers: { mode: string; code: number; sameText: boolean; message: unknown }[];
      afterSame: boolean;
    };
    expect(result.expected.length).toBeGreaterThan(20);
    for (const w of result.workers) {
      if (w.mode.startsWith('terminate')) expect([w.code, w.message]).toEqual([1, 'started']);
      else expect([w.mode, w.code, w.sameText]).toEqual([w.mode, 0, true]);
    }
    expect(result.afterSame).toBe(true);
  });
});
