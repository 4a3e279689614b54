import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import * as api from "../src/lib/api";
import { ApiError, TOKEN_KEY } from "../src/lib/api";

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/");
});

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
  delete (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__;
});

describe("token handling", () => {
  it("moves the token from the fragment into sessionStorage and out of the address bar", () => {
    history.replaceState(null, "", "/#token=s3cr3t");
    expect(api.takeTokenFromUrl()).toBe("s3cr3t");
    expect(sessionStorage.getItem(TOKEN_KEY)).toBe("s3cr3t");
    expect(location.href).not.toContain("s3cr3t");
    expect(location.hash).toBe("");
  });

  it("keeps the page named beside the token in the fragment", () => {
    history.replaceState(null, "", "/api/sync/dashboard#token=abc&/conflicts");
    expect(api.takeTokenFromUrl()).toBe("abc");
    expect(location.pathname).toBe("/api/sync/dashboard");
    expect(location.hash).toBe("#/conflicts");
  });

  it("uses the session's token when the URL has none", () => {
    sessionStorage.setItem(TOKEN_KEY, "kept");
    history.replaceState(null, "", "/#/status");
    expect(api.takeTokenFromUrl()).toBe("kept");
    expect(location.hash).toBe("#/status");
  });

  it("returns null without a token anywhere", () => {
    expect(api.takeTokenFromUrl()).toBeNull();
  });

  it("a newer token in the URL replaces the session's one", () => {
    sessionStorage.setItem(TOKEN_KEY, "old");
    history.replaceState(null, "", "/#token=new");
    expect(api.takeTokenFromUrl()).toBe("new");
  });

  it("forgets the token", () => {
    sessionStorage.setItem(TOKEN_KEY, "x");
    api.forgetToken();
    expect(api.currentToken()).toBeNull();
  });
});

describe("HTTP calls", () => {
  it("send the token as a Bearer header", async () => {
    sessionStorage.setItem(TOKEN_KEY, "tok");
    const fetch = vi.fn().mockResolvedValue(jsonResponse(200, []));
    vi.stubGlobal("fetch", fetch);
    await api.getStatus();
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/status");
    expect(init.method).toBe("GET");
    expect(init.headers.Authorization).toBe("Bearer tok");
    expect(init.body).toBeUndefined();
  });

  it("fail with token_missing and send nothing without a token", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    const err = await api.getStatus().catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("token_missing");
    expect(err.isAuth).toBe(true);
    expect(fetch).not.toHaveBeenCalled();
  });

  it("post JSON bodies to routes with encoded ids", async () => {
    sessionStorage.setItem(TOKEN_KEY, "tok");
    const fetch = vi.fn().mockResolvedValue(jsonResponse(200, { ok: 1 }));
    vi.stubGlobal("fetch", fetch);
    await api.resolveConflict("ab/c", { merged: "text\n" });
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/conflicts/ab%2Fc/resolve");
    expect(init.method).toBe("POST");
    expect(init.headers["Content-Type"]).toBe("application/json");
    expect(JSON.parse(init.body)).toEqual({ merged: "text\n" });
  });

  it("put defined query values in the URL only", () => {
    expect(api.urlFor("metrics", { query: { hours: 24, folder: undefined } })).toBe(
      "/api/sync/metrics?hours=24",
    );
    expect(api.urlFor("conflicts", { query: { folder: "/a b", auto: true } })).toBe(
      "/api/conflicts?folder=%2Fa+b&auto=true",
    );
  });

  it("send a settings patch with its folder", async () => {
    sessionStorage.setItem(TOKEN_KEY, "tok");
    const fetch = vi.fn().mockResolvedValue(jsonResponse(200, {}));
    vi.stubGlobal("fetch", fetch);
    await api.updateConfig({ sync: { interval_sec: 60 } }, "/n");
    const [, init] = fetch.mock.calls[0];
    expect(init.method).toBe("PATCH");
    expect(JSON.parse(init.body)).toEqual({
      folder: "/n",
      settings: { sync: { interval_sec: 60 } },
    });
  });
});

