// The one module that talks to the backend.
//
// Inside the desktop app (`window.__TAURI_INTERNALS__` exists) every call is a Tauri command and
// engine events arrive as the Tauri event `sync://event`. In a browser, calls go to the local HTTP
// API of `supersonic serve` with `Authorization: Bearer <token>`, and events come from the SSE
// stream `/api/events?token=...` (EventSource cannot set headers).
//
// The token reaches a browser in the URL fragment (`http://127.0.0.1:PORT/#token=...`, which
// the browser never sends to a server). `takeTokenFromUrl` moves it into sessionStorage, so it
// lasts for the tab's session and disappears from the address bar, history and screenshots.
//
// Every failure is an `ApiError` with a stable `code` (the backend's `{code, message}`, plus
// `network`, `bad_response` and `http_<status>` for failures that never reached the engine).
// Pages branch on `code`, never on `message`.

import type {
  AddFolderRequest,
  Autostart,
  BlobPayload,
  ConflictOutcome,
  CycleReport,
  DoctorReport,
  EffectiveConfig,
  EngineEvent,
  FolderConflict,
  FolderDevices,
  FolderQuarantine,
  FolderStatus,
  HeldOutcome,
  HistoryRow,
  HydrateRequest,
  IgnoreCheck,
  InitOutcome,
  Metrics,
  Operation,
  PauseOutcome,
  Resolution,
  SeedRequest,
  SettingsPatch,
  Side,
  UndoReport,
  WebhookTestResult,
} from "./types";

/** sessionStorage key holding the API token for this tab's session. */
export const TOKEN_KEY = "supersonic.token";

/** Path of the SSE stream of engine events. */
export const EVENTS_PATH = "/api/events";

/** The Tauri event that carries engine events inside the desktop app. */
export const IPC_EVENT = "sync://event";

/**
 * Every backend operation, with its Tauri command name and its HTTP route. The desktop shell
 * implements one command per entry, taking the same arguments as the HTTP request body/query.
 */
export const COMMANDS = {
  status: { ipc: "status", method: "GET", path: "/api/status" },
  metrics: { ipc: "metrics", method: "GET", path: "/api/sync/metrics" },
  addFolder: { ipc: "add_folder", method: "POST", path: "/api/folders" },
  hydrate: { ipc: "hydrate_folder", method: "POST", path: "/api/hydrate" },
  seed: { ipc: "seed_folder", method: "POST", path: "/api/seed" },
  syncNow: { ipc: "sync_now", method: "POST", path: "/api/folders/sync" },
  pause: { ipc: "pause_folder", method: "POST", path: "/api/folders/pause" },
  resume: { ipc: "resume_folder", method: "POST", path: "/api/folders/resume" },
  undoSync: { ipc: "undo_sync", method: "POST", path: "/api/folders/undo" },
  quarantine: { ipc: "get_quarantine", method: "GET", path: "/api/quarantine" },
  releaseHeld: { ipc: "release_held", method: "POST", path: "/api/quarantine/release" },
  ignoreHeld: { ipc: "ignore_held", method: "POST", path: "/api/quarantine/ignore" },
  conflicts: { ipc: "list_conflicts", method: "GET", path: "/api/conflicts" },
  conflict: { ipc: "get_conflict", method: "GET", path: "/api/conflicts/{id}" },
  conflictBlob: {
    ipc: "get_conflict_blob",
    method: "GET",
    path: "/api/conflicts/{id}/blob/{side}",
  },
  resolveConflict: { ipc: "resolve_conflict", method: "POST", path: "/api/conflicts/{id}/resolve" },
  undoConflict: { ipc: "undo_conflict", method: "POST", path: "/api/conflicts/{id}/undo" },
  config: { ipc: "get_config", method: "GET", path: "/api/config" },
  updateConfig: { ipc: "update_config", method: "PATCH", path: "/api/config" },
  history: { ipc: "history", method: "GET", path: "/api/history" },
  checkIgnore: { ipc: "check_ignore", method: "POST", path: "/api/check-ignore" },
  testWebhook: { ipc: "test_webhook", method: "POST", path: "/api/webhooks/test" },
  devices: { ipc: "get_devices", method: "GET", path: "/api/devices" },
  doctor: { ipc: "run_doctor", method: "GET", path: "/api/doctor" },
} as const;

