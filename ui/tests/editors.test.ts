import { afterEach, describe, expect, it } from "vitest";
import { createResultEditor, type ResultEditor } from "../src/lib/editors";
import { compose, hunks } from "../src/lib/merge";

const local = "title\n- oat milk\n- bread\nend\n";
const remote = "title\n- soy milk\n- bread\n- eggs\nend\n";

let editor: ResultEditor | null = null;
let changes: string[] = [];

function open(): ResultEditor {
  const parent = document.createElement("div");
  document.body.append(parent);
  changes = [];
  editor = createResultEditor(parent, {
    local,
    hunks: hunks(local, remote),
    labels: { local: "alpha", remote: "beta" },
    onChange: (t) => changes.push(t),
  });
  return editor;
}

afterEach(() => {
  editor?.destroy();
  editor = null;
  document.body.innerHTML = "";
});

describe("the merged result editor", () => {
  it("starts as mine, with every change on mine", () => {
    const e = open();
    expect(e.text()).toBe(local);
    expect(e.choices()).toEqual(["local", "local"]);
  });

  it("applies a choice per change, like compose", () => {
    const e = open();
    e.choose(1, "remote");
    e.choose(0, "both");
    const hs = hunks(local, remote);
    expect(e.text()).toBe(compose(local, hs, ["both", "remote"]));
    expect(e.choices()).toEqual(["both", "remote"]);
    expect(changes.at(-1)).toBe(e.text());
  });

  it("keeps each change's place through edits elsewhere", () => {
    const e = open();
    e.view.dispatch({ changes: { from: 0, insert: "# " } });
    e.choose(0, "remote");
    expect(e.text()).toBe("# title\n- soy milk\n- bread\nend\n");
    e.choose(0, "local");
    expect(e.text()).toBe("# title\n- oat milk\n- bread\nend\n");
  });

  it("marks a change edited by hand, and a later choice replaces the edit", () => {
    const e = open();
    const at = e.text().indexOf("oat");
    e.view.dispatch({ changes: { from: at, to: at + 3, insert: "rice" } });
    expect(e.choices()[0]).toBe("edited");
    e.choose(0, "remote");
    expect(e.text()).toBe("title\n- soy milk\n- bread\nend\n");
  });

  it("offers buttons for each change that name the devices", () => {
    open();
    const buttons = [...document.querySelectorAll(".cm-hunk-btn")].map((b) => b.textContent);
    expect(buttons).toContain("Mine (alpha)");
    expect(buttons).toContain("Theirs (beta)");
    expect(document.querySelectorAll(".cm-hunk-bar")).toHaveLength(2);
  });

  it("sets every change at once", () => {
    const e = open();
    e.chooseAll("remote");
    expect(e.text()).toBe(remote);
  });
});
