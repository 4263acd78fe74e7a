#!/usr/bin/env node
import { main } from '../dist/esm/cli.js';

main(process.argv).catch((err) => {
  const code = err && err.code ? ` [${err.code}]` : '';
  process.stderr.write(`halfbyte: ${err && err.message ? err.message : err}${code}\n`);
  process.exitCode = 1;
});
