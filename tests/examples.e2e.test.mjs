// README's web-app examples are files that run: examples/plain (served by the worker under
// `npm run dev` at /examples/plain/, no build step) and the Vite example's page (bundled by
// esbuild into /examples/react/; example-vite-react.e2e.test.mjs runs it through Vite) load in
// headless Chromium and show published events; README shows both files exactly as they are.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { collectErrors, workerAndBrowser } from "./support/browser.mjs";
import { root } from "./support/worker.mjs";
import { token, publish, taskProgress } from "./support/client.mjs";

const env = workerAndBrowser({ DEV_MODE: "true" }); // the pages get dev tokens

test("the plain JavaScript example, served as it is, shows its status and every published event", async () => {
  const page = await env.browser.newPage();
  const errors = collectErrors(page);
  const t = await token("dev");
  await page.goto(`${env.server.url}/examples/plain/`);
  await page.waitForFunction(() => document.getElementById("status")?.textContent === "connected", null, { timeout: 5000 });
  const r = await publish(env.server.url, t, taskProgress("plain-example"));
  assert.equal(r.status, 202);
  const item = await page.waitForSelector(`#events li[data-id="${r.body.ids[0]}"]`, { timeout: 2000 });
  assert.match(await item.textContent(), /task\.progress .*plain-example/);
  assert.deepEqual(errors, []);
});

test("the React example's page, bundled by npm run dev, shows the history and live events", async () => {
  const page = await env.browser.newPage();
  const errors = collectErrors(page);
  const t = await token("dev");
  assert.equal((await publish(env.server.url, t, taskProgress("react-before", 0.25))).status, 202);
  await page.goto(`${env.server.url}/examples/react/`);
  await page.waitForSelector('[data-status="connected"]', { timeout: 5000 });
  await page.waitForSelector('[data-task="react-before"]', { timeout: 5000 });
  assert.equal((await publish(env.server.url, t, taskProgress("react-live", 0.75))).status, 202);
  await page.waitForSelector('[data-task="react-live"]', { timeout: 2000 });
  assert.match(await page.textContent('[data-task="react-live"]'), /75%/);
  assert.deepEqual(errors, []);
});

/** The code blocks of README.md that follow a `<!-- example: <path> -->` line, by path. */
function readmeExamples() {
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const found = new Map();
  for (const m of readme.matchAll(/<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)```/g)) found.set(m[1], m[2]);
  return found;
}

test("README shows the example files exactly as they are", () => {
  const shown = readmeExamples();
  assert.deepEqual([...shown.keys()].sort(), ["examples/backend/publish.go", "examples/backend/publish.mjs", "examples/backend/publish.py", "examples/plain/main.js", "examples/vite-react/src/main.tsx"]);
  for (const [path, code] of shown) assert.equal(code, readFileSync(join(root, path), "utf8"), `README's copy of ${path} differs from the file`);
});

test("README and the Vite example name the tarballs `npm run pack` writes", () => {
  const schema = JSON.parse(readFileSync(join(root, "schema-wasm", "pkg", "package.json"), "utf8"));
  const client = JSON.parse(readFileSync(join(root, "client", "package.json"), "utf8"));
  const tarballs = [`orgstream-schema-${schema.version}.tgz`, `orgstream-client-${client.version}.tgz`];
  const readme = readFileSync(join(root, "README.md"), "utf8");
  const example = readFileSync(join(root, "examples", "vite-react", "package.json"), "utf8");
  for (const name of tarballs) {
    assert.ok(readme.includes(name), `README installs ${name}`);
    assert.ok(example.includes(`file:../../packages/${name}`), `examples/vite-react depends on ${name}`);
  }
});
