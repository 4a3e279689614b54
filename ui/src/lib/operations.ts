// Hydrate and seed from the Add folder form: the request from the form's fields, the field an
// error belongs to, and following a background operation through the engine events until its
// `operation_finished`. The backend answers the request at once (202 with an operation id); the
// work's `progress` events name the operation's folder, and its end names its id.
//
// Events may arrive before the answer does (a fast failure, a small remote), so the runner
// subscribes first and replays what came before it knew the operation.

import * as api from "./api";
import type { ApiError } from "./api";
import type {
  EngineEvent,
  HydrateRequest,
  Mode,
  Operation,
  ProgressOp,
  SeedRequest,
} from "./types";

/** What the Add folder form does. */
export type AddKind = "add" | "hydrate" | "seed";

/** The form's fields, as typed. */
export interface AddForm {
  path: string;
  remote: string;
  branch: string;
  mode: Mode;
}

/** Where an operation stands, as the progress bar shows it. */
export interface OperationView {
  phase: string;
  done: number;
  /** Units in all, when known (the bar is determinate then). */
  total: number | null;
  finished: boolean;
  /** Whether it succeeded, once finished. */
  ok: boolean | null;
  error: string | null;
  code: string | null;
}

/** A form field an error can be shown at. */
export type Field = "path" | "remote" | "branch" | "form";

/** Returns the view of an operation that just started. */
export function startView(): OperationView {
  return {
    phase: "starting",
    done: 0,
    total: null,
    finished: false,
    ok: null,
    error: null,
    code: null,
  };
}

/** Returns `view` after `event`, when the event is about operation `op`. */
export function applyEvent(view: OperationView, op: Operation, event: EngineEvent): OperationView {
  if (view.finished) return view;
  if (event.kind === "progress" && event.folder === op.folder && event.operation === op.operation) {
    if (event.finished) return view; // the work is done; the outcome comes with its end
    return { ...view, phase: event.phase, done: event.done, total: event.total };
  }
  if (event.kind === "operation_finished" && event.id === op.id) {
    return {
      ...view,
      finished: true,
      ok: event.ok,
      error: event.error,
      code: event.code,
      phase: event.ok ? "done" : "failed",
      done: event.ok && view.total !== null ? view.total : view.done,
    };
  }
  return view;
}

/** Returns the share done (0..1) when the total is known, else null (an indeterminate bar). */
export function fraction(view: OperationView): number | null {
  if (view.finished && view.ok) return 1;
  if (view.total === null || view.total <= 0) return null;
  return Math.min(1, view.done / view.total);
}

/**
 * Returns the error of the form's fields that the browser can tell without asking the backend,
 * or null: a folder and a remote are needed, and the folder must be an absolute path.
 */
export function checkForm(kind: AddKind, form: AddForm): { field: Field; message: string } | null {
  const path = form.path.trim();
  if (!path) return { field: "path", message: "Choose a folder." };
  if (kind === "add") return null;
  if (!path.startsWith("/")) {
    return { field: "path", message: "Give the folder as an absolute path (/home/me/Notes)." };
  }
  if (!form.remote.trim()) {
    return {
      field: "remote",
      message:
        kind === "hydrate"
          ? "Enter the remote to restore from."
          : "Enter the empty remote to push the folder to.",
    };
  }
  return null;
}

/** Returns the hydrate request of the form's fields. */
export function hydrateRequest(form: AddForm): HydrateRequest {
  const req: HydrateRequest = { url: form.remote.trim(), path: form.path.trim(), mode: form.mode };
  if (form.branch.trim()) req.branch = form.branch.trim();
  return req;
}

/** Returns the seed request of the form's fields. */
export function seedRequest(form: AddForm): SeedRequest {
  const req: SeedRequest = { path: form.path.trim(), remote: form.remote.trim() };
  if (form.branch.trim()) req.branch = form.branch.trim();
  return req;
}

/**
 * Returns the form field an error belongs to: the backend names it in `key` for hydrate and
 * seed requests (`url` and `remote` are both the remote field; `form` is the whole form, as for
 * an operation that failed in the background); otherwise by code.
 */
export function fieldFor(err: { code: string; key?: string | undefined }): Field {
  switch (err.key) {
    case "path":
      return "path";
    case "url":
    case "remote":
      return "remote";
    case "branch":
      return "branch";
    case "form":
      return "form";
  }
  if (err.code.startsWith("remote_")) return "remote";
  if (err.code === "invalid_request" || err.code === "bad_request") return "path";
  return "form";
}

/** What [`runOperation`] needs from the outside world; tests pass fakes. */
export interface OperationDeps {
  start: (kind: "hydrate" | "seed", form: AddForm) => Promise<Operation>;
  subscribe: (h: api.EventHandlers) => () => void;
  /** Resolves after `ms`. */
  sleep: (ms: number) => Promise<void>;
}

/**
 * Longest wait for the event stream to connect before the request goes out anyway: events
 * sent before it connects would be missed, but a stream that does not come up must not block.
 */
export const CONNECT_WAIT_MS = 3_000;

const defaultDeps: OperationDeps = {
  start: (kind, form) =>
    kind === "hydrate"
      ? api.hydrateFolder(hydrateRequest(form))
      : api.seedFolder(seedRequest(form)),
  subscribe: api.subscribe,
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Starts a hydrate or seed and follows it: `onUpdate` gets each new view; the promise resolves
 * with the last one when the operation ends, or rejects with the request's ApiError when the
 * backend refused to start it.
 */
export async function runOperation(
  kind: "hydrate" | "seed",
  form: AddForm,
  onUpdate: (view: OperationView, op: Operation) => void,
  deps: OperationDeps = defaultDeps,
): Promise<OperationView> {
  let op: Operation | null = null;
  let view = startView();
  const early: EngineEvent[] = [];
  let finish: (v: OperationView) => void = () => {};
  const ended = new Promise<OperationView>((resolve) => (finish = resolve));
  const apply = (e: EngineEvent) => {
    if (!op) {
      early.push(e);
      return;
    }
    const next = applyEvent(view, op, e);
    if (next === view) return;
    view = next;
    onUpdate(view, op);
    if (view.finished) finish(view);
  };
  let connected: () => void = () => {};
  const connecting = new Promise<void>((resolve) => (connected = resolve));
  const unsubscribe = deps.subscribe({
    onEvent: apply,
    onConnection: (state) => {
      if (state !== "connecting") connected();
    },
  });
  try {
    await Promise.race([connecting, deps.sleep(CONNECT_WAIT_MS)]);
    op = await deps.start(kind, form);
    onUpdate(view, op);
    for (const e of early.splice(0)) apply(e);
    return await ended;
  } catch (err) {
    throw api.toApiError(err) as ApiError;
  } finally {
    unsubscribe();
  }
}

/** Returns the operation's name in words. */
export function operationName(op: ProgressOp): string {
  return op === "hydrate" ? "Restore" : op === "seed" ? "Seed" : op;
}
