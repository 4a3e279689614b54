#!/usr/bin/env bash
# Desktop smoke test of the real app under Xvfb and its own D-Bus session:
#   1. the tauri CLI reads this layout (tauri.conf.json at the top, sources in src-tauri/);
#   2. the app starts with a test config (one folder on a bare remote) and shows the real UI in
#      its main window (screenshot in test-artifacts/app-window.png: look at it);
#   3. the app's engine syncs: a file written into the folder reaches the bare remote;
#   4. the tray state follows the engine: a pending conflict turns it to `conflict` (the app logs
#      each state it shows; screenshot test-artifacts/app-conflict.png), and a native
#      notification announces it (dbus-monitor on the test's session bus);
#   5. a second launch hands over to the first and exits without starting a second engine;
#   6. clicking the conflict notification (dunstctl action) opens the Conflicts page;
#   7. SIGTERM (a logout) commits a pending edit and quits cleanly;
#   8. `--hidden` (the autostart entry) starts in the tray without showing the window.
# Every wait is bounded; cleanup never fails the run. Last line: `app-smoke: N passed, M failed`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out="$root/test-artifacts"
mkdir -p "$out"

# 1. The tauri CLI reads the app config from this layout.
ui/node_modules/.bin/tauri info > "$out/tauri-info.txt" 2>&1 || { cat "$out/tauri-info.txt"; exit 1; }
grep -q 'frontendDist.*ui/dist' "$out/tauri-info.txt" || {
  echo "app-smoke: tauri info did not read tauri.conf.json:"; cat "$out/tauri-info.txt"; exit 1; }
echo "PASS tauri info reads tauri.conf.json" > "$out/app-smoke.results"

cargo build -q -p supersonic-sync
[ -x target/debug/supersonic ] || cargo build -q -p supersonic-cli

tmp=$(mktemp -d)
# GTK's document portal may leave a FUSE mount under the temp HOME: unmount, never fail here.
cleanup() {
  fusermount -u "$tmp/home/.cache/doc" 2>/dev/null || umount -l "$tmp/home/.cache/doc" 2>/dev/null || true
  rm -rf "$tmp" 2>/dev/null || true
}
trap cleanup EXIT

# A hermetic user: its own config, data, HOME and git identity; one folder on a bare remote.
export SUPERSONIC_CONFIG_DIR="$tmp/config" SUPERSONIC_DATA_DIR="$tmp/data" HOME="$tmp/home"
export GIT_CONFIG_NOSYSTEM=1 SUPERSONIC_LOG=info
# The POSIX locale on purpose: WebKit then reports the language tag `C`, which Intl rejects;
# ui/src/lib/locale-guard.ts must keep the UI mounting (it once showed a blank window).
export LANG=C.UTF-8 LC_ALL=C.UTF-8
mkdir -p "$HOME" "$tmp/notes"
printf '[user]\n\tname = App Smoke\n\temail = app-smoke@example.invalid\n[init]\n\tdefaultBranch = main\n' \
  > "$HOME/.gitconfig"
git init -q --bare -b main "$tmp/remote.git"
target/debug/supersonic init "$tmp/notes" --remote "$tmp/remote.git" > "$out/app-init.txt" 2>&1 || {
  echo "app-smoke: supersonic init failed:"; cat "$out/app-init.txt"; exit 1; }

export APP_SMOKE_TMP="$tmp" APP_SMOKE_OUT="$out"
cat > "$tmp/session.sh" <<'EOF'
# Runs inside xvfb-run + dbus-run-session: one display and one session bus for this test only.
set -u
tmp=$APP_SMOKE_TMP out=$APP_SMOKE_OUT
pass() { echo "PASS $*" >> "$out/app-smoke.results"; }
fail() { echo "FAIL $*" >> "$out/app-smoke.results"; echo "app-smoke: FAIL $*"; }
# Polls `$@` every 0.2 s for at most $1 seconds.
wait_for() {
  local secs=$1; shift
  for _ in $(seq 1 $((secs * 5))); do "$@" && return 0; sleep 0.2; done
  "$@"
}
has_window() { xwininfo -root -tree 2>/dev/null | grep -q '"Supersonic Sync"'; }
on_remote() { git --git-dir "$tmp/remote.git" cat-file -e main:hello.txt 2>/dev/null; }
logged() { grep -q "$1" "$2"; }
gone() { ! kill -0 "$1" 2>/dev/null; }

# Every desktop notification sent on this session bus, to assert on (TESTING.md, Notifications).
dbus-monitor --session "interface='org.freedesktop.Notifications',member='Notify'" \
  > "$out/app-notify.log" 2>&1 & monitor=$!
printf '[global]\n[urgency_low]\ntimeout = 0\n[urgency_normal]\ntimeout = 0\n[urgency_critical]\ntimeout = 0\n' \
  > "$tmp/dunstrc"
command -v dunst > /dev/null && { dunst -config "$tmp/dunstrc" > /dev/null 2>&1 & }
target/debug/supersonic-sync > "$out/app.log" 2>&1 & app=$!

# 2. The main window shows the real UI.
if wait_for 30 has_window; then
  wait_for 30 logged "tray state:" "$out/app.log" || true
  sleep 3   # let WebKit load the UI and paint before the screenshot
  xwd -root -silent | /usr/bin/convert xwd:- "$out/app-window.png"
  # A mounted UI (sidebar, icons, text) has hundreds of colours; a blank page a handful.
  colours=$(/usr/bin/convert "$out/app-window.png" -format %k info: 2>/dev/null || echo 0)
  if [ "$colours" -gt 100 ]; then
    pass "the main window shows the UI ($colours colours; test-artifacts/app-window.png)"
  else
    fail "the main window is blank ($colours colours; test-artifacts/app-window.png)"
  fi
