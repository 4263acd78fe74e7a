# Sourced by scripts/test-windows.sh and scripts/test-arm64-node.sh: runs a prebuild in another
# platform's Node (from npm's node-bin packages), through an emulator, and compares its greedy
# story with the one this machine's addon writes.
#   fetch_foreign_node <npm package> <version> <dir>   -> <dir>/node or <dir>/node.exe
#   check_foreign_prebuild <platform-arch> <addon.node> <work dir> <expected platform> <command...>
fetch_foreign_node() {
  local pkg="$1" version="$2" dir="$3"
  [ -f "$dir/node" ] || [ -f "$dir/node.exe" ] && return 0
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$pkg@$version" > /dev/null && tar -xzf "$pkg"-*.tgz &&
    mv package/bin/node* . && rm -rf package "$pkg"-*.tgz)
}

foreign_script='import { load } from "./dist/esm/index.js";
const m = await load("models/stories260K.gguf");
let t = ""; for await (const c of m.generate("Once upon a time", { maxTokens: 32, temperature: 0 })) t += c.text;
m.dispose(); console.log(process.platform + "-" + process.arch + " " + JSON.stringify(t));'

check_foreign_prebuild() {
  local target="$1" addon="$2" work="$3" label="$4"; shift 4
  local root; root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  # A package folder as an install lays it out, holding only the foreign prebuild.
  local app="$work/app-$target"
  rm -rf "$app" && mkdir -p "$app/prebuilds/$target"
  cp -r "$root/dist" "$root/package.json" "$root/models" "$app/"
  ln -s "$root/node_modules" "$app/node_modules"
  cp "$addon" "$app/prebuilds/$target/halfbyte.node"
  printf '%s\n' "$foreign_script" > "$app/generate.mjs"
  local want got
  want="$target $(cd "$root" && node --input-type=module -e "$foreign_script" | cut -d' ' -f2-)"
  # Output goes to a file: wine's pipes to Linux processes drop Node's console output.
  (cd "$app" && "$@" generate.mjs > "$app/out.txt" 2>&1) || true
  got="$(tr -d '\r' < "$app/out.txt")"
  if [ "$got" != "$want" ]; then
    echo "$label printed:"; cat "$app/out.txt"; echo "expected: $want"; return 1
  fi
  echo "$label: the $target prebuild loads and generates this machine's text"
}
