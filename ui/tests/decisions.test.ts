import { describe, expect, it } from "vitest";
import { heldOutcomeText, syncFailure, undoText } from "../src/lib/decisions";
import type { CycleReport } from "../src/lib/types";

const cycle = (pushed: boolean): CycleReport => ({
  commit: "abc",
  files_changed: 1,
  pulled: false,
  pushed,
  conflicts: [],
  throttled: null,
  remote_step: true,
});

describe("what a quarantine decision did", () => {
  it("says a released file was committed, and pushed when it was", () => {
    const out = { folder: "/n", path: "id_rsa", cycle: cycle(true), sync_error: null };
    expect(heldOutcomeText(out, "release")).toEqual({
      kind: "ok",
      text: "id_rsa released: committed and pushed",
    });
    expect(heldOutcomeText({ ...out, cycle: cycle(false) }, "release").text).toBe(
      "id_rsa released: committed",
    );
  });

  it("names the .syncignore rule of an ignored file", () => {
    const out = { folder: "/n", path: "a.pem", cycle: cycle(true), sync_error: null };
    expect(heldOutcomeText(out, "ignore")).toEqual({
      kind: "ok",
      text: "a.pem is ignored from now on (rule added to .syncignore)",
    });
  });

  it("tells a failed sync apart: the decision stands and is retried", () => {
    const out = {
      folder: "/n",
      path: "id_rsa",
      cycle: null,
      sync_error: { code: "remote_unreachable", message: "connection refused" },
    };
    const told = heldOutcomeText(out, "release");
    expect(told.kind).toBe("err");
    expect(told.text).toBe(
      "id_rsa released, but the sync failed (connection refused); it is retried.",
    );
  });
});

describe("what an undo did", () => {
  it("counts the restored files and says other devices follow", () => {
    const r = {
      folder: "/home/me/Notes",
      undone: { commit: "c", files: 1 },
      synced: "this_command" as const,
    };
    expect(undoText(r)).toEqual({
      kind: "ok",
      text: "Notes: last sync undone (1 file restored); other devices receive the undo",
    });
    expect(
      undoText({ ...r, synced: "running_engine", undone: { commit: "c", files: 3 } }).text,
    ).toContain("3 files restored");
  });

  it("reports a sync that failed after the undo", () => {
    const r = { folder: "/n", undone: { commit: "c", files: 2 }, synced: { failed: "offline" } };
    expect(undoText(r)).toEqual({
      kind: "err",
      text: "n: last sync undone (2 files restored), but the sync failed: offline",
    });
    expect(syncFailure("running_engine")).toBeNull();
  });
});
