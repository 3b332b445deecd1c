// The chat page (final/examples/chat/: templates/index.html, rendered by the
// server, and static/chat.js) in a real browser: headless Debian chromium,
// driven by playwright-core, run by Node's test runner.
//
//   node --test tests/browser/chat.test.mjs
//
// It starts the chat server on a free port of 127.0.0.1, opens /chat in two
// pages and checks that a message typed in one appears in the other, escaped
// (the text shown is the text typed; no element was made from it): both
// pages long polling, both on WebSocket (/chat?transport=websocket), and one
// of each (the two transports share one room). And the history: a page
// opened later arrives with the earlier messages (the server renders them
// into it) and then gets each newer one once.
//
// Settings, from the environment (CTest sets the first and the last):
//
//   DEMO_APP         the demo app to start (default: build/bin/demo_app)
//   CHAT_SERVER      instead, a whole command line, split at spaces; for the
//                    Tornado twin of the demo app:
//                    CHAT_SERVER="/usr/bin/python3 tests/clients/demo_app_tornado.py"
//                    Either way the test adds --port=0 --address=127.0.0.1 and
//                    waits for the line "Listening on http://127.0.0.1:PORT/";
//                    relative paths are from the current folder (CTest runs
//                    the test in the repository's root).
//   CHROME_PATH      the browser (default: /usr/bin/chromium)
//   BROWSER_TEST_OUT where a failing scenario leaves screenshots of its pages
//                    (default: build/tests/browser)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { clearScreenshots, launchBrowser, startServer, stopServer } from "./browser.mjs";

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const chromePath = process.env.CHROME_PATH || "/usr/bin/chromium";
const outDir = process.env.BROWSER_TEST_OUT || path.join(repository, "build", "tests", "browser");

// Every wait is bounded: a message or a connection that has not arrived
// within waitMs is a failure, not something to wait longer for.
const waitMs = 5000;
const scenarioMs = 30000;

function serverCommand() {
  if (process.env.CHAT_SERVER) {
    return process.env.CHAT_SERVER.trim().split(/\s+/);
  }
  return [process.env.DEMO_APP || path.join(repository, "build", "bin", "demo_app")];
}

// --- the server -------------------------------------------------------------

let server = null; // { process, base, log }

function startChatServer() {
  const [program, ...args] = serverCommand();
  return startServer(program, args);
}

// Should this process end some other way (a crash, a signal from the
// runner), do not leave the server behind.
process.on("exit", () => {
  const child = server?.process;
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});

// --- the browser ------------------------------------------------------------

let browser = null; // { context, close }

before(async () => {
  clearScreenshots(outDir, /^chat-.*\.png$/);
  server = await startChatServer();
  browser = await launchBrowser({
    chromePath,
    profilePrefix: "chat-browser-test-",
    viewport: { width: 800, height: 600 },
  });
});

after(async () => {
  // The browser first: its long polls and sockets close, so the server has
  // nothing in flight to wait for when it is asked to stop.
  await browser?.close();
  if (server) await stopServer(server);
});

// --- the steps --------------------------------------------------------------

