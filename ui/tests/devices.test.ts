import { describe, expect, it } from "vitest";
import { STALE_AFTER_MS, deviceCounts, deviceKey, isStale } from "../src/lib/devices";
import type { Device, FolderDevices } from "../src/lib/types";

const now = Date.parse("2026-11-22T12:00:00Z");
const DAY = 86_400_000;

function device(over: Partial<Device>): Device {
  return {
    id: "d-1",
    name: "laptop",
    commits: 3,
    last_commit: new Date(now - DAY).toISOString(),
    first_commit: new Date(now - 30 * DAY).toISOString(),
    via_supersonic: true,
    this_device: false,
    ...over,
  };
}

describe("stale devices", () => {
  it("are those whose latest change is older than a week", () => {
    expect(STALE_AFTER_MS).toBe(7 * DAY);
    const at = (ago: number) => device({ last_commit: new Date(now - ago).toISOString() });
    expect(isStale(at(DAY), now)).toBe(false);
    expect(isStale(at(7 * DAY), now)).toBe(false);
    expect(isStale(at(7 * DAY + 1000), now)).toBe(true);
  });

  it("never include this device, which is running right now", () => {
    const quiet = device({
      this_device: true,
      last_commit: new Date(now - 90 * DAY).toISOString(),
    });
    expect(isStale(quiet, now)).toBe(false);
  });

  it("do not include a device whose time cannot be read", () => {
    expect(isStale(device({ last_commit: "garbage" }), now)).toBe(false);
  });

  it("are not those that only receive but synced recently", () => {
    const old = new Date(now - 90 * DAY).toISOString();
    const receiver = device({
      commits: 0,
      last_commit: old,
      last_sync: new Date(now - DAY).toISOString(),
    });
    expect(isStale(receiver, now)).toBe(false);
    expect(isStale({ ...receiver, last_sync: old }, now)).toBe(true);
    expect(isStale({ ...receiver, last_sync: null }, now)).toBe(true);
  });
});

describe("devices across folders", () => {
  it("are the same device by id, or for plain git by author name", () => {
    expect(deviceKey(device({ id: "abc", name: "x" }))).toBe(deviceKey({ id: "abc", name: "y" }));
    expect(deviceKey({ id: null, name: "Pat" })).not.toBe(deviceKey({ id: "Pat", name: "Pat" }));
  });

  it("are counted once, and stale only when stale in every folder they sync", () => {
    const old = new Date(now - 30 * DAY).toISOString();
    const folders: FolderDevices[] = [
      {
        folder: "/notes",
        devices: [
          device({ id: "me", name: "desk", this_device: true }),
          device({ id: "l", name: "laptop", last_commit: old }),
          device({ id: null, name: "Pat", via_supersonic: false, last_commit: old }),
        ],
      },
      {
        folder: "/photos",
        devices: [device({ id: "me", name: "desk", this_device: true }), device({ id: "l" })],
      },
    ];
    expect(deviceCounts(folders, now)).toEqual({ devices: 3, stale: 1 });
    expect(deviceCounts([], now)).toEqual({ devices: 0, stale: 0 });
  });
});
