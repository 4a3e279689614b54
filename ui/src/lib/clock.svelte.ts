// A ticking "now" for countdowns and relative times, shared by every page (one timer).

/** Tick period: countdowns show seconds. */
export const TICK_MS = 1000;

class Clock {
  now = $state(Date.now());

  constructor() {
    if (typeof window !== "undefined") setInterval(() => (this.now = Date.now()), TICK_MS);
  }
}

export const clock = new Clock();
