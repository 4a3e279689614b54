// End-to-end journey of the web UI in a real browser against a real `supersonic serve`.
//
// Two devices (alpha, served to the browser, and beta, driven by the CLI) sync one bare git
// remote from a temp dir with hermetic git. The browser, Debian's chromium through
// playwright-core, checks that:
//   - without a token the page says to open the printed link; with it the token leaves the URL;
//   - Status shows the folder, Sync now and Pause/Resume work;
//   - the Dashboard numbers equal `supersonic stats --json`, and it updates live (SSE);
//   - a real conflict (both devices edited todo.md) appears on the Conflicts page with the right
//     device on each side, and a merged text saved there reaches the file, the remote and the
//     other device, with clean git state on both;
//   - a conflict on an image shows both pictures side by side (decoded: naturalWidth > 0, with
//     their sizes in pixels), and Take theirs brings the other device's image;
//   - a folder added in Settings syncs; its remote, branch and mode are then changed there (a bad
//     branch and an unreachable remote are shown at their fields first), and the next sync goes
//     to the new remote's new branch; the ignore check answers; a bad setting is shown at its
//     field;
//   - a sync of many large files shows a progress bar on the folder's card (engine progress
//     events over SSE) that is gone once the sync is done;
//   - Devices lists, per folder, this device, the other device and a plain git author (flagged,
//     and stale: their commit is a month old), with commit counts equal to git's;
//   - a folder in error links to Settings → Check setup, which names the missing remote with its
//     fix, errors first; once fixed, Check again shows every folder's remote check ok;
//   - a key file is held back and listed on its folder's card, beside a freshness alert for a
//     commit the vanished remote kept from being pushed; Release asks first (Escape cancels),
//     then the key reaches the remote and the other device and the alert clears; Ignore keeps a
//     second key local with a `.syncignore` rule;
//   - Undo last sync on the card, after a confirmation, reverses a change the other device
//     synced, on disk and on the remote; a second undo is refused in the engine's words;
//   - History filters by event type.
// Every page is photographed in light and dark (test-artifacts/ui-*.png).
//
// Usage: node ui/tests/e2e.mjs   (needs target/debug/supersonic and ui/dist; SUPERSONIC_BIN
// and CHROMIUM override the binaries; KEEP_TMP=1 keeps the temp dir)
// Prints `ui-e2e: N passed, M failed` last and exits non-zero on failure.

import { execFileSync, spawn } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { randomBytes } from "node:crypto";
import { deflateSync } from "node:zlib";
import { join } from "node:path";
import { chromium } from "playwright-core";
import {
  Journey,
  artifacts,
  assert,
  assertEq,
  hermeticSandbox,
  repoRoot,
  supersonic,
} from "../../tests/lib/journey.mjs";

const bin = process.env.SUPERSONIC_BIN ?? join(repoRoot, "target/debug/supersonic");
const uiDist = join(repoRoot, "ui/dist");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";

/** Generous bound for anything that waits on syncing (git, a daemon, a browser). */
const WAIT_MS = 30_000;

// ---------------------------------------------------------------------------------------------
// Reporting (tests/lib/journey.mjs): on a failure the page is photographed as it was left

const journey = new Journey({
  waitMs: WAIT_MS,
  onFailure: async () => {
    if (page) await page.screenshot({ path: join(artifacts, "ui-failure.png"), fullPage: true });
  },
});
const check = (name, fn) => journey.check(name, fn);
const waitUntil = (what, fn, ms) => journey.waitUntil(what, fn, ms);

// ---------------------------------------------------------------------------------------------
// Pictures

function crc32(bytes) {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

/** Returns a PNG of `width` x `height` RGB pixels, each `pixel(x, y)` = [r, g, b]. */
function png(width, height, pixel) {
  const chunk = (type, data) => {
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 3);
    for (let x = 0; x < width; x++) raw.set(pixel(x, y), row + 1 + x * 3);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

// ---------------------------------------------------------------------------------------------
// Sandbox: hermetic git, two devices, one bare remote

const sandbox = hermeticSandbox({
  prefix: "supersonic-ui-e2e-",
  user: { name: "Test User", email: "test@example.com" },
  gitconfig: '[protocol "file"]\n\tallow = always\n',
  env: { GIT_ASKPASS: "", SSH_ASKPASS: "", LC_ALL: "C", SUPERSONIC_UI_DIR: uiDist },
});
const { tmp, git, env: baseEnv } = sandbox;
const cli = (dev, args) => supersonic(bin, dev, args);

const alpha = sandbox.device("alpha");
const beta = sandbox.device("beta");
const remote = join(tmp, "remote.git");
const remote2 = join(tmp, "added-remote.git");
const remote3 = join(tmp, "moved-remote.git");
const dirA = join(tmp, "alpha-notes");
const dirB = join(tmp, "beta-notes");
const dirAdded = join(tmp, "alpha-added");

const BASE = "# Shopping\n- milk\n- bread\n- apples\n";
const ALPHA = "# Shopping\n- oat milk\n- bread\n- apples\n- coffee\n";
const BETA = "# Shopping\n- soy milk\n- bread\n- green apples\n";

let server = null;
let serverLog = "";
let context = null;
let page = null;
let origin = "";
let token = "";
const pageErrors = [];

async function startServer() {
  server = spawn(bin, ["serve", "--port", "0"], {
    env: alpha.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stderr.on("data", (d) => (serverLog += d));
  let out = "";
  await new Promise((resolveUrl, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`serve printed no URL:\n${out}\n${serverLog}`)),
      WAIT_MS,
    );
    server.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/(http:\/\/127\.0\.0\.1:\d+)\/#token=([0-9a-zA-Z]+)/);
      if (m) {
        clearTimeout(timer);
        origin = m[1];
        token = m[2];
        resolveUrl();
      }
    });
    server.on("exit", (code) =>
      reject(new Error(`serve exited with ${code}:\n${out}\n${serverLog}`)),
    );
  });
}

