// The setup check ("doctor"): its findings per folder, shown in Settings. Running it contacts
// every folder's remote (`git ls-remote`) and can take seconds, so the store runs it in the
// background and keeps the answer: the page stays usable, and leaving Settings and coming back
// shows the last results rather than losing them. Concurrent runs share one request.

import * as api from "./api";
import type { DoctorReport, Finding, Level } from "./types";

/** Display order: what keeps a folder from syncing first, then what deserves attention. */
const RANK: Record<Level, number> = { error: 0, warning: 1, ok: 2 };

/** Each check in words (the backend's `check` names). */
const CHECK_LABELS: Record<string, string> = {
  git: "Git",
  remote: "Remote",
  ssh_agent: "SSH agent",
  ssh_key: "SSH key",
  host_key: "SSH host key",
  inotify: "File watching",
  disk: "Disk space",
  nesting: "Nesting",
};

/** Returns a check's name in words (unknown checks as the backend names them). */
export function checkLabel(check: string): string {
  return CHECK_LABELS[check] ?? check;
}

/** Returns the worst level among `findings` (ok when there are none). */
export function worstLevel(findings: Finding[]): Level {
  return findings.reduce<Level>((w, f) => (RANK[f.level] < RANK[w] ? f.level : w), "ok");
}

/** Returns the findings errors first, then warnings, then ok; check order within a level. */
export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort((a, b) => RANK[a.level] - RANK[b.level]);
}

/**
 * Returns the reports for display: each one's findings sorted, and folders with errors before
 * folders with warnings before healthy ones (configuration order otherwise).
 */
export function sortReports(reports: DoctorReport[]): DoctorReport[] {
  return reports
    .map((r) => ({ ...r, findings: sortFindings(r.findings) }))
    .sort((a, b) => RANK[worstLevel(a.findings)] - RANK[worstLevel(b.findings)]);
}

/** Returns how many findings there are of each level. */
export function tally(reports: DoctorReport[]): Record<Level, number> {
  const n: Record<Level, number> = { error: 0, warning: 0, ok: 0 };
  for (const r of reports) for (const f of r.findings) n[f.level]++;
  return n;
}

/** What the store needs from the outside world; tests pass fakes. */
export interface DoctorDeps {
  runDoctor: () => Promise<DoctorReport[]>;
  now: () => number;
}

export class Doctor {
  /** The last run's reports, sorted for display; null before the first run. */
  reports = $state<DoctorReport[] | null>(null);
  /** Whether a run is under way. */
  running = $state(false);
  /** The last run's failure (the reports of the run before stay). */
  error = $state<api.ApiError | null>(null);
  /** When the shown reports were made (ms since the epoch). */
  checkedAt = $state<number | null>(null);

  private deps: DoctorDeps;
  private inflight: Promise<void> | null = null;

  constructor(deps: Partial<DoctorDeps> = {}) {
    this.deps = { runDoctor: () => api.runDoctor(), now: () => Date.now(), ...deps };
  }

  /** Runs the checks on every folder; a call while one runs waits for that one. */
  run(): Promise<void> {
    if (this.inflight) return this.inflight;
    this.running = true;
    this.inflight = (async () => {
      try {
        const reports = await this.deps.runDoctor();
        this.reports = sortReports(reports);
        this.checkedAt = this.deps.now();
        this.error = null;
      } catch (err) {
        this.error = api.toApiError(err);
      } finally {
        this.running = false;
        this.inflight = null;
      }
    })();
    return this.inflight;
  }
}

/** The store the app uses. */
export const doctor = new Doctor();
