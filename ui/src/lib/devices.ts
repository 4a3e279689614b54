// The devices of each folder as the Devices page presents them. Pure functions: `now` is a
// parameter wherever the answer depends on the clock.
//
// What the backend knows of a device is its commits (`GET /api/devices` walks each folder's
// history) and, for devices that record it, their last sync (a small ref each device pushes
// beside the branch). "Last active" is the later of the two, so a device that syncs but never
// edits is not flagged.

import type { Device, FolderDevices } from "./types";

/**
 * A device whose latest change is older than this is marked stale. A week lets a laptop sit
 * through a weekend or a short trip unflagged; shorter would flag devices used weekly, longer
 * would hide a lost or retired device for a month.
 */
export const STALE_AFTER_MS = 7 * 24 * 3600 * 1000;

/** Returns when `d` was last active: its latest commit or its last recorded sync (ms). */
export function lastActive(d: Pick<Device, "last_commit" | "last_sync">): number {
  const times = [d.last_commit, d.last_sync ?? ""].map(Date.parse).filter((t) => !Number.isNaN(t));
  return times.length ? Math.max(...times) : NaN;
}

/** Returns whether `d` is stale at `now`. This device never is: it is running right now. */
export function isStale(
  d: Pick<Device, "last_commit" | "last_sync" | "this_device">,
  now: number,
): boolean {
  if (d.this_device) return false;
  const t = lastActive(d);
  return !Number.isNaN(t) && now - t > STALE_AFTER_MS;
}

/**
 * Returns the key that identifies a device across folders: its Supersonic id, or for plain
 * git commits its author name (the backend groups those by name too).
 */
export function deviceKey(d: Pick<Device, "id" | "name">): string {
  return d.id !== null ? `id:${d.id}` : `git:${d.name}`;
}

/** Returns how many distinct devices the folders show, and how many of them are stale. */
export function deviceCounts(
  folders: FolderDevices[],
  now: number,
): { devices: number; stale: number } {
  // A device is stale only if it is stale in every folder it syncs.
  const fresh = new Map<string, boolean>();
  for (const f of folders) {
    for (const d of f.devices) {
      const key = deviceKey(d);
      fresh.set(key, (fresh.get(key) ?? false) || !isStale(d, now));
    }
  }
  const stale = [...fresh.values()].filter((isFresh) => !isFresh).length;
  return { devices: fresh.size, stale };
}
