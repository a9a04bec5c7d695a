// Browser tests of the built-in pages: Playwright drives Debian's Chromium against the real
// binary (target/debug/siwe-server, built by `cargo build`), with a test wallet injected into the
// page (EIP-1193 provider announced through EIP-6963) whose personal_sign is answered here in
// Node with known private keys (viem).
//
// Run: (cd tests/suites/browser && npm ci && npm test). Screenshots land in target/e2e/.
//
// What every browser test file shares: the binary started on a loopback port, the browser (one
// per file: call useBrowser() at the top), pages with or without the test wallet, screenshots,
// and JSON calls from Node.

import { after, before } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { privateKeyToAccount } from "viem/accounts";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const binary = join(root, "target", "debug", "siwe-server");
export const shots = join(root, "target", "e2e");
if (!existsSync(binary)) throw new Error(`${binary} is missing: run cargo build (or cargo test) first`);
mkdirSync(shots, { recursive: true });

export const keys = [
  "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318",
  "0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f",
  "0x646f1ce2fdad0e6deeeb5c7e8e5543bdde65e86029e2fd9fc169899c440a7913",
];
export const accounts = keys.map((k) => privateKeyToAccount(k));

export const PHONE = { width: 360, height: 780 };
export const DESKTOP = { width: 1280, height: 900 };

/** Every child this process started and has not stopped: killed after all tests, so a failed
 * test never leaves one that keeps Node (and CI) running. */
const running = new Set();
after(async () => {
  await Promise.all([...running].map((handle) => handle.stop()));
});

/**
 * Starts `command`; `stop()` ends it with SIGTERM (SIGKILL after 15 s), waits until it has
 * exited and only then removes `dir` (if given): a server still checkpointing on SIGTERM writes
 * into its data folder, and removing the folder under it fails with ENOTEMPTY.
 */
export function startProcess(command, args, { env, stdio = "ignore", dir } = {}) {
  const child = spawn(command, args, { env, stdio });
  const exited = new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", resolve);
  });
  let stopping;
  const handle = {
    child,
    stop() {
      stopping ??= (async () => {
        child.kill("SIGTERM");
        const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(killer);
        running.delete(handle);
        if (dir) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
      })();
      return stopping;
    },
  };
  running.add(handle);
  return handle;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts the real binary on a free loopback port with its own data folder. */
export async function startServer(env = {}) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const data = mkdtempSync(join(tmpdir(), "siwe-e2e-"));
  const serverProcess = startProcess(binary, [], {
    dir: data,
    env: {
      ...process.env,
      RUST_LOG: "",
      SIWE_SERVER__BIND: `127.0.0.1:${port}`,
      SIWE_SERVER__PUBLIC_URL: base,
      SIWE_DATABASE__PATH: join(data, "siwe.db"),
      SIWE_LOG__LEVEL: "warn",
      SIWE_RATE_LIMIT__AUTH_PER_MINUTE: "0",
      SIWE_RATE_LIMIT__READ_PER_MINUTE: "0",
      SIWE_UI__APP_NAME: "Example App",
      ...env,
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, stop: () => serverProcess.stop() };
}

let browser;

/** Starts Chromium before this file's tests and closes it after them. */
export function useBrowser() {
  before(async () => {
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
  });
  after(async () => {
    await browser?.close();
  });
}

/** A page whose window has the test wallet (unless `wallet` is false); `userAgent` as given or
 * the browser's own. */
export async function openPage({ wallet = true, viewport = DESKTOP, colorScheme = "light", locale = "en-US", userAgent } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, locale, ...(userAgent ? { userAgent } : {}) });
  const errors = [];
  // Signatures the test wallet made, across page loads.
  const signed = { count: 0 };
  if (wallet) {
    await context.exposeFunction("__testAddress", (index) => accounts[index].address);
    await context.exposeFunction("__testSign", (index, hex) => {
      signed.count += 1;
      return accounts[index].signMessage({ message: { raw: hex } });
    });
    await context.addInitScript(() => {
      const state = { index: 0, reject: false, delayMs: 0, chainId: "0x1" };
      window.__testWallet = state;
      const provider = {
        async request({ method, params }) {
          switch (method) {
            case "eth_requestAccounts":
            case "eth_accounts":
              return [await window.__testAddress(state.index)];
            case "eth_chainId":
              return state.chainId;
            case "wallet_switchEthereumChain":
              throw { code: 4902, message: "Unrecognized chain." };
            case "personal_sign":
              if (state.reject) throw { code: 4001, message: "User rejected the request." };
              if (state.delayMs) await new Promise((r) => setTimeout(r, state.delayMs));
              return window.__testSign(state.index, params[0]);
            default:
              throw { code: 4200, message: `Unsupported method ${method}` };
          }
        },
        on() {},
        removeListener() {},
      };
      const info = {
        uuid: "6f1c1b5e-4f5e-4c1a-9b7e-0d3c2a1b0e9f",
        name: "Test Wallet",
        rdns: "org.example.testwallet",
        icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='6' fill='%233b4cca'/%3E%3C/svg%3E",
      };
      const announce = () =>
        window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
      window.addEventListener("eip6963:requestProvider", announce);
      announce();
    });
  }
  const page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(msg.text());
  });
  page.on("pageerror", (err) => errors.push(String(err)));
  return { page, context, errors, signed };
}

