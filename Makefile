# Supersonic Sync. The two set-up commands: `make run` and `make test` (both install what they
# need on a fresh Debian 12 machine). The sync-* targets are the seed's maintenance commands as
# thin aliases of the `supersonic` CLI.
SHELL := /bin/bash
CARGO ?= cargo
SUPERSONIC := target/debug/supersonic
# Where `make run` keeps its demo folder when nothing is configured yet.
DEMO_FOLDER ?= $(HOME)/Supersonic

.PHONY: setup build run run-headless run-desktop test test-rust test-ui test-app lint fmt bench \
        bench-app sync-config sync-status sync-now sync-check-ignore sync-stats sync-hourly \
        sync-throttle-status sync-clear-history sync-clear-throttle sync-conflicts \
        sync-test-webhook sync-dashboard soak scale fuzz-smoke audit

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

# Benchmarks print figures; they are not pass/fail and not part of `make test`. The harness
# (crates/supersonic-bench, issue 9) runs the release `supersonic` and git on fixtures of its own
# and prints one table, also written to target/bench/results.json. BENCH_SCALE=small (1k and 10k
# files, fewer runs: a few minutes) or full (the default, adds 100k files); BENCH_ONLY=1,3 runs
# the listed rows only. Without BENCH_ONLY the engine's history-query benchmark runs as well.
bench: setup
	$(CARGO) build --release -p supersonic-cli -p supersonic-bench
	target/release/supersonic-bench
	@if [ -z "$${BENCH_ONLY:-}" ]; then $(CARGO) bench -p supersonic-core --bench history; fi

# Row 7 of the harness, the desktop app: builds the release app and its .deb with the tauri CLI,
# then measures start to tray and idle memory under Xvfb with a session bus of its own, and the
# sizes of the UI bundle and the .deb. `-p supersonic-sync`: the app package is not a default
# workspace member. No beforeBuildCommand: the CLI runs it in ui/, where `npm --prefix ui` misses;
# `setup` has just built the UI.
bench-app: setup
	ui/node_modules/.bin/tauri build --bundles deb \
	  --config '{"build":{"beforeBuildCommand":null}}' -- -p supersonic-sync
	$(CARGO) build --release -p supersonic-cli -p supersonic-bench
	BENCH_ONLY=7 xvfb-run -a -s "-screen 0 1280x800x24" dbus-run-session -- \
	  target/release/supersonic-bench

# Three devices with running daemons, random edits, conflicts and faults (remote down, kill -9)
# for SOAK_SECS seconds (default 120; SOAK_SEED replays a run); prints operations, faults,
# conflicts, lost writes (must be 0) and divergence at the end (must be none).
soak: setup
	$(CARGO) build -p supersonic-cli
	$(CARGO) test -p supersonic-cli --test cli soak -- --ignored --nocapture

# Content at scale (not part of `make test`; about a minute, sparse 1 GB files): a 1 GB file over
# the size limit (held back, never read), one under a raised limit (committed whole), and a
# folder of 100k files synced completely; each prints its time and the daemon's peak RSS.
scale: setup
	$(CARGO) build -p supersonic-cli
	$(CARGO) test -p supersonic-cli --test cli scale -- --ignored --nocapture --test-threads=1

# Supply-chain checks (not part of `make test`). `cargo deny check bans licenses sources`
# (deny.toml: licences, wildcard and duplicate crates, crates.io only) needs no network once
# the crates are cached. RustSec advisories (cloned from github.com) and `npm audit` (npm's bulk
# advisory endpoint) need network access this machine does not have: each is then reported
# as SKIPPED with the reason, never as passed.
audit:
	@command -v cargo-deny >/dev/null || $(CARGO) install --locked cargo-deny
	$(CARGO) deny check bans licenses sources
	@if $(CARGO) deny fetch db >/dev/null 2>&1; then $(CARGO) deny check advisories; else \
	  echo "audit: SKIPPED cargo deny check advisories: the RustSec database cannot be fetched" \
	       "from github.com here; run it on a machine that reaches GitHub"; fi
	@out=$$(npm --prefix ui audit 2>&1); rc=$$?; echo "$$out"; \
	 if [ $$rc -ne 0 ] && grep -q "audit endpoint returned an error" <<<"$$out"; then \
	  echo "audit: SKIPPED npm audit: the registry refused the advisory request (HTTP 405 for" \
	       "POST /-/npm/v1/security/advisories/bulk here); run it where the npm registry answers it"; \
	 else exit $$rc; fi

# Fuzz targets (fuzz/, cargo-fuzz on the nightly toolchain): the config parser, the union
# merges, conflict copy names, webhook payloads, and the ignore matcher against
# `git check-ignore` (ignore_diff; each run spawns git), FUZZ_SECS (default 20) each. A crash
# leaves its input in fuzz/artifacts/; it becomes a regression test.
FUZZ_TARGETS := config_yaml union_merge conflict_names webhook_payload ignore_diff
fuzz-smoke:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz
	cd fuzz && for t in $(FUZZ_TARGETS); do \
	  cargo +nightly fuzz run $$t -- -max_total_time=$${FUZZ_SECS:-20} -rss_limit_mb=4096 || exit 1; done