else
  fail "no Supersonic Sync window appeared"
fi

# 3. The app's engine syncs a new file to the bare remote.
echo "written while the app runs" > "$tmp/notes/hello.txt"
if wait_for 60 on_remote; then
  pass "a file written into the folder reaches the bare remote"
else
  fail "hello.txt did not reach the remote within 60 s"
fi

# 4. The tray follows the engine: a peer and this device change the same file, the engine keeps
#    both (the default strategy asks the user), and the tray turns to `conflict`.
git clone -q "$tmp/remote.git" "$tmp/peer" 2>/dev/null
echo "the peer's version" > "$tmp/peer/hello.txt"
git -C "$tmp/peer" commit -qam "peer edit" && git -C "$tmp/peer" push -q origin main 2>/dev/null
echo "this device's version" > "$tmp/notes/hello.txt"
if wait_for 90 logged "tray state: conflict" "$out/app.log"; then
  sleep 2
  xwd -root -silent | /usr/bin/convert xwd:- "$out/app-conflict.png"
  pass "the tray state follows the engine: a pending conflict turns it to conflict"
else
  fail "the tray did not turn to conflict within 90 s"
fi
if wait_for 20 logged "conflict in hello.txt" "$out/app-notify.log"; then
  pass "the conflict is announced by a native notification (test-artifacts/app-notify.log)"
else
  fail "no conflict notification on the session bus"
fi

# 6. Clicking the notification opens the page it is about. dunst keeps notifications on screen
#    here (timeout 0), and performs the default action of the top one: try each in turn.
clicked=no
for _ in 1 2 3 4 5; do
  [ "$(dunstctl count displayed 2>/dev/null || echo 0)" -ge 1 ] || break
  dunstctl action 0 2>/dev/null || true
  if wait_for 5 logged "a notification was clicked: opening conflicts" "$out/app.log"; then
    clicked=yes; break
  fi
  dunstctl close 2>/dev/null || true
done
if [ "$clicked" = yes ]; then
  sleep 2
  xwd -root -silent | /usr/bin/convert xwd:- "$out/app-notification-click.png"
  pass "clicking the conflict notification opens the Conflicts page (app-notification-click.png)"
else
  fail "a click on a notification did not open the Conflicts page (dunstctl: $(command -v dunstctl))"
fi

# 5. A second launch focuses the first and exits without starting an engine.
target/debug/supersonic-sync > "$out/app-second.log" 2>&1 & second=$!
if wait_for 20 gone "$second"; then
  wait "$second"; code=$?
  running=$(pgrep -P $$ -x supersonic-sync | wc -l)
  if [ "$code" = 0 ] && [ "$running" = 1 ] && kill -0 "$app" 2>/dev/null \
     && ! logged "started" "$out/app-second.log" \
     && wait_for 10 logged "a second launch asked for the window" "$out/app.log"; then
    pass "a second launch hands over to the first and exits (no second engine)"
  else
    fail "second launch: exit $code, $running app process(es); see test-artifacts/app-second.log"
  fi
else
  kill "$second" 2>/dev/null
  fail "the second launch was still running after 20 s"
fi

# 7. SIGTERM (what a logout sends): the pending edit is committed and the app exits with 0.
echo "written just before the logout" > "$tmp/notes/last-words.txt"
sleep 0.3   # the watcher has seen it; the batch is still waiting for its quiet period
kill -TERM "$app"
if wait_for 30 gone "$app"; then
  wait "$app"; code=$?
  if [ "$code" = 0 ] && logged "received SIGTERM" "$out/app.log" \
     && git -C "$tmp/notes" cat-file -e HEAD:last-words.txt 2>/dev/null; then
    pass "SIGTERM commits the pending edit and quits cleanly"
  else
    fail "SIGTERM: exit $code; last-words.txt committed: $(git -C "$tmp/notes" cat-file -e HEAD:last-words.txt 2>&1 && echo yes)"
  fi
else
  fail "the app was still running 30 s after SIGTERM"
  kill -9 "$app" 2>/dev/null
fi
# 8. Started at login (`--hidden`, what the autostart entry runs): engine and tray run, the
#    window stays hidden until opened from the tray.
target/debug/supersonic-sync --hidden > "$out/app-hidden.log" 2>&1 & hidden=$!
if wait_for 30 logged "tray state:" "$out/app-hidden.log"; then
  sleep 2
  state=$(xwininfo -name "Supersonic Sync" 2>/dev/null | awk '/Map State/ {print $3}')
  if logged "started hidden" "$out/app-hidden.log" && [ "$state" != "IsViewable" ]; then
    pass "--hidden (autostart) starts in the tray with the window hidden"
  else
    fail "--hidden: window map state '$state'; see test-artifacts/app-hidden.log"
  fi
else
  fail "--hidden: the app did not start its tray within 30 s"
fi
kill -TERM "$hidden" 2>/dev/null; wait "$hidden" 2>/dev/null
kill "$monitor" 2>/dev/null
true
EOF
xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- bash "$tmp/session.sh" || true

passed=$(grep -c '^PASS' "$out/app-smoke.results" || true)
failed=$(grep -c '^FAIL' "$out/app-smoke.results" || true)
sed 's/^/app-smoke: /' "$out/app-smoke.results"
if [ "$failed" != 0 ]; then echo "app-smoke: app log:"; tail -40 "$out/app.log"; fi
echo "app-smoke: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" = 9 ]
