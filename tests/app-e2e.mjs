// Desktop end-to-end: the real app (target/debug/supersonic-sync) under Xvfb, driven through
// tauri-driver and Debian's WebKitWebDriver (W3C WebDriver over HTTP; the client is the few
// calls below, no extra package). Run by tests/app-smoke.sh inside xvfb-run + dbus-run-session.
//
// The journey a new user makes:
//   1. the app starts with an empty config: Status says there is nothing to sync yet;
//   2. Settings → Add folder (path and remote typed, as a browser user would) → the running
//      engine picks the folder up and syncs it without Sync now or a restart;
//   3. a second device (the CLI with its own config) edits the same file; so does the app's
//      user; the conflict shows on the Conflicts page, each side labelled with its device;
//   4. Take theirs resolves it: the file holds the other device's text, the copy is gone, and
//      both devices end clean and equal to the remote;
//   5. Devices lists both devices (this one marked), and Settings → Check setup finds the
//      remote answering (both over IPC, as the app's capability allows);
//   6. Settings → Start at login writes ~/.config/autostart/supersonic-sync.desktop starting
//      this app (read back after leaving the page), and switching it off removes the file;
//   7. the window's size survives a restart.
// Screenshots of each page are saved as test-artifacts/app-e2e-*.png (look at them).
// Last line: `app-e2e: N passed, M failed`.

import { spawn, execFileSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  realpathSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  Journey,
  artifacts,
  assert,
  assertEq,
  hermeticSandbox,
  repoRoot,
  supersonic,
} from "./lib/journey.mjs";

const app = join(repoRoot, "target/debug/supersonic-sync");
const cliBin = join(repoRoot, "target/debug/supersonic");
const WAIT_MS = 60_000;
const ELEMENT = "element-6066-11e4-a52e-4f735466cecf";

// Reporting and waits: tests/lib/journey.mjs.
const journey = new Journey({ waitMs: WAIT_MS });
const check = (name, fn) => journey.check(name, fn);
const waitUntil = (what, fn, ms) => journey.waitUntil(what, fn, ms);

// ---------------------------------------------------------------------------------------------
// Sandbox: a hermetic user (HOME, git identity, Supersonic dirs), a bare remote, a second device

const sandbox = hermeticSandbox({
  prefix: "supersonic-app-e2e-",
  user: { name: "App E2E", email: "app-e2e@example.invalid" },
  env: { SUPERSONIC_LOG: "info" },
});
const { tmp, home, git } = sandbox;
const desk = sandbox.device("desk", join(tmp, "desk"));
const laptop = sandbox.device("laptop", join(tmp, "laptop"));
const remote = join(tmp, "remote.git");
const dirDesk = join(tmp, "desk-notes");
const dirLaptop = join(tmp, "laptop-notes");

const cli = (dev, args) => supersonic(cliBin, dev, args);

