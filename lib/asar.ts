// Packaged Electron apps keep their files in app.asar, an archive that Electron's patched `fs`
// reads but native code cannot: a model inside it cannot be mapped, an addon inside it cannot be
// loaded. electron-builder's `asarUnpack` puts such files at the same path under
// app.asar.unpacked; this finds them there.
import { existsSync } from 'node:fs';

const inAsar = /([\\/])app\.asar(?=[\\/]|$)/;

/** `p` with app.asar replaced by app.asar.unpacked, when running in Electron and that path exists; else `p`. */
export function outsideAsar(p: string, electron: boolean = Boolean(process.versions.electron)): string {
  if (!electron || !inAsar.test(p)) return p;
  const unpacked = p.replace(inAsar, '$1app.asar.unpacked');
  return existsSync(unpacked) ? unpacked : p;
}
