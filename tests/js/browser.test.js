// One real browser: headless Chromium loads phoenix.js in a page and receives an event.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { chromium } from "playwright-core";
import { cloudEvent, startRelayman, uniqueSource } from "./support/relayman.js";

// Debian's chromium package; `make browser` installs it.
const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const WAIT_MS = 10_000;
const missing = !existsSync(CHROMIUM);
const skip = missing && process.env.CI !== "true" && `chromium not found at ${CHROMIUM}`;

// The page and the UMD build of phoenix.js, served over HTTP so the page has a real Origin.
const read = (path) => readFileSync(new URL(path, import.meta.url));
const FILES = {
  "/": ["text/html", read("browser/index.html")],
  "/phoenix.js": ["text/javascript", read("node_modules/phoenix/priv/static/phoenix.js")],
};

let pages;
let relayman;
let browser;
before(async () => {
  if (skip) return;
  pages = await serveFiles(FILES);
  // Only the page's origin may open sockets, as in a production deployment.
  relayman = await startRelayman({ env: { RELAYMAN_ALLOWED_ORIGINS: pages.origin } });
});
after(async () => {
  await browser?.close();
  await relayman?.close();
  pages?.close();
});

const BROWSER_TEST = { skip, timeout: 60_000 };

test("a page in headless Chromium receives an event posted over HTTP", BROWSER_TEST, async (t) => {
  assert.ok(!missing, `chromium not found at ${CHROMIUM}: run make browser`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  const page = await browser.newPage();
  page.on("pageerror", (error) => t.diagnostic(`page error: ${error.message}`));
  const source = uniqueSource("browser");
  const query = new URLSearchParams({ socket: relayman.socketUrl, source });

  await page.goto(`${pages.origin}/?${query}`, { timeout: WAIT_MS });
  const status = page.locator("#status", { hasText: "joined" });
  await status.waitFor({ timeout: WAIT_MS });
  assert.equal(await status.textContent(), "joined with 0 messages");

  const posted = await relayman.post(cloudEvent({ source, data: { seen: "in a browser" } }));
  const item = page.locator("#events li").first();
  await item.waitFor({ timeout: WAIT_MS });
  assert.deepEqual(JSON.parse(await item.textContent()), posted);
});

function serveFiles(files) {
  const server = createServer((request, response) => {
    const file = files[new URL(request.url, "http://page").pathname];
    response.writeHead(file ? 200 : 404, { "Content-Type": file ? file[0] : "text/plain" });
    response.end(file ? file[1] : "not found");
  });
  return new Promise((done) => {
    server.listen(0, "127.0.0.1", () => {
      const origin = `http://127.0.0.1:${server.address().port}`;
      done({ origin, close: () => server.close() });
    });
  });
}
