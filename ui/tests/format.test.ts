import { describe, expect, it } from "vitest";
import {
  baseName,
  bytes,
  countdown,
  codeSpans,
  dateOnly,
  duration,
  percent,
  relativeTime,
} from "../src/lib/format";

const now = Date.parse("2026-11-22T12:00:00Z");

describe("format", () => {
  it("says how long ago", () => {
    expect(relativeTime(null, now)).toBe("never");
    expect(relativeTime("2026-11-22T11:59:58Z", now)).toBe("just now");
    expect(relativeTime("2026-11-22T12:00:01Z", now)).toBe("just now");
    expect(relativeTime("2026-11-22T11:55:00Z", now)).toBe("5 min ago");
    expect(relativeTime("2026-11-22T09:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime("2026-11-20T12:00:00Z", now)).toBe("2 days ago");
    expect(relativeTime("2026-11-22T12:05:00Z", now)).toBe("in 5 min");
  });

  it("counts down to a time and stops at zero", () => {
    expect(countdown("2026-11-22T12:01:05Z", now)).toBe("1:05");
    expect(countdown("2026-11-22T13:00:01Z", now)).toBe("1:00:01");
    expect(countdown("2026-11-22T11:00:00Z", now)).toBe("0:00");
  });

  it("prints durations, sizes and percentages", () => {
    expect(duration(0.4212)).toBe("0.42 s");
    expect(duration(12.34)).toBe("12.3 s");
    expect(duration(250)).toBe("4 min 10 s");
    expect(bytes(812)).toBe("812 B");
    expect(bytes(4300)).toBe("4.2 KiB");
    expect(percent(95.2)).toBe("95.2 %");
    expect(percent(100)).toBe("100 %");
    expect(baseName("/home/me/notes/")).toBe("notes");
  });

  it("gives the local date of a time", () => {
    // Noon UTC is the same calendar day in every time zone from UTC-11 to UTC+11.
    expect(dateOnly("2026-11-22T12:00:00Z")).toBe("2026-11-22");
    expect(dateOnly(null)).toBe("—");
    expect(dateOnly("not a time")).toBe("not a time");
  });

  it("splits a message into text and the code it marks with backticks", () => {
    expect(codeSpans("create it (`git init --bare`), then `ssh-add`")).toEqual([
      { text: "create it (", code: false },
      { text: "git init --bare", code: true },
      { text: "), then ", code: false },
      { text: "ssh-add", code: true },
    ]);
    expect(codeSpans("no code")).toEqual([{ text: "no code", code: false }]);
    expect(codeSpans("a ` alone")).toEqual([{ text: "a ` alone", code: false }]);
    expect(codeSpans("")).toEqual([]);
  });
});
