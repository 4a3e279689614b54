import { describe, expect, it, vi } from "vitest";
import { ApiError } from "../src/lib/api";
import {
  Doctor,
  checkLabel,
  sortFindings,
  sortReports,
  tally,
  worstLevel,
} from "../src/lib/doctor.svelte";
import type { DoctorReport, Finding, Level } from "../src/lib/types";

const f = (check: string, level: Level): Finding => ({
  check,
  level,
  message: `${check} is ${level}`,
  fix: level === "ok" ? "" : `fix ${check}`,
});

const report = (folder: string, findings: Finding[]): DoctorReport => ({
  folder,
  remote: "/r.git",
  findings,
});

describe("findings", () => {
  it("are shown errors first, then warnings, then ok, in check order within a level", () => {
    const sorted = sortFindings([
      f("git", "ok"),
      f("remote", "warning"),
      f("inotify", "error"),
      f("disk", "ok"),
      f("nesting", "error"),
    ]);
    expect(sorted.map((x) => x.check)).toEqual(["inotify", "nesting", "remote", "git", "disk"]);
  });

  it("have the worst level of a folder (ok without any)", () => {
    expect(worstLevel([f("git", "ok"), f("disk", "warning")])).toBe("warning");
    expect(worstLevel([f("git", "error"), f("disk", "warning")])).toBe("error");
    expect(worstLevel([])).toBe("ok");
  });

  it("are named in words, unknown checks as the backend names them", () => {
    expect(checkLabel("inotify")).toBe("File watching");
    expect(checkLabel("quota")).toBe("quota");
  });
});

describe("reports", () => {
  it("put folders with errors first and sort each one's findings", () => {
    const sorted = sortReports([
      report("/fine", [f("git", "ok")]),
      report("/broken", [f("git", "ok"), f("remote", "error")]),
      report("/meh", [f("disk", "warning")]),
    ]);
    expect(sorted.map((r) => r.folder)).toEqual(["/broken", "/meh", "/fine"]);
    expect(sorted[0].findings.map((x) => x.check)).toEqual(["remote", "git"]);
  });

  it("are tallied by level", () => {
    const n = tally([
      report("/a", [f("git", "ok"), f("remote", "error")]),
      report("/b", [f("git", "ok"), f("disk", "warning")]),
    ]);
    expect(n).toEqual({ error: 1, warning: 1, ok: 2 });
  });
});

describe("the doctor store", () => {
  it("runs once for concurrent asks and keeps the sorted reports with their time", async () => {
    let answer!: (r: DoctorReport[]) => void;
    const runDoctor = vi.fn(() => new Promise<DoctorReport[]>((r) => (answer = r)));
    const d = new Doctor({ runDoctor, now: () => 1234 });
    const first = d.run();
    const second = d.run();
    expect(d.running).toBe(true);
    expect(runDoctor).toHaveBeenCalledTimes(1);
    answer([report("/a", [f("git", "ok"), f("remote", "error")])]);
    await Promise.all([first, second]);
    expect(d.running).toBe(false);
    expect(d.checkedAt).toBe(1234);
    expect(d.reports![0].findings.map((x) => x.level)).toEqual(["error", "ok"]);
  });

  it("keeps the previous reports when a run fails, with the failure's code", async () => {
    const runDoctor = vi
      .fn()
      .mockResolvedValueOnce([report("/a", [f("git", "ok")])])
      .mockRejectedValueOnce(new ApiError("network", "down"));
    const d = new Doctor({ runDoctor, now: () => 1 });
    await d.run();
    await d.run();
    expect(d.error?.code).toBe("network");
    expect(d.reports?.map((r) => r.folder)).toEqual(["/a"]);
    expect(d.running).toBe(false);
  });

  it("clears the failure once a run succeeds again", async () => {
    const runDoctor = vi
      .fn()
      .mockRejectedValueOnce({ code: "internal", message: "boom" })
      .mockResolvedValueOnce([]);
    const d = new Doctor({ runDoctor, now: () => 1 });
    await d.run();
    expect(d.error?.code).toBe("internal");
    await d.run();
    expect(d.error).toBeNull();
    expect(d.reports).toEqual([]);
  });
});
