#!/usr/bin/env bash
# Desktop smoke test: the tauri CLI understands this layout (tauri.conf.json at the top, sources
# in src-tauri/), and the real app starts under Xvfb and shows its window; a screenshot is saved
# in test-artifacts/ to look at.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/test-artifacts"
mkdir -p "$out"
passed=0

# 1. The tauri CLI reads the app config from this layout.
ui/node_modules/.bin/tauri info > "$out/tauri-info.txt" 2>&1 || { cat "$out/tauri-info.txt"; exit 1; }
grep -q 'frontendDist.*ui/dist' "$out/tauri-info.txt" || {
  echo "app-smoke: tauri info did not read tauri.conf.json:"; cat "$out/tauri-info.txt"; exit 1; }
passed=$((passed + 1))

# 2. The app starts under Xvfb with an empty config and shows its main window.
cargo build -q -p supersonic-sync
tmp=$(mktemp -d)
# GTK's document portal may leave a FUSE mount under the temp HOME: unmount, never fail here.
cleanup() {
  fusermount -u "$tmp/home/.cache/doc" 2>/dev/null || umount -l "$tmp/home/.cache/doc" 2>/dev/null || true
  rm -rf "$tmp" 2>/dev/null || true
}
trap cleanup EXIT
export SUPERSONIC_CONFIG_DIR="$tmp/config" SUPERSONIC_DATA_DIR="$tmp/data" HOME="$tmp/home"
mkdir -p "$HOME"
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash -c '
  set -u
  target/debug/supersonic-sync > "'"$out"'/app.log" 2>&1 & pid=$!
  for _ in $(seq 1 150); do
    xwininfo -root -tree 2>/dev/null | grep -q "\"Supersonic Sync\"" && break
    sleep 0.2
  done
  if ! xwininfo -root -tree | grep -q "\"Supersonic Sync\""; then
    echo "app-smoke: no Supersonic Sync window appeared"; cat "'"$out"'/app.log"; kill $pid; exit 1
  fi
  sleep 2   # let WebKit paint before the screenshot
  xwd -root -silent | /usr/bin/convert xwd:- "'"$out"'/app-window.png"
  kill $pid; wait $pid 2>/dev/null || true
'
passed=$((passed + 1))
echo "app-smoke: screenshot in test-artifacts/app-window.png"
echo "app-smoke: $passed passed, 0 failed"
