// The course's site (tools/build_docs.sh, make docs: Sphinx with the furo
// theme) in a real browser: headless Debian chromium, driven by
// playwright-core, run by Node's test runner.
//
//   tools/build_docs.sh              # the site, into build/docs/html/
//   node --test tests/browser/docs_site.test.mjs
//
// The test serves the site's folder over HTTP itself (a small static file
// server on a free port of 127.0.0.1, stopped at the end), so that the pages
// and their JavaScript run as they do for a learner, and checks:
//
//   - the front page: / sends the browser on to docs/index.html, which shows
//     the course's title;
//   - every page the front page leads to: starting there, it follows every
//     link within the site, breadth first, in one browser tab. Each HTML page
//     must answer 200, have an <h1> with text, and show every <img> (loaded,
//     with a width); its stylesheets, scripts and fonts must load. Every other
//     target (the Markdown sources in _sources/, the files in _downloads/)
//     must answer 200 to a HEAD request. A link to page.html#anchor needs an
//     element with that id (or an <a name>) on the page. One failure lists
//     every broken link, missing anchor and broken page, with the pages that
//     link to them;
//   - the search: search.html?q=reverse_url (Sphinx's JavaScript and
//     searchindex.js) lists results, one of them in the reference of
//     tornado.web (docs/reference/web.html).
//
// Settings, from the environment (CTest sets the first and the last):
//
//   DOCS_SITE        the site's html folder (default: build/docs/html of the
//                    repository; a relative path is from the current folder)
//   CHROME_PATH      the browser (default: /usr/bin/chromium)
//   BROWSER_TEST_OUT where a failing check leaves screenshots of its pages
//                    (default: build/tests/browser/docs_site)
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { clearScreenshots, launchBrowser } from "./browser.mjs";
import { startSiteServer, stopSiteServer } from "./static_server.mjs";

const repository = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const siteDir = path.resolve(process.env.DOCS_SITE || path.join(repository, "build", "docs", "html"));
const chromePath = process.env.CHROME_PATH || "/usr/bin/chromium";
const outDir = process.env.BROWSER_TEST_OUT || path.join(repository, "build", "tests", "browser", "docs_site");

// The front page's <h1> begins with it (docs/index.md).
const siteTitle = "Tornado, rebuilt in C++20";

// Every wait is bounded. A page of the site comes from this machine's disk:
// one that has not loaded within waitMs is a failure, not something to wait
// longer for.
const waitMs = 10000;
// The crawl (about 150 pages: 25 s when Chromium has two cores to itself,
// over 90 s beside five other tests under make test) stops at crawlMs and
// fails, saying how far it got; the test's own bound is a little looser.
const crawlMs = 200000;
const checkMs = 30000;
// At most this many screenshots of broken pages per run.
const maxScreenshots = 10;

// --- the browser ------------------------------------------------------------

let site = null; // { server, base }
let browser = null; // { context, close }
let screenshots = 0;

before(async () => {
  if (!existsSync(path.join(siteDir, "index.html"))) {
    throw new Error(
      `no site in ${siteDir}: build it with tools/build_docs.sh (make docs), ` +
        "or point DOCS_SITE at the html folder of a build",
    );
  }
  clearScreenshots(outDir, /^docs-site-.*\.png$/);
  site = await startSiteServer(siteDir);
  browser = await launchBrowser({
    chromePath,
    profilePrefix: "docs-site-browser-test-",
    viewport: { width: 1280, height: 800 },
  });
});

after(async () => {
  await browser?.close();
  if (site) await stopSiteServer(site.server);
});

// A page of the site as the learner's browser shows it: its uncaught
// JavaScript errors and the stylesheets, scripts and fonts that did not load
// are kept in page.problems (cleared by visit()).
async function newPage() {
  const page = await browser.context.newPage();
  page.setDefaultTimeout(waitMs);
  page.problems = [];
  page.on("pageerror", (error) => page.problems.push(`JavaScript error: ${error.message}`));
  const ownResource = (request) =>
    request.url().startsWith(site.base) && !["document", "image"].includes(request.resourceType());
  const answered = new Set(); // the URLs reported as answering 4xx or 5xx
  page.on("response", (response) => {
    if (ownResource(response.request()) && response.status() >= 400) {
      answered.add(response.url());
      page.problems.push(`${sitePath(response.url())} answered ${response.status()}`);
    }
  });
  page.on("requestfailed", (request) => {
    if (ownResource(request) && !answered.has(request.url())) {
      page.problems.push(`${sitePath(request.url())} not loaded (${request.failure()?.errorText})`);
    }
  });
  return page;
}

