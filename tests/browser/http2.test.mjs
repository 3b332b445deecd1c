// The demo app over HTTP/2 in a real browser: headless Debian chromium,
// driven by playwright-core, against `demo_app --http2` over TLS, where a
// browser offers h2 by ALPN (browsers speak HTTP/2 only over TLS).
//
//   node --test tests/browser/http2.test.mjs
//
// It makes a certificate for 127.0.0.1 with openssl (the browser is told to
// take it: ignoreHTTPSErrors), starts the demo app on a free port, opens the
// chat page (which loads a stylesheet and a script) and reads in the page
// what the browser itself says of each: performance.getEntries()'s
// nextHopProtocol must be "h2" for the page and for its static files.
//
// Settings, from the environment (CTest sets the first and the last):
//
//   DEMO_APP         the demo app (default: build/bin/demo_app)
//   CHROME_PATH      the browser (default: /usr/bin/chromium)
//   BROWSER_TEST_OUT where a failing check leaves a screenshot (default: build/tests/browser)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { clearScreenshots, launchBrowser, startServer, stopServer } from "./browser.mjs";

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const chromePath = process.env.CHROME_PATH || "/usr/bin/chromium";
const outDir = process.env.BROWSER_TEST_OUT || path.join(repository, "build", "tests", "browser");
const demoApp = process.env.DEMO_APP || path.join(repository, "build", "bin", "demo_app");
const waitMs = 10000;

let folder = null; // the certificate's
let server = null;
let browser = null;

// A self-signed certificate for 127.0.0.1, valid for two days.
function makeCertificate() {
  folder = mkdtempSync(path.join(tmpdir(), "http2-browser-test-"));
  const cert = path.join(folder, "cert.pem");
  const key = path.join(folder, "key.pem");
  const done = spawnSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1",
  ], { encoding: "utf8", timeout: 30000 });
  if (done.status !== 0) throw new Error(`openssl failed: ${done.stderr || done.error}`);
  return { cert, key };
}

process.on("exit", () => {
  const child = server?.process;
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

before(async () => {
  clearScreenshots(outDir, /^http2-.*\.png$/);
  const { cert, key } = makeCertificate();
  server = await startServer(demoApp, ["--http2", `--certfile=${cert}`, `--keyfile=${key}`]);
  browser = await launchBrowser({
    chromePath,
    profilePrefix: "http2-browser-test-",
    viewport: { width: 800, height: 600 },
    ignoreHTTPSErrors: true,
  });
});

after(async () => {
  await browser?.close();
  await stopServer(server);
  if (folder) rmSync(folder, { recursive: true, force: true });
});

test("Chromium loads the page and its static files over h2", { timeout: 60000 }, async () => {
  assert.match(server.base, /^https:/);
  const page = await browser.context.newPage();
  page.setDefaultTimeout(waitMs);
  try {
    const response = await page.goto(`${server.base}/chat`, { waitUntil: "load" });
    assert.equal(response.status(), 200);
    const entries = await page.evaluate(() =>
      performance
        .getEntries()
        .filter((entry) => entry.entryType === "navigation" || entry.entryType === "resource")
        .map((entry) => ({ url: new URL(entry.name).pathname, protocol: entry.nextHopProtocol })),
    );
    const seen = Object.fromEntries(entries.map((entry) => [entry.url, entry.protocol]));
    for (const url of ["/chat", "/chat/static/chat.css", "/chat/static/chat.js"]) {
      assert.equal(seen[url], "h2", `${url} came by ${seen[url]} (all: ${JSON.stringify(entries)})`);
    }
  } catch (error) {
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, "http2-chat.png");
    await page.screenshot({ path: file }).catch(() => {});
    console.error(`screenshot ${file}; server's last lines:\n  ${server.log.join("\n  ")}`);
    throw error;
  } finally {
    await page.close().catch(() => {});
  }
});
