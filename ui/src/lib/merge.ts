// The pure part of the conflict picker: where the two versions differ (hunks) and what the
// merged text is for a choice per hunk. Hunks come from @codemirror/merge's diff, so they match
// what the side-by-side view highlights. Positions are UTF-16 offsets into the strings as given
// (line endings untouched: a CRLF file stays CRLF).

import { Chunk } from "@codemirror/merge";
import { Text } from "@codemirror/state";

/** Which version a hunk takes in the merged result. */
export type Choice = "local" | "remote" | "both";

/** A stretch where the two versions differ. */
export interface Hunk {
  /** Offsets of the hunk in the local text (`toLocal` exclusive). */
  fromLocal: number;
  toLocal: number;
  /** Offsets of the hunk in the remote text. */
  fromRemote: number;
  toRemote: number;
  /** The local lines of the hunk (may be empty: an insertion on the remote side). */
  local: string;
  /** The remote lines of the hunk. */
  remote: string;
}

/** Returns a CodeMirror Text whose offsets equal the string's (only `\n` splits lines). */
export function textOf(s: string): Text {
  return Text.of(s.split("\n"));
}

/** Returns the hunks between `local` and `remote`, in order. */
export function hunks(local: string, remote: string): Hunk[] {
  const chunks = Chunk.build(textOf(local), textOf(remote));
  return chunks.map((c) => {
    const toLocal = Math.min(c.toA, local.length);
    const toRemote = Math.min(c.toB, remote.length);
    return {
      fromLocal: c.fromA,
      toLocal,
      fromRemote: c.fromB,
      toRemote,
      local: local.slice(c.fromA, toLocal),
      remote: remote.slice(c.fromB, toRemote),
    };
  });
}

/** Returns the text a hunk contributes for a choice. */
export function choiceText(h: Hunk, choice: Choice): string {
  switch (choice) {
    case "local":
      return h.local;
    case "remote":
      return h.remote;
    case "both": {
      if (!h.local) return h.remote;
      if (!h.remote) return h.local;
      const sep = h.local.endsWith("\n") ? "" : "\n";
      return h.local + sep + h.remote;
    }
  }
}

/** Returns the merged text: the local text with each hunk replaced by its choice. */
export function compose(local: string, hs: Hunk[], choices: Choice[]): string {
  let out = "";
  let at = 0;
  hs.forEach((h, i) => {
    out += local.slice(at, h.fromLocal) + choiceText(h, choices[i] ?? "local");
    at = h.toLocal;
  });
  return out + local.slice(at);
}