// Photographs the page into outDir (at most maxScreenshots a run) and says where.
async function photograph(page, name) {
  if (screenshots >= maxScreenshots) return;
  screenshots += 1;
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `docs-site-${name.replace(/[^A-Za-z0-9._-]+/g, "_")}.png`);
  await page.screenshot({ path: file, fullPage: false }).catch(() => {});
  console.error(`${page.url()}: screenshot ${file}`);
}

// Runs body(page) in a new tab; when it fails the tab is photographed.
async function withPage(name, body) {
  const page = await newPage();
  try {
    await body(page);
  } catch (error) {
    await photograph(page, name);
    throw error;
  } finally {
    await page.close().catch(() => {});
  }
}

// The path of a URL of the site, as the report shows it: "docs/index.html".
function sitePath(url) {
  const { pathname, search } = new URL(url);
  return pathname.slice(1) + search || "/";
}

// Opens / and follows its redirect to the front page.
async function openFrontPage(page) {
  const front = `${site.base}/docs/index.html`;
  const answered = page.waitForResponse(front, { timeout: waitMs }).catch(() => null);
  await page.goto(`${site.base}/`);
  const response = await answered;
  assert.ok(response, `/ did not lead to docs/index.html within ${waitMs} ms (the browser is at ${page.url()})`);
  assert.equal(response.status(), 200, `docs/index.html answered ${response.status()}`);
  await page.waitForURL(front, { waitUntil: "load" });
}

// --- the front page ---------------------------------------------------------

test("the front page: / leads to docs/index.html, which shows the course's title", { timeout: checkMs }, () =>
  withPage("front-page", async (page) => {
    await openFrontPage(page);
    const heading = page.locator("h1").first();
    await heading.waitFor({ state: "visible" });
    const shown = (await heading.innerText()).replace("¶", "").trim();
    assert.ok(shown.startsWith(siteTitle), `docs/index.html: the <h1> reads "${shown}", not "${siteTitle}…"`);
    assert.ok((await page.title()).trim() !== "", "docs/index.html: the page has no <title>");
  }),
);

// --- the crawl --------------------------------------------------------------

// Loads one HTML page into `page` and reads what the crawl needs from it:
// { status, headings (the <h1>s' text), ids, links: [{ url (null when the
// href is no URL), written }], images (the URLs of those that did not load),
// problems (see newPage()) }.
async function visit(page, url) {
  page.problems = [];
  let response;
  try {
    response = await page.goto(url, { waitUntil: "load", timeout: waitMs });
  } catch (error) {
    const status = `no page (${error.message.split("\n")[0]})`;
    return { status, headings: [], ids: [], links: [], images: [], problems: [] };
  }
  const found = await page.evaluate(async (imageWaitMs) => {
    // Images that load lazily would wait for a scroll: have them all load now,
    // and wait (bounded) until each has loaded or failed.
    const images = [...document.images];
    for (const image of images) image.loading = "eager";
    const settled = (image) =>
      image.complete ||
      new Promise((resolve) => {
        image.addEventListener("load", resolve, { once: true });
        image.addEventListener("error", resolve, { once: true });
      });
    await Promise.race([Promise.all(images.map(settled)), new Promise((resolve) => setTimeout(resolve, imageWaitMs))]);

    const absolute = (href) => {
      try {
        return new URL(href, document.baseURI).href;
      } catch {
        return null; // "http://", say
      }
    };
    const text = (element) => {
      const copy = element.cloneNode(true);
      for (const mark of copy.querySelectorAll(".headerlink")) mark.remove(); // the "¶"
      return copy.textContent.trim();
    };
    // getAttribute, not .href: an <a> inside an SVG has no string href.
    const hrefOf = (a) => a.getAttribute("href") ?? a.getAttribute("xlink:href") ?? "";
    return {
      headings: [...document.querySelectorAll("h1")].map(text),
      ids: [
        ...[...document.querySelectorAll("[id]")].map((element) => element.id),
        ...[...document.querySelectorAll("a[name]")].map((a) => a.getAttribute("name")),
      ],
      links: [...document.querySelectorAll("a[href], a[*|href]")].map((a) => ({
        url: absolute(hrefOf(a)),
        written: hrefOf(a),
      })),
      images: images
        .filter((image) => !(image.complete && image.naturalWidth > 0))
        .map((image) => absolute(image.getAttribute("src")) ?? image.getAttribute("src")),
    };
  }, waitMs);
  return { status: response?.status() ?? "no response", ...found, problems: page.problems };
}

