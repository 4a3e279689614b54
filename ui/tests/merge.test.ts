import { describe, expect, it } from "vitest";
import { choiceText, compose, hunks } from "../src/lib/merge";

const local = "title\n- oat milk\n- bread\nend\n";
const remote = "title\n- soy milk\n- bread\n- eggs\nend\n";

describe("hunks", () => {
  it("finds each stretch where the versions differ", () => {
    const hs = hunks(local, remote);
    expect(hs.map((h) => [h.local, h.remote])).toEqual([
      ["- oat milk\n", "- soy milk\n"],
      ["", "- eggs\n"],
    ]);
  });

  it("finds none in equal texts", () => {
    expect(hunks("a\nb\n", "a\nb\n")).toEqual([]);
  });
});

describe("compose", () => {
  it("equals the local text when every hunk takes mine", () => {
    const hs = hunks(local, remote);
    expect(compose(local, hs, ["local", "local"])).toBe(local);
  });

  it("equals the remote text when every hunk takes theirs", () => {
    const hs = hunks(local, remote);
    expect(compose(local, hs, ["remote", "remote"])).toBe(remote);
  });

  it("mixes choices per hunk", () => {
    const hs = hunks(local, remote);
    expect(compose(local, hs, ["both", "remote"])).toBe(
      "title\n- oat milk\n- soy milk\n- bread\n- eggs\nend\n",
    );
  });

  it("keeps CRLF line endings", () => {
    const l = "a\r\nb\r\n";
    const r = "a\r\nc\r\n";
    const hs = hunks(l, r);
    expect(compose(l, hs, ["remote"])).toBe(r);
  });

  it("separates both versions of a last line without a newline", () => {
    const hs = hunks("x\ny", "x\nz");
    expect(hs).toHaveLength(1);
    expect(choiceText(hs[0], "both")).toBe("y\nz");
    expect(compose("x\ny", hs, ["remote"])).toBe("x\nz");
  });
});
