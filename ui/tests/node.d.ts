// The little of Node the tests use (vitest runs them in Node; the UI itself never does), declared
// here rather than pulling in all of @types/node.
declare module "node:fs" {
  export function readFileSync(path: string, encoding: "utf8"): string;
}

interface ImportMeta {
  /** The directory of the test file (Node 20.11+). */
  readonly dirname: string;
}
