// The loop's trace (TORNADO_TRACE) opened in a trace viewer we did not
// write: speedscope (npm, pinned in package.json), which imports Chrome's
// trace-event format, in headless Debian chromium driven by playwright-core,
// run by Node's test runner.
//
//   python3 tests/clients/final_trace_test.py build/bin/demo_app --keep build/tests/final/trace
//   node --test tests/browser/trace_viewer.test.mjs
//
// Perfetto (https://ui.perfetto.dev), the viewer the lessons name, is a web
// page this machine cannot reach, and Debian's chromium no longer ships
// chrome://tracing; speedscope reads the same files offline. The test serves
// speedscope's page and the trace from a static server of its own on
// 127.0.0.1, opens the page with #profileURL= pointing at the trace, and
// checks that speedscope imported it: no import error, its timeline drawn,
// and the loop's turns, polls and handlers listed by name (its Sandwich
// view). A screenshot of the page is left in BROWSER_TEST_OUT
// (trace-viewer.png) either way.
//
// Settings, from the environment (CTest sets the first and the last):
//
//   TRACE_FILE       the trace (default: build/tests/final/trace/trace.json)
//   CHROME_PATH      the browser (default: /usr/bin/chromium)
//   BROWSER_TEST_OUT where the screenshot goes (default: build/tests/browser/trace_viewer)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { launchBrowser } from "./browser.mjs";
import { startSiteServer, stopSiteServer } from "./static_server.mjs";

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const traceFile = path.resolve(
  process.env.TRACE_FILE || path.join(repository, "build", "tests", "final", "trace", "trace.json"),
);
const viewerDir = path.join(repository, "node_modules", "speedscope", "dist", "release");
const chromePath = process.env.CHROME_PATH || "/usr/bin/chromium";
const outDir = process.env.BROWSER_TEST_OUT || path.join(repository, "build", "tests", "browser", "trace_viewer");
const waitMs = 15000;

let folder = null; // what the server serves: speedscope's page and the trace
let site = null; // { server, base }
let browser = null; // { context, close }

before(async () => {
  if (!existsSync(traceFile)) {
    throw new Error(
      `no trace at ${traceFile}: make one with tests/clients/final_trace_test.py ` +
        "build/bin/demo_app --keep build/tests/final/trace (CTest's final.client.trace does)",
    );
  }
  if (!existsSync(path.join(viewerDir, "index.html"))) {
    throw new Error(`no speedscope in ${viewerDir}: run \`npm ci\` at the repository root (\`make test\` does)`);
  }
  // One folder for both, so that the page fetches the trace from its own
  // origin (the static server serves nothing outside its folder).
  folder = mkdtempSync(path.join(tmpdir(), "trace-viewer-"));
  cpSync(viewerDir, folder, { recursive: true });
  copyFileSync(traceFile, path.join(folder, "trace.json"));
  site = await startSiteServer(folder);
  browser = await launchBrowser({
    chromePath,
    profilePrefix: "trace-viewer-browser-test-",
    viewport: { width: 1280, height: 720 },
  });
});

after(async () => {
  await browser?.close();
  if (site) await stopSiteServer(site.server);
  if (folder) rmSync(folder, { recursive: true, force: true });
});

test("speedscope imports the loop's trace: turns, polls and handlers", { timeout: 60000 }, async () => {
  const page = await browser.context.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  const traceUrl = `${site.base}/trace.json`;
  await page.goto(`${site.base}/index.html#profileURL=${encodeURIComponent(traceUrl)}&title=demo_app`);
  try {
    // The view's tabs appear once a profile is loaded (an import error
    // shows a message instead).
    await page.getByText("Time Order").waitFor({ timeout: waitMs });
    const text = await page.evaluate(() => document.body.innerText);
    assert.ok(!/something went wrong|unrecognized format|failed to/i.test(text),
              `speedscope reported a problem: ${text.slice(0, 300)}`);
    const drawn = await page.evaluate(() =>
      [...document.querySelectorAll("canvas")].some((c) => c.width > 0 && c.height > 0));
    assert.ok(drawn, "speedscope drew no timeline (no canvas with an area)");
    // The flame chart is a canvas; the Sandwich view lists every event's
    // name as text, so that is where the loop's own names are looked for.
    await page.getByText("Sandwich").click();
    await page.waitForFunction(() => /\bturn\b/.test(document.body.innerText), null, { timeout: waitMs });
    const names = await page.evaluate(() => document.body.innerText);
    for (const name of ["turn", "poll", "handler"]) {
      assert.ok(new RegExp(`\\b${name}\\b`).test(names), `speedscope lists no "${name}" event`);
    }
    assert.deepEqual(errors, [], "the page threw while importing the trace");
  } finally {
    mkdirSync(outDir, { recursive: true });
    await page.screenshot({ path: path.join(outDir, "trace-viewer.png") });
    await page.close();
  }
});