export type Command = keyof typeof COMMANDS;

/** Error codes the UI acts on. Others are shown with their message. */
export const ErrorCode = {
  TokenMissing: "token_missing",
  TokenInvalid: "token_invalid",
  Network: "network",
  BadResponse: "bad_response",
  NotFound: "not_found",
  ConfigInvalid: "config_invalid",
  WorktreeChanged: "worktree_changed",
} as const;

/** A failed call: the backend's `{code, message}` (plus `key` for a config error at a field). */
export class ApiError extends Error {
  readonly code: string;
  /** HTTP status (0 when the server was not reached or inside the desktop app). */
  readonly status: number;
  /** The configuration key at fault, for `config_invalid`. */
  readonly key: string | undefined;

  constructor(code: string, message: string, status = 0, key?: string) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.key = key;
  }

  /** Whether the token is missing or wrong, so the user must open the printed link again. */
  get isAuth(): boolean {
    return this.code === ErrorCode.TokenMissing || this.code === ErrorCode.TokenInvalid;
  }
}

/** Returns an ApiError for anything thrown, keeping ApiErrors as they are. */
export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  if (isErrorBody(err)) return new ApiError(err.code, err.message ?? "", 0, err.key ?? undefined);
  if (typeof err === "string") return new ApiError("internal", err);
  if (err instanceof Error) return new ApiError("internal", err.message);
  return new ApiError("internal", String(err));
}

function isErrorBody(v: unknown): v is { code: string; message?: string; key?: string | null } {
  return typeof v === "object" && v !== null && typeof (v as { code?: unknown }).code === "string";
}

// ---------------------------------------------------------------------------------------------
// Token (browser only)

/**
 * Moves a `#token=...` from the address bar into sessionStorage and returns the token in use.
 *
 * The fragment may also carry a page (`#token=abc&/conflicts`); what is not the token stays.
 * Returns null when there is no token in the URL nor in this tab's session.
 */
