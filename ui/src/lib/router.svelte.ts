// Hash routing (`#/status`, `#/conflicts`, ...): the HTTP server serves one index.html, and the
// fragment never reaches it. `/api/sync/dashboard` (the seed's dashboard URL) opens the
// dashboard.

export const PAGES = ["status", "dashboard", "conflicts", "history", "settings"] as const;
export type Page = (typeof PAGES)[number];

/** The seed's dashboard URL, which the server answers with this UI. */
export const DASHBOARD_URL_PATH = "/api/sync/dashboard";

/** Returns the page a location shows. */
export function pageFor(hash: string, pathname: string): Page {
  const name = hash.replace(/^#\/?/, "").split(/[?&/]/)[0];
  if ((PAGES as readonly string[]).includes(name)) return name as Page;
  return pathname === DASHBOARD_URL_PATH ? "dashboard" : "status";
}

class Router {
  page = $state<Page>("status");

  constructor() {
    if (typeof window === "undefined") return;
    this.page = pageFor(window.location.hash, window.location.pathname);
    window.addEventListener("hashchange", () => {
      this.page = pageFor(window.location.hash, window.location.pathname);
    });
  }

  /** Shows `page` (and records it in the history, so Back works). */
  go(page: Page): void {
    if (window.location.hash !== `#/${page}`) window.location.hash = `#/${page}`;
    this.page = page;
  }
}

export const router = new Router();
