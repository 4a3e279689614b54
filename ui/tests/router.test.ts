import { describe, expect, it } from "vitest";
import { pageFor, sectionFor } from "../src/lib/router.svelte";

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

describe("sections", () => {
  it("are read after the page's name", () => {
    expect(pageFor("#/settings/doctor", "/")).toBe("settings");
    expect(sectionFor("#/settings/doctor")).toBe("doctor");
    expect(sectionFor("#/settings/doctor?x=1")).toBe("doctor");
  });

  it("are absent from a bare page", () => {
    expect(sectionFor("#/settings")).toBeNull();
    expect(sectionFor("#/settings/")).toBeNull();
    expect(sectionFor("")).toBeNull();
  });

  it("include the Devices page", () => {
    expect(pageFor("#/devices", "/")).toBe("devices");
  });
});
