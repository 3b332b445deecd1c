// The demo app over HTTP/3 in a real browser: headless Debian chromium,
// driven by playwright-core, against `demo_app --http2 --http3` over TLS.
//
//   node --test tests/browser/http3.test.mjs
//
// It makes a certificate for 127.0.0.1 with openssl, starts the demo app on
// a free port (HTTP/3 on the UDP port of the same number), and opens the
// chat page (which loads a stylesheet and a script) in two browsers:
//
//   * one told to reach 127.0.0.1:PORT by QUIC from the first request
//     (--origin-to-force-quic-on), taking the certificate by its public
//     key's hash (--ignore-certificate-errors-spki-list): each of the three
//     must come by "h3", in what the browser itself says of them
//     (performance.getEntries()'s nextHopProtocol);
//   * one with QUIC off, which loads the page over TCP (h2): its answers
//     must carry Alt-Svc: h3=":PORT". (A browser left to switch by itself
//     did not here: Chromium 156 kept to h2 over five loads with this
//     self-signed certificate, which it takes only by the flags above.)
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
const pageResources = ["/chat", "/chat/static/chat.css", "/chat/static/chat.js"];

let folder = null; // the certificate's
let spki = null; // the base64 SHA-256 of its public key
let server = null;

// A self-signed certificate for 127.0.0.1, valid for two days, and its key's hash.
function makeCertificate() {
  folder = mkdtempSync(path.join(tmpdir(), "http3-browser-test-"));
  const cert = path.join(folder, "cert.pem");
  const key = path.join(folder, "key.pem");
  const made = spawnSync("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
    "-addext", "subjectAltName=IP:127.0.0.1",
  ], { encoding: "utf8", timeout: 30000 });
  if (made.status !== 0) throw new Error(`openssl failed: ${made.stderr || made.error}`);
  const hashed = spawnSync("sh", ["-c",
    `openssl x509 -in '${cert}' -pubkey -noout | openssl pkey -pubin -outform der | ` +
    "openssl dgst -sha256 -binary | base64"], { encoding: "utf8", timeout: 30000 });
  if (hashed.status !== 0) throw new Error(`the key's hash: ${hashed.stderr || hashed.error}`);
  spki = hashed.stdout.trim();
  return { cert, key };
}

process.on("exit", () => {
  const child = server?.process;
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

before(async () => {
  clearScreenshots(outDir, /^http3-.*\.png$/);
  const { cert, key } = makeCertificate();
  server = await startServer(demoApp, ["--http2", "--http3", `--certfile=${cert}`, `--keyfile=${key}`]);
});

after(async () => {
  await stopServer(server);
  if (folder) rmSync(folder, { recursive: true, force: true });
});

// What the browser says each of the page's resources came by.
async function protocols(page) {
  const entries = await page.evaluate(() =>
    performance
      .getEntries()
      .filter((entry) => entry.entryType === "navigation" || entry.entryType === "resource")
      .map((entry) => ({ url: new URL(entry.name).pathname, protocol: entry.nextHopProtocol })),
  );
  return { seen: Object.fromEntries(entries.map((entry) => [entry.url, entry.protocol])), entries };
}

// Runs `check(page)` on a new page of `browser`; on failure, a screenshot
// named `name` and the server's last lines.
async function onPage(browser, name, check) {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(waitMs);
  try {
    await check(page);
  } catch (error) {
    mkdirSync(outDir, { recursive: true });
    const file = path.join(outDir, `http3-${name}.png`);
    await page.screenshot({ path: file }).catch(() => {});
    console.error(`screenshot ${file}; server's last lines:\n  ${server.log.join("\n  ")}`);
    throw error;
  } finally {
    await page.close().catch(() => {});
  }
}

test("Chromium told to use QUIC loads the page and its static files over h3", { timeout: 90000 }, async () => {
  const origin = new URL(server.base).host;
  const browser = await launchBrowser({
    chromePath, profilePrefix: "http3-browser-test-", viewport: { width: 800, height: 600 },
    quicOrigin: origin, spki,
  });
  try {
    await onPage(browser, "forced", async (page) => {
      const response = await page.goto(`${server.base}/chat`, { waitUntil: "load" });
      assert.equal(response.status(), 200);
      const { seen, entries } = await protocols(page);
      for (const url of pageResources) {
        assert.equal(seen[url], "h3", `${url} came by ${seen[url]} (all: ${JSON.stringify(entries)})`);
      }
    });
  } finally {
    await browser.close();
  }
});

test("The page's HTTPS answers tell the browser where HTTP/3 is (Alt-Svc)", { timeout: 90000 }, async () => {
  const browser = await launchBrowser({
    chromePath, profilePrefix: "http3-browser-test-", viewport: { width: 800, height: 600 },
    ignoreHTTPSErrors: true,
  });
  try {
    await onPage(browser, "alt-svc", async (page) => {
      const response = await page.goto(`${server.base}/chat`, { waitUntil: "load" });
      assert.equal(response.status(), 200);
      const { seen } = await protocols(page);
      assert.equal(seen["/chat"], "h2");
      assert.equal(response.headers()["alt-svc"], `h3=":${new URL(server.base).port}"`);
    });
  } finally {
    await browser.close();
  }
});
