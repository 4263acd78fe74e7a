#!/usr/bin/env bash
# Install with no compiler, as a user would: builds the N-API prebuilds (linux-x64, and linux-arm64
# with Debian's aarch64 cross compiler), packs the package, then in an empty folder whose PATH
# holds only node, npm, npx and sh (no g++, cc, make or python3) installs the tarball, runs
# `npx halfbyte generate` and imports the package from ESM and from CommonJS.
# Needs: g++-aarch64-linux-gnu (for the arm64 prebuild), a built tree (npm ci).
# (npm 11 does not run a dependency's install script unless allowed: halfbyte needs none, the
# loader finds the prebuild at run time.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash scripts/prebuild.sh
tgz="$(npm pack --silent | tail -n 1)"
size=$(stat -c %s "$tgz")
echo "package: $tgz, $size bytes"
if [ "$size" -gt $((5 * 1024 * 1024)) ]; then echo "the package is over 5 MB"; exit 1; fi
if tar -tzf "$tgz" | grep -Ev '^package/(dist|types|bin|native|prebuilds|models)/|^package/(package\.json|README\.md|LICENSE|binding\.gyp|CMakeLists\.txt)$'; then
  echo "the package holds files it should not (above)"; exit 1
fi

work="$(mktemp -d)"
mkdir -p "$work/bin" "$work/app"
for tool in node npm npx; do ln -s "$(command -v "$tool")" "$work/bin/$tool"; done
ln -s /bin/sh "$work/bin/sh"
system_path="$PATH"
export PATH="$work/bin"
for tool in g++ cc make python3; do
  if command -v "$tool" > /dev/null; then echo "$tool is reachable: the check would prove nothing"; exit 1; fi
done
cd "$work/app"
npm init -y > /dev/null
npm install --no-audit --no-fund "$root/$tgz" > /dev/null
out="$(npx halfbyte generate "Once upon a time" -n 24 --seed 1 2>/dev/null)"
echo "$out"
case "$out" in "Once upon a time"?*) ;; *) echo "no story"; exit 1 ;; esac
echo 'import { load } from "halfbyte"; const m = await load(new URL("./node_modules/halfbyte/models/stories260K.gguf", import.meta.url).pathname); let t = ""; for await (const c of m.generate("Once", { maxTokens: 5, temperature: 0 })) t += c.text; m.dispose(); console.log("esm:", JSON.stringify(t));' > esm.mjs
echo 'const { load } = require("halfbyte"); (async () => { const m = await load(require.resolve("halfbyte/package.json").replace("package.json", "models/stories260K.gguf")); let t = ""; for await (const c of m.generate("Once", { maxTokens: 5, temperature: 0 })) t += c.text; m.dispose(); console.log("cjs:", JSON.stringify(t)); })();' > cjs.cjs
node esm.mjs
node cjs.cjs
export PATH="$system_path"
if [ -e node_modules/halfbyte/build ]; then echo "the install compiled something (node_modules/halfbyte/build exists)"; exit 1; fi
echo "installed without compiling: no build/ in the installed package"
rm -f "$root/$tgz"
echo "install check: ok"
