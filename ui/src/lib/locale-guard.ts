// WebKitGTK reports the POSIX locale name as the browser language under LANG=C / C.UTF-8
// (navigator.language === "C"), which is not a BCP 47 tag: `new Intl.NumberFormat("C")` throws,
// and uPlot builds such a formatter when its module loads. Replace an invalid tag with the
// runtime's default before any other module evaluates (this module is imported first).
function validTag(tag: string | undefined): boolean {
  if (!tag) return false;
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

if (typeof navigator !== "undefined" && !validTag(navigator.language)) {
  const fallback = new Intl.NumberFormat().resolvedOptions().locale || "en-US";
  Object.defineProperty(navigator, "language", { value: fallback, configurable: true });
  Object.defineProperty(navigator, "languages", { value: [fallback], configurable: true });
}

export {};