describe("devices and the setup check", () => {
  beforeEach(() => sessionStorage.setItem(TOKEN_KEY, "tok"));

  it("fetch every folder's devices, or one folder's", async () => {
    const answer = [{ folder: "/n", devices: [] }];
    const fetch = vi.fn().mockImplementation(async () => jsonResponse(200, answer));
    vi.stubGlobal("fetch", fetch);
    expect(await api.getDevices()).toEqual(answer);
    await api.getDevices({ folder: "/my notes" });
    expect(fetch.mock.calls.map(([url]) => url)).toEqual([
      "/api/devices",
      "/api/devices?folder=%2Fmy+notes",
    ]);
    expect(fetch.mock.calls[0][1].headers.Authorization).toBe("Bearer tok");
  });

  it("run the doctor with a GET, or for one folder", async () => {
    const report = {
      folder: "/n",
      remote: "https://me:***@host/r.git",
      findings: [{ check: "remote", level: "ok", message: "reachable", fix: "" }],
    };
    const fetch = vi.fn().mockImplementation(async () => jsonResponse(200, [report]));
    vi.stubGlobal("fetch", fetch);
    expect(await api.runDoctor()).toEqual([report]);
    await api.runDoctor({ folder: "/n" });
    expect(fetch.mock.calls.map(([url, init]) => [url, init.method])).toEqual([
      ["/api/doctor", "GET"],
      ["/api/doctor?folder=%2Fn", "GET"],
    ]);
  });

  it("report a folder that is not synced with the backend's code", async () => {
    vi.stubGlobal(
      "fetch",
      vi
        .fn()
        .mockResolvedValue(
          jsonResponse(400, { code: "invalid_request", message: "/x is not a synced folder" }),
        ),
    );
    const err: ApiError = await api.runDoctor({ folder: "/x" }).catch((e) => e);
    expect(err.code).toBe("invalid_request");
    expect(err.status).toBe(400);
  });
});

describe("conflict versions (image previews)", () => {
  const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3]);

  it("are fetched with the token and come back as a Blob of the served type", async () => {
    sessionStorage.setItem(TOKEN_KEY, "tok");
    const fetch = vi
      .fn()
      .mockResolvedValue(new Response(PNG, { headers: { "Content-Type": "image/png" } }));
    vi.stubGlobal("fetch", fetch);
    const blob = await api.getConflictBlob("ab/c", "remote");
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe("/api/conflicts/ab%2Fc/blob/remote");
    expect(init.method).toBe("GET");
    expect(init.headers.Authorization).toBe("Bearer tok");
    expect(blob.type).toBe("image/png");
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(PNG);
  });

  it("fail with the backend's code, not as a broken picture", async () => {
    sessionStorage.setItem(TOKEN_KEY, "tok");
    vi.stubGlobal(
      "fetch",
      vi
        .fn()
        .mockResolvedValue(
          jsonResponse(409, { code: "worktree_changed", message: "pics/cat.png changed" }),
        ),
    );
    const err: ApiError = await api.getConflictBlob("abc", "local").catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("worktree_changed");
    expect(err.status).toBe(409);
  });

  it("need a token like every call", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    const err: ApiError = await api.getConflictBlob("abc", "local").catch((e) => e);
    expect(err.code).toBe("token_missing");
    expect(fetch).not.toHaveBeenCalled();
  });

  it("arrive in base64 over IPC inside the desktop app, as the same Blob", async () => {
    const invoke = vi.fn().mockResolvedValue({
      name: "pics/cat.png",
      media_type: "image/png",
      size: PNG.length,
      base64: btoa(String.fromCharCode(...PNG)),
    });
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = { invoke };
    const blob = await api.getConflictBlob("abc", "local");
    expect(invoke.mock.calls[0][0]).toBe("get_conflict_blob");
    expect(invoke.mock.calls[0][1]).toEqual({ id: "abc", side: "local" });
    expect(blob.type).toBe("image/png");
    expect(new Uint8Array(await blob.arrayBuffer())).toEqual(PNG);
  });
});

describe("error mapping", () => {
  beforeEach(() => sessionStorage.setItem(TOKEN_KEY, "tok"));

  it("keeps the backend's code, message and status", async () => {
    vi.stubGlobal(
      "fetch",
      vi
        .fn()
        .mockResolvedValue(
          jsonResponse(403, { code: "token_invalid", message: "wrong API token" }),
        ),
    );
    const err: ApiError = await api.getStatus().catch((e) => e);
    expect(err.code).toBe("token_invalid");
    expect(err.message).toBe("wrong API token");
    expect(err.status).toBe(403);
    expect(err.isAuth).toBe(true);
  });

  it("keeps the key of a configuration error", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn().mockResolvedValue(
        jsonResponse(400, {
          code: "config_invalid",
          message: "must be greater than 0",
          key: "sync.interval_sec",
        }),
      ),
    );
    const err: ApiError = await api.updateConfig({ sync: { interval_sec: 0 } }).catch((e) => e);
    expect(err.code).toBe("config_invalid");
    expect(err.key).toBe("sync.interval_sec");
    expect(err.isAuth).toBe(false);
  });

  it("names a non-JSON error answer by its status", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response("Bad Gateway", { status: 502 })));
    const err: ApiError = await api.getStatus().catch((e) => e);
    expect(err.code).toBe("http_502");
    expect(err.message).toBe("Bad Gateway");
  });

  it("reports an unreachable server as network", async () => {
    vi.stubGlobal("fetch", vi.fn().mockRejectedValue(new TypeError("Failed to fetch")));
    const err: ApiError = await api.getStatus().catch((e) => e);
    expect(err.code).toBe("network");
    expect(err.message).toContain("Failed to fetch");
  });

  it("reports a successful answer that is not JSON as bad_response", async () => {
    vi.stubGlobal("fetch", vi.fn().mockResolvedValue(new Response("<html>", { status: 200 })));
    const err: ApiError = await api.getStatus().catch((e) => e);
    expect(err.code).toBe("bad_response");
  });

  it("turns anything thrown into an ApiError", () => {
    expect(api.toApiError({ code: "busy", message: "locked" }).code).toBe("busy");
    expect(api.toApiError("boom").code).toBe("internal");
    expect(api.toApiError(new Error("x")).message).toBe("x");
    const e = new ApiError("a", "b");
    expect(api.toApiError(e)).toBe(e);
  });
});

