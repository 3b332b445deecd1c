// The blog (final/examples/blog/) in a real browser: headless Debian
// chromium, driven by playwright-core, run by Node's test runner.
//
//   node --test tests/browser/blog.test.mjs
//
// It starts a PostgreSQL cluster of its own in a temporary folder
// (tools/pg_cluster.py), the blog on it on a free port of 127.0.0.1, and
// goes through the blog as a person would, with the forms: the first
// visit leads to the author form; the author is created and lands on the
// compose form; a post written in Markdown shows with its heading, its
// link, and the <script> it holds as text; the home page, the archive and
// the feed (fetched and parsed as XML by DOMParser in the page) list it;
// the post is edited; the compose page's script keeps an empty title from
// being sent; a POST without the XSRF token is refused (403); the author
// signs out, fails with a wrong password, and signs in again. At the end
// the blog is stopped by SIGTERM and the cluster by its PID, and removed.
// The steps run in order, in one page: each starts where the last ended.
//
// Settings, from the environment (CTest sets BLOG, PG_CLUSTER and
// BROWSER_TEST_OUT):
//
//   BLOG             the blog program (default: build/bin/blog)
//   PG_CLUSTER       tools/pg_cluster.py (default: the repository's)
//   CHROME_PATH      the browser (default: /usr/bin/chromium)
//   BROWSER_TEST_OUT where a failing step leaves a screenshot of its page
//                    (default: build/tests/browser)
//
// Without PostgreSQL's server (/usr/lib/postgresql/*/bin/postgres), every
// step is skipped, saying so.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { clearScreenshots, launchBrowser, startServer, stopServer } from "./browser.mjs";

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const blogProgram = process.env.BLOG || path.join(repository, "build", "bin", "blog");
const clusterScript = process.env.PG_CLUSTER || path.join(repository, "tools", "pg_cluster.py");
const chromePath = process.env.CHROME_PATH || "/usr/bin/chromium";
const outDir = process.env.BROWSER_TEST_OUT || path.join(repository, "build", "tests", "browser");

// Every wait is bounded. A page has waitMs to load or change; bcrypt takes
// a quarter of a second of the server's CPU per sign-in.
const waitMs = 10000;
const stepMs = 30000;

const author = { email: "ann@example.com", name: "Ann Author", password: "correct horse battery" };
const title = "Hello from Chromium";
const markdown = [
  "# A heading",
  "",
  "See [the docs](https://example.com/docs) for more.",
  "",
  "<script>window.scriptRan = true; alert('raw')</script>",
  "",
].join("\n");
const slug = "hello-from-chromium";

function postgresInstalled() {
  const versions = existsSync("/usr/lib/postgresql") ? readdirSync("/usr/lib/postgresql") : [];
  return versions.some((version) => existsSync(`/usr/lib/postgresql/${version}/bin/postgres`));
}
const skip = postgresInstalled()
  ? false
  : "PostgreSQL's server is not installed (tools/install-deps.sh build)";

// --- the cluster and the blog ------------------------------------------------

let clusterDir = null;
let blog = null; // { process, base, log }
let browser = null; // { context, close }
let page = null;

// pg_cluster.py ACTION clusterDir ...: its output, or an error with its stderr.
function cluster(...args) {
  const done = spawnSync("python3", [clusterScript, args[0], clusterDir, ...args.slice(1)], {
    encoding: "utf8",
    timeout: 60000,
  });
  if (done.status !== 0) {
    throw new Error(`pg_cluster.py ${args[0]} failed: ${done.stderr || done.error}`);
  }
  return done.stdout.trim();
}

function startBlog(dsn) {
  if (!existsSync(blogProgram)) {
    throw new Error(`the blog is not built: ${blogProgram} (cmake --build build --target blog)`);
  }
  return startServer(blogProgram, [`--dsn=${dsn}`, "--cookie_secret=blog-browser-test"]);
}

// However this process ends, neither the blog nor the cluster is left behind.
process.on("exit", () => {
  const child = blog?.process;
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (clusterDir) {
    spawnSync("python3", [clusterScript, "stop", clusterDir, "--remove"], { timeout: 30000 });
  }
});

