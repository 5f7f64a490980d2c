import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Debian's Chromium (CI: `apt-get install chromium`), or CHROMIUM_PATH; undefined when there is none. */
export function findChromium(): string | undefined {
  return [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p): p is string => !!p && existsSync(p));
}

/** For a test file: true when there is no Chromium, said in one line (its browser tests are then skipped; CI fails on a skip). */
export function chromiumMissing(): boolean {
  if (findChromium()) return false;
  console.warn("SKIPPED: the dashboard's browser tests need Chromium (apt-get install chromium, or set CHROMIUM_PATH)");
  return true;
}

/** Headless Chromium with nothing running in the background that could reach the network. */
export function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) throw new Error("no Chromium: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH");
  return chromium.launch({
    executablePath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}
