// The loader's diagnosis: what the dynamic loader really says about a bad binary, turned into a
// reason and a fix. The messages come from process.dlopen on this machine, not from fixtures.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainAddonFailure, type AddonFailure } from '../lib/addon.js';

function dlopenError(bytes: Buffer): string {
  const file = join(mkdtempSync(join(tmpdir(), 'halfbyte-addon-')), 'halfbyte.node');
  writeFileSync(file, bytes);
  try {
    process.dlopen({ exports: {} }, file);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('dlopen accepted a bogus binary');
}

const base: AddonFailure = {
  reason: '',
  platform: 'linux',
  arch: 'x64',
  musl: false,
  prebuilds: ['linux-arm64', 'linux-x64'],
  hasLocalBuild: false,
};

describe.runIf(process.platform === 'linux')('addon loader diagnosis', () => {
  it('names a binary for another architecture (a 32-bit ELF) and says to reinstall', () => {
    const elf32 = Buffer.alloc(64);
    elf32.write('\x7fELF', 0, 'latin1');
    elf32[4] = 1; // ELFCLASS32
    elf32[5] = 1;
    elf32[6] = 1;
    const reason = dlopenError(elf32);
    const text = explainAddonFailure({ ...base, reason });
    expect(text).toMatch(/^Could not load halfbyte's native addon for linux-x64/);
    expect(text).toContain('another architecture or operating system, or it is damaged');
    expect(text).toContain('npm ci');
    expect(text).toContain(`The loader said: ${reason}`);
  });

  it('names a truncated binary as damaged', () => {
    const reason = dlopenError(Buffer.from('not a binary'));
    expect(explainAddonFailure({ ...base, reason })).toContain('damaged');
  });

  it('lists the shipped prebuilds when there is none for this platform', () => {
    const text = explainAddonFailure({
      ...base,
      platform: 'freebsd',
      reason: 'No native build was found for platform=freebsd arch=x64',
    });
    expect(text).toContain('no prebuilt binary for freebsd-x64 (it ships linux-arm64, linux-x64)');
    expect(text).toContain('npm rebuild halfbyte');
  });

  it('says musl, not glibc, on Alpine', () => {
    const text = explainAddonFailure({
      ...base,
      musl: true,
      reason: 'Error relocating halfbyte.node: __fprintf_chk: symbol not found',
    });
    expect(text).toContain('musl libc (Alpine?)');
    expect(text).toContain('apk add python3 make g++');
  });

  it('says the Node ABI differs', () => {
    const text = explainAddonFailure({
      ...base,
      hasLocalBuild: true,
      reason: 'was compiled against a different Node.js version using NODE_MODULE_VERSION 108',
    });
    expect(text).toContain('another Node.js ABI');
  });
});
