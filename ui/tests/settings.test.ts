import { describe, expect, it } from "vitest";
import { draftOf, errorKey, keyMatches, patchFor } from "../src/lib/settings";
import type { FolderConfig } from "../src/lib/types";

const folder: FolderConfig = {
  path: "/n",
  remote: "/r.git",
  branch: "main",
  mode: "two-way",
  paused: false,
  git: { user: null, email: null },
  sync: {
    interval_sec: 300,
    max_per_hour: 20,
    backoff_enabled: true,
    backoff_initial_sec: 60,
    backoff_max_sec: 3600,
    debounce_ms: 500,
    max_latency_ms: 10000,
    batch_cap: 1000,
    rescan_interval_sec: 3600,
    network_timeout_sec: 60,
    max_file_size_mb: 100,
    mass_delete_ratio: 0.5,
    mass_delete_min_files: 50,
    min_free_disk_mb: 100,
    gc_interval_hours: 24,
  },
  exclude_patterns: ["build/"],
  metrics: { history_max_entries: 1000, history_max_age_days: 90, history_file: null },
  webhooks: {
    enabled: false,
    urls: ["https://hooks.slack.com/services/***"],
    events: [],
    timeout_sec: 10,
    retries: 3,
    secret: "***",
    format: "auto",
  },
  conflicts: { default: "ask", rules: [], max_copies: 5, command_timeout_sec: 10 },
  notifications: {
    enabled: true,
    failures: true,
    needs_attention: true,
    conflicts: true,
    recovery: true,
    failure_threshold: 3,
    min_interval_sec: 600,
  },
};

describe("settings patch", () => {
  it("is empty for an untouched draft", () => {
    expect(patchFor(folder, draftOf(folder))).toEqual({});
  });

  it("holds only the changed keys", () => {
    const d = draftOf(folder);
    d.sync.interval_sec = 60;
    d.notifications.recovery = false;
    expect(patchFor(folder, d)).toEqual({
      sync: { interval_sec: 60 },
      notifications: { recovery: false },
    });
  });

  it("sends lists whole and never the redacted webhook URLs", () => {
    const d = draftOf(folder);
    d.exclude_patterns = "build/\n  *.log \n\n";
    d.conflicts.rules.push({ pattern: "*.json", strategy: "union" });
    d.webhooks.enabled = true;
    expect(patchFor(folder, d)).toEqual({
      exclude_patterns: ["build/", "*.log"],
      conflicts: { rules: [{ pattern: "*.json", strategy: "union" }] },
      webhooks: { enabled: true },
    });
    d.webhook_urls = "https://example.com/hook\n";
    expect(patchFor(folder, d).webhooks).toEqual({
      enabled: true,
      urls: ["https://example.com/hook"],
    });
  });

  it("changes where and how the folder syncs, trimmed, next to its settings", () => {
    const d = draftOf(folder);
    d.remote = "  https://git.example.com/me/notes.git ";
    d.branch = " notes";
    d.mode = "push-only";
    d.sync.interval_sec = 60;
    expect(patchFor(folder, d)).toEqual({
      remote: "https://git.example.com/me/notes.git",
      branch: "notes",
      mode: "push-only",
      sync: { interval_sec: 60 },
    });
  });

  it("never sends back a redacted remote the user did not edit", () => {
    const secret: FolderConfig = { ...folder, remote: "https://me:***@git.example.com/n.git" };
    const d = draftOf(secret);
    expect(d.remote).toBe("https://me:***@git.example.com/n.git");
    d.mode = "pull-only";
    expect(patchFor(secret, d)).toEqual({ mode: "pull-only" });
    d.remote = "https://me:***@git.example.com/n.git ";
    expect(patchFor(secret, d)).not.toHaveProperty("remote");
  });

  it("never edits the loaded config", () => {
    const d = draftOf(folder);
    d.sync.max_per_hour = 1;
    expect(folder.sync.max_per_hour).toBe(20);
  });
});

describe("error keys", () => {
  it("match the field they name", () => {
    expect(keyMatches("sync.interval_sec", "sync.interval_sec")).toBe(true);
    expect(keyMatches("folders[2].sync.interval_sec", "sync.interval_sec")).toBe(true);
    expect(keyMatches("defaults.sync.interval_sec", "sync")).toBe(true);
    expect(keyMatches("exclude_patterns[3]", "exclude_patterns")).toBe(true);
    expect(keyMatches("conflicts.rules[0].strategy", "conflicts.rules[0]")).toBe(true);
    expect(keyMatches("sync.interval_sec", "sync.debounce_ms")).toBe(false);
    expect(keyMatches(undefined, "sync")).toBe(false);
  });
});

describe("the field of a failed save", () => {
  it("is the key of a configuration error", () => {
    expect(errorKey({ code: "config_invalid", key: "branch" })).toBe("branch");
    expect(errorKey({ code: "config_invalid", key: "sync.interval_sec" })).toBe(
      "sync.interval_sec",
    );
  });

  it("is the remote when the new remote does not answer", () => {
    for (const code of ["remote_unreachable", "remote_needs_attention", "remote_timeout"]) {
      expect(errorKey({ code, key: undefined })).toBe("remote");
    }
  });

  it("is none for other errors", () => {
    expect(errorKey({ code: "invalid_request", key: undefined })).toBeNull();
    expect(errorKey(null)).toBeNull();
  });
});
