// The editable part of a folder's settings and the patch that saves a draft of it. Pure, so the
// patch rules are unit-tested: only changed keys are sent (a JSON merge patch), lists are sent
// whole, and webhook URLs, which the backend only shows redacted, are sent only when replaced.
// The remote is shown redacted too (`https://me:***@host/...`): it is sent only when edited, and
// the backend takes its own redacted form back as "unchanged".

import type { ApiError } from "./api";
import type { FolderConfig, Mode, SettingsPatch } from "./types";

/** The keys of a patch that change where and how a folder syncs, not its settings layer. */
export const ENTRY_FIELDS = ["remote", "branch", "mode"] as const;

/** What the Settings form edits. */
export interface Draft {
  /** The remote URL or path, as shown (redacted). */
  remote: string;
  branch: string;
  mode: Mode;
  sync: FolderConfig["sync"];
  exclude_patterns: string;
  conflicts: FolderConfig["conflicts"];
  notifications: FolderConfig["notifications"];
  webhooks: Omit<FolderConfig["webhooks"], "urls" | "secret">;
  /** New webhook URLs, one per line; empty keeps the saved ones. */
  webhook_urls: string;
}

/**
 * Returns a draft of `f`: a deep copy (through JSON, which also works on Svelte's state
 * proxies, unlike structuredClone), so editing never touches the loaded config.
 */
export function draftOf(f: FolderConfig): Draft {
  const { urls: _urls, secret: _secret, ...hooks } = f.webhooks;
  return deepCopy({
    remote: f.remote,
    branch: f.branch,
    mode: f.mode,
    sync: f.sync,
    exclude_patterns: f.exclude_patterns.join("\n"),
    conflicts: f.conflicts,
    notifications: f.notifications,
    webhooks: hooks,
    webhook_urls: "",
  });
}

function deepCopy<T>(v: T): T {
  return JSON.parse(JSON.stringify(v)) as T;
}

/** Returns the lines of a textarea, trimmed, without blanks. */
export function lines(text: string): string[] {
  return text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

function changed<T extends object>(before: T, after: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(after) as (keyof T)[]) {
    if (JSON.stringify(before[k]) !== JSON.stringify(after[k])) out[k] = after[k];
  }
  return out;
}

/** Returns the merge patch that turns `f`'s settings into the draft's; empty when unchanged. */
export function patchFor(f: FolderConfig, d: Draft): SettingsPatch {
  const patch: SettingsPatch = {};
  const remote = d.remote.trim();
  if (remote !== f.remote) patch.remote = remote;
  const branch = d.branch.trim();
  if (branch !== f.branch) patch.branch = branch;
  if (d.mode !== f.mode) patch.mode = d.mode;
  const sync = changed(f.sync, d.sync);
  if (Object.keys(sync).length) patch.sync = sync;
  const excludes = lines(d.exclude_patterns);
  if (JSON.stringify(excludes) !== JSON.stringify(f.exclude_patterns)) {
    patch.exclude_patterns = excludes;
  }
  const conflicts = changed(f.conflicts, d.conflicts);
  if (Object.keys(conflicts).length) patch.conflicts = conflicts;
  const notifications = changed(f.notifications, d.notifications);
  if (Object.keys(notifications).length) patch.notifications = notifications;
  const { urls: _u, secret: _s, ...savedHooks } = f.webhooks;
  const hooks: Record<string, unknown> = changed(savedHooks, d.webhooks);
  const urls = lines(d.webhook_urls);
  if (urls.length) hooks.urls = urls;
  if (Object.keys(hooks).length) patch.webhooks = hooks;
  return patch;
}

/** Returns whether a backend error's `key` is about the field `field` (`sync.interval_sec`). */
export function keyMatches(errorKey: string | undefined, field: string): boolean {
  if (!errorKey) return false;
  const k = errorKey.replace(/^(defaults\.|folders\[\d+\]\.)/, "");
  return k === field || k.startsWith(`${field}.`) || k.startsWith(`${field}[`);
}

/**
 * Returns the field a failed save is about: the `key` of a `config_invalid`, or `remote` for
 * the failures of the reachability check a new remote gets (`remote_unreachable`,
 * `remote_needs_attention`, `remote_timeout`). Null when the error names no field.
 */
export function errorKey(err: Pick<ApiError, "code" | "key"> | null): string | null {
  if (!err) return null;
  if (err.key) return err.key;
  if (err.code.startsWith("remote_")) return "remote";
  return null;
}