// A scenario gets its pages from open(); when it fails, every page it opened
// is photographed into outDir (with its console output and the server's last
// log lines on stderr), and the pages are closed either way.
async function scenario(name, body) {
  const pages = [];
  const open = async (query) => {
    const page = await browser.context.newPage();
    page.setDefaultTimeout(waitMs);
    page.consoleLines = [];
    page.on("console", (message) => page.consoleLines.push(`console.${message.type()}: ${message.text()}`));
    page.on("pageerror", (error) => page.consoleLines.push(`page error: ${error.message}`));
    // What went over the wire, to check that each page used its transport.
    page.requests = [];
    page.framesSent = [];
    page.framesReceived = [];
    page.pollAnswers = []; // a promise per answered POST /chat/updates: its messages' ids
    page.on("request", (request) => page.requests.push(`${request.method()} ${new URL(request.url()).pathname}`));
    page.on("response", (response) => {
      if (new URL(response.url()).pathname !== "/chat/updates") return;
      const ids = response.json().then((answer) => answer.messages.map((m) => m.id), () => []);
      page.pollAnswers.push(ids);
    });
    page.on("websocket", (socket) => {
      socket.on("framesent", (frame) => page.framesSent.push(frame.payload));
      socket.on("framereceived", (frame) => page.framesReceived.push(frame.payload));
    });
    pages.push(page);
    page.loaded = await page.goto(`${server.base}/chat${query}`); // the page as the server sent it
    return page;
  };
  try {
    await body(open);
  } catch (error) {
    mkdirSync(outDir, { recursive: true });
    for (const [index, page] of pages.entries()) {
      const file = path.join(outDir, `chat-${name}-page${index + 1}.png`);
      await page.screenshot({ path: file }).catch(() => {});
      console.error(`page ${index + 1} (${page.url()}), screenshot ${file}:`);
      for (const line of page.consoleLines) console.error(`  ${line}`);
    }
    console.error(`server's last lines:\n  ${server.log.join("\n  ")}`);
    throw error;
  } finally {
    for (const page of pages) await page.close().catch(() => {});
  }
}

// Waits until the page's status line reads `expected`.
async function waitForStatus(page, expected, hint) {
  try {
    await page.waitForFunction((text) => document.getElementById("status").textContent === text, expected, {
      timeout: waitMs,
    });
  } catch {
    const shown = await page.textContent("#status");
    assert.fail(`${page.url()}: status line is "${shown}" after ${waitMs} ms, expected "${expected}"${hint}`);
  }
}

const longPolling = "";
const webSocket = "?transport=websocket";

async function openLongPolling(open) {
  const page = await open(longPolling);
  await waitForStatus(page, "connected (long polling)", "");
  return page;
}

// A WebSocket page must be connected before anything is sent: the server
// gives a new socket no history, only the messages posted after it opened.
async function openWebSocket(open) {
  const page = await open(webSocket);
  await waitForStatus(page, "connected (WebSocket)", " (does the server answer the WebSocket /chat/ws?)");
  return page;
}

// A message no earlier run or scenario has sent, with the characters HTML
// gives a meaning to, so that escaping shows.
let sent = 0;
function newText(label) {
  sent += 1;
  return `${label} #${sent} <b>&"' bold?</b> ${Date.now().toString(36)}`;
}

const onWebSocket = (page) => new URL(page.url()).search === webSocket;

function bodiesOf(frames) {
  return frames.map((payload) => {
    try {
      return JSON.parse(payload).body;
    } catch {
      return undefined;
    }
  });
}

// Puts `text` into `from`'s input and sends it; then every page in `readers` (the
// sender's own page among them: its message comes back through its
// transport) must show it within waitMs, as text, having got it through its
// own transport.
async function sendAndSee(from, readers, text) {
  // fill(), not typing key by key: the page reads the field's value when
  // the form is submitted and listens to no key, and typing took a second
  // per message.
  await from.locator("#body").fill(text);
  await from.click("#send");
  for (const page of readers) {
    try {
      await page.waitForFunction(
        (wanted) => [...document.querySelectorAll("#inbox .message")].some((m) => m.textContent === wanted),
        text,
        { timeout: waitMs },
      );
    } catch {
      const shown = await page.$$eval("#inbox .message", (all) => all.map((m) => m.textContent));
      assert.fail(`${page.url()}: no message reads ${JSON.stringify(text)} after ${waitMs} ms; ` +
        `the inbox shows ${JSON.stringify(shown.slice(-5))}`);
    }
    // Escaped: the <b> the user typed is text, not an element.
    assert.equal(await page.locator("#inbox b").count(), 0, `${page.url()}: the message made a <b> element`);
    if (onWebSocket(page)) {
      assert.ok(bodiesOf(page.framesReceived).includes(text), `${page.url()}: the message came in no frame`);
      assert.ok(!page.requests.includes("POST /chat/updates"), `${page.url()}: long polls on the WebSocket page`);
    } else {
      assert.equal(page.framesSent.length + page.framesReceived.length, 0, `${page.url()}: WebSocket traffic`);
    }
  }
  // The message has gone round, so the sender's request or frame is on record.
  if (onWebSocket(from)) {
    assert.ok(bodiesOf(from.framesSent).includes(text), `${from.url()}: no frame {"body": the text} was sent`);
    assert.ok(!from.requests.includes("POST /chat/new"), `${from.url()}: sent by POST /chat/new, not on the socket`);
  } else {
    assert.ok(from.requests.includes("POST /chat/new"), `${from.url()}: no POST /chat/new`);
  }
  await from.waitForFunction(() => document.getElementById("body").value === "", null, { timeout: waitMs })
    .catch(() => assert.fail(`${from.url()}: the input still holds the text ${waitMs} ms after sending`));
}

