// Which conflict versions the picker shows as pictures. Raster images only, fetched as a Blob
// whose type the backend chose from the bytes, and shown through an object URL in an <img>.
//
// SVG is not among them: it is text, so the picker shows its diff like any text file. A blob:
// URL of an SVG that someone opens in a tab of its own would run the SVG's scripts with this
// page's origin (and its API token), which an <img> never does but a tab would.

/** File extensions the picker tries to show as a picture (lower case, without the dot). */
export const PREVIEW_EXTENSIONS = ["png", "jpg", "jpeg", "gif", "webp", "avif"] as const;

/** Media types a fetched version must have to be shown as a picture. */
export const PREVIEW_TYPES = [
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
  "image/avif",
] as const;

/** Returns whether the file at `path` is worth fetching for a picture preview. */
export function isPreviewable(path: string): boolean {
  const name = path.slice(path.lastIndexOf("/") + 1);
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return false;
  const ext = name.slice(dot + 1).toLowerCase();
  return (PREVIEW_EXTENSIONS as readonly string[]).includes(ext);
}

/** Returns whether a fetched version is a picture the preview may show. */
export function canShow(blob: Blob): boolean {
  return (PREVIEW_TYPES as readonly string[]).includes(blob.type);
}
