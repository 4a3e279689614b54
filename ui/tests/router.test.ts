import { describe, expect, it } from "vitest";
import { pageFor } from "../src/lib/router.svelte";

describe("routes", () => {
  it("read the page from the fragment", () => {
    expect(pageFor("#/conflicts", "/")).toBe("conflicts");
    expect(pageFor("#/history?x=1", "/")).toBe("history");
  });

  it("open the dashboard at the seed's dashboard URL", () => {
    expect(pageFor("", "/api/sync/dashboard")).toBe("dashboard");
  });

  it("fall back to Status", () => {
    expect(pageFor("#/nope", "/")).toBe("status");
    expect(pageFor("", "/")).toBe("status");
  });
});
