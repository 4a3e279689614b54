// Short confirmations and errors shown at the bottom right, gone after a few seconds.

export interface Toast {
  id: number;
  kind: "ok" | "err" | "info";
  text: string;
}

/** How long a toast stays: long enough to read two lines. */
export const TOAST_MS = 5000;

class Toasts {
  items = $state<Toast[]>([]);
  private next = 1;

  show(kind: Toast["kind"], text: string): void {
    const id = this.next++;
    this.items = [...this.items, { id, kind, text }];
    setTimeout(() => this.dismiss(id), kind === "err" ? TOAST_MS * 2 : TOAST_MS);
  }

  dismiss(id: number): void {
    this.items = this.items.filter((t) => t.id !== id);
  }
}

export const toasts = new Toasts();