describe("events over SSE", () => {
  class FakeEventSource {
    static last: FakeEventSource;
    listeners: Record<string, ((e: MessageEvent) => void)[]> = {};
    onerror: (() => void) | null = null;
    closed = false;
    constructor(public url: string) {
      FakeEventSource.last = this;
    }
    addEventListener(type: string, fn: (e: MessageEvent) => void) {
      (this.listeners[type] ??= []).push(fn);
    }
    emit(type: string, data: string) {
      for (const fn of this.listeners[type] ?? []) fn(new MessageEvent(type, { data }));
    }
    close() {
      this.closed = true;
    }
  }

  it("opens the stream with the token in the query and delivers named events", () => {
    sessionStorage.setItem(TOKEN_KEY, "t k");
    vi.stubGlobal("EventSource", FakeEventSource);
    const onEvent = vi.fn();
    const onConnection = vi.fn();
    const onLagged = vi.fn();
    const stop = api.subscribe({ onEvent, onConnection, onLagged });
    const es = FakeEventSource.last;
    expect(es.url).toBe("/api/events?token=t%20k");
    expect(onConnection).toHaveBeenLastCalledWith("connecting");
    es.emit("ready", "{}");
    expect(onConnection).toHaveBeenLastCalledWith("live");
    es.emit(
      "sync_success",
      JSON.stringify({ kind: "sync_success", folder: "/n", files_changed: 2 }),
    );
    expect(onEvent).toHaveBeenCalledWith(
      expect.objectContaining({ kind: "sync_success", folder: "/n" }),
    );
    es.emit("lagged", '{"missed":3}');
    expect(onLagged).toHaveBeenCalled();
    es.onerror?.();
    expect(onConnection).toHaveBeenLastCalledWith("down");
    stop();
    expect(es.closed).toBe(true);
  });

  it("reports no stream without a token", () => {
    const onConnection = vi.fn();
    api.subscribe({ onEvent: () => {}, onConnection });
    expect(onConnection).toHaveBeenCalledWith("down");
  });
});

