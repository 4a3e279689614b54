// The JSON shapes the backend sends, mirrored from `supersonic_core` (api.rs, status.rs,
// conflicts.rs, history.rs, events.rs, config.rs, doctor.rs) and `supersonic-http`. Field names
// are the wire names: snake_case, exactly as serde writes them.

/** How the engine reacts to a failure (`FailureClass`). */
export type FailureClass = "transient" | "needs_attention";

/** A folder's state (`FolderState`, tagged by `state`). */
export type FolderState =
  | { state: "idle" }
  | { state: "syncing" }
  | { state: "paused" }
  | { state: "waiting"; reason: string }
  | { state: "error"; message: string; code: string; class: FailureClass };

export type StateName = FolderState["state"];

/** What `GET /api/status` says about one folder (`FolderStatus`, the state flattened in). */
export type FolderStatus = FolderState & {
  path: string;
  remote: string;
  branch: string;
  mode: Mode;
  running: boolean;
  pid: number | null;
  head: string | null;
  unpushed_commits: number;
  pending_changes: number;
  last_sync: string | null;
  last_error: string | null;
  consecutive_failures: number;
  next_retry: string | null;
  /** Files the secret guard holds back (not committed, not pushed) until the user decides. */
  held_back: HeldFile[];
  /** Freshness alerts that hold now, in words ("2 commit(s) have waited 3 h to be pushed"). */
  stale: string[];
  /** How big the repository has grown, as last measured (absent before the first measure). */
  growth?: RepoGrowth | null;
};

/**
 * How big a folder's repository is (`RepoGrowth`): the tracked files' size as the git index
 * records it, everything under `.git` (packs and loose objects split out), the commit count.
 */
export interface RepoGrowth {
  worktree_bytes: number;
  tracked_files: number;
  git_bytes: number;
  pack_bytes: number;
  loose_objects: number;
  loose_bytes: number;
  commits: number;
  /** When the figures were measured (RFC 3339). */
  measured_at: string;
  /** When `git gc` last ran on the folder. */
  last_gc: string | null;
}

/** `POST /api/hydrate`: restore a folder from a remote into a new or empty folder. */
export interface HydrateRequest {
  url: string;
  path: string;
  branch?: string;
  mode?: Mode;
}

/** `POST /api/seed`: push an existing folder into an empty remote. */
export interface SeedRequest {
  path: string;
  remote: string;
  branch?: string;
}

/** A long operation started in the background (`Operation`); its events name `folder`. */
export interface Operation {
  id: string;
  operation: ProgressOp;
  folder: string;
}

/** A file the secret guard holds back because it looks like a key or token (`HeldFile`). */
export interface HeldFile {
  /** Relative to the folder. */
  path: string;
  /** Why it looks like a secret, in words. */
  reason: string;
}

/** `GET /api/quarantine`: one folder's held files (`FolderQuarantine`). */
export interface FolderQuarantine {
  folder: string;
  held: HeldFile[];
}

/** The `{code, message}` of a failure carried inside a successful answer. */
export interface Failure {
  code: string;
  message: string;
  key?: string;
}

/** What releasing or ignoring a held file did (`HeldOutcome`). */
export interface HeldOutcome {
  folder: string;
  path: string;
  /** The sync that took the decision to the remote, when it ran. */
  cycle: CycleReport | null;
  /** Why that sync failed: the decision stands and the next cycle retries. */
  sync_error: Failure | null;
}

/** What undoing the last sync did (`UndoReport`). */
export interface UndoReport {
  folder: string;
  /** The new commit that reverses the last sync, and how many files it restored. */
  undone: { commit: string; files: number };
  synced: SyncedBy;
}

export type Mode = "two-way" | "push-only" | "pull-only";

/** The seed's `stats`. */
export interface Stats {
  total_syncs: number;
  successful_syncs: number;
  failed_syncs: number;
  success_rate: number;
  avg_duration_sec: number;
  total_files_changed: number;
  rate_limit_hits: number;
  last_success: string | null;
  last_failure: string | null;
}

/** The seed's `hourly` entries. */
export interface HourBucket {
  hour: string;
  total: number;
  successful: number;
  failed: number;
}

/** A history row (the seed's `recent` entries). */
export interface HistoryRow {
  id: number;
  folder: string;
  event_type: string;
  timestamp: string;
  duration_sec: number | null;
  files_changed: number | null;
  commit_hash: string | null;
  error_msg: string | null;
  reason: string | null;
  data: unknown;
}

/** One folder's throttle (the seed's `throttle`, per folder). */
export interface ThrottleStatus {
  folder: string;
  allowed: boolean;
  reason: string;
  syncs_last_hour: number;
  max_per_hour: number;
  backoff: { consecutive_failures: number; until: string } | null;
  next_allowed: string | null;
}

