// The dashboard in a real browser: Debian's headless Chromium driven by playwright-core against
// a fresh dt-server whose instances come from the Python SDK (fixture.py). Every request to
// another origin is blocked and recorded, so the page is also proven to work offline.
//
// Environment: DT_SERVER_BIN (default target/debug/dt-server), DT_PYTHON (default
// .venv/bin/python), CHROMIUM (default /usr/bin/chromium), SCREENSHOT_DIR (default
// target/xtask/browser): the main views are saved there.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { createInterface } from "node:readline";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const SERVER = process.env.DT_SERVER_BIN || path.join(root, "target/debug/dt-server");
const PYTHON = process.env.DT_PYTHON || path.join(root, ".venv/bin/python");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const SHOTS = path.resolve(root, process.env.SCREENSHOT_DIR || "target/xtask/browser");
// This machine's network is closed: without these, Chromium's background connections fail.
const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
const WAIT = 20_000;
const XSS = "<img src=x onerror=alert(1)>";

let server;
let fixture;
let browser;
let page;
let base;
const blocked = [];
const problems = [];

/** Resolves with the first line of `stream` matching `re` (its match), or rejects at a deadline. */
function lineMatching(child, stream, re, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${what} within 60 s`)), 60_000);
    const lines = createInterface({ input: stream });
    lines.on("line", (line) => {
      const m = line.match(re);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.on("exit", (code) => reject(new Error(`${what}: the process exited with ${code}`)));
  });
}

async function api(pathname, init) {
  const response = await fetch(base + "/api/v1" + pathname, init);
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** Polls `check` (async, returns truthy when done) until it holds or the deadline passes. */
async function until(check, what, deadline = WAIT) {
  const end = Date.now() + deadline;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const row = (id) => page.locator("#instances tbody tr").filter({ has: page.getByRole("link", { name: id, exact: true }) });
const rowIds = () => page.locator("#instances tbody tr[data-id]").evaluateAll((rows) => rows.map((r) => r.dataset.id));
const badge = () => page.locator(".head .status");

async function shownIds(expected) {
  await until(async () => JSON.stringify((await rowIds()).sort()) === JSON.stringify([...expected].sort()),
    `the list to show ${JSON.stringify(expected)} (it shows ${JSON.stringify(await rowIds())})`);
}

async function screenshot(name) {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: true });
}

before(async () => {
  server = spawn(SERVER, ["--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
  const lines = createInterface({ input: server.stdout });
  const ports = await new Promise((resolve, reject) => {
    const found = {};
    const timer = setTimeout(() => reject(new Error("dt-server did not print its ports")), 30_000);
    lines.on("line", (line) => {
      let m;
      if ((m = line.match(/listening on .*:(\d+)$/))) found.grpc = m[1];
      if ((m = line.match(/dashboard on (http:\/\/\S+?)\/?$/))) found.http = m[1];
      if (found.grpc && found.http) {
        clearTimeout(timer);
        resolve(found);
      }
    });
    server.on("exit", (code) => reject(new Error(`dt-server exited with ${code}`)));
  });
  base = ports.http.replace("//localhost:", "//127.0.0.1:");
  fixture = spawn(PYTHON, [path.join(here, "fixture.py"), `localhost:${ports.grpc}`], { stdio: ["pipe", "pipe", "inherit"] });
  await lineMatching(fixture, fixture.stdout, /"ready": true/, "fixture.py ready line");

  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, serviceWorkers: "block" });
  const origin = new URL(base).origin;
  await context.route("**/*", (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin) return route.continue();
    blocked.push(url);
    return route.abort();
  });
  page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => {
    // Chromium itself logs the 404 and 409 answers the tests ask for on purpose (a purged
    // instance, a bulk purge of a running one); the page reports them in its own way.
    if (m.type() === "error" && !/Failed to load resource: .*status of (404|409) /.test(m.text())) problems.push("console: " + m.text());
  });
  page.on("dialog", (d) => {
    problems.push(`a native ${d.type()} dialog opened: ${d.message()}`);
    return d.dismiss();
  });
});

after(async () => {
  await browser?.close();
  fixture?.stdin.end();
  fixture?.kill();
  server?.kill("SIGTERM");
});

describe("dashboard", () => {
  test("lists the instances made through the Python SDK, with counts by status", async () => {
    await page.goto(base + "/");
    await shownIds(["greet-1", "greet-2", "greet-3", "approval-1", "restock-1", "parent-1", "parent-1-child",
      "wait-1", "wait-2", XSS]);
    const count = (s) => page.locator(`.chip[data-status=${s}] .n`).innerText();
    await until(async () => (await count("COMPLETED")) === "5", "5 completed");
    assert.equal(await count("FAILED"), "1");
    assert.equal(await count("RUNNING"), "4");
    await screenshot("dashboard-list.png");
  });

  test("shows an instance id made of HTML as text", async () => {
    const link = row(XSS).getByRole("link", { name: XSS, exact: true });
    assert.equal(await link.innerText(), XSS);
    assert.equal(await page.locator("img[src=x]").count(), 0);
    await link.click();
    await page.locator("#instance-id").filter({ hasText: XSS }).waitFor();
    assert.equal(await page.locator("#instance-id").innerText(), XSS);
    assert.equal(await page.locator("img[src=x]").count(), 0);
    assert.equal(decodeURIComponent(new URL(page.url()).pathname), "/instances/" + XSS);
  });

  test("filters by status; the URL keeps the filters through reload and Back", async () => {
    await page.goto(base + "/");
    await page.locator(".chip[data-status=FAILED]").click();
    await shownIds(["restock-1"]);
    assert.equal(new URL(page.url()).searchParams.get("status"), "FAILED");
    await page.reload();
    await shownIds(["restock-1"]);
    await row("restock-1").getByRole("link").click();
    await badge().filter({ hasText: "FAILED" }).waitFor();
    await page.goBack();
    await shownIds(["restock-1"]);
    assert.equal(await page.locator(".chip[data-status=FAILED]").getAttribute("aria-pressed"), "true");

    await page.goto(base + "/?status=COMPLETED&name=gre");
    await shownIds(["greet-1", "greet-2", "greet-3", "parent-1-child"]);
    await page.locator("input[name=id]").fill("greet-");
    await page.locator("input[name=id]").press("Enter");
    await shownIds(["greet-1", "greet-2", "greet-3"]);
    assert.equal(new URL(page.url()).searchParams.get("id"), "greet-");
    await page.goBack();
    await shownIds(["greet-1", "greet-2", "greet-3", "parent-1-child"]);
    assert.equal(await page.locator("input[name=id]").inputValue(), "");
  });

  test("opens an instance: payloads, timeline of activities, child and timer, history", async () => {
    await page.goto(base + "/");
    await row("parent-1").getByRole("link").click();
    await badge().filter({ hasText: "COMPLETED" }).waitFor();
    assert.match(await page.locator("#output").innerText(), /"hello": "Hello, parent!"/);
    const labels = await page.locator(".timeline svg text").allTextContents();
    for (const label of ["orchestration parent", "say_hello", "child greet", "timer"]) {
      assert.ok(labels.includes(label), `timeline label ${label} in ${JSON.stringify(labels)}`);
    }
    assert.equal(await page.locator(".timeline rect.span.activity.done").count(), 1);
    assert.equal(await page.locator(".timeline rect.span.timer").count(), 1);
    const types = await page.locator("#history tbody td.event-type").allInnerTexts();
    assert.equal(types.at(-1), "executionCompleted");
    assert.ok(types.includes("subOrchestrationInstanceCreated"));
    await screenshot("dashboard-instance.png");

    await page.locator("select[name=type]").selectOption("taskScheduled");
    await until(async () => (await page.locator("#history tbody tr").count()) === 1, "one taskScheduled row");
    assert.equal(new URL(page.url()).searchParams.get("type"), "taskScheduled");

    await page.locator(".timeline svg a").click();
    await page.locator("#instance-id").filter({ hasText: "parent-1-child" }).waitFor();
  });

  test("shows a failure with its stack trace", async () => {
    await page.goto(base + "/instances/restock-1");
    await badge().filter({ hasText: "FAILED" }).waitFor();
    const failure = await page.locator(".failure").innerText();
    assert.match(failure, /no stock record for 'blue widget'/);
    assert.match(await page.locator(".failure pre").first().innerText(), /File ".*fixture\.py", line \d+, in restock/);
    assert.equal(await page.locator(".timeline rect.span.failed").count(), 1);
    assert.equal(await page.locator("button[data-action=rewind]").isEnabled(), true);
    assert.equal(await page.locator("button[data-action=terminate]").isEnabled(), false);
  });

  test("raises an event (bad JSON is refused) and sees the orchestration complete live", async () => {
    await page.goto(base + "/instances/approval-1");
    await badge().filter({ hasText: "RUNNING" }).waitFor();
    await page.locator(".timeline rect.span.timer.open").waitFor();
    await screenshot("dashboard-waiting.png");
    await page.locator("button[data-action=raise]").click();
    await page.locator("#field-name").fill("approve");
    await page.locator("#field-data").fill("{not json");
    await page.locator("#dialog-ok").click();
    await page.locator("#dialog-error").filter({ hasText: "not valid JSON" }).waitFor();
    assert.equal(await page.locator("#dialog").evaluate((d) => d.open), true);
    await page.locator("#field-data").fill('"alice"');
    await page.locator("#dialog-ok").click();
    // No reload: the live feed brings the change.
    await badge().filter({ hasText: "COMPLETED" }).waitFor();
    assert.match(await page.locator("#output").innerText(), /"by": "alice"/);
    assert.match(await page.locator("#custom-status").innerText(), /approved/);
  });

  test("terminates, suspends and resumes, after confirmation", async () => {
    await page.goto(base + "/instances/wait-1");
    await badge().filter({ hasText: "RUNNING" }).waitFor();
    await page.locator("button[data-action=terminate]").click();
    await page.locator("#dialog-cancel").click();
    assert.equal((await api("/instances/wait-1")).body.status, "RUNNING");
    await page.locator("button[data-action=terminate]").click();
    await page.locator("#field-reason").fill("not needed");
    await page.locator("#dialog-ok").click();
    await badge().filter({ hasText: "TERMINATED" }).waitFor();
    assert.match(await page.locator("#output").innerText(), /not needed/);

    await page.goto(base + "/instances/wait-2");
    await page.locator("button[data-action=suspend]").click();
    await page.locator("#dialog-ok").click();
    await badge().filter({ hasText: "SUSPENDED" }).waitFor();
    await page.locator("button[data-action=resume]").click();
    await page.locator("#dialog-ok").click();
    await badge().filter({ hasText: "RUNNING" }).waitFor();
  });

  test("purges a finished instance", async () => {
    await page.goto(base + "/instances/wait-1");
    await badge().filter({ hasText: "TERMINATED" }).waitFor();
    await page.locator("button[data-action=purge]").click();
    await page.locator("#dialog-ok").click();
    await page.locator("#instances").waitFor();
    await until(async () => !(await rowIds()).includes("wait-1") && (await rowIds()).includes("wait-2"), "wait-1 gone from the list");
    assert.equal((await api("/instances/wait-1")).status, 404);
    await page.goto(base + "/instances/wait-1");
    await page.getByText("No orchestration instance with this id").waitFor();
  });

  test("shows a new instance live, and its completion", async () => {
    await page.goto(base + "/?name=greet");
    await shownIds(["greet-1", "greet-2", "greet-3", "parent-1-child"]);
    const started = await api("/instances", {
      method: "POST", headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "greet", instanceId: "live-1", input: ["live"] }),
    });
    assert.equal(started.status, 201);
    await row("live-1").locator(".status").filter({ hasText: "COMPLETED" }).waitFor();
  });

  test("acts on several instances at once and reports each one's outcome", async () => {
    await page.goto(base + "/");
    for (const id of ["greet-1", "greet-2", "wait-2"]) {
      await row(id).locator("input[data-select]").check();
    }
    await page.locator(".bulk").getByText("3 selected").waitFor();
    await page.locator("button[data-bulk=purge]").click();
    await page.locator("#dialog-ok").click();
    const outcomes = page.locator("#bulk-results li");
    await page.locator("#bulk-results").getByText("Purge: 2 done, 1 failed").waitFor();
    const failed = await outcomes.filter({ hasText: "wait-2" }).innerText();
    assert.match(failed, /has not finished/);
    await until(async () => {
      const shown = await rowIds();
      return !shown.includes("greet-1") && !shown.includes("greet-2") && shown.includes("wait-2");
    }, "greet-1 and greet-2 purged, wait-2 kept");
  });

  test("shows entities and their state; a signal changes it", async () => {
    await page.goto(base + "/");
    await page.getByRole("link", { name: "Entities" }).click();
    const entity = page.locator("#entities tbody tr[data-id='@counter@visits']");
    await entity.waitFor();
    await until(async () => (await entity.locator("td").last().innerText()) === "6", "counter state 6");
    await screenshot("dashboard-entities.png");
    await entity.getByRole("link").click();
    await page.locator("#entity-state").filter({ hasText: "6" }).waitFor();
    await page.getByRole("button", { name: "Signal" }).click();
    await page.locator("#field-operation").fill("add");
    await page.locator("#field-input").fill("4");
    await page.locator("#dialog-ok").click();
    await page.locator("#entity-state").filter({ hasText: "10" }).waitFor();
  });

  test("made no request to another origin and logged no error", () => {
    assert.deepEqual(blocked, []);
    assert.deepEqual(problems, []);
  });
});

describe("a server with an access token", () => {
  const TOKEN = "browser-test-token";
  let guarded;
  let guardedBase;
  let context;

  before(async () => {
    guarded = spawn(SERVER, ["--port", "0"], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, DT_AUTH_TOKEN: TOKEN } });
    const [, url] = await lineMatching(guarded, guarded.stdout, /dashboard on (http:\/\/\S+?)\/?$/, "the guarded server's dashboard line");
    guardedBase = url.replace("//localhost:", "//127.0.0.1:");
    const started = await fetch(guardedBase + "/api/v1/instances", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + TOKEN },
      body: JSON.stringify({ name: "guarded", instanceId: "guarded-1" }),
    });
    assert.equal(started.status, 201);
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  });

  after(async () => {
    await context?.close();
    guarded?.kill("SIGTERM");
  });

  test("refuses the API without the token", async () => {
    const response = await fetch(guardedBase + "/api/v1/instances");
    assert.equal(response.status, 401);
    assert.equal(response.headers.get("www-authenticate"), "Bearer");
  });

  test("asks for the token; once entered, the list loads and follows the live feed", async () => {
    const tab = await context.newPage();
    tab.setDefaultTimeout(WAIT);
    await tab.goto(guardedBase + "/");
    await tab.locator("#banner").filter({ hasText: "needs an access token" }).waitFor();
    await tab.locator("#token").fill("wrong-token");
    await tab.locator("#token-use").click();
    await tab.locator("#banner").filter({ hasText: "refused the access token" }).waitFor();
    await tab.locator("#token").fill(TOKEN);
    await tab.locator("#token-use").click();
    await tab.locator("#instances tbody tr[data-id='guarded-1']").waitFor();
    assert.equal(await tab.locator("#banner").isHidden(), true);
    // The feed is read with the token too: an instance started now shows up live.
    await tab.locator("#live-dot.on").waitFor();
    const started = await fetch(guardedBase + "/api/v1/instances", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer " + TOKEN },
      body: JSON.stringify({ name: "guarded", instanceId: "guarded-2" }),
    });
    assert.equal(started.status, 201);
    await tab.locator("#instances tbody tr[data-id='guarded-2']").waitFor();
    // The token stays in this tab's sessionStorage: a reload needs no new entry.
    await tab.reload();
    await tab.locator("#instances tbody tr[data-id='guarded-1']").waitFor();
    await tab.close();
  });
});