describe("inside the desktop app", () => {
  it("calls Tauri commands named after the HTTP routes, without a token", async () => {
    const invoke = vi.fn().mockResolvedValue({ folder: "/n", conflict: {} });
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = {
      invoke,
      transformCallback: () => 1,
    };
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    expect(api.isDesktop()).toBe(true);
    await api.getConflict("abc123");
    expect(invoke.mock.calls[0][0]).toBe("get_conflict");
    expect(invoke.mock.calls[0][1]).toEqual({ id: "abc123" });
    await api.resolveConflict("abc123", { take: "local" });
    expect(invoke.mock.calls[1][0]).toBe("resolve_conflict");
    expect(invoke.mock.calls[1][1]).toEqual({ id: "abc123", request: { take: "local" } });
    expect(fetch).not.toHaveBeenCalled();
  });

  it("maps a command's {code, message} rejection to an ApiError", async () => {
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = {
      invoke: vi.fn().mockRejectedValue({ code: "worktree_changed", message: "todo.md changed" }),
    };
    const err: ApiError = await api.syncNow("/n").catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("worktree_changed");
    expect(err.message).toBe("todo.md changed");
  });

  it("asks for devices and runs the doctor through their commands, with the folder named", async () => {
    const invoke = vi.fn().mockResolvedValue([]);
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = { invoke };
    await api.getDevices();
    await api.runDoctor({ folder: "/n" });
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ["get_devices", {}],
      ["run_doctor", { folder: "/n" }],
    ]);
  });

  it("reads and sets start-at-login through the desktop's own commands", async () => {
    const invoke = vi
      .fn()
      .mockResolvedValueOnce({
        enabled: false,
        file: "/h/.config/autostart/supersonic-sync.desktop",
      })
      .mockResolvedValueOnce({
        enabled: true,
        file: "/h/.config/autostart/supersonic-sync.desktop",
      });
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = { invoke };
    expect((await api.getAutostart())?.enabled).toBe(false);
    expect((await api.setAutostart(true)).enabled).toBe(true);
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ["get_autostart", {}],
      ["set_autostart", { request: { enabled: true } }],
    ]);
  });

  it("maps a failed autostart write to an ApiError with its code", async () => {
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = {
      invoke: vi.fn().mockRejectedValue({ code: "io_failed", message: "cannot write /h/x" }),
    };
    const err: ApiError = await api.setAutostart(true).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err.code).toBe("io_failed");
  });

  it("declares one command per operation, each with a distinct name", () => {
    const names = Object.values(api.COMMANDS).map((c) => c.ipc);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe("in a browser", () => {
  it("has no start-at-login: nothing is asked and setting it fails without a request", async () => {
    const fetch = vi.fn();
    vi.stubGlobal("fetch", fetch);
    expect(await api.getAutostart()).toBeNull();
    const err: ApiError = await api.setAutostart(true).catch((e) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(fetch).not.toHaveBeenCalled();
  });
});

describe("the quarantine and undoing a sync", () => {
  beforeEach(() => sessionStorage.setItem(TOKEN_KEY, "tok"));

  it("list held files, for every folder or one", async () => {
    const answer = [{ folder: "/n", held: [{ path: "id_rsa", reason: "named like a key" }] }];
    const fetch = vi.fn().mockImplementation(async () => jsonResponse(200, answer));
    vi.stubGlobal("fetch", fetch);
    expect(await api.getQuarantine()).toEqual(answer);
    await api.getQuarantine({ folder: "/my notes" });
    expect(fetch.mock.calls.map(([url, init]) => [url, init.method])).toEqual([
      ["/api/quarantine", "GET"],
      ["/api/quarantine?folder=%2Fmy+notes", "GET"],
    ]);
  });

  it("release and ignore a held file by folder and relative path", async () => {
    const fetch = vi.fn().mockImplementation(async () => jsonResponse(200, {}));
    vi.stubGlobal("fetch", fetch);
    await api.releaseHeld("/n", "keys/id_rsa");
    await api.ignoreHeld("/n", "keys/id_rsa");
    expect(
      fetch.mock.calls.map(([url, init]) => [url, init.method, JSON.parse(init.body)]),
    ).toEqual([
      ["/api/quarantine/release", "POST", { folder: "/n", path: "keys/id_rsa" }],
      ["/api/quarantine/ignore", "POST", { folder: "/n", path: "keys/id_rsa" }],
    ]);
  });

  it("undo the last sync of a folder, and report a refusal with the engine's words", async () => {
    const report = { folder: "/n", undone: { commit: "abc", files: 2 }, synced: "this_command" };
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(jsonResponse(200, report))
      .mockResolvedValueOnce(
        jsonResponse(400, {
          code: "invalid_request",
          message: "nothing to undo: the last sync's changes are gone",
        }),
      );
    vi.stubGlobal("fetch", fetch);
    expect(await api.undoLastSync("/n")).toEqual(report);
    const [url, init] = fetch.mock.calls[0];
    expect([url, init.method, JSON.parse(init.body)]).toEqual([
      "/api/folders/undo",
      "POST",
      { folder: "/n" },
    ]);
    const err: ApiError = await api.undoLastSync("/n").catch((e) => e);
    expect(err.code).toBe("invalid_request");
    expect(err.message).toContain("nothing to undo");
  });

  it("go through their commands inside the desktop app", async () => {
    const invoke = vi.fn().mockResolvedValue([]);
    (window as unknown as Record<string, unknown>).__TAURI_INTERNALS__ = { invoke };
    await api.getQuarantine({ folder: "/n" });
    await api.releaseHeld("/n", "id_rsa");
    await api.ignoreHeld("/n", "id_rsa");
    await api.undoLastSync("/n");
    expect(invoke.mock.calls.map((c) => [c[0], c[1]])).toEqual([
      ["get_quarantine", { folder: "/n" }],
      ["release_held", { request: { folder: "/n", path: "id_rsa" } }],
      ["ignore_held", { request: { folder: "/n", path: "id_rsa" } }],
      ["undo_sync", { request: { folder: "/n" } }],
    ]);
  });

  it("hear freshness alerts on the event stream", () => {
    expect(api.EVENT_KINDS).toContain("stale");
  });
});