function remoteFile(path) {
  try {
    return execFileSync("git", ["--git-dir", remote, "show", `main:${path}`], {
      env: sandbox.env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// WebDriver: tauri-driver on a free port, one session whose browser is the app

const port = 4444 + (process.pid % 1000);
const WD = `http://127.0.0.1:${port}`;
let driver = null;
let driverLog = "";
let session = "";

async function wd(method, path, body) {
  const res = await fetch(`${WD}${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || json?.value?.error)
    throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json.value ?? json)}`);
  return json.value;
}

const s = (path) => `/session/${session}${path}`;

async function find(css) {
  const el = await wd("POST", s("/element"), { using: "css selector", value: css });
  return el[ELEMENT];
}

async function findAll(css) {
  const els = await wd("POST", s("/elements"), { using: "css selector", value: css });
  return els.map((e) => e[ELEMENT]);
}

async function waitFor(css, ms = WAIT_MS) {
  let el = null;
  await waitUntil(`${css} to show`, async () => (el = await find(css)) !== undefined, ms);
  return el;
}

async function click(css) {
  await wd("POST", s(`/element/${await waitFor(css)}/click`), {});
}

async function fill(css, text) {
  const el = await waitFor(css);
  await wd("POST", s(`/element/${el}/clear`), {});
  await wd("POST", s(`/element/${el}/value`), { text });
}

async function text(css) {
  return wd("GET", s(`/element/${await find(css)}/text`));
}

async function run(script, ...args) {
  return wd("POST", s("/execute/sync"), { script, args });
}

async function go(pageName) {
  await click(`nav a[data-page="${pageName}"]`);
  await waitFor(`nav a[data-page="${pageName}"][aria-current="page"]`);
}

async function shoot(name) {
  // Two animation frames: the page's latest change is painted before the picture is taken
  // (WebKitWebDriver can otherwise return the previous frame). Bounded in case frames stall.
  await wd("POST", s("/execute/async"), {
    script:
      "const done = arguments[arguments.length - 1];" +
      "const t = setTimeout(done, 1000);" +
      "requestAnimationFrame(() => requestAnimationFrame(() => { clearTimeout(t); done(); }));",
    args: [],
  });
  const png = await wd("GET", s("/screenshot"));
  writeFileSync(join(artifacts, `app-e2e-${name}.png`), Buffer.from(png, "base64"));
}

async function startDriver() {
  const bin = process.env.TAURI_DRIVER || "tauri-driver";
  driver = spawn(bin, ["--port", String(port), "--native-driver", "/usr/bin/WebKitWebDriver"], {
    env: desk.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  driver.stdout.on("data", (d) => (driverLog += d));
  driver.stderr.on("data", (d) => (driverLog += d));
  await waitUntil(
    "tauri-driver to listen",
    async () => (await fetch(`${WD}/status`).catch(() => null))?.ok === true,
    30_000,
  );
  const created = await wd("POST", "/session", {
    capabilities: { alwaysMatch: { "tauri:options": { application: app } } },
  });
  session = created.sessionId;
}

// ---------------------------------------------------------------------------------------------
// The journey

console.log(`app-e2e: ${app}\n         sandbox ${tmp}`);

try {
  await check("prerequisites: the app, the CLI, WebKitWebDriver", async () => {
    assert(existsSync(app), `${app} is missing: cargo build -p supersonic-sync`);
    assert(existsSync(cliBin), `${cliBin} is missing: cargo build -p supersonic-cli`);
    assert(existsSync("/usr/bin/WebKitWebDriver"), "apt-get install webkit2gtk-driver");
  });

  await check("the app starts under tauri-driver with nothing configured yet", async () => {
    await startDriver();
    await waitFor("nav a[data-page='status']");
    await waitUntil("the app to say there is nothing to sync yet", async () =>
      /no folder|add a folder|nothing/i.test(await text("main")),
    );
    await shoot("empty");
  });

  await check("Settings → Add folder: the running engine syncs it without a restart", async () => {
    git(tmp, ["init", "-q", "--bare", "-b", "main", remote]);
    mkdirSync(dirDesk);
    writeFileSync(join(dirDesk, "todo.md"), "# Todo\n- water the plants\n");
    await go("settings");
    await click('[data-action="add-folder"]');
    await fill("#af-path", dirDesk);
    await fill("#af-remote", remote);
    await shoot("add-folder");
    await click('[data-testid="add-folder"] button[type="submit"]');
    await waitFor(`.folders button[title="${dirDesk}"]`);
    // No Sync now: the engine follows the config it was started with.
    await waitUntil("the folder's file to reach the remote", () => remoteFile("todo.md") !== null);
    await go("status");
    await waitUntil(
      "its card to show the sync",
      async () =>
        (await text(`article.folder[data-folder="${dirDesk}"] [data-fact="last-sync"]`)) ===
        "just now",
    );
    await shoot("status");
  });

  const DESK = "# Todo\n- water the plants\n- call the plumber (desk)\n";
  const LAPTOP = "# Todo\n- water the plants\n- buy stamps (laptop)\n";
  await check("both devices edit todo.md: the Conflicts page shows each side's device", async () => {
    cli(laptop, ["init", dirLaptop, "--remote", remote]);
    cli(laptop, ["sync", dirLaptop]);
    writeFileSync(join(dirLaptop, "todo.md"), LAPTOP);
    cli(laptop, ["sync", dirLaptop]);
    assertEq(remoteFile("todo.md"), LAPTOP, "the laptop pushed first");
    writeFileSync(join(dirDesk, "todo.md"), DESK);
    await waitUntil(
      "the desk to keep both versions",
      () => readdirSync(dirDesk).filter((f) => f.startsWith("todo")).length === 2,
    );
    await waitUntil("the sidebar to count the conflict", async () =>
      (await text('nav a[data-page="conflicts"]')).includes("1"),
    );
    await go("conflicts");
    const card = 'article.conflict[data-path="todo.md"]';
    await waitFor(`${card} [data-testid="local-device"]`);
    assertEq(await text(`${card} [data-testid="local-device"]`), "desk", "mine is this device");
    assertEq(await text(`${card} [data-testid="remote-device"]`), "laptop", "theirs is the laptop");
    await shoot("conflicts");
  });

  await check("Take theirs: one file with the laptop's text, equal on both devices", async () => {
    const card = 'article.conflict[data-path="todo.md"]';
    await click(`${card} [data-action="take-remote"]`);
    await waitUntil("the card to go", async () => (await findAll(card)).length === 0);
    assertEq(readFileSync(join(dirDesk, "todo.md"), "utf8"), LAPTOP, "desk holds theirs");
    assertEq(
      readdirSync(dirDesk).filter((f) => f.startsWith("todo")),
      ["todo.md"],
      "the conflict copy is gone",
    );
    await waitUntil(
      "the resolution to reach the remote",
      () =>
        remoteFile("todo.md") === LAPTOP &&
        !git(tmp, ["--git-dir", remote, "ls-tree", "--name-only", "main"]).includes("sync-conflict") &&
        git(dirDesk, ["rev-parse", "HEAD"]) === git(tmp, ["--git-dir", remote, "rev-parse", "main"]),
    );
    cli(laptop, ["sync", dirLaptop]);
    assertEq(readFileSync(join(dirLaptop, "todo.md"), "utf8"), LAPTOP, "laptop unchanged");
    assertEq(
      readdirSync(dirLaptop).filter((f) => f.startsWith("todo")),
      ["todo.md"],
      "no copy on the laptop",
    );
    for (const dir of [dirDesk, dirLaptop]) {
      assertEq(git(dir, ["status", "--porcelain"]), "", `${dir} is clean`);
    }
    assertEq(
      git(dirLaptop, ["rev-parse", "HEAD"]),
      git(tmp, ["--git-dir", remote, "rev-parse", "main"]),
      "the laptop is at the remote's head",
    );
    // The desk's own copy of its version stays recoverable in history.
    const log = git(dirDesk, ["log", "--all", "--format=%H"]).split("\n");
    const kept = log.some((c) => {
      try {
        return git(dirDesk, ["grep", "-l", "call the plumber", c]).length > 0;
      } catch {
        return false;
      }
    });
    assert(kept, "the desk's losing version is still in history");
    await shoot("resolved");
  });
  await check("Devices lists both devices, and Check setup finds the remote answering", async () => {
    await go("devices");
    const rows = `section.folder[data-folder="${dirDesk}"] tr`;
    await waitFor(`${rows}[data-device="laptop"]`);
    assertEq(
      await run("return document.querySelector(arguments[0]).dataset.thisDevice", `${rows}[data-device="desk"]`),
      "true",
      "the desk is this device",
    );
    assertEq(
      await run("return document.querySelector(arguments[0]).dataset.thisDevice", `${rows}[data-device="laptop"]`),
      "false",
      "the laptop is another device",
    );
    await shoot("devices");
    await go("settings");
    await click('[data-action="doctor"]');
    await waitFor(
      `[data-testid="doctor"] article.report[data-folder="${dirDesk}"] li[data-check="remote"][data-level="ok"]`,
    );
    await shoot("doctor");
  });

  await check("Start at login writes the autostart entry for this app, and off removes it", async () => {
    // XDG_CONFIG_HOME is unset in the sandbox: the entry goes under HOME/.config.
    const entry = join(home, ".config/autostart/supersonic-sync.desktop");
    const toggle = '[data-testid="autostart"]';
    const selected = async () => wd("GET", s(`/element/${await waitFor(toggle)}/selected`));
    await go("settings");
    await waitUntil("the toggle to be ready", async () =>
      (await run("return !document.querySelector(arguments[0]).disabled", toggle)) === true,
    );
    assertEq(await selected(), false, "off at first");
    assert(!existsSync(entry), "no entry before");
    await click(toggle);
    await waitUntil("the entry to be written", () => existsSync(entry));
    const text = readFileSync(entry, "utf8");
    const lines = text.split("\n");
    assert(lines.includes(`Exec=${realpathSync(app)} --hidden`), `Exec= names the app:\n${text}`);
    assert(lines.includes("X-GNOME-Autostart-enabled=true"), `enabled for GNOME:\n${text}`);
    assert(lines.includes("Name=Supersonic Sync"), `named:\n${text}`);
    await waitUntil("the toggle to show on", async () => (await selected()) === true);
    // Read back from the file, not the page's memory.
    await go("status");
    await go("settings");
    await waitUntil("the toggle to read on again", async () => (await selected()) === true);
    await shoot("autostart-on");
    await click(toggle);
    await waitUntil("the entry to be removed", () => !existsSync(entry));
    await waitUntil("the toggle to show off", async () => (await selected()) === false);
  });

  await check("the window's size is kept across a restart", async () => {
    await wd("POST", s("/window/rect"), { width: 1040, height: 720 });
    const stateFile = join(desk.env.SUPERSONIC_DATA_DIR, "window-state.json");
    await waitUntil("the window state to be saved", () => {
      const st = JSON.parse(readFileSync(stateFile, "utf8"));
      return st.width === 1040 && st.height === 720;
    });
    await wd("DELETE", `/session/${session}`);
    session = "";
    const created = await wd("POST", "/session", {
      capabilities: { alwaysMatch: { "tauri:options": { application: app } } },
    });
    session = created.sessionId;
    await waitFor("nav a[data-page='status']");
    const rect = await wd("GET", s("/window/rect"));
    assertEq([rect.width, rect.height], [1040, 720], "the restarted window's size");
    await shoot("restarted");
  });
} finally {
  if (session) await wd("DELETE", `/session/${session}`).catch(() => {});
  if (driver) {
    driver.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 500));
  }
  if (journey.failed) console.log(`--- tauri-driver log ---\n${driverLog.slice(-4000)}`);
  journey.finish("app-e2e");
}
