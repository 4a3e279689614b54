// Light and dark themes: the system's choice by default (prefers-color-scheme), or the user's,
// kept in localStorage and applied as `data-theme` on <html>.

export type ThemeChoice = "system" | "light" | "dark";

const KEY = "supersonic.theme";

class Theme {
  choice = $state<ThemeChoice>("system");
  /** The theme in effect: the choice, or the system's for `system`. */
  effective = $state<"light" | "dark">("light");

  constructor() {
    if (typeof window === "undefined") return;
    const saved = localStorage.getItem(KEY);
    if (saved === "light" || saved === "dark") this.choice = saved;
    const media = window.matchMedia("(prefers-color-scheme: dark)");
    const apply = () => {
      this.effective = this.choice === "system" ? (media.matches ? "dark" : "light") : this.choice;
      document.documentElement.dataset.theme = this.effective;
    };
    media.addEventListener("change", apply);
    this.apply = apply;
    apply();
  }

  private apply: () => void = () => {};

  /** Sets the theme; `system` follows the operating system again. */
  set(choice: ThemeChoice): void {
    this.choice = choice;
    if (choice === "system") localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, choice);
    this.apply();
  }

  /** Cycles system → light → dark → system. */
  cycle(): void {
    this.set(this.choice === "system" ? "light" : this.choice === "light" ? "dark" : "system");
  }
}

export const theme = new Theme();
