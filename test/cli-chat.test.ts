// halfbyte chat driven as a person would: in a pseudo-terminal (util-linux `script`), typing a
// prompt, watching the answer stream, Ctrl-C during an answer, /reset, /exit; and piped, one
// message per line.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures } from './helpers.js';

const bin = join(fixtures, '..', '..', 'bin', 'halfbyte.js');
const hasScript = existsSync('/usr/bin/script');

describe('halfbyte chat', () => {
  it('answers each line of piped input and understands its commands', () => {
    const out = execFileSync(process.execPath, [bin, 'chat', '-n', '8', '--temperature', '0'], {
      input: 'Hello there\n/reset\nWhat is your name?\n/exit\nnever read\n',
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const lines = out.split('\n');
    expect(lines[1]).toBe('(conversation cleared)');
    expect(lines[0].length).toBeGreaterThan(0);
    expect(lines[2].length).toBeGreaterThan(0);
    expect(lines.length).toBe(4); // two answers, the reset note, the final newline; nothing after /exit
  });

  it.skipIf(!hasScript)('streams in a terminal; Ctrl-C stops an answer, not the program; /reset; /exit', async () => {
    // A long answer (8000 tokens) so Ctrl-C lands while it is being written.
    const cmd = `${JSON.stringify(process.execPath)} ${JSON.stringify(bin)} chat -c 8192 -n 8000 --temperature 0.8 --seed 1`;
    const child = spawn('/usr/bin/script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TERM: 'xterm' } });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    const waitFor = async (pred: () => boolean, ms = 20000) => {
      const t0 = Date.now();
      while (!pred()) {
        if (Date.now() - t0 > ms) throw new Error(`timed out; screen so far: ${JSON.stringify(screen.slice(-500))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await waitFor(() => screen.includes('> '));
    child.stdin.write('Once upon a time\r');
    const start = screen.length;
    await waitFor(() => screen.length > start + 200); // text streams in
    child.stdin.write('\x03'); // Ctrl-C
    await waitFor(() => screen.includes('[stopped]'));
    await waitFor(() => screen.lastIndexOf('> ') > screen.indexOf('[stopped]')); // the prompt is back
    child.stdin.write('/reset\r');
    await waitFor(() => screen.includes('(conversation cleared)'));
    child.stdin.write('/exit\r');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(0);
    expect(screen).toContain('halfbyte chat: /reset');
  }, 60000);
});

describe('halfbyte tokenize, bench, cpu --json', () => {
  it('print what scripts can parse', () => {
    const run = (...args: string[]) => execFileSync(process.execPath, [bin, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const tok = JSON.parse(run('tokenize', join(fixtures, 'models', 'stories260K.gguf'), 'Once upon', '--json'));
    expect(tok.ids).toEqual([1, 403, 407]);
    expect(tok.pieces).toEqual(['', ' Once', ' upon']);
    const bench = JSON.parse(run('bench', '--json', '--reps', '1', '--prompt', '32', '--gen', '8'));
    expect(bench.prefillTokensPerSecond).toBeGreaterThan(0);
    expect(bench.generationTokensPerSecond).toBeGreaterThan(0);
    expect(bench.bytesPerToken).toBeGreaterThan(0);
    expect(bench.readBandwidthGBps).toBeGreaterThan(0);
    expect(JSON.parse(run('cpu', '--json')).availableIsas).toContain('scalar');
  });
});
