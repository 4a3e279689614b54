import { describe, expect, it } from "vitest";
import { canShow, isPreviewable } from "../src/lib/preview";

describe("picture previews", () => {
  it("are tried for raster images by their extension, in any case", () => {
    for (const path of ["cat.png", "pics/Cat.JPG", "a/b.jpeg", "x.gif", "y.webp", "z.avif"]) {
      expect(isPreviewable(path), path).toBe(true);
    }
  });

  it("are not tried for SVG (shown as text), other files, or names without an extension", () => {
    for (const path of ["logo.svg", "notes.md", "png", ".png", "dir.png/readme", "a.png.bak"]) {
      expect(isPreviewable(path), path).toBe(false);
    }
  });

  it("show only what the backend typed as a raster image", () => {
    expect(canShow(new Blob([], { type: "image/png" }))).toBe(true);
    expect(canShow(new Blob([], { type: "image/webp" }))).toBe(true);
    expect(canShow(new Blob([], { type: "image/svg+xml" }))).toBe(false);
    expect(canShow(new Blob([], { type: "text/plain; charset=utf-8" }))).toBe(false);
    expect(canShow(new Blob([], { type: "application/octet-stream" }))).toBe(false);
    expect(canShow(new Blob([]))).toBe(false);
  });
});