/** A pending conflict without its contents (in `/api/sync/metrics`). */
export interface ConflictSummary {
  folder: string;
  id: string;
  path: string;
  kind: string;
  strategy: string;
  copy: string | null;
}

/** `GET /api/sync/metrics`. */
export interface Metrics {
  stats: Stats;
  hourly: HourBucket[];
  recent: HistoryRow[];
  throttle: ThrottleStatus[];
  folders: FolderStatus[];
  conflicts: ConflictSummary[];
}

export type Strategy = "ask" | "newest" | "local" | "remote" | "union" | "markers" | "command";

/** One side of a conflict (`SideView`). */
export interface SideView {
  device: string;
  time: string | null;
  size: number;
  file: string | null;
  deleted: boolean;
  blob: string | null;
  text: string | null;
}

/** A conflict (`ConflictView`). `local` is always this device's version. */
export interface ConflictView {
  id: string;
  path: string;
  kind: string;
  status: "pending" | "auto";
  strategy: Strategy;
  rule: string;
  binary: boolean;
  copy: string | null;
  local: SideView;
  remote: SideView;
  base: string | null;
  commit: string | null;
  note: string | null;
}

/** Which version of a conflicting file (`Side`). */
export type Side = "local" | "remote";

/** A conflict version as the desktop app's IPC carries it (`BlobPayload`); HTTP sends raw bytes. */
export interface BlobPayload {
  name: string;
  media_type: string;
  size: number;
  base64: string;
}

/** A conflict with the folder it belongs to. */
export interface FolderConflict {
  folder: string;
  conflict: ConflictView;
}

/** What the user decides for a pending conflict. */
export type Resolution = { take: "local" | "remote" | "both" } | { merged: string };

/** How a decision reaches the remote (`SyncedBy`). */
export type SyncedBy = "this_command" | "running_engine" | { failed: string };

/** What a conflict action did (`ConflictOutcome`). */
export interface ConflictOutcome {
  folder: string;
  conflict: ConflictView;
  synced: SyncedBy;
}

/** What one sync cycle did (`CycleReport`). */
export interface CycleReport {
  commit: string | null;
  files_changed: number;
  pulled: boolean;
  pushed: boolean;
  conflicts: unknown[];
  throttled: string | null;
  remote_step: boolean;
}

/** What pause and resume did. */
export interface PauseOutcome {
  folder: string;
  paused: boolean;
  engine_told: boolean;
}

/** What adding a folder did (`InitOutcome`). */
export interface InitOutcome {
  path: string;
  remote: string;
  embedded_remote: boolean;
  branch: string;
  mode: Mode;
}

export interface AddFolderRequest {
  path: string;
  remote?: string;
  branch?: string;
  mode?: Mode;
}

export interface ConflictRule {
  pattern: string;
  strategy: Strategy;
  /** For `strategy: "command"`: the merge command's argv (`%O`, `%A`, `%B`, `%P`). */
  command?: string[];
}

export interface SyncSettings {
  interval_sec: number;
  max_per_hour: number;
  backoff_enabled: boolean;
  backoff_initial_sec: number;
  backoff_max_sec: number;
  debounce_ms: number;
  max_latency_ms: number;
  batch_cap: number;
  rescan_interval_sec: number;
  network_timeout_sec: number;
  max_file_size_mb: number;
  mass_delete_ratio: number;
  mass_delete_min_files: number;
  min_free_disk_mb: number;
  /** Hours between scheduled `git gc` runs (0 = no automatic gc at all). */
  gc_interval_hours: number;
}

export interface WebhookSettings {
  enabled: boolean;
  urls: string[];
  events: string[];
  timeout_sec: number;
  retries: number;
  secret: string | null;
  format: "auto" | "slack" | "discord" | "generic";
}

export interface NotificationSettings {
  enabled: boolean;
  failures: boolean;
  needs_attention: boolean;
  conflicts: boolean;
  recovery: boolean;
  failure_threshold: number;
  min_interval_sec: number;
}

/** A folder's resolved configuration (`FolderConfig`, settings flattened in). */
export interface FolderConfig {
  path: string;
  remote: string;
  branch: string;
  mode: Mode;
  paused: boolean;
  git: { user: string | null; email: string | null; sign?: boolean };
  sync: SyncSettings;
  exclude_patterns: string[];
  metrics: {
    history_max_entries: number;
    history_max_age_days: number;
    history_file: string | null;
  };
  webhooks: WebhookSettings;
  conflicts: {
    default: Strategy;
    rules: ConflictRule[];
    max_copies: number;
    command_timeout_sec: number;
  };
  notifications: NotificationSettings;
}

