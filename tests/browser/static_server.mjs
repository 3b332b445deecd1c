// A static file server for the browser tests: a folder served on a free
// port of 127.0.0.1, as a learner's browser would get it from any web
// server (the site of make docs; the trace viewer and a trace).
import { realpathSync } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { createServer } from "node:http";
import path from "node:path";

const contentTypes = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".h": "text/plain; charset=utf-8",
  ".cpp": "text/plain; charset=utf-8",
  ".py": "text/plain; charset=utf-8",
  ".xml": "application/xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".eot": "application/vnd.ms-fontobject",
  ".pdf": "application/pdf",
};

// The file under `root` that `pathname` (as sent, percent-encoded) names, or
// null when it names none: not found, or outside the folder ("..", "%2e%2e",
// a symbolic link out of it). A folder answers with its index.html.
async function fileFor(root, pathname) {
  let decoded;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (decoded.includes("\0")) return null;
  const inside = (file) => file === root || file.startsWith(root + path.sep);
  let file = path.join(root, decoded);
  if (!inside(file)) return null;
  try {
    file = await realpath(file);
    if (!inside(file)) return null;
    if ((await stat(file)).isDirectory()) {
      if (!pathname.endsWith("/")) return { redirect: pathname + "/" };
      file = path.join(file, "index.html");
    }
    if (!(await stat(file)).isFile()) return null;
  } catch {
    return null;
  }
  return { file };
}

async function answer(root, request, response) {
  // The browser may keep what it got for the run (its profile is new), so
  // that each page does not fetch the site's scripts and stylesheets again;
  // an error it must ask for again.
  const send = (status, headers, body) => {
    response.writeHead(status, { "Cache-Control": status === 200 ? "max-age=600" : "no-store", ...headers });
    response.end(request.method === "HEAD" ? undefined : body);
  };
  if (request.method !== "GET" && request.method !== "HEAD") {
    return send(405, { Allow: "GET, HEAD", "Content-Type": "text/plain" }, "method not allowed\n");
  }
  const url = new URL(request.url, "http://localhost");
  const found = await fileFor(root, url.pathname);
  if (found === null) return send(404, { "Content-Type": "text/plain" }, "not found\n");
  if (found.redirect) return send(301, { Location: found.redirect + url.search }, "");
  const body = await readFile(found.file);
  const type = contentTypes[path.extname(found.file).toLowerCase()] || "application/octet-stream";
  send(200, { "Content-Type": type, "Content-Length": body.length }, body);
}

// Serves the folder `root` on a free port of 127.0.0.1; resolves to
// { server, base } once it listens.
export function startSiteServer(root) {
  const realRoot = realpathSync(root);
  const server = createServer((request, response) => {
    answer(realRoot, request, response).catch((error) => {
      if (!response.headersSent) response.writeHead(500, { "Content-Type": "text/plain" });
      response.end(`${error.message}\n`);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve({ server, base: `http://127.0.0.1:${server.address().port}` }));
  });
}

export function stopSiteServer(server) {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections(); // the browser's idle keep-alive connections
  });
}
