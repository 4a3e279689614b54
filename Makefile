# Supersonic Sync. The two set-up commands: `make run` and `make test` (both install what they
# need on a fresh Debian 12 machine). The sync-* targets are the seed's maintenance commands as
# thin aliases of the `supersonic` CLI.
SHELL := /bin/bash
CARGO ?= cargo
SUPERSONIC := target/debug/supersonic
# Where `make run` keeps its demo folder when nothing is configured yet.
DEMO_FOLDER ?= $(HOME)/Supersonic

.PHONY: setup build run run-headless run-desktop test test-rust test-ui test-app lint fmt bench \
        sync-config sync-status sync-now sync-check-ignore sync-stats sync-hourly \
        sync-throttle-status sync-clear-history sync-clear-throttle sync-conflicts \
        sync-test-webhook sync-dashboard

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --workspace --all-targets

# Desktop app when there is a display, else the headless daemon on an embedded local remote.
run: setup
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then $(MAKE) --no-print-directory run-desktop; \
	 else $(MAKE) --no-print-directory run-headless; fi

run-desktop:
	$(CARGO) build -p supersonic-cli -p supersonic-sync
	@$(SUPERSONIC) status >/dev/null 2>&1 && [ -n "$$($(SUPERSONIC) status --json | grep '"path"')" ] || \
	  $(SUPERSONIC) init "$(DEMO_FOLDER)"
	$(CARGO) run -p supersonic-sync

run-headless:
	$(CARGO) build -p supersonic-cli
	@[ -n "$$($(SUPERSONIC) status --json 2>/dev/null | grep '"path"')" ] || \
	  $(SUPERSONIC) init "$(DEMO_FOLDER)"
	@echo "syncing; drop files into $(DEMO_FOLDER); open the dashboard link below (Ctrl-C stops)"
	$(SUPERSONIC) serve

test: setup lint test-rust test-ui test-app

test-rust:
	$(CARGO) build --workspace --all-targets
	$(CARGO) test --workspace --no-fail-fast 2>&1 | tee target/test-output.txt; exit $${PIPESTATUS[0]}

# The web UI: type check + format check, unit tests, then end-to-end in Debian's chromium against
# a real `supersonic serve` (needs target/debug/supersonic from test-rust).
test-ui:
	npm --prefix ui run check
	npm --prefix ui test
	node ui/tests/e2e.mjs

# The desktop app: a smoke test under Xvfb (window, tray state, notifications, single instance;
# the tauri CLI reads this layout), then the user's journey driven through tauri-driver.
test-app:
	tests/app-smoke.sh
	xvfb-run -a -s "-screen 0 1280x860x24" dbus-run-session -- node tests/app-e2e.mjs

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# --- the seed's maintenance targets ---------------------------------------------------------
sync-config:
	@$(SUPERSONIC) config
sync-status:
	@$(SUPERSONIC) status
sync-now:
	@$(SUPERSONIC) sync
sync-check-ignore:
	@$(SUPERSONIC) check-ignore $(PATHS)
sync-stats:
	@$(SUPERSONIC) stats
sync-hourly:
	@$(SUPERSONIC) hourly
sync-throttle-status:
	@$(SUPERSONIC) throttle status
sync-clear-history:
	@$(SUPERSONIC) history clear
sync-clear-throttle:
	@$(SUPERSONIC) throttle clear
sync-conflicts:
	@$(SUPERSONIC) conflicts list
sync-test-webhook:
	@$(SUPERSONIC) webhook test $(or $(EVENT),sync_success)
# Serves the dashboard and prints the URL to open (with its token).
sync-dashboard:
	@$(SUPERSONIC) serve

# Benchmarks print figures; they are not pass/fail and not part of `make test`.
bench: setup
	$(CARGO) bench -p supersonic-core --bench history