before(async () => {
  if (skip) return;
  clearScreenshots(outDir, /^blog-.*\.png$/);
  clusterDir = mkdtempSync(path.join(tmpdir(), "blog-browser-postgres-"));
  const dsn = cluster("start", "--no-tls");
  blog = await startBlog(dsn);
  browser = await launchBrowser({
    chromePath,
    profilePrefix: "blog-browser-test-",
    viewport: { width: 1000, height: 800 },
  });
  page = await browser.context.newPage();
  page.setDefaultTimeout(waitMs);
  page.consoleLines = [];
  page.on("console", (message) => page.consoleLines.push(`console.${message.type()}: ${message.text()}`));
  page.on("pageerror", (error) => page.consoleLines.push(`page error: ${error.message}`));
  // A post's <script> must never run: an alert would be the proof.
  page.dialogs = [];
  page.on("dialog", (dialog) => {
    page.dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
});

after(async () => {
  await browser?.close();
  await stopServer(blog);
  if (clusterDir) {
    cluster("stop", "--remove");
    rmSync(clusterDir, { recursive: true, force: true });
    clusterDir = null;
  }
});

// --- the steps -----------------------------------------------------------------

// One step of the walk; when it fails, the page is photographed into
// outDir, and its console and the blog's last log lines are printed.
function step(name, body) {
  test(name, { skip, timeout: stepMs }, async () => {
    try {
      await body();
    } catch (error) {
      mkdirSync(outDir, { recursive: true });
      const file = path.join(outDir, `blog-${name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60)}.png`);
      await page.screenshot({ path: file }).catch(() => {});
      console.error(`page ${page.url()}, screenshot ${file}:`);
      for (const line of page.consoleLines) console.error(`  ${line}`);
      console.error(`the blog's last lines:\n  ${blog.log.join("\n  ")}`);
      throw error;
    }
  });
}

const pathOf = (url) => new URL(url).pathname;

// Clicks `selector`, waits for the page it leads to (after the redirects:
// the next load, which may be of the same URL), and checks its path.
async function clickAndLoad(selector, expected) {
  await Promise.all([page.waitForEvent("load"), page.click(selector)]);
  assert.match(pathOf(page.url()), expected, `where ${selector} led`);
}

const signIn = '#header a[href^="/auth/login"]';
const signOut = '#header a[href^="/auth/logout"]';

async function headerText() {
  return (await page.textContent("#header .account")).replace(/\s+/g, " ").trim();
}

step("the first visit leads to the author form; creating the author signs in, then to compose", async () => {
  await page.goto(`${blog.base}/`);
  assert.equal(pathOf(page.url()), "/auth/create", "/ with no post and no author");
  await page.fill("input[name=email]", author.email);
  await page.fill("input[name=name]", author.name);
  await page.fill("input[name=password]", author.password);
  await clickAndLoad("input[type=submit]", /^\/compose$/);
  assert.match(await headerText(), /New post - Sign out/);
});

step("a post written in Markdown shows its heading, its link, and its <script> as text", async () => {
  await page.fill("input[name=title]", title);
  await page.fill("textarea[name=markdown]", markdown);
  await clickAndLoad("input[type=submit]", /^\/entry\//);
  assert.equal(pathOf(page.url()), `/entry/${slug}`);
  assert.equal((await page.textContent(".entry > h1")).trim(), title);
  assert.equal(await page.textContent(".entry .body h1"), "A heading");
  assert.equal(await page.textContent('.entry .body a[href="https://example.com/docs"]'), "the docs");
  assert.equal(await page.locator(".entry .body script").count(), 0, "the post made a <script> element");
  assert.match(await page.textContent(".entry .body"), /<script>window\.scriptRan = true;/);
  assert.equal(await page.evaluate(() => window.scriptRan ?? false), false, "the post's script ran");
  assert.deepEqual(page.dialogs, [], "an alert came up");
});

step("the home page and the archive list the post", async () => {
  await page.goto(`${blog.base}/`);
  assert.equal(pathOf(page.url()), "/");
  assert.equal((await page.textContent(`.entry h1 a[href="/entry/${slug}"]`)).trim(), title);
  await clickAndLoad('a[href="/archive"]', /^\/archive$/);
  assert.equal((await page.textContent(`ul.archive a[href="/entry/${slug}"]`)).trim(), title);
  assert.match(await page.textContent("ul.archive .date"), new RegExp(String(new Date().getFullYear())));
});

step("the feed is Atom: DOMParser in the page reads the post's title, link and XHTML", async () => {
  const feed = await page.evaluate(async () => {
    const atom = "http://www.w3.org/2005/Atom";
    const xhtml = "http://www.w3.org/1999/xhtml";
    const response = await fetch("/feed");
    const xml = new DOMParser().parseFromString(await response.text(), "application/xml");
    const error = xml.getElementsByTagName("parsererror")[0];
    const entries = [...xml.getElementsByTagNameNS(atom, "entry")];
    return {
      type: response.headers.get("Content-Type"),
      error: error ? error.textContent : null,
      root: xml.documentElement.localName,
      namespace: xml.documentElement.namespaceURI,
      titles: entries.map((entry) => entry.getElementsByTagNameNS(atom, "title")[0].textContent),
      links: entries.map((entry) => entry.getElementsByTagNameNS(atom, "link")[0].getAttribute("href")),
      headings: entries.map((entry) => [...entry.getElementsByTagNameNS(xhtml, "h1")].map((h) => h.textContent)),
    };
  });
  assert.equal(feed.type, "application/atom+xml");
  assert.equal(feed.error, null, "the feed is not well-formed XML");
  assert.equal(feed.root, "feed");
  assert.equal(feed.namespace, "http://www.w3.org/2005/Atom");
  assert.deepEqual(feed.titles, [title]);
  assert.deepEqual(feed.links, [`${blog.base}/entry/${slug}`]);
  assert.deepEqual(feed.headings, [["A heading"]]);
});

step("the post is edited: the form holds it, and the saved change shows", async () => {
  await page.goto(`${blog.base}/entry/${slug}`);
  await clickAndLoad(".entry .admin a", /^\/compose$/);
  assert.equal(await page.inputValue("input[name=title]"), title);
  assert.equal(await page.inputValue("textarea[name=markdown]"), markdown.trim());
  await page.fill("textarea[name=markdown]", "# The heading, edited\n\nNow with *emphasis*.");
  await clickAndLoad("input[value='Save changes']", /^\/entry\//);
  assert.equal(pathOf(page.url()), `/entry/${slug}`, "the slug stays");
  assert.equal(await page.textContent(".entry .body h1"), "The heading, edited");
  assert.equal(await page.textContent(".entry .body em"), "emphasis");
});

step("the compose page's script keeps a post without a title from being sent", async () => {
  await page.goto(`${blog.base}/compose`);
  const sent = [];
  const onRequest = (request) => {
    if (request.method() === "POST") sent.push(request.url());
  };
  page.on("request", onRequest);
  await page.fill("textarea[name=markdown]", "No title");
  await page.click("input[type=submit]");
  await page.waitForTimeout(500);
  page.off("request", onRequest);
  assert.deepEqual(sent, [], "a POST was sent");
  assert.equal(pathOf(page.url()), "/compose");
  assert.equal(await page.evaluate(() => document.activeElement.name), "title", "the title is not selected");
});

step("a POST without the XSRF token is refused: 403", async () => {
  const status = await page.evaluate(async () => {
    const form = new URLSearchParams({ title: "Forged", markdown: "no token" });
    return (await fetch("/compose", { method: "POST", body: form })).status;
  });
  assert.equal(status, 403);
  await page.goto(`${blog.base}/archive`);
  assert.equal(await page.locator("ul.archive li").count(), 1, "the forged post was made");
});

step("sign out, a wrong password shows the error, the right one signs in again", async () => {
  await page.goto(`${blog.base}/entry/${slug}`);
  await clickAndLoad(signOut, /^\/entry\//);
  assert.match(await headerText(), /Sign in to compose\/edit/);
  assert.equal(await page.locator(".entry .admin").count(), 0, "the edit link is still there");
  await clickAndLoad(signIn, /^\/auth\/login$/);
  await page.fill("input[name=email]", author.email);
  await page.fill("input[name=password]", "not the password");
  await clickAndLoad("input[type=submit]", /^\/auth\/login$/);
  assert.match(await page.textContent(".error"), /incorrect password/);
  await page.fill("input[name=email]", author.email);
  await page.fill("input[name=password]", author.password);
  await clickAndLoad("input[type=submit]", /^\/entry\//);
  assert.equal(pathOf(page.url()), `/entry/${slug}`, "not back on the post after signing in");
  assert.match(await headerText(), /Sign out/);
});

step("signed out, /compose asks to sign in", async () => {
  await clickAndLoad(signOut, /^\/entry\//);
  await page.goto(`${blog.base}/compose`);
  assert.equal(pathOf(page.url()), "/auth/login");
  assert.equal(new URL(page.url()).searchParams.get("next"), "/compose");
});
