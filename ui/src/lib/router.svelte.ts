// Hash routing (`#/status`, `#/conflicts`, ...): the HTTP server serves one index.html, and the
// fragment never reaches it. `/api/sync/dashboard` (the seed's dashboard URL) opens the
// dashboard. A page may have a section after its name (`#/settings/doctor`).

export const PAGES = [
  "status",
  "dashboard",
  "conflicts",
  "devices",
  "history",
  "settings",
] as const;
export type Page = (typeof PAGES)[number];

/** The seed's dashboard URL, which the server answers with this UI. */
export const DASHBOARD_URL_PATH = "/api/sync/dashboard";

/** Returns the page a location shows. */
export function pageFor(hash: string, pathname: string): Page {
  const name = hash.replace(/^#\/?/, "").split(/[?&/]/)[0];
  if ((PAGES as readonly string[]).includes(name)) return name as Page;
  return pathname === DASHBOARD_URL_PATH ? "dashboard" : "status";
}

/** Returns the section named after the page (`#/settings/doctor` → "doctor"), or null. */
export function sectionFor(hash: string): string | null {
  const [, section] = hash.replace(/^#\/?/, "").split(/[?&]/)[0].split("/");
  return section ? decodeURIComponent(section) : null;
}

class Router {
  page = $state<Page>("status");
  section = $state<string | null>(null);

  constructor() {
    if (typeof window === "undefined") return;
    const follow = () => {
      this.page = pageFor(window.location.hash, window.location.pathname);
      this.section = sectionFor(window.location.hash);
    };
    follow();
    window.addEventListener("hashchange", follow);
  }

  /** Shows `page` (at `section`), recorded in the history so Back works. */
  go(page: Page, section: string | null = null): void {
    const hash = section ? `#/${page}/${encodeURIComponent(section)}` : `#/${page}`;
    if (window.location.hash !== hash) window.location.hash = hash;
    this.page = page;
    this.section = section;
  }
}

export const router = new Router();