/** `GET /api/config`. */
export interface EffectiveConfig {
  config_file: string;
  data_dir: string;
  device: { id: string; name: string };
  folders: FolderConfig[];
}

/**
 * A JSON merge patch over the keys of `.supersonic-sync.conf`; for one folder it may also change
 * its `remote`, `branch` and `mode`.
 */
export type SettingsPatch = Partial<{
  [K in keyof FolderConfig]: unknown;
}>;

/** Outcome of check-ignore for one path. */
export interface IgnoreCheck {
  path: string;
  /** The rule that ignores it: where it is written (`.syncignore`, `exclude_patterns`, ...). */
  rule: { source: string; line: number; pattern: string } | null;
}

/** A webhook test result; shape owned by the backend, shown as it comes. */
export interface WebhookTestResult {
  [key: string]: unknown;
}

/** An engine event (`Event`, tagged by `kind`), as SSE and IPC deliver it. */
export type EngineEvent =
  | { kind: "state"; folder: string; state: FolderState }
  | { kind: "sync_start"; folder: string; trigger: string }
  | { kind: "committed"; folder: string; commit: string; files_changed: number }
  | {
      kind: "sync_success";
      folder: string;
      duration_sec: number;
      files_changed: number;
      commit: string | null;
      pulled: boolean;
      pushed: boolean;
    }
  | {
      kind: "sync_failure";
      folder: string;
      error: string;
      code: string;
      class: FailureClass;
      retry_in_sec: number | null;
    }
  | { kind: "rate_limit_hit"; folder: string; reason: string; retry_in_sec: number }
  | {
      kind: "conflict_detected";
      folder: string;
      path: string;
      copy: string | null;
      conflict_kind: string;
      strategy: string;
    }
  | { kind: "file_skipped"; folder: string; path: string; reason: string }
  | { kind: "warning"; folder: string; message: string }
  | StaleEvent
  | ProgressEvent
  | OperationFinishedEvent;

/** A background hydrate or seed ended (`Event::OperationFinished`). */
export interface OperationFinishedEvent {
  kind: "operation_finished";
  folder: string;
  id: string;
  operation: ProgressOp;
  ok: boolean;
  error: string | null;
  code: string | null;
}

/**
 * A freshness alert was raised or cleared (`Event::Stale`). `alert` names it (`unpushed`,
 * `remote_unreached`, `device_silent`); a cleared alert has an empty `message`.
 */
export interface StaleEvent {
  kind: "stale";
  folder: string;
  alert: string;
  message: string;
  cleared: boolean;
}

/** What long operation a progress event reports (`ProgressOp`). */
export type ProgressOp = "stage" | "fetch" | "push" | "hydrate" | "seed";

/** Long work under way (`Event::Progress`); the last one of an operation has `finished`. */
export interface ProgressEvent {
  kind: "progress";
  folder: string;
  operation: ProgressOp;
  /** The current phase in words ("staging", "Writing objects", ...). */
  phase: string;
  done: number;
  /** Units in all, when known. */
  total: number | null;
  finished: boolean;
}

/** A device one folder's history shows (`DeviceView`: `DeviceSeen` flattened in). */
export interface Device {
  /** Its stable id (`Sync-Device-Id`), null for commits made with git directly. */
  id: string | null;
  /** Its name in its latest commit (or the commit author). */
  name: string;
  commits: number;
  last_commit: string;
  first_commit: string;
  /** Whether its commits carry Supersonic's trailers (else: plain git). */
  via_supersonic: boolean;
  this_device: boolean;
  /**
   * When it last synced, as it recorded on the remote; null when it never did (plain git, older
   * versions). A device that only receives has this recent and `commits` may be 0.
   */
  last_sync?: string | null;
}

/** `GET /api/devices`: one folder's devices, most recently active first (`FolderDevices`). */
export interface FolderDevices {
  folder: string;
  devices: Device[];
}

/** How bad a doctor finding is (`doctor::Level`). */
export type Level = "ok" | "warning" | "error";

/** One check's outcome (`doctor::Finding`); `fix` is empty when all is well. */
export interface Finding {
  /** `git`, `remote`, `ssh_agent`, `ssh_key`, `host_key`, `inotify`, `disk`, `nesting`. */
  check: string;
  level: Level;
  message: string;
  fix: string;
}

/** `GET /api/doctor`: every finding about one folder (`doctor::Report`). */
export interface DoctorReport {
  folder: string;
  /** The remote, redacted. */
  remote: string;
  findings: Finding[];
}

/** The desktop app's start-at-login entry (`get_autostart`/`set_autostart`). */
export interface Autostart {
  enabled: boolean;
  /** The XDG autostart file, present or not. */
  file: string;
}