export async function shot(page, name) {
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
}

/** JSON request to the server from Node (no browser), with a bearer token if given. */
export async function call(base, method, path, body, token) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(`${base}${path}`, { method, headers, body: body && JSON.stringify(body) });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

/**
 * Signs `accounts[index]` in from Node: the verify response's body (its `token`...) and the
 * session cookie it set, for a browser context (`context.addCookies([signedIn.cookie])`).
 */
export async function signInFromNode(base, index = 0) {
  const account = accounts[index];
  const { body: challenge } = await call(base, "POST", "/api/auth/challenge", { address: account.address });
  const signature = await account.signMessage({ message: challenge.message });
  const resp = await fetch(`${base}/api/auth/verify`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ message: challenge.message, signature }),
  });
  const body = await resp.json();
  assert.equal(resp.status, 200, JSON.stringify(body));
  const [pair] = resp.headers.getSetCookie()[0].split(";");
  const split = pair.indexOf("=");
  return { ...body, cookie: { name: pair.slice(0, split), value: pair.slice(split + 1), url: base } };
}

/** Signs `accounts[first]` in from Node and links `accounts[second]` to its account. */
export async function accountWithTwoWallets(base, first, second) {
  const signedIn = await signInFromNode(base, first);
  const { body: link } = await call(base, "POST", "/api/wallets/challenge", { address: accounts[second].address }, signedIn.token);
  const linkSignature = await accounts[second].signMessage({ message: link.message });
  const linked = await call(base, "POST", "/api/wallets", { message: link.message, signature: linkSignature }, signedIn.token);
  assert.equal(linked.status, 201, JSON.stringify(linked.body));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function signInWithTestWallet(page, base) {
  await page.goto(`${base}/`);
  await page.getByRole("button", { name: "Test Wallet" }).click();
  await page.waitForURL(`${base}/account`);
}

/** A real SMTP server (Python's aiosmtpd) writing what it receives to a maildir. */
export async function startSmtp() {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "siwe-e2e-mail-"));
  const maildir = join(dir, "maildir");
  for (const sub of ["tmp", "new", "cur"]) mkdirSync(join(maildir, sub), { recursive: true });
  const smtp = startProcess("python3", ["-m", "aiosmtpd", "-n", "-l", `127.0.0.1:${port}`, "-c", "aiosmtpd.handlers.Mailbox", maildir], {
    dir,
    stdio: ["ignore", "ignore", "inherit"],
  });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((resolve) => {
      const socket = createConnection(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (up) break;
    await sleep(100);
  }
  return {
    port,
    /** The first link to `base` in the n-th message (1-based), waiting for it. */
    async link(n, base) {
      for (let i = 0; i < 100; i++) {
        const files = readdirSync(join(maildir, "new"));
        if (files.length >= n) {
          const texts = files.map((f) => readFileSync(join(maildir, "new", f), "utf8").replace(/=\r?\n/g, "").replace(/=3D/g, "="));
          const text = texts.find((t) => t.includes(base)) ?? texts[0];
          return text.slice(text.indexOf(base)).split(/\s/)[0];
        }
        await sleep(100);
      }
      throw new Error(`no message ${n} arrived`);
    },
    stop: () => smtp.stop(),
  };
}