// Asks the server for a link's target (HEAD, as fetch sends it, redirects
// followed): { status, html }.
async function probe(url) {
  try {
    const response = await fetch(url, { method: "HEAD", signal: AbortSignal.timeout(waitMs) });
    const type = response.headers.get("content-type") || "";
    return { status: response.status, html: response.ok && type.startsWith("text/html") };
  } catch (error) {
    return { status: `no answer (${error.message})`, html: false };
  }
}

// The crawl's findings: each problem once, with the pages it was found on
// (or, for a broken link, the pages that link to it).
class Findings {
  constructor() {
    this.pagesOf = new Map(); // problem -> Set of page URLs
  }

  add(problem, pageUrl) {
    if (!this.pagesOf.has(problem)) this.pagesOf.set(problem, new Set());
    this.pagesOf.get(problem).add(pageUrl);
  }

  get size() {
    return this.pagesOf.size;
  }

  // One line a problem: "problem, on a, b, c and 7 more pages".
  lines() {
    return [...this.pagesOf].map(([problem, pages]) => {
      const all = [...pages].map(sitePath).sort();
      const shown = all.slice(0, 8).join(", ");
      return `${problem} ${all.length > 8 ? `${shown} and ${all.length - 8} more pages` : shown}`;
    });
  }
}

// Starts at `start` and visits every page of the site reachable from it.
// Returns { visited (the HTML pages' paths), findings }.
async function crawl(page, start) {
  const deadline = Date.now() + crawlMs;
  const origin = new URL(start).origin;
  const visited = []; // the HTML pages visited
  const idsOf = new Map(); // an HTML page that loaded -> the set of its ids
  const targets = new Map(); // a link's target, without #fragment -> probe()
  const linkedFrom = new Map(); // a link's target -> the set of pages with a link to it
  const anchors = new Map(); // "target#fragment" -> { target, id, from: set of pages }
  // The site's own index.html only sends the browser on to the front page
  // (the test above); the crawl begins there.
  const queued = new Set([start, `${origin}/`, `${origin}/index.html`]);
  const queue = [start];
  const findings = new Findings();
  const setOf = (map, key, extra = {}) => {
    if (!map.has(key)) map.set(key, { ...extra, from: new Set() });
    return map.get(key).from;
  };

  while (queue.length > 0) {
    if (Date.now() > deadline) {
      findings.add(`the crawl stopped after ${crawlMs} ms: ${visited.length} pages visited, ` +
        `${queue.length} not yet, the next`, queue[0]);
      break;
    }
    const url = queue.shift();
    const seen = await visit(page, url);
    visited.push(url);
    if (seen.status === 200) idsOf.set(url, new Set(seen.ids));
    const broken = [];
    if (seen.status !== 200) broken.push(`page answered ${seen.status} to the browser:`);
    else if (!seen.headings.some((heading) => heading !== "")) broken.push("page without an <h1> with text:");
    for (const image of seen.images) broken.push(`image ${sitePath(image)} not loaded, on`);
    for (const problem of broken) findings.add(problem, url);
    if (broken.length > 0) await photograph(page, `crawl-${sitePath(url)}`);
    for (const problem of seen.problems) findings.add(`${problem}, on`, url);

    for (const link of seen.links) {
      if (link.url === null) {
        findings.add(`link to no URL (href="${link.written}"), on`, url);
        continue;
      }
      const target = new URL(link.url);
      if (target.origin !== origin) continue; // elsewhere on the web, mailto:, javascript:
      const fragment = target.hash.slice(1);
      target.hash = "";
      const key = target.href;
      setOf(linkedFrom, key).add(url);
      if (fragment !== "") {
        let id = fragment;
        try {
          id = decodeURIComponent(fragment);
        } catch {}
        setOf(anchors, `${key}#${fragment}`, { target: key, id }).add(url);
      }
      if (!targets.has(key)) targets.set(key, await probe(key));
      if (targets.get(key).html && !queued.has(key)) {
        queued.add(key);
        queue.push(key);
      }
    }
  }

  for (const [target, answer] of targets) {
    if (answer.status === 200) continue;
    for (const from of linkedFrom.get(target).from) {
      findings.add(`broken link: ${sitePath(target)} answered ${answer.status}, linked from`, from);
    }
  }
  for (const { target, id, from } of anchors.values()) {
    const ids = idsOf.get(target);
    if (ids === undefined || ids.has(id)) continue; // not HTML, or broken (reported above)
    for (const page of from) findings.add(`missing anchor: ${sitePath(target)} has no id "${id}", linked from`, page);
  }
  return { visited: visited.map(sitePath), findings };
}

