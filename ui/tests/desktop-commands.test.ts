// The desktop app refuses a command at runtime unless it is registered in three places besides
// api.ts: the handler list (src-tauri/commands.rs), the app manifest (src-tauri/build.rs, which
// makes an `allow-<command>` permission) and the main window's capability, which grants it.
// Nothing but the running app would notice one missing, so the lists are compared here.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { COMMANDS, DESKTOP_COMMANDS } from "../src/lib/api";

const read = (path: string) =>
  readFileSync(`${import.meta.dirname}/../../src-tauri/${path}`, "utf8");
const handlerRs = read("commands.rs");
const buildRs = read("build.rs");
const capability = JSON.parse(read("capabilities/default.json")) as { permissions: string[] };

/** Every command the UI invokes. */
const used = [
  ...Object.values(COMMANDS).map((c) => c.ipc),
  ...Object.values(DESKTOP_COMMANDS),
].sort();

/** Returns the quoted names in a Rust `&[&str]` list or the names in `generate_handler![...]`. */
function listed(source: string, start: RegExp, names: RegExp): string[] {
  const m = start.exec(source);
  expect(m, `${start} is in the source`).not.toBeNull();
  const from = m!.index + m![0].length;
  const body = source.slice(from, source.indexOf("]", from));
  return [...body.matchAll(names)].map((m) => m[1]).sort();
}

describe("desktop commands", () => {
  it("are each registered as a handler in commands.rs", () => {
    expect(listed(handlerRs, /generate_handler!\[/, /^\s*(\w+),?\s*$/gm)).toEqual(used);
  });

  it("are each declared in the app manifest in build.rs", () => {
    expect(listed(buildRs, /const COMMANDS: &\[&str\] = &\[/, /"(\w+)"/g)).toEqual(used);
  });

  it("are each allowed by the main window's capability", () => {
    const allowed = capability.permissions
      .filter((p) => p.startsWith("allow-"))
      .map((p) => p.slice("allow-".length).replace(/-/g, "_"))
      .sort();
    expect(allowed).toEqual(used);
  });
});
