#!/usr/bin/env bash
# Installs everything `make run` and `make test` need on a fresh Debian 12 machine:
# Debian packages (WebKitGTK for the Tauri app, Xvfb and dunst for desktop tests, git), the
# UI's npm packages (`npm ci`), and builds the UI bundle. Idempotent and quick when all is there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential pkg-config git curl file ca-certificates
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
  libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  xvfb xauth x11-utils x11-apps imagemagick dbus dbus-x11 dunst libnotify-bin
  chromium fonts-dejavu-core webkit2gtk-driver
  nodejs npm
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  # node/npm may come from elsewhere (the machine's own Node.js); only install if absent.
  case "$pkg" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v cargo >/dev/null || { echo "setup: cargo not found; install Rust with rustup" >&2; exit 1; }

# tauri-driver: the WebDriver bridge (over Debian's WebKitWebDriver) that tests/app-e2e.mjs
# drives the desktop app through. Built from crates.io once; pinned.
if ! command -v tauri-driver >/dev/null; then
  echo "setup: cargo install tauri-driver"
  cargo install --locked --quiet --version 2.1.0 tauri-driver
fi

# sshd for the SSH-remote tests (a host key that changes): Debian's openssh-server extracted
# into target/sshd, never installed (no system service, nothing on port 22). The testkit runs
# it in a private mount namespace; without it those tests say SKIP.
if [ ! -x target/sshd/usr/sbin/sshd ]; then
  echo "setup: extracting sshd (openssh-server, libwrap0) into target/sshd"
  dest="$(pwd)/target/sshd"
  if ! (tmp="$(mktemp -d)" && cd "$tmp" && apt-get download openssh-server libwrap0 >/dev/null 2>&1 &&
      mkdir -p "$dest" && for deb in ./*.deb; do dpkg-deb -x "$deb" "$dest"; done && rm -rf "$tmp"); then
    echo "setup: could not fetch openssh-server; the SSH tests will say SKIP" >&2
  fi
fi

if [ ! -d ui/node_modules ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: npm ci (ui/)"
  (cd ui && npm ci --no-audit --no-fund)
fi
(cd ui && npm run --silent build)
