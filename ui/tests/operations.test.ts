import { describe, expect, it } from "vitest";
import { ApiError, COMMANDS, EVENT_KINDS, type EventHandlers } from "../src/lib/api";
import {
  applyEvent,
  checkForm,
  fieldFor,
  fraction,
  hydrateRequest,
  runOperation,
  seedRequest,
  startView,
  type AddForm,
  type OperationDeps,
  type OperationView,
} from "../src/lib/operations";
import type { EngineEvent, Operation } from "../src/lib/types";

const op: Operation = { id: "abc", operation: "hydrate", folder: "/home/me/Notes" };

function form(over: Partial<AddForm> = {}): AddForm {
  return {
    path: "/home/me/Notes",
    remote: "git@host:me/notes.git",
    branch: "",
    mode: "two-way",
    ...over,
  };
}

function progress(
  done: number,
  total: number | null,
  over: Partial<EngineEvent> = {},
): EngineEvent {
  return {
    kind: "progress",
    folder: op.folder,
    operation: "hydrate",
    phase: "Receiving objects",
    done,
    total,
    finished: false,
    ...over,
  } as EngineEvent;
}

function finished(ok: boolean, over: Record<string, unknown> = {}): EngineEvent {
  return {
    kind: "operation_finished",
    folder: op.folder,
    id: op.id,
    operation: "hydrate",
    ok,
    error: ok ? null : "cannot reach the remote",
    code: ok ? null : "remote_unreachable",
    ...over,
  } as EngineEvent;
}

describe("an operation's view", () => {
  it("follows its own progress and ends with its own operation_finished", () => {
    let v = startView();
    v = applyEvent(v, op, progress(5, 20));
    expect([v.phase, v.done, v.total, fraction(v)]).toEqual(["Receiving objects", 5, 20, 0.25]);
    v = applyEvent(v, op, finished(true));
    expect(v.finished && v.ok).toBe(true);
    expect(fraction(v)).toBe(1);
  });

  it("ignores other folders, other operations and other ids", () => {
    const v = startView();
    expect(applyEvent(v, op, progress(5, 20, { folder: "/elsewhere" }))).toBe(v);
    expect(applyEvent(v, op, progress(5, 20, { operation: "push" }))).toBe(v);
    expect(applyEvent(v, op, finished(true, { id: "other" }))).toBe(v);
  });

  it("keeps a failure's message and code, and nothing changes it afterwards", () => {
    let v = applyEvent(startView(), op, finished(false));
    expect([v.ok, v.error, v.code]).toEqual([
      false,
      "cannot reach the remote",
      "remote_unreachable",
    ]);
    const after = applyEvent(v, op, progress(9, 10));
    expect(after).toBe(v);
  });

  it("is indeterminate while the total is unknown", () => {
    expect(fraction(applyEvent(startView(), op, progress(7, null)))).toBeNull();
  });
});

describe("the add folder form", () => {
  it("needs a folder, and for hydrate and seed an absolute one and a remote", () => {
    expect(checkForm("add", form({ path: " " }))?.field).toBe("path");
    expect(checkForm("add", form({ remote: "" }))).toBeNull();
    expect(checkForm("hydrate", form({ path: "Notes" }))?.field).toBe("path");
    expect(checkForm("seed", form({ remote: "  " }))?.field).toBe("remote");
    expect(checkForm("hydrate", form())).toBeNull();
  });

  it("builds trimmed requests that leave an empty branch out", () => {
    expect(hydrateRequest(form({ remote: " /r.git ", branch: " " }))).toEqual({
      url: "/r.git",
      path: "/home/me/Notes",
      mode: "two-way",
    });
    expect(seedRequest(form({ branch: "main" }))).toEqual({
      path: "/home/me/Notes",
      remote: "git@host:me/notes.git",
      branch: "main",
    });
  });

  it("shows an error at the field the backend names", () => {
    expect(fieldFor({ code: "bad_request", key: "url" })).toBe("remote");
    expect(fieldFor({ code: "bad_request", key: "remote" })).toBe("remote");
    expect(fieldFor({ code: "invalid_request", key: "path" })).toBe("path");
    expect(fieldFor({ code: "bad_request", key: "branch" })).toBe("branch");
    expect(fieldFor({ code: "remote_unreachable" })).toBe("remote");
    expect(fieldFor({ code: "busy" })).toBe("form");
    expect(fieldFor({ code: "invalid_request", key: "form" })).toBe("form");
  });
});

describe("running an operation", () => {
  /** Fake deps: a live event stream the test drives, and a start that answers `answer`. */
  function fakes(answer: () => Promise<Operation>, beforeAnswer: EngineEvent[] = []) {
    let handlers: EventHandlers | null = null;
    let unsubscribed = false;
    const deps: OperationDeps = {
      subscribe: (h) => {
        handlers = h;
        h.onConnection?.("live");
        return () => (unsubscribed = true);
      },
      start: async () => {
        for (const e of beforeAnswer) handlers!.onEvent(e);
        return answer();
      },
      sleep: () => new Promise(() => {}),
    };
    return {
      deps,
      emit: (e: EngineEvent) => handlers!.onEvent(e),
      unsubscribed: () => unsubscribed,
    };
  }

  it("subscribes before starting, replays early events and resolves on the end", async () => {
    const f = fakes(async () => op, [progress(3, 10)]);
    const seen: OperationView[] = [];
    const run = runOperation("hydrate", form(), (v) => seen.push(v), f.deps);
    await new Promise((r) => setTimeout(r, 0));
    f.emit(progress(8, 10));
    f.emit(finished(true));
    const end = await run;
    expect(end.ok).toBe(true);
    expect(seen.map((v) => v.done)).toEqual([0, 3, 8, 10]);
    expect(f.unsubscribed()).toBe(true);
  });

  it("rejects with the backend's error when the request is refused", async () => {
    const refused = new ApiError("bad_request", "choose a folder", 400, "path");
    const f = fakes(() => Promise.reject(refused));
    await expect(runOperation("seed", form(), () => {}, f.deps)).rejects.toMatchObject({
      code: "bad_request",
      key: "path",
    });
    expect(f.unsubscribed()).toBe(true);
  });
});

describe("the API", () => {
  it("routes hydrate and seed to their HTTP endpoints and IPC commands", () => {
    expect(COMMANDS.hydrate).toEqual({
      ipc: "hydrate_folder",
      method: "POST",
      path: "/api/hydrate",
    });
    expect(COMMANDS.seed).toEqual({ ipc: "seed_folder", method: "POST", path: "/api/seed" });
    expect(EVENT_KINDS).toContain("operation_finished");
  });
});
