// Placeholder build: copies the static page into dist/ (the Vite + Svelte UI replaces this).
import { cpSync, mkdirSync, rmSync } from "node:fs";
rmSync("dist", { recursive: true, force: true });
mkdirSync("dist", { recursive: true });
cpSync("static", "dist", { recursive: true });
console.log("ui: built dist/ from static/");