export function takeTokenFromUrl(
  loc: Location = window.location,
  hist: History = window.history,
  storage: Storage = window.sessionStorage,
): string | null {
  const hash = loc.hash.replace(/^#/, "");
  const parts = hash.split("&");
  const tokenPart = parts.find((p) => p.startsWith("token="));
  if (tokenPart !== undefined) {
    const token = decodeURIComponent(tokenPart.slice("token=".length)).trim();
    if (token) storage.setItem(TOKEN_KEY, token);
    const rest = parts.filter((p) => p !== tokenPart).join("&");
    hist.replaceState(hist.state, "", loc.pathname + loc.search + (rest ? `#${rest}` : ""));
  }
  return storage.getItem(TOKEN_KEY);
}

/** Returns the token kept for this session, if any. */
export function currentToken(storage: Storage = window.sessionStorage): string | null {
  return storage.getItem(TOKEN_KEY);
}

/** Forgets the token (after the server refused it). */
export function forgetToken(storage: Storage = window.sessionStorage): void {
  storage.removeItem(TOKEN_KEY);
}

// ---------------------------------------------------------------------------------------------
// Transport

/** Returns whether the UI runs inside the desktop app. */
export function isDesktop(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

type Args = Record<string, unknown>;

interface Call {
  /** Values substituted into `{name}` in the path. */
  params?: Record<string, string>;
  /** Query string values (GET). */
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON body (POST/PATCH). */
  body?: unknown;
}

async function call<T>(command: Command, c: Call = {}): Promise<T> {
  if (isDesktop()) {
    const { invoke } = await import("@tauri-apps/api/core");
    const args: Args = { ...c.params, ...definedOnly(c.query ?? {}) };
    if (c.body !== undefined) args.request = c.body;
    try {
      return await invoke<T>(COMMANDS[command].ipc, args);
    } catch (err) {
      throw toApiError(err);
    }
  }
  return http<T>(command, c);
}

function definedOnly(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Builds the URL of an HTTP call (exported for tests). */
export function urlFor(command: Command, c: Call = {}): string {
  let path: string = COMMANDS[command].path;
  for (const [k, v] of Object.entries(c.params ?? {})) {
    path = path.replace(`{${k}}`, encodeURIComponent(v));
  }
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(c.query ?? {})) {
    if (v !== undefined) query.set(k, String(v));
  }
  const qs = query.toString();
  return qs ? `${path}?${qs}` : path;
}

/** Sends an HTTP call with the token; an answer that is not 2xx is thrown as an ApiError. */
async function send(command: Command, c: Call, accept: string): Promise<Response> {
  const token = currentToken();
  if (!token) {
    throw new ApiError(
      ErrorCode.TokenMissing,
      "No API token: open the link `supersonic serve` printed.",
      401,
    );
  }
  const headers: Record<string, string> = {
    Authorization: `Bearer ${token}`,
    Accept: accept,
  };
  const init: RequestInit = { method: COMMANDS[command].method, headers, cache: "no-store" };
  if (c.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(c.body);
  }
  let res: Response;
  try {
    res = await fetch(urlFor(command, c), init);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new ApiError(
      ErrorCode.Network,
      `Cannot reach Supersonic Sync (${why}). Is \`supersonic serve\` running?`,
    );
  }
  if (!res.ok) {
    const text = await res.text();
    const json = parseJson(text);
    if (isErrorBody(json)) {
      throw new ApiError(
        json.code,
        json.message ?? res.statusText,
        res.status,
        json.key ?? undefined,
      );
    }
    throw new ApiError(
      `http_${res.status}`,
      text.slice(0, 300) || res.statusText || `HTTP ${res.status}`,
      res.status,
    );
  }
  return res;
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

async function http<T>(command: Command, c: Call): Promise<T> {
  const res = await send(command, c, "application/json");
  const json = parseJson(await res.text());
  if (json === undefined) {
    throw new ApiError(
      ErrorCode.BadResponse,
      `The server answered ${COMMANDS[command].path} with something that is not JSON.`,
      res.status,
    );
  }
  return json as T;
}

// ---------------------------------------------------------------------------------------------
// Operations

/** Returns every folder's state. */
export function getStatus(): Promise<FolderStatus[]> {
  return call("status");
}

/** Returns the seed's metrics over the last `hours` (default 24), plus folders and conflicts. */
export function getMetrics(opts: { hours?: number; folder?: string } = {}): Promise<Metrics> {
  return call("metrics", { query: { hours: opts.hours, folder: opts.folder } });
}

/** Registers a folder (like `supersonic init`). */
export function addFolder(req: AddFolderRequest): Promise<InitOutcome> {
  return call("addFolder", { body: req });
}

/**
 * Starts restoring a folder from a remote into a new or empty folder; answers at once with the
 * operation, whose `progress` and `operation_finished` events follow on the event stream.
 */
export function hydrateFolder(req: HydrateRequest): Promise<Operation> {
  return call("hydrate", { body: req });
}

/** Starts pushing an existing folder into an empty remote; reports like `hydrateFolder`. */
export function seedFolder(req: SeedRequest): Promise<Operation> {
  return call("seed", { body: req });
}

/** Runs a sync cycle of `folder` now. */
export function syncNow(folder: string): Promise<CycleReport> {
  return call("syncNow", { body: { folder } });
}

/** Pauses `folder`. */
export function pauseFolder(folder: string): Promise<PauseOutcome> {
  return call("pause", { body: { folder } });
}

/** Resumes `folder`. */
export function resumeFolder(folder: string): Promise<PauseOutcome> {
  return call("resume", { body: { folder } });
}

/**
 * Takes back what the folder's last sync brought in, as a new commit (nothing is rewritten;
 * other devices receive the undo). Refused (`invalid_request`, `needs_user`) when there is nothing
 * to undo or a file changed again since.
 */
export function undoLastSync(folder: string): Promise<UndoReport> {
  return call("undoSync", { body: { folder } });
}

/** Returns, per folder, the files the secret guard holds back now. */
export function getQuarantine(opts: { folder?: string } = {}): Promise<FolderQuarantine[]> {
  return call("quarantine", { query: { folder: opts.folder } });
}

/**
 * Commits a held file after all (`path` relative to `folder`), then syncs: the file goes to the
 * remote and every device.
 */
export function releaseHeld(folder: string, path: string): Promise<HeldOutcome> {
  return call("releaseHeld", { body: { folder, path } });
}

/** Ignores a held file for good (a `.syncignore` rule every device gets), then syncs. */
export function ignoreHeld(folder: string, path: string): Promise<HeldOutcome> {
  return call("ignoreHeld", { body: { folder, path } });
}

/** Lists pending conflicts, and with `auto` the automatic resolutions that can be undone. */
export function getConflicts(
  opts: { folder?: string; auto?: boolean } = {},
): Promise<FolderConflict[]> {
  return call("conflicts", { query: { folder: opts.folder, auto: opts.auto ? true : undefined } });
}

/** Returns one conflict by id. */
export function getConflict(id: string): Promise<FolderConflict> {
  return call("conflict", { params: { id } });
}

/**
 * Returns one version of a conflicting file, typed by the backend (`image/png`, ...; never
 * sniffed), for a preview through `URL.createObjectURL`. HTTP answers the raw bytes; the desktop
 * app's IPC carries them as base64.
 */
export async function getConflictBlob(id: string, side: Side): Promise<Blob> {
  const c: Call = { params: { id, side } };
  if (isDesktop()) {
    const p = await call<BlobPayload>("conflictBlob", c);
    return new Blob([base64Bytes(p.base64)], { type: p.media_type });
  }
  return (await send("conflictBlob", c, "*/*")).blob();
}

function base64Bytes(b64: string): Uint8Array<ArrayBuffer> {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/** Applies the user's decision on a pending conflict. */
export function resolveConflict(id: string, resolution: Resolution): Promise<ConflictOutcome> {
  return call("resolveConflict", { params: { id }, body: resolution });
}

/** Undoes an automatic resolution. */
export function undoConflict(id: string): Promise<ConflictOutcome> {
  return call("undoConflict", { params: { id }, body: {} });
}

/** Returns the effective configuration (secrets redacted). */
export function getConfig(): Promise<EffectiveConfig> {
  return call("config");
}

/** Saves a settings change of one folder (or of the defaults without a folder). */
export function updateConfig(settings: SettingsPatch, folder?: string): Promise<EffectiveConfig> {
  return call("updateConfig", { body: folder ? { folder, settings } : { settings } });
}

/** Returns the newest history rows, newest first. */
export function getHistory(opts: { limit?: number; folder?: string } = {}): Promise<HistoryRow[]> {
  return call("history", { query: { limit: opts.limit, folder: opts.folder } });
}

/** Tells which paths the folder's ignore rules would ignore, and by which rule. */
export function checkIgnore(folder: string, paths: string[]): Promise<IgnoreCheck[]> {
  return call("checkIgnore", { body: { folder, paths } });
}

/** Sends a sample webhook for `event` to the folder's URLs (or to `url`). */
export function testWebhook(
  event: string,
  opts: { folder?: string; url?: string } = {},
): Promise<WebhookTestResult> {
  return call("testWebhook", { body: { event, ...definedOnly(opts) } });
}

/** Returns, per folder, every device its history shows, most recently active first. */
export function getDevices(opts: { folder?: string } = {}): Promise<FolderDevices[]> {
  return call("devices", { query: { folder: opts.folder } });
}

/**
 * Runs the setup checks (git, remote and credentials, file watching, disk, nesting) on every
 * folder or one. Each folder's remote is contacted, so the answer may take seconds.
 */
export function runDoctor(opts: { folder?: string } = {}): Promise<DoctorReport[]> {
  return call("doctor", { query: { folder: opts.folder } });
}

/** The desktop app's own commands: no HTTP route, as they are about the desktop they run on. */
export const DESKTOP_COMMANDS = {
  pickFolder: "pick_folder",
  getAutostart: "get_autostart",
  setAutostart: "set_autostart",
} as const;

/** Calls a desktop-only command; outside the app there is nothing to call. */
async function desktop<T>(name: string, args?: Args): Promise<T> {
  if (!isDesktop()) throw new ApiError("internal", `${name} exists in the desktop app only`);
  const { invoke } = await import("@tauri-apps/api/core");
  try {
    return await invoke<T>(name, args);
  } catch (err) {
    throw toApiError(err);
  }
}

/** Opens the desktop app's folder picker; returns the chosen path, or null when cancelled. */
export async function pickFolder(): Promise<string | null> {
  if (!isDesktop()) return null;
  return desktop<string | null>(DESKTOP_COMMANDS.pickFolder);
}

/** Returns whether the desktop app starts at login; null in a browser (a server has no login). */
export async function getAutostart(): Promise<Autostart | null> {
  if (!isDesktop()) return null;
  return desktop<Autostart>(DESKTOP_COMMANDS.getAutostart);
}

/** Makes the desktop app start at login, or no longer; returns the new state. */
export function setAutostart(enabled: boolean): Promise<Autostart> {
  return desktop<Autostart>(DESKTOP_COMMANDS.setAutostart, { request: { enabled } });
}

// ---------------------------------------------------------------------------------------------
// Events

/** The event kinds the SSE stream names (`event: <kind>`), besides `ready` and `lagged`. */
export const EVENT_KINDS = [
  "state",
  "sync_start",
  "committed",
  "sync_success",
  "sync_failure",
  "rate_limit_hit",
  "conflict_detected",
  "file_skipped",
  "warning",
  "stale",
  "progress",
  "operation_finished",
] as const;

/** Whether live events arrive. */
export type Connection = "connecting" | "live" | "down";

export interface EventHandlers {
  /** An engine event. */
  onEvent(event: EngineEvent): void;
  /** Events were missed (the client fell behind): refetch everything. */
  onLagged?(): void;
  /** The connection state changed. */
  onConnection?(state: Connection): void;
}

/** Subscribes to engine events; returns a function that unsubscribes. */
export function subscribe(h: EventHandlers): () => void {
  if (isDesktop()) return subscribeIpc(h);
  return subscribeSse(h);
}

function subscribeIpc(h: EventHandlers): () => void {
  let unlisten: (() => void) | null = null;
  let closed = false;
  h.onConnection?.("connecting");
  import("@tauri-apps/api/event")
    .then(({ listen }) => listen<EngineEvent>(IPC_EVENT, (e) => h.onEvent(e.payload)))
    .then((un) => {
      if (closed) un();
      else {
        unlisten = un;
        h.onConnection?.("live");
      }
    })
    .catch(() => h.onConnection?.("down"));
  return () => {
    closed = true;
    unlisten?.();
  };
}

function subscribeSse(h: EventHandlers): () => void {
  const token = currentToken();
  if (!token || typeof EventSource === "undefined") {
    h.onConnection?.("down");
    return () => {};
  }
  h.onConnection?.("connecting");
  const source = new EventSource(`${EVENTS_PATH}?token=${encodeURIComponent(token)}`);
  source.addEventListener("ready", () => h.onConnection?.("live"));
  source.addEventListener("lagged", () => h.onLagged?.());
  for (const kind of EVENT_KINDS) {
    source.addEventListener(kind, (e) => {
      const data = (e as MessageEvent<string>).data;
      try {
        h.onEvent(JSON.parse(data) as EngineEvent);
      } catch {
        // A malformed event is dropped; the periodic refresh catches up.
      }
    });
  }
  // EventSource reconnects by itself; until `ready` arrives again, callers fall back to polling.
  source.onerror = () => h.onConnection?.("down");
  return () => source.close();
}
