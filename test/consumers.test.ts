// The package as a consumer sees it: the README's plain-JavaScript example runs on this Node as
// an ES module, and the CommonJS build serves require(); both generate text.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtures, modelPath } from './helpers.js';

const root = join(fixtures, '..', '..');

describe('consumers', () => {
  it('run the README example as plain JavaScript (ESM) and a CommonJS script', () => {
    const dir = mkdtempSync(join(tmpdir(), 'halfbyte-consumer-'));
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```js\n([\s\S]*?)```/.exec(readme)![1];
    const esm = example
      .replace("from 'halfbyte'", `from ${JSON.stringify(join(root, 'dist', 'esm', 'index.js'))}`)
      .replace("'model.gguf'", JSON.stringify(modelPath('stories260K.gguf')));
    writeFileSync(join(dir, 'example.mjs'), esm);
    const out = execFileSync(process.execPath, [join(dir, 'example.mjs')], { encoding: 'utf8' });
    expect(out.length).toBeGreaterThan(20);
    writeFileSync(
      join(dir, 'example.cjs'),
      `const { load } = require(${JSON.stringify(join(root, 'dist', 'cjs', 'index.js'))});
(async () => {
  const model = await load(${JSON.stringify(modelPath('stories260K.gguf'))});
  let text = '';
  for await (const c of model.generate('Once upon a time', { maxTokens: 8, temperature: 0 })) text += c.text;
  model.dispose();
  console.log(text);
})();`,
    );
    expect(execFileSync(process.execPath, [join(dir, 'example.cjs')], { encoding: 'utf8' }).trim().length).toBeGreaterThan(5);
  });
});
