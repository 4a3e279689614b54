import { defineConfig } from "vitest/config";
import { svelte } from "@sveltejs/vite-plugin-svelte";

// The HTTP server serves dist/ at `/` and also answers `/api/sync/dashboard` with index.html,
// so assets are referenced from the root (`/assets/...`), never relative to the page.
export default defineConfig({
  base: "/",
  plugins: [svelte()],
  clearScreen: false,
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // The Tauri webview and current browsers; no legacy polyfills.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 900,
  },
  server: {
    port: 5173,
    strictPort: true,
    // `npm run dev` against a running `supersonic serve` on the default port. The server checks
    // the Host header (DNS rebinding), so the proxy presents the server's own host.
    proxy: { "/api": { target: "http://127.0.0.1:8385", changeOrigin: true } },
  },
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "jsdom",
    // The default report, then one plain `ui-unit: N passed, M failed` line for CI logs.
    reporters: ["default", "./tests/summary-reporter.ts"],
  },
});
