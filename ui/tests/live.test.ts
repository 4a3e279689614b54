import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EventHandlers } from "../src/lib/api";
import { COALESCE_MS, Live, REFRESH_MS } from "../src/lib/live.svelte";
import type { Metrics } from "../src/lib/types";

function metrics(n = 0): Metrics {
  return {
    stats: {
      total_syncs: n,
      successful_syncs: n,
      failed_syncs: 0,
      success_rate: n ? 100 : 0,
      avg_duration_sec: 0.5,
      total_files_changed: n,
      rate_limit_hits: 0,
      last_success: null,
      last_failure: null,
    },
    hourly: [],
    recent: [],
    throttle: [],
    folders: [
      {
        path: "/n",
        remote: "/r.git",
        branch: "main",
        mode: "two-way",
        state: "idle",
        running: true,
        pid: 1,
        head: null,
        unpushed_commits: 0,
        pending_changes: 0,
        last_sync: null,
        last_error: null,
        consecutive_failures: 0,
        next_retry: null,
      },
    ],
    conflicts: [],
  };
}

let handlers: EventHandlers;
let getMetrics: ReturnType<typeof vi.fn<() => Promise<Metrics>>>;

function makeLive() {
  getMetrics = vi.fn<() => Promise<Metrics>>().mockResolvedValue(metrics(1));
  return new Live({
    getMetrics,
    subscribe: (h) => {
      handlers = h;
      return () => {};
    },
  });
}

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe("the live store", () => {
  it("loads at start", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(live.metrics?.stats.total_syncs).toBe(1));
    expect(getMetrics).toHaveBeenCalledTimes(1);
    live.stop();
  });

  it("refreshes every 30 s while no event stream is live, and stops once it is", async () => {
    const live = makeLive();
    live.start();
    handlers.onConnection?.("down");
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 2);
    expect(getMetrics).toHaveBeenCalledTimes(3);
    handlers.onConnection?.("live");
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    const calls = getMetrics.mock.calls.length;
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 3);
    expect(getMetrics.mock.calls.length).toBe(calls);
    live.stop();
  });

  it("coalesces a burst of events into one refetch", async () => {
    const live = makeLive();
    live.start();
    handlers.onConnection?.("live");
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    getMetrics.mockClear();
    const before = live.revision;
    handlers.onEvent({ kind: "sync_start", folder: "/n", trigger: "changes" });
    handlers.onEvent({ kind: "committed", folder: "/n", commit: "abc", files_changed: 1 });
    handlers.onEvent({
      kind: "sync_success",
      folder: "/n",
      duration_sec: 0.2,
      files_changed: 1,
      commit: "abc",
      pulled: false,
      pushed: true,
    });
    expect(live.revision).toBe(before + 3);
    await vi.advanceTimersByTimeAsync(COALESCE_MS + 10);
    expect(getMetrics).toHaveBeenCalledTimes(1);
    live.stop();
  });

  it("shows a folder's new state before the refetch", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(live.metrics).not.toBeNull());
    handlers.onEvent({
      kind: "state",
      folder: "/n",
      state: {
        state: "error",
        message: "auth failed",
        code: "remote_needs_attention",
        class: "needs_attention",
      },
    });
    const f = live.folders[0];
    expect(f.state).toBe("error");
    expect(f.state === "error" && f.code).toBe("remote_needs_attention");
    handlers.onEvent({ kind: "state", folder: "/n", state: { state: "idle" } });
    expect(live.folders[0]).not.toHaveProperty("message");
    live.stop();
  });

  it("refetches everything after missing events", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(getMetrics).toHaveBeenCalledTimes(1));
    handlers.onLagged?.();
    await vi.waitFor(() => expect(getMetrics).toHaveBeenCalledTimes(2));
    live.stop();
  });

  it("keeps the last picture and reports the error when a refresh fails", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(live.metrics).not.toBeNull());
    getMetrics.mockRejectedValueOnce({ code: "network", message: "down" } as unknown as Error);
    await live.refresh();
    expect(live.error?.code).toBe("network");
    expect(live.metrics?.stats.total_syncs).toBe(1);
    live.stop();
  });
});
