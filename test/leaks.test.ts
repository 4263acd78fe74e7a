// Leaks: 200 load/dispose cycles and 5,000 short generations (with sessions) grow RSS by under
// 20 MB. In a child process, so vitest's own memory does not count, with V8's young generation
// held at 1 MB: left to grow, its semi-spaces alone add about 30 MB of RSS under this allocation
// rate (heapTotal 9 -> 37 MB over 40,000 steps, flat afterwards), which is not a leak.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, modelPath } from './helpers.js';

const root = join(fixtures, '..', '..');

describe('leaks', () => {
  it('200 load/dispose cycles and 5000 generations: RSS grows < 20 MB', () => {
    const out = execFileSync(
      process.execPath,
      ['--expose-gc', '--max-semi-space-size=1', join(root, 'test', 'soak', 'leak-check.mjs'), join(root, 'dist', 'esm', 'index.js'), modelPath('stories260K.gguf'), '200', '5000'],
      { encoding: 'utf8', timeout: 300_000, env: { ...process.env, MALLOC_ARENA_MAX: '2' } },
    );
    const r = JSON.parse(out.trim().split('\n').pop()!) as { loadGrowthMB: number; totalGrowthMB: number; tokens: number };
    console.log(`leaks: RSS +${r.loadGrowthMB.toFixed(1)} MB after 200 loads, +${r.totalGrowthMB.toFixed(1)} MB after 5000 generations (${r.tokens} tokens)`);
    expect(r.tokens).toBeGreaterThan(15_000);
    expect(r.loadGrowthMB).toBeLessThan(20);
    expect(r.totalGrowthMB).toBeLessThan(20);
  });
});