// --- the scenarios -----------------------------------------------------------

test("long polling: a message typed in one page appears in the other, escaped", { timeout: scenarioMs }, () =>
  scenario("long-polling", async (open) => {
    const alice = await openLongPolling(open);
    const bob = await openLongPolling(open);
    await sendAndSee(alice, [bob, alice], newText("long polling"));
  }),
);

test("WebSocket: a message typed in one page appears in the other, escaped", { timeout: scenarioMs }, () =>
  scenario("websocket", async (open) => {
    const alice = await openWebSocket(open);
    const bob = await openWebSocket(open);
    await sendAndSee(alice, [bob, alice], newText("websocket"));
  }),
);

test("one room: WebSocket and long polling see each other's messages", { timeout: scenarioMs }, () =>
  scenario("mixed", async (open) => {
    const socketPage = await openWebSocket(open);
    const pollingPage = await openLongPolling(open);
    await sendAndSee(socketPage, [pollingPage, socketPage], newText("from websocket"));
    await sendAndSee(pollingPage, [socketPage, pollingPage], newText("from long polling"));
  }),
);

// The id of the message that reads `text` on `page` (its element is "m" + id).
async function idOf(page, text) {
  const id = await page.$$eval(
    "#inbox .message",
    (all, wanted) => all.find((m) => m.textContent === wanted)?.id ?? null,
    text,
  );
  assert.ok(id, `${page.url()}: no message reads ${JSON.stringify(text)}`);
  return id.slice("m".length);
}

async function countShown(page, text) {
  return page.$$eval(
    "#inbox .message",
    (all, wanted) => all.filter((m) => m.textContent === wanted).length,
    text,
  );
}

test("history: a page opened later shows earlier messages at load, then each newer one once",
  { timeout: scenarioMs }, () =>
  scenario("history", async (open) => {
    const alice = await openLongPolling(open);
    const earlier = newText("before the others came");
    await sendAndSee(alice, [alice], earlier);
    const earlierId = await idOf(alice, earlier);

    // The server rendered it into the pages it sent (GET /chat), escaped:
    // it is in their HTML, not fetched by their scripts.
    const bob = await openLongPolling(open);
    const carol = await openWebSocket(open);
    for (const page of [bob, carol]) {
      const where = page.url();
      assert.ok((await page.loaded.text()).includes(`id="m${earlierId}"`),
        `${where}: the earlier message is not in the page the server sent`);
      assert.equal(await countShown(page, earlier), 1, `${where}: the earlier one not shown once`);
      assert.equal(await page.locator("#inbox b").count(), 0, `${where}: a message made a <b>`);
    }

    const later = newText("after they came");
    await sendAndSee(alice, [bob, carol, alice], later);
    const laterId = await idOf(bob, later);
    for (const page of [bob, carol]) {
      const where = page.url();
      assert.equal(await countShown(page, earlier), 1, `${where}: the earlier one shown twice`);
      assert.equal(await countShown(page, later), 1, `${where}: the later one not shown once`);
    }
    // Bob's polls started after the last message in his page: no answer
    // brought the earlier message again, and the later one came once.
    const polled = (await Promise.all(bob.pollAnswers)).flat();
    assert.ok(!polled.includes(earlierId), `${bob.url()}: a poll fetched the page's message again`);
    assert.deepEqual(polled.filter((id) => id === laterId), [laterId],
      `${bob.url()}: the polls answered ${polled}`);
  }),
);
