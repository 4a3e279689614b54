// What the two end-to-end journeys share: the browser journey (ui/tests/e2e.mjs, chromium
// against `supersonic serve`) and the desktop one (tests/app-e2e.mjs, the app through
// tauri-driver). Each drives its own surface; both need
//   - a journey of checks: each step passes or fails, a failure stops the later steps (they
//     depend on it) and counts them as failed, and the run ends with one `<name>: N passed,
//     M failed` line and a matching exit code;
//   - bounded waits (no sleeps: poll until the expected state, fail with what was awaited);
//   - a hermetic sandbox: a temp HOME with its own git identity and config, no system git
//     config, no prompts, quick engine timings, and one Supersonic config and data dir per
//     device, so nothing of the user's setup leaks in or out;
//   - test-artifacts/ for the screenshots a person looks at.
// Plain Node (no package), so both journeys can import it wherever their dependencies live.

import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** The repository's root. */
export const repoRoot = resolve(import.meta.dirname, "../..");

/** Where the journeys save their screenshots (created by `new Journey`). */
export const artifacts = join(repoRoot, "test-artifacts");

/** How often a wait polls: quick enough for a UI, light on a busy machine. */
const POLL_MS = 150;

/**
 * Engine timings for tests: commits shortly after an edit, retries after a second, no hourly
 * limit. Remote polling keeps its default, so a journey decides when to pull.
 */
const QUICK_ENGINE = {
  SUPERSONIC_DEBOUNCE_MS: "200",
  SUPERSONIC_BACKOFF_INITIAL_SEC: "1",
  SUPERSONIC_BACKOFF_MAX_SEC: "2",
  SUPERSONIC_MAX_PER_HOUR: "100000",
};

/** Variables of the caller's shell that would point git or XDG lookups outside the sandbox. */
const LEAKY_ENV = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "XDG_CONFIG_HOME",
  "XDG_DATA_HOME",
];

/** A run of checks that stops at the first failure, with its tally. */
export class Journey {
  passed = 0;
  failed = 0;
  stopped = false;

  /**
   * @param {object} options
   * @param {number} options.waitMs the default bound of `waitUntil`
   * @param {() => Promise<unknown>} [options.onFailure] records the state a failed check left
   *   (a screenshot); its own errors are ignored
   */
  constructor({ waitMs, onFailure }) {
    this.waitMs = waitMs;
    this.onFailure = onFailure;
    mkdirSync(artifacts, { recursive: true });
  }

  /** Runs one step; after a failure, later steps are skipped and counted as failed. */
  async check(name, fn) {
    if (this.stopped) {
      console.log(`  skip  ${name}`);
      this.failed++;
      return;
    }
    const t0 = Date.now();
    try {
      await fn();
      this.passed++;
      console.log(`  ok    ${name} (${Date.now() - t0} ms)`);
    } catch (err) {
      this.failed++;
      this.stopped = true; // a journey: later steps depend on earlier ones
      console.log(
        `  FAIL  ${name}\n        ${String(err?.stack ?? err)
          .split("\n")
          .join("\n        ")}`,
      );
      await this.onFailure?.().catch(() => {});
    }
  }

  /** Polls `fn` until it returns truthy; throws after `ms` with what was awaited. */
  async waitUntil(what, fn, ms = this.waitMs) {
    const end = Date.now() + ms;
    let last;
    for (;;) {
      try {
        if (await fn()) return;
      } catch (err) {
        last = err;
      }
      if (Date.now() > end)
        throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last}` : ""}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Prints the last line, `<name>: N passed, M failed`, and sets the exit code. */
  finish(name) {
    console.log(`${name}: ${this.passed} passed, ${this.failed} failed`);
    process.exitCode = this.failed ? 1 : 0;
  }
}

/** Throws `message` unless `cond` holds. */
export function assert(cond, message) {
  if (!cond) throw new Error(message);
}

/** Throws unless `actual` and `expected` are equal as JSON, saying `why` they should be. */
export function assertEq(actual, expected, why) {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) {
    throw new Error(
      `${why}\n  expected ${JSON.stringify(expected)}\n  actual   ${JSON.stringify(actual)}`,
    );
  }
}

/**
 * Returns a hermetic sandbox in a new temp dir: `home` with a `.gitconfig` naming `user`
 * (branch `main`, no signing, plus `gitconfig` sections), and `env`, the process environment
 * with HOME and git pointed there, prompts off, quick engine timings and `env` added.
 *
 * @param {object} options
 * @param {string} options.prefix the temp dir's name prefix
 * @param {{ name: string, email: string }} options.user the git identity
 * @param {string} [options.gitconfig] more `.gitconfig` sections
 * @param {Record<string, string>} [options.env] more variables for every process
 */
export function hermeticSandbox({ prefix, user, gitconfig = "", env = {} }) {
  const tmp = mkdtempSync(join(tmpdir(), prefix));
  const home = join(tmp, "home");
  mkdirSync(home, { recursive: true });
  writeFileSync(
    join(home, ".gitconfig"),
    `[user]\n\tname = ${user.name}\n\temail = ${user.email}\n[init]\n\tdefaultBranch = main\n` +
      `${gitconfig}[commit]\n\tgpgsign = false\n`,
  );
  const baseEnv = { ...process.env };
  for (const k of LEAKY_ENV) delete baseEnv[k];
  Object.assign(baseEnv, {
    HOME: home,
    GIT_CONFIG_GLOBAL: join(home, ".gitconfig"),
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_TERMINAL_PROMPT: "0",
    ...QUICK_ENGINE,
    ...env,
  });
  return {
    tmp,
    home,
    env: baseEnv,
    /** Runs git in `cwd`; returns its output, trimmed. */
    git(cwd, args) {
      return execFileSync("git", args, {
        cwd,
        env: baseEnv,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      }).trim();
    },
    /** Returns a device: its name and an environment with its own config and data dirs. */
    device(name, root = join(tmp, "devices", name)) {
      return {
        name,
        env: {
          ...baseEnv,
          SUPERSONIC_CONFIG_DIR: join(root, "config"),
          SUPERSONIC_DATA_DIR: join(root, "data"),
          SUPERSONIC_DEVICE_NAME: name,
        },
      };
    },
  };
}

/** Runs the CLI `bin` as `dev`; returns its output, or throws with what it printed. */
export function supersonic(bin, dev, args) {
  try {
    return execFileSync(bin, args, {
      env: dev.env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (err) {
    throw new Error(
      `supersonic ${args.join(" ")} (${dev.name}) failed: ${err.stderr}\n${err.stdout}`,
    );
  }
}
