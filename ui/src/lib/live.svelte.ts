// The live picture every page shares: folders, metrics, pending conflicts, the long operations
// under way and whether events arrive. One metrics call (`/api/sync/metrics`) carries the
// folders' status, the figures and the conflict summary; engine events trigger a refetch
// (coalesced), and when no event stream is live the picture is refreshed every REFRESH_MS
// instead. Progress events, which come several times a second during a long fetch or push, only
// update `progress`: they neither refetch nor enter the activity feed. A freshness alert
// (`stale`) shows on its folder at once, and goes at once when it clears, before the refetch.

import * as api from "./api";
import type { Connection } from "./api";
import type {
  EngineEvent,
  FolderState,
  Metrics,
  ProgressEvent,
  ProgressOp,
  StaleEvent,
} from "./types";

/** Refresh period without live events: the seed dashboard's 30 s auto-refresh. */
export const REFRESH_MS = 30_000;

/**
 * Delay between an event and the refetch it triggers: a sync emits several events within
 * milliseconds (start, committed, success, state), and one refetch should cover them all.
 */
export const COALESCE_MS = 300;

/** A long operation under way in a folder, from its latest `progress` event. */
export interface Progress {
  operation: ProgressOp;
  phase: string;
  done: number;
  /** Units in all, when known (the bar is determinate then). */
  total: number | null;
}

/** What the store needs from the outside world; tests pass fakes. */
export interface LiveDeps {
  getMetrics: () => Promise<Metrics>;
  subscribe: (h: api.EventHandlers) => () => void;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (id: unknown) => void;
  setInterval: (fn: () => void, ms: number) => unknown;
  clearInterval: (id: unknown) => void;
}

const defaultDeps: LiveDeps = {
  getMetrics: () => api.getMetrics(),
  subscribe: api.subscribe,
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (id) => globalThis.clearTimeout(id as number),
  setInterval: (fn, ms) => globalThis.setInterval(fn, ms),
  clearInterval: (id) => globalThis.clearInterval(id as number),
};

export class Live {
  metrics = $state<Metrics | null>(null);
  error = $state<api.ApiError | null>(null);
  connection = $state<Connection>("connecting");
  /** Time of the last successful refresh (ms since the epoch). */
  updatedAt = $state<number | null>(null);
  /** Bumped on every engine event that may change conflicts or history, for pages to refetch. */
  revision = $state(0);
  /** The long operation under way, by folder; absent when none is. */
  progress = $state<Record<string, Progress>>({});
  /** The newest engine events, newest first (for the activity feed). */
  events = $state<EngineEvent[]>([]);

  private deps: LiveDeps;
  private unsubscribe: (() => void) | null = null;
  private poll: unknown = null;
  private pending: unknown = null;
  private inflight: Promise<void> | null = null;
  private again = false;
  /** The message of each freshness alert raised while listening, by folder, then alert. */
  private alerts: Record<string, Record<string, string>> = {};

  constructor(deps: Partial<LiveDeps> = {}) {
    this.deps = { ...defaultDeps, ...deps };
  }

  get folders() {
    return this.metrics?.folders ?? [];
  }

  get conflictCount(): number {
    return this.metrics?.conflicts.length ?? 0;
  }

  /** Starts listening and loads the first picture. */
  start(): void {
    if (this.unsubscribe) return;
    this.unsubscribe = this.deps.subscribe({
      onEvent: (e) => this.onEvent(e),
      onLagged: () => this.refresh(),
      onConnection: (c) => this.onConnection(c),
    });
    this.setPolling(true);
    void this.refresh();
  }

  /** Stops listening and polling. */
  stop(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.setPolling(false);
    if (this.pending !== null) this.deps.clearTimeout(this.pending);
    this.pending = null;
  }