async function shoot(name) {
  // The page is photographed from its top, without the toasts of earlier steps over it.
  await page.evaluate(() => window.scrollTo(0, 0));
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(150);
    await page.screenshot({
      path: join(artifacts, `ui-${name}-${scheme}.png`),
      fullPage: true,
      style: ".toasts { display: none !important; }",
    });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

async function go(pageName) {
  await page.click(`nav a[data-page="${pageName}"]`);
  await page.waitForSelector(`nav a[data-page="${pageName}"][aria-current="page"]`);
}

/** Calls the HTTP API with the token, as a script would; throws on an error answer. */
async function apiCall(method, path, body) {
  const res = await fetch(`${origin}${path}`, {
    method,
    headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Photographs one element in light and dark (test-artifacts/ui-<name>-<scheme>.png). */
async function shootElement(selector, name) {
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.waitForTimeout(150);
    await page.locator(selector).screenshot({
      path: join(artifacts, `ui-${name}-${scheme}.png`),
      style: ".toasts { display: none !important; }",
    });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

async function statValue(name) {
  return Number(await page.getAttribute(`[data-stat="${name}"]`, "data-value"));
}

// ---------------------------------------------------------------------------------------------
// The journey

console.log(`ui-e2e: ${bin}\n        sandbox ${tmp}`);

try {
  await check("prerequisites: supersonic binary, built UI, chromium", async () => {
    assert(existsSync(bin), `${bin} is missing: run \`cargo build -p supersonic-cli\``);
    assert(
      existsSync(join(uiDist, "index.html")),
      "ui/dist is missing: run `npm --prefix ui run build`",
    );
    assert(existsSync(chromiumPath), `${chromiumPath} is missing: apt-get install chromium`);
  });

  await check("two devices share a remote and a synced file", async () => {
    git(tmp, ["init", "-q", "--bare", "-b", "main", remote]);
    mkdirSync(dirA);
    writeFileSync(join(dirA, "todo.md"), BASE);
    cli(alpha, ["init", dirA, "--remote", remote]);
    cli(alpha, ["sync", dirA]);
    cli(beta, ["init", dirB, "--remote", remote]);
    cli(beta, ["sync", dirB]);
    assertEq(readFileSync(join(dirB, "todo.md"), "utf8"), BASE, "beta received alpha's file");
  });

  await check("supersonic serve prints the URL with the token", async () => {
    await startServer();
    assert(token.length >= 32, "a real token");
  });

  await check("the browser starts", async () => {
    const profile = join(tmp, "chromium-profile");
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
        "--disable-quic",
      ],
      viewport: { width: 1280, height: 860 },
      deviceScaleFactor: 1,
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    // Failed requests are logged by the browser as console errors; the checks assert on the
    // API's answers themselves (one is a deliberate 400), so only script errors count here.
    page.on("console", (m) => {
      if (m.type() === "error" && !m.text().startsWith("Failed to load resource"))
        pageErrors.push(`console: ${m.text()}`);
    });
  });

  await check("without a token the page says to open the printed link", async () => {
    await page.goto(`${origin}/`);
    await page.waitForSelector('[data-testid="token-needed"]');
    const text = await page.textContent('[data-testid="token-needed"]');
    assert(text.includes("supersonic serve"), `token page text: ${text}`);
    await shoot("token");
    pageErrors.length = 0; // the token page makes no API call; nothing to keep from here
  });

  await check(
    "with the printed link the token leaves the address bar and Status shows the folder",
    async () => {
      await page.goto("about:blank");
      await page.goto(`${origin}/#token=${token}`);
      await page.waitForSelector(`article.folder[data-folder="${dirA}"]`);
      assert(!page.url().includes(token), `token still in the URL: ${page.url()}`);
      const stored = await page.evaluate(() => sessionStorage.getItem("supersonic.token"));
      assertEq(stored, token, "the token is kept for the session");
      await page.waitForSelector('[data-connection="live"]', { timeout: WAIT_MS });
      const state = await page.getAttribute(`article.folder[data-folder="${dirA}"]`, "data-state");
      assert(["idle", "syncing"].includes(state), `folder state ${state}`);
    },
  );

  await check("a file written on disk syncs and the page updates live", async () => {
    writeFileSync(join(dirA, "live.md"), "written while the page is open\n");
    await waitUntil("the remote to get live.md", () =>
      git(tmp, ["--git-dir", remote, "ls-tree", "--name-only", "main"]).includes("live.md"),
    );
    const head = git(dirA, ["rev-parse", "HEAD"]).slice(0, 8);
    await waitUntil(
      `the status to show the new HEAD ${head} without a reload`,
      async () =>
        (await page.textContent(`article.folder[data-folder="${dirA}"] [data-fact="head"]`)) ===
        head,
    );
    assertEq(
      await page.textContent(`article.folder[data-folder="${dirA}"] [data-fact="last-sync"]`),
      "just now",
      "the last sync is fresh",
    );
  });

  await check("Pause and Resume change the folder's state", async () => {
    const card = `article.folder[data-folder="${dirA}"]`;
    await page.click(`${card} [data-action="pause"]`);
    await page.waitForSelector(`${card}[data-state="paused"]`, { timeout: WAIT_MS });
    await page.click(`${card} [data-action="resume"]`);
    await page.waitForSelector(`${card}:not([data-state="paused"])`, { timeout: WAIT_MS });
    await shoot("status");
  });

  await check("the Dashboard numbers equal `supersonic stats --json`", async () => {
    await page.keyboard.press("Alt+2");
    await page.waitForSelector('nav a[data-page="dashboard"][aria-current="page"]');
    await page.waitForSelector('[data-stat="total_syncs"]');
    await waitUntil("the dashboard to match the CLI", async () => {
      const cliStats = JSON.parse(cli(alpha, ["stats", "--json"])).stats;
      await page.click('button:has-text("Refresh")');
      await page.waitForTimeout(400);
      const ui = {
        total_syncs: await statValue("total_syncs"),
        success_rate: await statValue("success_rate"),
        avg_duration_sec: await statValue("avg_duration_sec"),
        total_files_changed: await statValue("total_files_changed"),
      };
      const want = {
        total_syncs: cliStats.total_syncs,
        success_rate: cliStats.success_rate,
        avg_duration_sec: cliStats.avg_duration_sec,
        total_files_changed: cliStats.total_files_changed,
      };
      if (JSON.stringify(ui) !== JSON.stringify(want))
        throw new Error(`ui ${JSON.stringify(ui)} cli ${JSON.stringify(want)}`);
      return ui.total_syncs >= 2;
    });
    const rows = await page.locator('[data-testid="recent"] tbody tr').count();
    assert(rows > 0, "the recent history table has rows");
    assert((await page.locator(".uplot canvas").count()) > 0, "the hourly chart is drawn");
  });

  await check("the Dashboard counts a new sync without a reload (SSE)", async () => {
    const before = await statValue("total_syncs");
    writeFileSync(join(dirA, "live2.md"), "one more\n");
    await waitUntil("total syncs to grow", async () => (await statValue("total_syncs")) > before);
    await shoot("dashboard");
    const row = `[data-testid="growth"] tr[data-folder="${dirA}"]`;
    await page.waitForSelector(row, { timeout: WAIT_MS });
    const commits = Number(await page.getAttribute(row, "data-commits"));
    assert(commits > 0, `the repository size panel counts alpha's commits: ${commits}`);
    assert(Number(await page.getAttribute(row, "data-git-bytes")) > 0, "and sizes its .git");
    await shootElement('[data-testid="growth"]', "dashboard-growth");
  });

  await check("both devices edit todo.md: beta keeps both versions", async () => {
    writeFileSync(join(dirA, "todo.md"), ALPHA);
    await waitUntil(
      "alpha's edit to reach the remote",
      () => git(tmp, ["--git-dir", remote, "show", "main:todo.md"]) + "\n" === ALPHA,
    );
    writeFileSync(join(dirB, "todo.md"), BETA);
    cli(beta, ["sync", dirB]);
    const files = readdirSync(dirB).filter((f) => f.startsWith("todo"));
    assertEq(files.length, 2, `beta holds both versions (${files})`);
  });

  await check("Sync now on alpha brings the conflict to the Conflicts page", async () => {
    await go("status");
    await page.click(`article.folder[data-folder="${dirA}"] [data-action="sync"]`);
    await waitUntil(
      "alpha to get the conflict copy",
      () => readdirSync(dirA).filter((f) => f.startsWith("todo")).length === 2,
    );
    await waitUntil("the sidebar to count the conflict", async () =>
      (await page.textContent('nav a[data-page="conflicts"]')).includes("1"),
    );
    await go("conflicts");
    await page.waitForSelector('article.conflict[data-path="todo.md"] .cm-mergeView');
  });

  await check(
    "each side is labelled with its device: mine = alpha (this device), theirs = beta",
    async () => {
      const card = 'article.conflict[data-path="todo.md"]';
      assertEq(
        await page.textContent(`${card} [data-testid="local-device"]`),
        "alpha",
        "left/mine is this device",
      );
      assertEq(
        await page.textContent(`${card} [data-testid="remote-device"]`),
        "beta",
        "right/theirs is the other device",
      );
      const left = await page.locator(`${card} .cm-merge-a .cm-content`).innerText();
      const right = await page.locator(`${card} .cm-merge-b .cm-content`).innerText();
      assert(
        left.includes("oat milk") && !left.includes("soy milk"),
        `mine shows alpha's text: ${left}`,
      );
      assert(
        right.includes("soy milk") && !right.includes("oat milk"),
        `theirs shows beta's text: ${right}`,
      );
      assert(
        (await page.locator(`${card} .cm-changedText`).count()) > 0,
        "the diff is highlighted",
      );
      await shoot("conflicts");
    },
  );

  const MERGED = "# Shopping\n- soy milk\n- bread\n- apples\n- coffee\n- green apples\n- tea\n";
  await check("a merged text built per change and typed by hand is saved", async () => {
    const card = 'article.conflict[data-path="todo.md"]';
    const bars = page.locator(`${card} .cm-hunk-bar`);
    assertEq(await bars.count(), 2, "two changes offered");
    await page.click(`${card} .cm-hunk-btn[data-hunk="0"][data-choice="remote"]`);
    await page.click(`${card} .cm-hunk-btn[data-hunk="1"][data-choice="both"]`);
    await page.click(`${card} [data-testid="merged-editor"] .cm-content`);
    await page.keyboard.press("Control+End");
    await page.keyboard.type("- tea\n");
    await page.screenshot({
      path: join(artifacts, "ui-conflicts-merged.png"),
      fullPage: true,
      style: ".toasts { display: none !important; }",
    });
    await page.click(`${card} [data-action="save-merged"]`);
    await page.waitForSelector(card, { state: "detached", timeout: WAIT_MS });
    assertEq(
      readFileSync(join(dirA, "todo.md"), "utf8"),
      MERGED,
      "alpha's file holds the merged text",
    );
    assertEq(
      readdirSync(dirA).filter((f) => f.startsWith("todo")),
      ["todo.md"],
      "the conflict copy is gone on alpha",
    );
  });

  await check(
    "the merged text reaches the remote and beta, with clean git state on both",
    async () => {
      await waitUntil(
        "the remote to get the merged text",
        () => git(tmp, ["--git-dir", remote, "show", "main:todo.md"]) + "\n" === MERGED,
      );
      cli(beta, ["sync", dirB]);
      assertEq(
        readFileSync(join(dirB, "todo.md"), "utf8"),
        MERGED,
        "beta's file holds the merged text",
      );
      assertEq(
        readdirSync(dirB).filter((f) => f.startsWith("todo")),
        ["todo.md"],
        "the conflict copy is gone on beta",
      );
      for (const [name, dir] of [
        ["alpha", dirA],
        ["beta", dirB],
      ]) {
        await waitUntil(
          `${name}'s worktree to be clean and pushed`,
          () =>
            git(dir, ["status", "--porcelain"]) === "" &&
            git(dir, ["rev-parse", "HEAD"]) ===
              git(tmp, ["--git-dir", remote, "rev-parse", "main"]),
        );
      }
      assertEq(
        JSON.parse(cli(alpha, ["conflicts", "list", "--json"])),
        [],
        "no conflict left on alpha",
      );
      assertEq(
        JSON.parse(cli(beta, ["conflicts", "list", "--json"])),
        [],
        "no conflict left on beta",
      );
      await page.waitForSelector("text=No conflicts");
      await shoot("conflicts-empty");
    },
  );

  await check(
    "an automatic resolution is listed, Undo brings both versions back, Take mine decides",
    async () => {
      const syncAlpha = async () => {
        await go("status");
        await page.click(`article.folder[data-folder="${dirA}"] [data-action="sync"]`);
      };
      // A folder rule (synced with the folder) resolves *.txt conflicts automatically.
      writeFileSync(
        join(dirB, ".supersonic-sync.conf"),
        'conflicts:\n  rules:\n    - { pattern: "*.txt", strategy: newest }\n',
      );
      writeFileSync(join(dirB, "notes.txt"), "base\n");
      cli(beta, ["sync", dirB]);
      await syncAlpha();
      await waitUntil("alpha to get notes.txt", () => existsSync(join(dirA, "notes.txt")));
      writeFileSync(join(dirA, "notes.txt"), "alpha's line\n");
      await waitUntil(
        "alpha's edit to reach the remote",
        () => git(tmp, ["--git-dir", remote, "show", "main:notes.txt"]) === "alpha's line",
      );
      writeFileSync(join(dirB, "notes.txt"), "beta's line\n");
      cli(beta, ["sync", dirB]);
      await syncAlpha();
      await waitUntil(
        "alpha to get beta's newer version",
        () => readFileSync(join(dirA, "notes.txt"), "utf8") === "beta's line\n",
      );
      await go("conflicts");
      const row = page.locator("tr[data-auto]", { hasText: "notes.txt" });
      await row.waitFor({ timeout: WAIT_MS });
      assert((await row.textContent()).includes("newest"), "the row names the rule's strategy");
      await shoot("conflicts-auto");
      await row.locator("button", { hasText: "Undo" }).click();
      const card = 'article.conflict[data-path="notes.txt"]';
      await page.waitForSelector(`${card} .cm-mergeView`, { timeout: WAIT_MS });
      assertEq(
        await page.textContent(`${card} [data-testid="local-device"]`),
        "alpha",
        "mine is alpha's version",
      );
      assert(
        (await page.locator(`${card} .cm-merge-a .cm-content`).innerText()).includes(
          "alpha's line",
        ),
        "mine shows alpha's text",
      );
      await page.click(`${card} [data-action="take-local"]`);
      await page.waitForSelector(card, { state: "detached", timeout: WAIT_MS });
      assertEq(readFileSync(join(dirA, "notes.txt"), "utf8"), "alpha's line\n", "mine was taken");
      assertEq(
        readdirSync(dirA).filter((f) => f.startsWith("notes")),
        ["notes.txt"],
        "no copy left",
      );
      await waitUntil(
        "the decision to reach the remote",
        () => git(tmp, ["--git-dir", remote, "show", "main:notes.txt"]) === "alpha's line",
      );
    },
  );

  await check(
    "a conflict on an image shows both pictures side by side, and Take theirs decides",
    async () => {
      const rel = "pics/cat.png";
      const base = png(32, 32, () => [200, 200, 200]);
      // Alpha: a 96 x 64 blue-green gradient; beta: a 48 x 72 orange checkerboard.
      const mine = png(96, 64, (x, y) => [20, 80 + x, 120 + y * 2]);
      const theirs = png(48, 72, (x, y) =>
        ((x >> 3) + (y >> 3)) % 2 ? [240, 140, 20] : [250, 230, 200],
      );
      const lsRemote = () => git(tmp, ["--git-dir", remote, "ls-tree", "main", rel]);
      mkdirSync(join(dirA, "pics"));
      writeFileSync(join(dirA, rel), base);
      await waitUntil("the remote to get the image", () => lsRemote() !== "");
      cli(beta, ["sync", dirB]);
      const before = lsRemote();
      writeFileSync(join(dirA, rel), mine);
      await waitUntil("alpha's image to reach the remote", () => lsRemote() !== before);
      writeFileSync(join(dirB, rel), theirs);
      cli(beta, ["sync", dirB]);
      await go("status");
      await page.click(`article.folder[data-folder="${dirA}"] [data-action="sync"]`);
      await waitUntil(
        "alpha to get the conflict copy",
        () => readdirSync(join(dirA, "pics")).length === 2,
      );
      await go("conflicts");
      const card = `article.conflict[data-path="${rel}"]`;
      await page.waitForSelector(card, { timeout: WAIT_MS });
      for (const [side, device, w, h] of [
        ["local", "alpha", 96, 64],
        ["remote", "beta", 48, 72],
      ]) {
        const img = `${card} [data-preview="${side}"] img`;
        await page.waitForFunction((sel) => document.querySelector(sel)?.naturalWidth > 0, img, {
          timeout: WAIT_MS,
        });
        const size = await page.$eval(img, (i) => [i.naturalWidth, i.naturalHeight]);
        assertEq(size, [w, h], `the ${side} picture is ${device}'s image, decoded`);
        assert(
          (await page.getAttribute(img, "src")).startsWith("blob:"),
          "shown from the fetched bytes",
        );
        const facts = `${card} [data-testid="picture-${side}-facts"]`;
        await waitUntil(`${side}'s size in pixels`, async () =>
          (await page.textContent(facts)).includes(`${w} × ${h} px`),
        );
      }
      assertEq(
        await page.textContent(`${card} [data-testid="local-device"]`),
        "alpha",
        "mine is labelled with this device",
      );
      assertEq(
        await page.textContent(`${card} [data-testid="remote-device"]`),
        "beta",
        "theirs is labelled with the other device",
      );
      await page.locator(card).scrollIntoViewIfNeeded();
      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.waitForTimeout(150);
        await page.locator(card).screenshot({
          path: join(artifacts, `ui-conflicts-image-${scheme}.png`),
          style: ".toasts { display: none !important; }",
        });
      }
      await page.emulateMedia({ colorScheme: "light" });
      await page.click(`${card} [data-action="take-remote"]`);
      await page.waitForSelector(card, { state: "detached", timeout: WAIT_MS });
      assert(readFileSync(join(dirA, rel)).equals(theirs), "alpha's file is beta's image now");
      assertEq(readdirSync(join(dirA, "pics")), ["cat.png"], "the conflict copy is gone");
      await waitUntil(
        "the decision to reach the remote",
        () =>
          git(tmp, ["--git-dir", remote, "rev-parse", `main:${rel}`]) ===
          git(dirA, ["hash-object", rel]),
      );
    },
  );

  await check(
    "Devices lists this device, the other device and a plain git author, flagged and stale",
    async () => {
      // Someone commits with git directly, a month ago by the commit's dates.
      const plain = join(tmp, "plain-clone");
      git(tmp, ["clone", "-q", remote, plain]);
      writeFileSync(join(plain, "from-git.txt"), "committed without Supersonic\n");
      git(plain, ["add", "from-git.txt"]);
      const monthAgo = new Date(Date.now() - 30 * 86_400_000).toISOString();
      execFileSync(
        "git",
        [
          "-c",
          "user.name=Pat Plain",
          "-c",
          "user.email=pat@example.com",
          "commit",
          "-qm",
          "by hand",
        ],
        {
          cwd: plain,
          env: { ...baseEnv, GIT_AUTHOR_DATE: monthAgo, GIT_COMMITTER_DATE: monthAgo },
        },
      );
      // alpha's engine may push between the clone and this push: then put the commit on top,
      // keeping its month-old dates, and push again (what a user racing a daemon does).
      for (let attempt = 1; ; attempt++) {
        try {
          git(plain, ["push", "-q", "origin", "main"]);
          break;
        } catch (e) {
          if (attempt >= 5) throw e;
          execFileSync("git", ["pull", "-q", "--rebase", "origin", "main"], {
            cwd: plain,
            env: { ...baseEnv, GIT_COMMITTER_DATE: monthAgo },
          });
        }
      }
      await go("status");
      await page.click(`article.folder[data-folder="${dirA}"] [data-action="sync"]`);
      await waitUntil("alpha to pull the plain git commit", () =>
        existsSync(join(dirA, "from-git.txt")),
      );

      await page.keyboard.press("Alt+4");
      await page.waitForSelector('nav a[data-page="devices"][aria-current="page"]');
      const folder = `section.folder[data-folder="${dirA}"]`;
      const row = (name) => `${folder} tr[data-device="${name}"]`;
      await page.waitForSelector(row("Pat Plain"), { timeout: WAIT_MS });

      const alphaId = JSON.parse(cli(alpha, ["config", "--json"])).device.id;
      const commitsBy = (id) =>
        git(dirA, ["log", "--format=%B%x00", "HEAD"])
          .split("\0")
          .filter((m) => m.includes(`Sync-Device-Id: ${id}`)).length;
      await waitUntil("alpha's commit count to equal git's", async () => {
        await page.click('button:has-text("Refresh")');
        await page.waitForSelector('button[aria-busy="false"]:has-text("Refresh")');
        const shown = Number(await page.textContent(`${row("alpha")} [data-fact="commits"]`));
        return shown === commitsBy(alphaId);
      });
      assert(commitsBy(alphaId) > 0, "alpha made commits");
      assertEq(
        await page.getAttribute(row("alpha"), "data-this-device"),
        "true",
        "alpha is this device",
      );
      assert(
        (await page.locator(`${row("alpha")} [data-badge="this-device"]`).count()) === 1,
        "alpha carries the this-device badge",
      );
      assertEq(
        await page.getAttribute(row("beta"), "data-this-device"),
        "false",
        "beta is another device",
      );
      assert(
        Number(await page.textContent(`${row("beta")} [data-fact="commits"]`)) > 0,
        "beta's edits are counted",
      );
      for (const name of ["alpha", "beta"]) {
        assertEq(await page.getAttribute(row(name), "data-via"), "supersonic", `${name} syncs`);
        assertEq(await page.getAttribute(row(name), "data-stale"), "false", `${name} is fresh`);
      }
      assertEq(
        await page.textContent(`${row("alpha")} [data-fact="last-change"] time`),
        "just now",
        "alpha's latest change is fresh",
      );
      assertEq(await page.getAttribute(row("Pat Plain"), "data-via"), "git", "plain git");
      assert(
        (await page.locator(`${row("Pat Plain")} [data-badge="plain-git"]`).count()) === 1,
        "the plain git author is flagged",
      );
      assert(
        (await page.locator(`${row("Pat Plain")} [data-badge="stale"]`).count()) === 1,
        "a month without a change is stale",
      );
      assertEq(
        await page.textContent(`${row("Pat Plain")} [data-fact="last-change"] time`),
        "30 days ago",
        "relative time",
      );
      const exact = await page.getAttribute(
        `${row("Pat Plain")} [data-fact="last-change"] time`,
        "title",
      );
      assert(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/.test(exact), `exact time in the tooltip: ${exact}`);
      await shoot("devices");
    },
  );

  await check(
    "a remote that vanished shows as an error with the fix in words, and Sync now recovers",
    async () => {
      const card = `article.folder[data-folder="${dirA}"]`;
      await go("status");
      renameSync(remote, `${remote}.moved`);
      await page.click(`${card} [data-action="sync"]`);
      await page.waitForSelector(`${card} .alert`, { timeout: WAIT_MS });
      const alert = await page.textContent(`${card} .alert`);
      assert(alert.includes("remote.git"), `the error names the remote: ${alert}`);
      await shoot("status-error");

      // The error links to the setup check, which names the missing remote and the fix.
      await page.click(`${card} [data-action="check-setup"]`);
      await page.waitForSelector('nav a[data-page="settings"][aria-current="page"]');
      const report = `[data-testid="doctor"] article.report[data-folder="${dirA}"]`;
      await page.waitForSelector(`${report}[data-level="error"]`, { timeout: WAIT_MS });
      const levels = await page
        .locator(`${report} li`)
        .evaluateAll((lis) => lis.map((li) => li.getAttribute("data-level")));
      assertEq(levels[0], "error", `errors come first: ${levels}`);
      const failing = `${report} li[data-check="remote"][data-level="error"]`;
      assert(
        (await page.textContent(failing)).includes("remote.git"),
        "the finding names the remote",
      );
      assert(
        (await page.textContent(`${failing} .fix`)).includes("Fix:"),
        "the finding says what to do",
      );
      assertEq(page.url().split("#")[1], "/settings/doctor", "the check has its own address");
      await page.locator(report).scrollIntoViewIfNeeded();
      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        await page.waitForTimeout(150);
        await page.screenshot({
          path: join(artifacts, `ui-doctor-error-${scheme}.png`),
          style: ".toasts { display: none !important; }",
        });
      }
      await page.emulateMedia({ colorScheme: "light" });

      renameSync(`${remote}.moved`, remote);
      await go("status");
      await page.click(`${card} [data-action="sync"]`);
      await page.waitForSelector(`${card}[data-state="idle"]:not(:has(.alert))`, {
        timeout: WAIT_MS,
      });
    },
  );

  const PRIVATE_KEY =
    "-----BEGIN OPENSSH PRIVATE KEY-----\n" +
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" +
    "-----END OPENSSH PRIVATE KEY-----\n";
  const remoteFiles = (dir = remote) =>
    git(tmp, ["--git-dir", dir, "ls-tree", "-r", "--name-only", "main"]);

  await check(
    "a key file is held back on its card, beside a freshness alert while the remote is away",
    async () => {
      const card = `article.folder[data-folder="${dirA}"]`;
      await go("status");
      // Alert on a commit left unpushed for a minute (a device-local setting; the engine reloads).
      await apiCall("PATCH", "/api/config", {
        folder: dirA,
        settings: { freshness: { unpushed_max_min: 1 } },
      });
      renameSync(remote, `${remote}.moved`);
      // A commit made two hours ago with git itself, which the missing remote keeps from being
      // pushed. Retried: the engine may hold the index for a moment.
      const past = new Date(Date.now() - 2 * 3600_000).toISOString();
      await waitUntil("an old commit to be made", () => {
        execFileSync("git", ["commit", "-q", "--allow-empty", "-m", "written offline"], {
          cwd: dirA,
          env: { ...baseEnv, GIT_AUTHOR_DATE: past, GIT_COMMITTER_DATE: past },
          stdio: "ignore",
        });
        return true;
      });
      writeFileSync(join(dirA, "deploy_key"), PRIVATE_KEY);
      const held = `${card} [data-testid="held"] li[data-path="deploy_key"]`;
      await page.waitForSelector(held, { timeout: WAIT_MS });
      assert(
        (await page.textContent(held)).includes("private key"),
        "the card says why the file is held",
      );
      await waitUntil("the freshness alert to show on the card", async () => {
        if ((await page.locator(`${card} [data-testid="stale"]`).count()) === 0) {
          // Each failed cycle checks freshness; ask for one rather than wait for a retry.
          const sync = page.locator(`${card} [data-action="sync"]`);
          if (await sync.isEnabled()) await sync.click();
          await page.waitForTimeout(500);
          return false;
        }
        return (await page.textContent(`${card} [data-testid="stale"]`)).includes(
          "have waited 2 h to be pushed",
        );
      });
      const status = await apiCall("GET", "/api/status");
      const folder = status.find((f) => f.path === dirA);
      assertEq(
        folder.held_back.map((h) => h.path),
        ["deploy_key"],
        "GET /api/status lists the held file",
      );
      assert(
        folder.stale.some((m) => m.includes("waited")),
        `GET /api/status has the alert: ${folder.stale}`,
      );
      assert(!remoteFiles(`${remote}.moved`).includes("deploy_key"), "the key never left");
      await shootElement(card, "status-held");
      await shoot("status-held-page");
    },
  );

  await check(
    "Release asks first, then the key reaches the remote and every device; the alert clears",
    async () => {
      const card = `article.folder[data-folder="${dirA}"]`;
      renameSync(`${remote}.moved`, remote);
      const release = `${card} li[data-path="deploy_key"] [data-action="release"]`;
      const dialog = 'dialog[data-testid="confirm"]';
      await page.click(release);
      await page.waitForSelector(`${dialog}[open]`);
      const text = (await page.textContent(dialog)).replace(/\s+/g, " ");
      assert(
        text.includes("pushed") && text.includes("every device"),
        `the question says where it goes: ${text}`,
      );
      assertEq(
        await page.evaluate(() => document.activeElement?.getAttribute("data-action")),
        "cancel",
        "Cancel has the focus, so Enter alone never releases a secret",
      );
      await shootElement(dialog, "status-release-confirm");
      await page.keyboard.press("Escape");
      await page.waitForSelector(`${dialog}[open]`, { state: "detached" });
      assert(!existsSync(join(dirA, ".git/supersonic-released")), "Escape released nothing");

      await page.click(release);
      await page.waitForSelector(`${dialog}[open]`);
      await page.click(`${dialog} [data-action="confirm"]`);
      await page.waitForSelector(`${dialog}[open]`, { state: "detached", timeout: WAIT_MS });
      assert(remoteFiles().includes("deploy_key"), "the released key was pushed");
      await page.waitForSelector(`${card} [data-testid="held"]`, {
        state: "detached",
        timeout: WAIT_MS,
      });
      await page.waitForSelector(`${card} [data-testid="stale"]`, {
        state: "detached",
        timeout: WAIT_MS,
      });
      cli(beta, ["sync", dirB]);
      assertEq(
        readFileSync(join(dirB, "deploy_key"), "utf8"),
        PRIVATE_KEY,
        "the other device received the released key",
      );
      await apiCall("PATCH", "/api/config", {
        folder: dirA,
        settings: { freshness: { unpushed_max_min: 60 } },
      });
    },
  );

  await check("Ignore keeps a second key on this device with a .syncignore rule", async () => {
    const card = `article.folder[data-folder="${dirA}"]`;
    writeFileSync(join(dirA, "backup.pem"), PRIVATE_KEY);
    const held = `${card} li[data-path="backup.pem"]`;
    await page.waitForSelector(held, { timeout: WAIT_MS });
    await page.click(`${held} [data-action="ignore"]`);
    await page.waitForSelector('.toast:has-text("backup.pem is ignored from now on")', {
      timeout: WAIT_MS,
    });
    const quarantine = await apiCall("GET", `/api/quarantine?folder=${encodeURIComponent(dirA)}`);
    assertEq(quarantine[0].held, [], "GET /api/quarantine holds nothing any more");
    // KNOWN (core): when the watcher has already queued the `.syncignore` write, the engine's
    // sync runs on that path alone and keeps its old held list until a full cycle; a second
    // Sync now (nothing queued then: a full cycle) brings the card in line.
    await waitUntil("the card to drop the ignored file", async () => {
      if ((await page.locator(held).count()) === 0) return true;
      const sync = page.locator(`${card} [data-action="sync"]`);
      if (await sync.isEnabled()) await sync.click();
      await page.waitForTimeout(500);
      return false;
    });
    const rules = readFileSync(join(dirA, ".syncignore"), "utf8");
    assert(rules.split("\n").includes("/backup.pem"), `an anchored rule: ${rules}`);
    const pushed = remoteFiles();
    assert(pushed.includes(".syncignore"), "the rule goes to every device");
    assert(!pushed.includes("backup.pem"), "the key itself stays here");
    assert(existsSync(join(dirA, "backup.pem")), "the file is kept on this device");
  });

  await check(
    "Undo last sync on the card reverses what the other device sent, after a confirmation",
    async () => {
      const card = `article.folder[data-folder="${dirA}"]`;
      const before = readFileSync(join(dirA, "todo.md"), "utf8");
      const unwanted = `${before}- a line alpha does not want\n`;
      cli(beta, ["sync", dirB]);
      writeFileSync(join(dirB, "todo.md"), unwanted);
      cli(beta, ["sync", dirB]);
      await page.click(`${card} [data-action="sync"]`);
      await waitUntil(
        "alpha to receive beta's edit",
        () => readFileSync(join(dirA, "todo.md"), "utf8") === unwanted,
      );
      await page.waitForSelector(`${card} [data-action="undo"]:not([disabled])`);
      const dialog = 'dialog[data-testid="confirm"]';
      await page.focus(`${card} [data-action="undo"]`);
      await page.keyboard.press("Enter");
      await page.waitForSelector(`${dialog}[open]`);
      const text = (await page.textContent(dialog)).replace(/\s+/g, " ");
      for (const words of ["new commit", "Nothing is lost", "Other devices receive the undo"]) {
        assert(text.includes(words), `the dialog explains "${words}": ${text}`);
      }
      await shootElement(dialog, "status-undo-confirm");
      await page.click(`${dialog} [data-action="confirm"]`);
      await page.waitForSelector(`${dialog}[open]`, { state: "detached", timeout: WAIT_MS });
      assertEq(readFileSync(join(dirA, "todo.md"), "utf8"), before, "alpha's file is back");
      await waitUntil(
        "the undo to reach the remote",
        () => git(tmp, ["--git-dir", remote, "show", "main:todo.md"]) + "\n" === before,
      );
      await page.waitForSelector('.toast:has-text("last sync undone")');
      cli(beta, ["sync", dirB]);
      assertEq(readFileSync(join(dirB, "todo.md"), "utf8"), before, "beta received the undo");

      await page.click(`${card} [data-action="undo"]`);
      await page.click(`${dialog} [data-action="confirm"]`);
      await page.waitForSelector(`${dialog} [data-testid="confirm-error"]`, { timeout: WAIT_MS });
      const refusal = await page.textContent(`${dialog} [data-testid="confirm-error"]`);
      assert(refusal.includes("nothing to undo"), `the engine's words are shown: ${refusal}`);
      await shootElement(dialog, "status-undo-refused");
      await page.click(`${dialog} [data-action="cancel"]`);
      await page.waitForSelector(`${dialog}[open]`, { state: "detached" });
    },
  );

  await check("a folder added in Settings syncs", async () => {
    git(tmp, ["init", "-q", "--bare", "-b", "main", remote2]);
    mkdirSync(dirAdded);
    writeFileSync(join(dirAdded, "hello.txt"), "added from the UI\n");
    await go("settings");
    await page.click('[data-action="add-folder"]');
    await page.fill("#af-path", dirAdded);
    await page.fill("#af-remote", remote2);
    await page.click('[data-testid="add-folder"] button[type="submit"]');
    await page.waitForSelector(`.folders button[title="${dirAdded}"]`, { timeout: WAIT_MS });
    await go("status");
    const card = `article.folder[data-folder="${dirAdded}"]`;
    await page.waitForSelector(card);
    await page.click(`${card} [data-action="sync"]`);
    await waitUntil("the added folder's file to reach its remote", () =>
      git(tmp, ["--git-dir", remote2, "ls-tree", "--name-only", "main"]).includes("hello.txt"),
    );
    await waitUntil(
      "its card to show the sync",
      async () => (await page.textContent(`${card} [data-fact="last-sync"]`)) === "just now",
    );
  });

  await check(
    "Add folder: restore from a remote with a progress bar, and a refused seed",
    async () => {
      const restored = join(tmp, "alpha-restored");
      await go("settings");
      await page.click('[data-action="add-folder"]');
      await page.check('input[name="af-kind"][value="hydrate"]');
      await page.fill("#af-path", restored);
      await page.fill("#af-remote", remote2);
      await page.click('[data-testid="add-folder"] button[type="submit"]');
      await page.waitForSelector(`.folders button[title="${restored}"]`, { timeout: WAIT_MS });
      assertEq(
        readFileSync(join(restored, "hello.txt"), "utf8"),
        "added from the UI\n",
        "the remote's file is restored",
      );

      // Seeding a remote that already has the branch fails in the background; the form says why.
      const seeded = join(tmp, "alpha-seeded");
      mkdirSync(seeded);
      writeFileSync(join(seeded, "x.txt"), "x\n");
      await page.click('[data-action="add-folder"]');
      await page.check('input[name="af-kind"][value="seed"]');
      await page.fill("#af-path", seeded);
      await page.fill("#af-remote", remote2);
      await page.click('[data-testid="add-folder"] button[type="submit"]');
      await page.waitForSelector('[data-testid="add-folder"] [role="alert"]', { timeout: WAIT_MS });
      const why = await page.textContent('[data-testid="add-folder"] [role="alert"]');
      assert(why.includes("already has branch main"), `the engine's words are shown: ${why}`);
      await page.waitForSelector('[data-testid="operation"][data-phase="failed"]');
      await shootElement('[data-testid="add-folder"]', "add-folder-seed-refused");
    },
  );

  await check(
    "Settings: a folder's remote, branch and mode change, with errors shown at their fields",
    async () => {
      git(tmp, ["init", "-q", "--bare", "-b", "main", remote3]);
      await go("settings");
      await page.click(`.folders button[title="${dirAdded}"]`);
      await page.waitForSelector("#f-remote");
      assertEq(await page.inputValue("#f-remote"), remote2, "the form shows the saved remote");
      assertEq(await page.inputValue("#f-branch"), "main", "and branch");

      await page.fill("#f-branch", "bad..name");
      await page.click('[data-action="save-settings"]');
      await page.waitForSelector('#f-branch[aria-invalid="true"]', { timeout: WAIT_MS });
      const branchErr = await page.textContent("#f-branch >> xpath=.. >> .field-error");
      assert(branchErr.includes("bad..name"), `the branch field says why: ${branchErr}`);

      await page.fill("#f-branch", "photos");
      await page.fill("#f-remote", join(tmp, "no-such-remote.git"));
      await page.click('[data-action="save-settings"]');
      await page.waitForSelector('#f-remote[aria-invalid="true"]', { timeout: WAIT_MS });
      assert(
        !(await page.getAttribute("#f-branch", "aria-invalid")),
        "only the remote is at fault now",
      );
      assertEq(
        git(dirAdded, ["remote", "get-url", "origin"]),
        remote2,
        "nothing changed on an error",
      );
      await page.locator("#f-remote").scrollIntoViewIfNeeded();
      await page.screenshot({
        path: join(artifacts, "ui-settings-folder-error.png"),
        style: ".toasts { display: none !important; }",
      });

      await page.fill("#f-remote", remote3);
      await page.selectOption("#f-mode", "push-only");
      await page.click('[data-action="save-settings"]');
      await page.waitForSelector('[data-action="save-settings"]', {
        state: "detached",
        timeout: WAIT_MS,
      });
      assertEq(await page.inputValue("#f-remote"), remote3, "the form shows the new remote");
      const cfg = JSON.parse(cli(alpha, ["config", "--json"]));
      const added = cfg.folders.find((f) => f.path === dirAdded);
      assertEq(
        [added.remote, added.branch, added.mode],
        [remote3, "photos", "push-only"],
        "the config holds the new remote, branch and mode",
      );
      assertEq(
        git(dirAdded, ["remote", "get-url", "origin"]),
        remote3,
        "the repository's origin follows",
      );
      assertEq(git(dirAdded, ["symbolic-ref", "HEAD"]), "refs/heads/photos", "HEAD follows");
      await shoot("settings-folder");

      writeFileSync(join(dirAdded, "moved.txt"), "after the move\n");
      await go("status");
      const card = `article.folder[data-folder="${dirAdded}"]`;
      await waitUntil("the card to show the new branch and mode", async () =>
        (await page.textContent(card)).includes("photos · push-only"),
      );
      await page.click(`${card} [data-action="sync"]`);
      await waitUntil("the next sync to reach the new remote's new branch", () => {
        const files = git(tmp, ["--git-dir", remote3, "ls-tree", "--name-only", "photos"]);
        return files.includes("hello.txt") && files.includes("moved.txt");
      });
      assert(
        !git(tmp, ["--git-dir", remote2, "ls-tree", "--name-only", "main"]).includes("moved.txt"),
        "the old remote got nothing more",
      );
    },
  );

  await check(
    "a long sync shows a progress bar on the folder's card until it is done",
    async () => {
      const card = `article.folder[data-folder="${dirAdded}"]`;
      await go("status");
      // Every change of the card's progress bar is recorded, however briefly it shows.
      await page.evaluate((sel) => {
        window.progressSeen = [];
        new MutationObserver(() => {
          const bar = document.querySelector(
            `${sel} [data-testid="progress"] [role="progressbar"]`,
          );
          if (bar) window.progressSeen.push(bar.getAttribute("aria-valuenow"));
        }).observe(document.body, { subtree: true, childList: true, attributes: true });
      }, card);
      // Incompressible data in files over the bulk path's 1 MiB: staging them one by one and
      // pushing them lasts well beyond the engine's half second of quiet before it reports.
      mkdirSync(join(dirAdded, "big"));
      for (let i = 0; i < 40; i++)
        writeFileSync(join(dirAdded, "big", `${i}.bin`), randomBytes(3_000_000));
      await page.waitForSelector(`${card} [data-testid="progress"]`, { timeout: WAIT_MS });
      await page.locator(card).screenshot({
        path: join(artifacts, "ui-status-progress.png"),
        style: ".toasts { display: none !important; }",
      });
      await waitUntil("the files to reach the remote", () =>
        git(tmp, ["--git-dir", remote3, "ls-tree", "--name-only", "photos:big"]).includes("39.bin"),
      );
      await page.waitForSelector(`${card} [data-testid="progress"]`, {
        state: "detached",
        timeout: WAIT_MS,
      });
      const seen = await page.evaluate(() => window.progressSeen);
      assert(
        seen.some((v) => v !== null && Number(v) > 0 && Number(v) < 100),
        `a determinate bar was shown part way: ${seen.slice(0, 20)}`,
      );
    },
  );

  await check(
    "Settings: the ignore check answers live and a bad value is shown at its field",
    async () => {
      await go("settings");
      await page.click(`.folders button[title="${dirA}"]`);
      await page.fill("#f-excludes", "*.log\nbuild/");
      await page.fill("#f-sync-interval_sec", "0");
      await page.click('[data-action="save-settings"]');
      await page.waitForSelector('#f-sync-interval_sec[aria-invalid="true"]', { timeout: WAIT_MS });
      const err = await page.textContent("#f-sync-interval_sec >> xpath=../.. >> .field-error");
      assert(err.length > 0, "the field shows the backend's message");
      await page.fill("#f-sync-interval_sec", "120");
      await page.click('[data-action="save-settings"]');
      await page.waitForSelector('[data-action="save-settings"]', {
        state: "detached",
        timeout: WAIT_MS,
      });
      await page.fill('[data-testid="ignore-samples"]', "logs/app.log\nnotes/todo.md\nbuild/x.o");
      await page.waitForSelector(
        '[data-testid="ignore-results"] li[data-path="build/x.o"][data-ignored="true"]',
        { timeout: WAIT_MS },
      );
      assertEq(
        await page.getAttribute(
          '[data-testid="ignore-results"] li[data-path="notes/todo.md"]',
          "data-ignored",
        ),
        "false",
        "a plain note is synced",
      );
      assertEq(
        await page.getAttribute(
          '[data-testid="ignore-results"] li[data-path="logs/app.log"]',
          "data-ignored",
        ),
        "true",
        "*.log is ignored",
      );
      const cfg = JSON.parse(cli(alpha, ["config", "--json"]));
      const a = cfg.folders.find((f) => f.path === dirA);
      assertEq(a.sync.interval_sec, 120, "the saved interval is in the config");
      assertEq(a.exclude_patterns, ["*.log", "build/"], "the saved patterns are in the config");
      await shoot("settings");
    },
  );

  await check("Settings → Check setup: every folder's remote answers, shown ok", async () => {
    await go("settings");
    await page.click('[data-action="doctor"]');
    const panel = '[data-testid="doctor"]';
    await page.waitForSelector(`${panel} [data-action="run-doctor"]:not([disabled])`, {
      timeout: WAIT_MS,
    });
    // Earlier results (the vanished remote) stay until the user checks again; the run shows
    // that it is under way.
    await page.evaluate(() => {
      window.doctorBusy = false;
      new MutationObserver(() => {
        if (document.querySelector('[data-testid="doctor"] .reports[aria-busy="true"]'))
          window.doctorBusy = true;
      }).observe(document.body, { subtree: true, childList: true, attributes: true });
    });
    await page.click(`${panel} [data-action="run-doctor"]`);
    await page.waitForSelector(`${panel} [data-action="run-doctor"]:not([disabled])`, {
      timeout: WAIT_MS,
    });
    assert(await page.evaluate(() => window.doctorBusy), "the run showed it was under way");
    for (const dir of [dirA, dirAdded]) {
      const report = `${panel} article.report[data-folder="${dir}"]`;
      assertEq(
        await page.getAttribute(`${report} li[data-check="remote"]`, "data-level"),
        "ok",
        `${dir}'s remote answers`,
      );
      assert(
        (await page.locator(`${report} li[data-check="git"][data-level="ok"]`).count()) === 1,
        "git is found",
      );
    }
    assertEq(
      await page.locator('[data-testid="autostart"]').count(),
      0,
      "a browser has no start-at-login toggle (the server has no login)",
    );
    const summary = await page.textContent(`${panel} [data-testid="doctor-summary"]`);
    assert(/passed/.test(summary) && /checked/.test(summary), `summary: ${summary}`);
    await shoot("settings-doctor");
  });

  await check("History filters by event type", async () => {
    await go("history");
    await page.waitForSelector('[data-testid="history"] tbody tr');
    const total = await page.locator('[data-testid="history"] tbody tr').count();
    await page.dblclick('.chip[data-type="sync_success"]');
    const rows = page.locator('[data-testid="history"] tbody tr');
    const n = await rows.count();
    assert(n > 0 && n < total, `filtered ${n} of ${total}`);
    const types = await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-type")));
    assert(
      types.every((t) => t === "sync_success"),
      `only successes: ${types}`,
    );
    await page.click(".chip.reset");
    await shoot("history");
  });

  await check("the page raised no errors", async () => {
    assertEq(pageErrors, [], "no uncaught errors or console errors");
  });
} finally {
  await context?.close().catch(() => {});
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => {
      const t = setTimeout(() => {
        server.kill("SIGKILL");
        r();
      }, 10_000);
      server.on("exit", () => {
        clearTimeout(t);
        r();
      });
    });
  }
  if (journey.failed) {
    console.log(
      `--- serve log (last 40 lines) ---\n${serverLog.split("\n").slice(-40).join("\n")}`,
    );
    console.log(`sandbox kept: ${tmp}`);
  } else if (!process.env.KEEP_TMP) {
    rmSync(tmp, { recursive: true, force: true });
  }
  journey.finish("ui-e2e");
}
