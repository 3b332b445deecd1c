// What the browser tests share: Debian's Chromium, headless, driven by
// playwright-core, in a profile of its own, and their screenshots.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

// playwright-core is an npm devDependency of the repository (package.json);
// say how to get it rather than fail with "Cannot find package".
let chromium;
try {
  ({ chromium } = await import("playwright-core"));
} catch (error) {
  throw new Error(
    "playwright-core is not installed: run `npm ci` at the repository root " +
      "(`make test` does) (" + error.message + ")",
  );
}

// Starts Chromium in a fresh profile, so that nothing from another run
// (cache, storage) can make a page pass. Returns the browser context and a
// close() that also removes the profile.
// ignoreHTTPSErrors: take the test's own self-signed certificates.
// `spki` (the base64 SHA-256 of a certificate's public key): QUIC is on,
// and that certificate is taken by its key (a browser checks a QUIC
// certificate itself, so ignoreHTTPSErrors does not reach it); with
// `quicOrigin` ("127.0.0.1:PORT") too, that origin is reached by HTTP/3
// from the first request, else the browser finds HTTP/3 by Alt-Svc.
// Without them QUIC is off, as the other tests want.
export async function launchBrowser({
  chromePath,
  profilePrefix,
  viewport,
  ignoreHTTPSErrors = false,
  spki = null,
  quicOrigin = null,
}) {
  if (!existsSync(chromePath)) {
    throw new Error(
      `chromium not found at ${chromePath}: install it with tools/install-deps.sh browser ` +
        "(`make test` does), or point CHROME_PATH at a Chromium",
    );
  }
  const profileDir = mkdtempSync(path.join(tmpdir(), profilePrefix));
  const context = await chromium.launchPersistentContext(profileDir, {
    executablePath: chromePath,
    headless: true,
    // Chromium's start has taken over 30 s when `make test` launched it
    // beside its heaviest tests on a fresh machine; the start is not what
    // these tests judge.
    timeout: 90000,
    viewport,
    ignoreHTTPSErrors,
    args: [
      "--no-sandbox", // we run as root, where chromium's sandbox cannot start
      "--disable-gpu",
      ...(spki ? ["--enable-quic", `--ignore-certificate-errors-spki-list=${spki}`] : ["--disable-quic"]),
      ...(spki && quicOrigin ? [`--origin-to-force-quic-on=${quicOrigin}`] : []),
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profileDir, { recursive: true, force: true });
  };
  return { context, close };
}

// Screenshots left by an earlier run would mislead: only this run's failures stay.
export function clearScreenshots(outDir, pattern) {
  if (!existsSync(outDir)) return;
  for (const name of readdirSync(outDir)) {
    if (pattern.test(name)) rmSync(path.join(outDir, name));
  }
}

// The server's start is bounded loosely: an ASan build of the demo app on a
// machine busy with builds once took over 15 s.
const serverStartMs = 45000;
const serverStopMs = 5000;

// Starts `program` with `args` (to which --port=0 --address=127.0.0.1 are
// added) and resolves once it prints its ready line, "Listening on
// http://127.0.0.1:PORT/" (or https), with { process, base, log }: base is
// that URL without its last slash, log the last 40 lines of its stderr
// (the access log) and stdout, for failure reports.
export function startServer(program, args = []) {
  if (program.includes("/") && !existsSync(program)) {
    throw new Error(`server not found: ${program} (build it: make)`);
  }
  const child = spawn(program, [...args, "--port=0", "--address=127.0.0.1"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log = [];
  const keep = (line) => {
    log.push(line);
    if (log.length > 40) log.shift();
  };
  createInterface({ input: child.stderr }).on("line", keep);
  const started = { process: child, base: null, log };

  return new Promise((resolve, reject) => {
    const fail = (why) => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${program}: ${why}\n${log.join("\n")}`));
    };
    const timer = setTimeout(() => fail(`no ready line within ${serverStartMs} ms`), serverStartMs);
    child.once("error", (error) => fail(error.message));
    child.once("exit", (code, signal) => fail(`exited before it was ready (${signal ?? code})`));
    createInterface({ input: child.stdout }).on("line", (line) => {
      keep(line);
      const ready = /^Listening on (https?:\/\/127\.0\.0\.1:\d+)\/$/.exec(line.trim());
      if (ready && started.base === null) {
        clearTimeout(timer);
        child.removeAllListeners("exit");
        started.base = ready[1];
        resolve(started);
      }
    });
  });
}

// Stops a server startServer started, by its PID: SIGTERM (it lets requests
// in flight finish), then SIGKILL if it has not exited after serverStopMs.
export async function stopServer(started) {
  const child = started?.process;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, "SIGKILL");
  }, serverStopMs);
  await exited;
  clearTimeout(timer);
}
