// What a quarantine decision or an undo did, in the words a toast shows. The backend answers
// with what it did and whether the sync that followed worked; a failed sync does not take the
// decision back (it stands on disk, and the next cycle retries), so it is told apart.

import { baseName } from "./format";
import type { HeldOutcome, SyncedBy, UndoReport } from "./types";

/** A toast: its kind and text. */
export interface Told {
  kind: "ok" | "err";
  text: string;
}

/** What the user decided for a held file. */
export type HeldDecision = "release" | "ignore";

/** Returns what releasing or ignoring a held file did. */
export function heldOutcomeText(o: HeldOutcome, decision: HeldDecision): Told {
  const done = decision === "release" ? `${o.path} released` : `${o.path} is ignored from now on`;
  if (o.sync_error) {
    return {
      kind: "err",
      text: `${done}, but the sync failed (${o.sync_error.message}); it is retried.`,
    };
  }
  const c = o.cycle;
  if (decision === "release") {
    return { kind: "ok", text: c?.pushed ? `${done}: committed and pushed` : `${done}: committed` };
  }
  return { kind: "ok", text: `${done} (rule added to .syncignore)` };
}

/** Returns what undoing a folder's last sync did. */
export function undoText(r: UndoReport): Told {
  const files = `${r.undone.files} file${r.undone.files === 1 ? "" : "s"} restored`;
  const head = `${baseName(r.folder)}: last sync undone (${files})`;
  const failed = syncFailure(r.synced);
  if (failed !== null) return { kind: "err", text: `${head}, but the sync failed: ${failed}` };
  return { kind: "ok", text: `${head}; other devices receive the undo` };
}

/** Returns why a sync failed, or null when it ran (here or in the running engine). */
export function syncFailure(s: SyncedBy): string | null {
  return typeof s === "object" ? s.failed : null;
}
