import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { EventHandlers } from "../src/lib/api";
import { COALESCE_MS, Live, REFRESH_MS, fraction } from "../src/lib/live.svelte";
import type { Metrics, ProgressEvent, StaleEvent } from "../src/lib/types";

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
        held_back: [],
        stale: [],
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

function progress(over: Partial<ProgressEvent> = {}): ProgressEvent {
  return {
    kind: "progress",
    folder: "/n",
    operation: "push",
    phase: "Writing objects",
    done: 3,
    total: 12,
    finished: false,
    ...over,
  };
}

describe("progress in the live store", () => {
  it("keeps each folder's latest progress until its last event", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(live.metrics).not.toBeNull());
    handlers.onEvent(progress({ done: 3 }));
    handlers.onEvent(progress({ folder: "/m", operation: "stage", phase: "staging", total: null }));
    handlers.onEvent(progress({ done: 9 }));
    expect(live.progress["/n"]).toEqual({
      operation: "push",
      phase: "Writing objects",
      done: 9,
      total: 12,
    });
    expect(live.progress["/m"]).toEqual({
      operation: "stage",
      phase: "staging",
      done: 3,
      total: null,
    });
    handlers.onEvent(progress({ done: 12, finished: true }));
    expect(live.progress).not.toHaveProperty("/n");
    expect(live.progress).toHaveProperty("/m");
    live.stop();
  });

  it("stays until `finished`, even with every unit done", async () => {
    const live = makeLive();
    live.start();
    handlers.onEvent(progress({ done: 12, total: 12 }));
    expect(live.progress["/n"]?.done).toBe(12);
    live.stop();
  });

  it("ends when the cycle ends, even if the last progress event was lost", async () => {
    const live = makeLive();
    live.start();
    handlers.onEvent(progress());
    handlers.onEvent({
      kind: "sync_failure",
      folder: "/n",
      error: "push failed",
      code: "remote_unreachable",
      class: "transient",
      retry_in_sec: 5,
    });
    expect(live.progress).toEqual({});
    live.stop();
  });

  it("neither refetches nor fills the activity feed", async () => {
    const live = makeLive();
    live.start();
    handlers.onConnection?.("live");
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    getMetrics.mockClear();
    const revision = live.revision;
    for (let i = 0; i < 50; i++) handlers.onEvent(progress({ done: i }));
    await vi.advanceTimersByTimeAsync(COALESCE_MS * 2);
    expect(getMetrics).not.toHaveBeenCalled();
    expect(live.revision).toBe(revision);
    expect(live.events).toEqual([]);
    live.stop();
  });

  it("is a fraction with a total and indeterminate without one", () => {
    const p = { operation: "fetch" as const, phase: "", done: 3, total: 12 };
    expect(fraction(p)).toBe(0.25);
    expect(fraction({ ...p, total: null })).toBeNull();
    expect(fraction({ ...p, done: 20 })).toBe(1);
    expect(fraction({ ...p, done: 0, total: 0 })).toBe(1);
  });
});

describe("freshness alerts in the live store", () => {
  const stale = (alert: string, message: string, cleared = false): StaleEvent => ({
    kind: "stale",
    folder: "/n",
    alert,
    message,
    cleared,
  });

  it("show on their folder at once, and the refetch follows", async () => {
    const live = makeLive();
    live.start();
    handlers.onConnection?.("live");
    await vi.waitFor(() => expect(live.metrics).not.toBeNull());
    await vi.advanceTimersByTimeAsync(COALESCE_MS);
    getMetrics.mockClear();
    handlers.onEvent(stale("unpushed", "2 commit(s) have waited 3 h to be pushed"));
    expect(live.folders[0].stale).toEqual(["2 commit(s) have waited 3 h to be pushed"]);
    expect(live.events[0].kind).toBe("stale");
    await vi.advanceTimersByTimeAsync(COALESCE_MS + 10);
    expect(getMetrics).toHaveBeenCalledTimes(1);
    live.stop();
  });

  it("go at once when cleared, leaving the folder's other alerts", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(live.metrics).not.toBeNull());
    handlers.onEvent(stale("unpushed", "1 commit(s) have waited 2 h to be pushed"));
    handlers.onEvent(stale("remote_unreached", "the remote has not been reached for 5 h"));
    handlers.onEvent(stale("unpushed", "1 commit(s) have waited 2 h to be pushed"));
    expect(live.folders[0].stale).toEqual([
      "1 commit(s) have waited 2 h to be pushed",
      "the remote has not been reached for 5 h",
    ]);
    handlers.onEvent(stale("unpushed", "", true));
    expect(live.folders[0].stale).toEqual(["the remote has not been reached for 5 h"]);
    live.stop();
  });

  it("leave other folders alone", async () => {
    const live = makeLive();
    live.start();
    await vi.waitFor(() => expect(live.metrics).not.toBeNull());
    handlers.onEvent({ ...stale("unpushed", "late"), folder: "/elsewhere" });
    expect(live.folders[0].stale).toEqual([]);
    live.stop();
  });
});
