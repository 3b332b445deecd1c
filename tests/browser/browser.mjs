// What the browser tests share: Debian's Chromium, headless, driven by
// playwright-core, in a profile of its own, and their screenshots.
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

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
export async function launchBrowser({ chromePath, profilePrefix, viewport }) {
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
    timeout: 30000,
    viewport,
    args: [
      "--no-sandbox", // we run as root, where chromium's sandbox cannot start
      "--disable-gpu",
      "--disable-quic",
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