  /** Refetches now; concurrent calls share one request and one follow-up. */
  refresh(): Promise<void> {
    if (this.inflight) {
      this.again = true;
      return this.inflight;
    }
    this.inflight = (async () => {
      try {
        do {
          this.again = false;
          const m = await this.deps.getMetrics();
          this.metrics = m;
          this.error = null;
          this.updatedAt = Date.now();
        } while (this.again);
      } catch (err) {
        this.error = api.toApiError(err);
      } finally {
        this.inflight = null;
      }
    })();
    return this.inflight;
  }

  /** Schedules one refetch shortly, however many events ask for it. */
  soon(): void {
    if (this.pending !== null) return;
    this.pending = this.deps.setTimeout(() => {
      this.pending = null;
      void this.refresh();
    }, COALESCE_MS);
  }

  private onConnection(c: Connection): void {
    const wasLive = this.connection === "live";
    this.connection = c;
    this.setPolling(c !== "live");
    // Events may have been missed while the stream was down.
    if (c === "live" && !wasLive && this.updatedAt !== null) this.soon();
  }

  private setPolling(on: boolean): void {
    if (on && this.poll === null) {
      this.poll = this.deps.setInterval(() => void this.refresh(), REFRESH_MS);
    } else if (!on && this.poll !== null) {
      this.deps.clearInterval(this.poll);
      this.poll = null;
    }
  }

  private onEvent(e: EngineEvent): void {
    if (e.kind === "progress") {
      this.onProgress(e);
      return;
    }
    this.events = [e, ...this.events].slice(0, 100);
    if (e.kind === "state" && this.metrics) {
      // Show the new state at once; the refetch brings the figures that go with it.
      this.metrics.folders = this.metrics.folders.map((f) =>
        f.path === e.folder ? withState(f, e.state) : f,
      );
    }
    if (e.kind === "stale") this.onStale(e);
    // A cycle that ended ends its operations, even one whose last event was lost.
    if (e.kind === "sync_success" || e.kind === "sync_failure" || e.kind === "operation_finished") {
      this.clearProgress(e.folder);
    }
    this.revision++;
    this.soon();
  }

  private onStale(e: StaleEvent): void {
    const known = (this.alerts[e.folder] ??= {});
    const before = known[e.alert];
    if (e.cleared) delete known[e.alert];
    else known[e.alert] = e.message;
    if (!this.metrics) return;
    this.metrics.folders = this.metrics.folders.map((f) => {
      if (f.path !== e.folder) return f;
      // A cleared alert carries no message: drop the one it was raised with, when seen; a
      // raised one replaces its earlier words in place of adding a second line.
      let stale = f.stale ?? [];
      if (before !== undefined && (e.cleared || before !== e.message)) {
        stale = stale.filter((m) => m !== before);
      }
      if (!e.cleared && !stale.includes(e.message)) stale = [...stale, e.message];
      return { ...f, stale };
    });
  }

  private onProgress(e: ProgressEvent): void {
    if (e.finished) {
      this.clearProgress(e.folder);
      return;
    }
    const p: Progress = { operation: e.operation, phase: e.phase, done: e.done, total: e.total };
    this.progress = { ...this.progress, [e.folder]: p };
  }

  private clearProgress(folder: string): void {
    if (!(folder in this.progress)) return;
    const { [folder]: _ended, ...rest } = this.progress;
    this.progress = rest;
  }
}

/**
 * Returns how far `p` is, from 0 to 1, or null when its total is unknown (an indeterminate
 * bar). A total of 0 counts as done; `done` beyond the total is capped.
 */
export function fraction(p: Progress): number | null {
  if (p.total === null) return null;
  if (p.total <= 0) return 1;
  return Math.min(1, Math.max(0, p.done / p.total));
}

function withState<T extends FolderState>(folder: T & object, state: FolderState): T {
  // Drop the old state's fields (reason, message, code, class) before adding the new ones.
  const {
    reason: _r,
    message: _m,
    code: _c,
    class: _k,
    ...rest
  } = folder as Record<string, unknown>;
  return { ...rest, ...state } as unknown as T;
}

/** The store the app uses. */
export const live = new Live();