// The site's HTML files, as paths from its folder ("docs/index.html").
function htmlFiles(folder = siteDir, prefix = "") {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    const name = prefix + entry.name;
    if (entry.isDirectory()) return htmlFiles(path.join(folder, entry.name), `${name}/`);
    return name.endsWith(".html") ? [name] : [];
  });
}

test("every page the front page leads to loads, with its heading, images, links and anchors",
  { timeout: crawlMs + checkMs }, async (t) => {
    const page = await newPage();
    try {
      await openFrontPage(page);
      const started = Date.now();
      const { visited, findings } = await crawl(page, page.url());
      t.diagnostic(`${visited.length} pages crawled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      // Not a failure, but worth knowing: the HTML files no link leads to
      // (but for the redirect and Sphinx's search and index, which need none).
      const needNoLink = ["index.html", "search.html", "genindex.html"];
      const unlinked = htmlFiles().filter((file) => !needNoLink.includes(file) && !visited.includes(file));
      if (unlinked.length > 0) t.diagnostic(`HTML files no link leads to: ${unlinked.sort().join(", ")}`);
      assert.ok(visited.length > 1, "the crawl found no page beyond the front page");
      if (findings.size > 0) {
        assert.fail(`${findings.size} problem(s) in the site ${siteDir}:\n  ${findings.lines().join("\n  ")}`);
      }
    } finally {
      await page.close().catch(() => {});
    }
  },
);

// --- the search -------------------------------------------------------------

test("the search: reverse_url finds the reference of tornado.web", { timeout: checkMs }, () =>
  withPage("search", async (page) => {
    await page.goto(`${site.base}/search.html?q=reverse_url`);
    // Sphinx's searchtools.js loads searchindex.js, then adds the results to
    // #search-results one by one and ends with a summary line.
    const results = "#search-results ul.search li a";
    await page.locator(results).first().waitFor({ state: "visible", timeout: waitMs }).catch(async () => {
      const shown = await page.locator("#search-results").innerText().catch(() => "(nothing)");
      assert.fail(`search.html?q=reverse_url: no result within ${waitMs} ms; the page shows: ${JSON.stringify(shown)}` +
        (page.problems.length > 0 ? `\n  ${page.problems.join("\n  ")}` : ""));
    });
    const found = await page
      .waitForFunction(
        (selector) =>
          [...document.querySelectorAll(selector)].some(
            (a) => new URL(a.getAttribute("href"), document.baseURI).pathname === "/docs/reference/web.html",
          ),
        results,
        { timeout: waitMs },
      )
      .then(() => true, () => false);
    if (!found) {
      const shown = await page.$$eval(results, (links) => links.map((a) => a.getAttribute("href")));
      assert.fail(`search.html?q=reverse_url: no result in docs/reference/web.html; the results: ${shown.join(", ")}`);
    }
  }),
);
