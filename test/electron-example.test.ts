// examples/electron: its generation service (everything but the Electron calls) under plain
// Node, with a fake IPC sender; and the app.asar lookup that packaged apps rely on.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { load, type Model } from '../lib/index.js';
import { outsideAsar } from '../lib/asar.js';
import { modelPath } from './helpers.js';

const require = createRequire(import.meta.url);
const { GenerationService } = require('../examples/electron/generation-service.cjs') as {
  GenerationService: new (m: Model) => {
    start(id: string, prompt: string, options: object, send: (ch: string, p: any) => void): Promise<void>;
    stop(id: string): boolean;
    running: Map<string, AbortController>;
  };
};

describe('examples/electron generation service', () => {
  let model: Model;
  beforeAll(async () => {
    model = await load(modelPath('stories260K.gguf'));
  });
  afterAll(() => model.dispose());

  it('streams the same text as generate(), then done', async () => {
    let direct = '';
    for await (const c of model.generate('Once upon a time', { maxTokens: 20, temperature: 0 })) direct += c.text;
    const service = new GenerationService(model);
    const sent: [string, any][] = [];
    await service.start('1', 'Once upon a time', { maxTokens: 20, temperature: 0 }, (ch, p) => sent.push([ch, p]));
    const text = sent.filter(([ch]) => ch === 'chunk').map(([, p]) => p.text).join('');
    expect(text).toBe(direct);
    expect(sent.at(-1)).toEqual(['done', { id: '1', tokens: 20 }]);
    expect(service.running.size).toBe(0);
  });

  it('stop() ends a running generation with ABORTED, and two run at once', async () => {
    const service = new GenerationService(model);
    const sent: [string, any][] = [];
    const a = service.start('a', 'Once', { maxTokens: 5000, temperature: 0.8 }, (ch, p) => {
      sent.push([ch, p]);
      if (ch === 'chunk' && sent.filter(([c, q]) => c === 'chunk' && q.id === 'a').length === 3) service.stop('a');
    });
    const b = service.start('b', 'Lily', { maxTokens: 8, temperature: 0 }, (ch, p) => sent.push([ch, p]));
    await expect(service.start('b', 'x', {}, () => {})).rejects.toThrow(/already running/);
    await Promise.all([a, b]);
    expect(sent.find(([ch, p]) => ch === 'error' && p.id === 'a')?.[1].code).toBe('ABORTED');
    expect(sent.find(([ch, p]) => ch === 'done' && p.id === 'b')?.[1].tokens).toBe(8);
    expect(service.stop('a')).toBe(false);
  });
});

describe('outsideAsar', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'hb-asar-'));
    mkdirSync(join(dir, 'app.asar.unpacked', 'models'), { recursive: true });
    writeFileSync(join(dir, 'app.asar.unpacked', 'models', 'm.gguf'), 'x');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds an unpacked file in Electron, and leaves every other path alone', () => {
    const inside = join(dir, 'app.asar', 'models', 'm.gguf');
    expect(outsideAsar(inside, true)).toBe(join(dir, 'app.asar.unpacked', 'models', 'm.gguf'));
    expect(outsideAsar(inside, false)).toBe(inside); // plain Node: no archive
    expect(outsideAsar(join(dir, 'app.asar', 'models', 'missing.gguf'), true)).toBe(join(dir, 'app.asar', 'models', 'missing.gguf'));
    expect(outsideAsar(join(dir, 'app.asarx', 'm.gguf'), true)).toBe(join(dir, 'app.asarx', 'm.gguf'));
    expect(outsideAsar('C:\\app\\resources\\app.asar', true)).toBe('C:\\app\\resources\\app.asar');
  });
});
