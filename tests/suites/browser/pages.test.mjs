// Browser tests of the sign-in and account pages, the emailed links' pages and the OpenID
// Connect pages, through the real binary (see harness.mjs).
// This file is longer than 400 lines because each page state is a test here, and they share
// this file's helpers (sentences from en.json, screenshots at both widths, extra wallets).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { privateKeyToAccount } from "viem/accounts";
import {
  accounts,
  accountWithTwoWallets,
  call,
  DESKTOP,
  freePort,
  openPage,
  PHONE,
  root,
  shot,
  signInFromNode,
  signInWithTestWallet,
  sleep,
  startProcess,
  startServer,
  startSmtp,
  useBrowser,
} from "./harness.mjs";

useBrowser();

/** The English catalogue: the pages' sentences as the tests expect them. */
const en = JSON.parse(readFileSync(join(root, "assets", "i18n", "en.json"), "utf8"));

/** `key`'s English text with its {variables} filled. */
function sentence(key, vars = {}) {
  const text = key.split(".").reduce((node, name) => node && node[name], en);
  assert.equal(typeof text, "string", `${key} is in en.json`);
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** The sentence a page shows for the server's error `code`: the catalogue's, else the server's. */
function errorSentence(code, serverMessage) {
  return (en.errors && en.errors[code]) || serverMessage;
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** Screenshots of the page as it is, at the phone's and the desktop's width. */
async function shotBoth(page, name) {
  const size = page.viewportSize();
  await page.setViewportSize(PHONE);
  await shot(page, `${name}-phone`);
  await page.setViewportSize(DESKTOP);
  await shot(page, `${name}-desktop`);
  await page.setViewportSize(size);
}

/** Whether the page is wider than its window (a horizontal scroll bar). */
function scrollsSideways(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

describe("sign-in and account pages", () => {
  test("an injected wallet signs in, links a second wallet, unlinks it and signs out", async () => {
    const server = await startServer();
    const { page, context, errors } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await assert.doesNotReject(page.getByRole("heading", { name: "Sign in to Example App" }).waitFor());
      const option = page.getByTestId("wallet-option");
      await option.waitFor();
      assert.equal((await option.textContent()).trim(), "Test Wallet");
      assert.equal(await option.locator("img").count(), 1, "the wallet's icon is shown");
      await shot(page, "login-desktop");

      await option.click();
      await page.waitForURL(`${server.base}/account`);
      const address = page.getByTestId("user-address");
      await address.waitFor();
      assert.equal((await address.textContent()).toLowerCase(), accounts[0].address.toLowerCase());
      await page.getByTestId("wallet").first().waitFor();
      assert.equal(await page.getByTestId("wallet").count(), 1);

      // Link the second wallet: the test wallet switches account first.
      await page.evaluate(() => (window.__testWallet.index = 1));
      await page.getByRole("button", { name: "Link a browser wallet" }).click();
      await page.getByTestId("notice").filter({ hasText: "linked" }).waitFor();
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=wallet]").length === 2);
      const wallets = await page.getByTestId("wallets").textContent();
      assert.ok(wallets.includes(accounts[1].address), wallets);
      assert.ok(wallets.includes("primary"));
      await page.getByTestId("event").first().waitFor();
      await shot(page, "account-desktop");
      await page.setViewportSize(PHONE);
      await shot(page, "account-phone");
      await page.setViewportSize(DESKTOP);

      // Unlink it.
      page.once("dialog", (dialog) => dialog.accept());
      const second = page.getByTestId("wallet").filter({ hasText: accounts[1].address });
      await second.getByRole("button", { name: "Unlink" }).click();
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=wallet]").length === 1);

      // Sign out: the account page now sends us to sign in.
      await page.getByRole("button", { name: "Sign out", exact: true }).click();
      await page.waitForURL(`${server.base}/login`);
      await page.goto(`${server.base}/account`);
      await page.waitForURL(/\/login\?expired=1/);
      await page.getByTestId("notice").filter({ hasText: "session has ended" }).waitFor();
      assert.deepEqual(errors.filter((e) => !e.includes("401")), [], "no script errors (CSP included)");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("after the re-authentication window, unlinking and signing out everywhere ask the wallet to sign again", async () => {
    const server = await startServer({ SIWE_SESSION__REAUTH_WINDOW_SECS: "2" });
    const { page, context, errors, signed } = await openPage();
    try {
      await accountWithTwoWallets(server.base, 0, 1);
      await signInWithTestWallet(page, server.base);
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=wallet]").length === 2);
      assert.equal(signed.count, 1, "the sign-in");
      await sleep(2500);

      // Unlink: refused as not recent, the wallet signs the challenge, the unlink is retried.
      page.once("dialog", (dialog) => dialog.accept());
      const second = page.getByTestId("wallet").filter({ hasText: accounts[1].address });
      await second.getByRole("button", { name: "Unlink" }).click();
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=wallet]").length === 1);
      assert.equal(signed.count, 2, "one re-authentication");
      const reauthenticated = (en.events && en.events.reauthenticated) || "reauthenticated";
      await page.getByTestId("event").filter({ hasText: reauthenticated }).first().waitFor();
      assert.ok(await page.getByTestId("reauth").isHidden(), "no card was needed");

      // Sign out everywhere, later again.
      await sleep(2500);
      page.once("dialog", (dialog) => dialog.accept());
      await page.getByRole("button", { name: "Sign out everywhere" }).click();
      await page.waitForURL(`${server.base}/login`);
      assert.equal(signed.count, 3, "one more re-authentication");
      const session = await page.evaluate(async () => (await fetch("/api/auth/session")).status);
      assert.equal(session, 401, "signed out");
      assert.deepEqual(errors.filter((e) => !e.includes("401") && !e.includes("403")), [], "no script errors");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("without a browser wallet, the re-authentication message is signed elsewhere and pasted", async () => {
    const server = await startServer({ SIWE_SESSION__REAUTH_WINDOW_SECS: "1" });
    const { page, context } = await openPage({ wallet: false });
    try {
      // Signed in from this browser with a message signed elsewhere.
      await page.goto(`${server.base}/login`);
      await page.getByLabel("Your address").fill(accounts[2].address);
      await page.getByRole("button", { name: "Get the message" }).click();
      await page.waitForFunction(() => document.getElementById("manual-message").value.length > 0);
      const signIn = await page.getByLabel("Message to sign").inputValue();
      await page.getByLabel("Signature").fill(await accounts[2].signMessage({ message: signIn }));
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.waitForURL(`${server.base}/account`);
      await page.getByTestId("user-address").filter({ hasText: accounts[2].address }).waitFor();
      await sleep(1500);

      page.once("dialog", (dialog) => dialog.accept());
      await page.getByRole("button", { name: "Sign out everywhere" }).click();
      const card = page.getByTestId("reauth");
      await card.waitFor();
      await card.getByText("No browser wallet found").waitFor();
      await card.getByText("Sign manually").click();
      await page.waitForFunction(() => document.getElementById("reauth-message").value.length > 0);
      const message = await page.locator("#reauth-message").inputValue();
      assert.ok(message.includes(accounts[2].address), message);
      assert.ok(message.includes("Confirm a sensitive change"), message);
      await shot(page, "reauth-manual");
      await page.locator("#reauth-signature").fill(await accounts[2].signMessage({ message }));
      await card.getByRole("button", { name: "Confirm" }).click();
      await page.waitForURL(`${server.base}/login`);
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("the manual flow signs in with a signature made outside the page", async () => {
    const server = await startServer();
    const { page, context } = await openPage({ wallet: false, viewport: PHONE });
    try {
      await page.goto(`${server.base}/login?next=/account%3Ffrom%3Dmanual`);
      await page.getByText("No browser wallet found").waitFor();
      await shot(page, "login-phone");
      assert.ok(await page.locator("#manual").evaluate((d) => d.open), "the manual flow is open");
      await page.getByLabel("Your address").fill(accounts[2].address.toLowerCase());
      await page.getByRole("button", { name: "Get the message" }).click();
      const box = page.getByLabel("Message to sign");
      await page.waitForFunction(() => document.getElementById("manual-message").value.length > 0);
      const message = await box.inputValue();
      assert.ok(message.includes(accounts[2].address), message);
      assert.ok(message.startsWith(`127.0.0.1:${new URL(server.base).port} wants you to sign in`), message);
      const signature = await accounts[2].signMessage({ message });
      await page.getByLabel("Signature").fill(signature);
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.waitForURL(`${server.base}/account?from=manual`);
      await page.getByTestId("user-address").filter({ hasText: accounts[2].address }).waitFor();
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("next= never leaves for another site", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      for (const next of ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"]) {
        await page.goto(`${server.base}/login?next=${encodeURIComponent(next)}`);
        await page.getByRole("button", { name: "Test Wallet" }).click();
        await page.waitForURL(`${server.base}/account`);
      }
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("a rejected signature says so, and Try again signs in", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.evaluate(() => (window.__testWallet.reject = true));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      const notice = page.getByTestId("notice");
      await notice.filter({ hasText: sentence("login.rejected") }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/");
      await shotBoth(page, "error-rejected");
      // The way forward has the keyboard's focus.
      await page.evaluate(() => (window.__testWallet.reject = false));
      assert.equal(await page.evaluate(() => document.activeElement.textContent), sentence("login.try_again"));
      await page.keyboard.press("Enter");
      await page.waitForURL(`${server.base}/account`);
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("an expired nonce says so", async () => {
    const server = await startServer({ SIWE_SIWE__NONCE_TTL_SECS: "1" });
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.evaluate(() => (window.__testWallet.delayMs = 2500));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      const notice = page.getByTestId("notice");
      const expired = [errorSentence("invalid_nonce", "expired"), errorSentence("message_expired", "expired")];
      await notice.filter({ hasText: new RegExp(expired.map(escapeRegExp).join("|")) }).waitFor({ timeout: 15000 });
      await notice.getByRole("button", { name: sentence("login.try_again") }).waitFor();
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("a rate-limited sign-in says when to retry", async () => {
    const server = await startServer({ SIWE_RATE_LIMIT__AUTH_PER_MINUTE: "1", SIWE_RATE_LIMIT__AUTH_BURST: "1" });
    for (const [name, viewport] of [["desktop", DESKTOP], ["phone", PHONE]]) {
      const { page, context } = await openPage({ viewport });
      try {
        await page.goto(`${server.base}/`);
        await page.getByRole("button", { name: "Test Wallet" }).click();
        const notice = page.getByTestId("notice").filter({ hasText: "Too many attempts" });
        await notice.waitFor();
        const seconds = (await notice.textContent()).match(/wait (\d+) s/);
        assert.ok(seconds, await notice.textContent());
        assert.equal(await notice.locator("p").textContent(), sentence("login.rate_limited", { seconds: seconds[1] }));
        await notice.getByRole("button", { name: sentence("login.try_again") }).waitFor();
        await shot(page, `error-rate-limited-${name}`);
      } finally {
        await context.close();
      }
    }
    await server.stop();
  });

  test("a wrong network is explained", async () => {
    const server = await startServer({ SIWE_SIWE__CHAIN_IDS: "[10]" });
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByRole("button", { name: "Test Wallet" }).click();
      const notice = page.getByTestId("notice");
      await notice.filter({ hasText: sentence("login.wrong_network", { chain: 1, allowed: 10 }) }).waitFor();
      await notice.getByRole("button", { name: sentence("login.use_manual") }).waitFor();
      await shotBoth(page, "error-wrong-network");
      await page.evaluate(() => (window.__testWallet.chainId = "0xa"));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.waitForURL(`${server.base}/account`);
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("an unreachable server is explained", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByTestId("wallet-option").waitFor();
      await server.stop();
      await new Promise((r) => setTimeout(r, 500));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      const notice = page.getByTestId("notice");
      await notice.filter({ hasText: sentence("login.unreachable") }).waitFor();
      await notice.getByRole("button", { name: sentence("login.try_again") }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("a cookie the browser does not keep is explained", async () => {
    // A cookie for another domain is refused by the browser, as some in-app browsers refuse ours.
    const server = await startServer({ SIWE_SESSION__DOMAIN: ".example.org" });
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.getByTestId("notice").filter({ hasText: sentence("login.cookie_not_kept") }).waitFor();
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("branding comes from the [ui] settings", async () => {
    const server = await startServer({
      SIWE_UI__APP_NAME: "Acme Login",
      SIWE_UI__ACCENT_COLOR: "#aa3300",
      SIWE_UI__LOGO_URL: "/assets/favicon.svg",
    });
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByRole("heading", { name: "Sign in to Acme Login" }).waitFor();
      const logo = page.locator("#logo");
      await logo.waitFor();
      assert.equal(await logo.getAttribute("alt"), "Acme Login");
      // theme.css gives the accent as light-dark(); what a light page paints with it is the colour.
      const accent = await page.evaluate(() => {
        const probe = document.createElement("div");
        probe.style.backgroundColor = "var(--accent)";
        document.body.append(probe);
        const colour = getComputedStyle(probe).backgroundColor;
        probe.remove();
        return colour;
      });
      assert.equal(accent, "rgb(170, 51, 0)");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("pages work with the keyboard alone", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByTestId("wallet-option").waitFor();
      await page.keyboard.press("Tab");
      const focused = await page.evaluate(() => document.activeElement && document.activeElement.textContent.trim());
      assert.equal(focused, "Test Wallet");
      const style = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
      assert.equal(style, "solid", "the focused button shows it");
      await page.keyboard.press("Enter");
      await page.waitForURL(`${server.base}/account`);
    } finally {
      await context.close();
      await server.stop();
    }
  });
});

/** A web page on another site (localhost is not 127.0.0.1) that shows `html(url)`. */
async function otherSite(html) {
  const server = createHttpServer((req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end(html(new URL(req.url, "http://localhost")));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { base: `http://localhost:${server.address().port}`, close: () => server.close() };
}

/** The ids of the login page's visible ways in, top to bottom. */
function visibleOffers(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll("[data-testid^=offer-]")]
      .filter((section) => !section.hidden && section.getClientRects().length > 0)
      .map((section) => section.dataset.testid),
  );
}

/** A second EIP-6963 wallet ("Other Wallet", signing as accounts[1]) next to the test wallet. */
async function addSecondWallet(context) {
  await context.addInitScript(() => {
    const provider = {
      async request({ method, params }) {
        switch (method) {
          case "eth_requestAccounts":
          case "eth_accounts":
            return [await window.__testAddress(1)];
          case "eth_chainId":
            return "0x1";
          case "personal_sign":
            return window.__testSign(1, params[0]);
          default:
            throw { code: 4200, message: `Unsupported method ${method}` };
        }
      },
      on() {},
      removeListener() {},
    };
    const info = {
      uuid: "0b9d7a9e-2d3c-4b0e-8f6a-5c4d3e2f1a0b",
      name: "Other Wallet",
      rdns: "org.example.otherwallet",
      icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Ccircle cx='16' cy='16' r='16' fill='%23c0392b'/%3E%3C/svg%3E",
    };
    const announce = () =>
      window.dispatchEvent(new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }));
    window.addEventListener("eip6963:requestProvider", announce);
    announce();
  });
}

/** Makes the test wallet's eth_requestAccounts answer with `answer` (an error to throw, or accounts). */
function lockWallet(page, answer) {
  return page.evaluate(
    (answer) =>
      new Promise((resolve) => {
        window.addEventListener(
          "eip6963:announceProvider",
          (event) => {
            const provider = event.detail.provider;
            const request = provider.request.bind(provider);
            provider.request = async (args) => {
              if (args.method !== "eth_requestAccounts") return request(args);
              if (Array.isArray(answer)) return answer;
              throw answer;
            };
            resolve();
          },
          { once: true },
        );
        window.dispatchEvent(new Event("eip6963:requestProvider"));
      }),
    answer,
  );
}

describe("no dead ends", () => {
  test("without a wallet, the login page says so and offers the phone, installing and the manual flow, open", async () => {
    const server = await startServer();
    try {
      for (const [name, viewport] of [["narrow", { width: 320, height: 700 }], ["phone", PHONE], ["desktop", DESKTOP]]) {
        const { page, context, errors } = await openPage({ wallet: false, viewport });
        try {
          await page.goto(`${server.base}/login`);
          await page.getByText(sentence("login.no_wallet")).waitFor();
          assert.deepEqual(await visibleOffers(page), ["offer-phone", "offer-install", "offer-manual"]);
          assert.ok(await page.locator("#manual").evaluate((d) => d.open), "the manual flow is open");
          await page.getByLabel(sentence("login.address")).waitFor();
          const install = page.getByTestId("offer-install").getByRole("link");
          assert.ok((await install.count()) >= 4);
          assert.equal(await install.first().getAttribute("href"), "https://metamask.io/download/");
          assert.equal(await scrollsSideways(page), false, `no sideways scrolling at ${viewport.width} px`);
          await shot(page, `login-no-wallet-${name}`);

          // The manual flow: the exact message, with its copy button.
          await page.getByLabel(sentence("login.address")).fill(accounts[2].address);
          await page.getByRole("button", { name: sentence("login.get_message") }).click();
          await page.waitForFunction(() => document.getElementById("manual-message").value.length > 0);
          const message = await page.getByLabel(sentence("login.message")).inputValue();
          assert.ok(message.includes(accounts[2].address), message);
          await page.getByRole("button", { name: sentence("login.copy_message") }).waitFor();
          assert.equal(await scrollsSideways(page), false);
          await shot(page, `login-manual-message-${name}`);
          assert.deepEqual(errors, [], "no script errors (CSP included)");
        } finally {
          await context.close();
        }
      }
    } finally {
      await server.stop();
    }
  });

  test("on a phone without a wallet, opening the page in a wallet app's browser comes second", async () => {
    const server = await startServer();
    const { page, context } = await openPage({ wallet: false, viewport: PHONE });
    try {
      await context.addInitScript(() =>
        Object.defineProperty(navigator, "userAgentData", { value: { mobile: true, brands: [], platform: "Android" } }),
      );
      await page.goto(`${server.base}/login`);
      await page.getByText(sentence("login.no_wallet")).waitFor();
      assert.deepEqual(await visibleOffers(page), ["offer-phone", "offer-open-in-wallet", "offer-install", "offer-manual"]);
      const open = page.getByTestId("offer-open-in-wallet").getByRole("link", { name: sentence("login.open_in", { wallet: "MetaMask" }) });
      assert.ok((await open.getAttribute("href")).startsWith("https://link.metamask.io/dapp/127.0.0.1"));
      await shotBoth(page, "login-no-wallet-on-a-phone");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("several wallets are listed with their icons; the last one used comes first, marked", async () => {
    const server = await startServer();
    const { page, context, errors } = await openPage();
    try {
      await addSecondWallet(context);
      await page.goto(`${server.base}/login`);
      const options = page.getByTestId("wallet-option");
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=wallet-option]").length === 2);
      assert.deepEqual(await options.allTextContents(), ["Test Wallet", "Other Wallet"]);
      assert.equal(await page.getByTestId("wallet-list").locator("img").count(), 2, "each wallet's icon");
      assert.equal(await page.getByTestId("last-used").count(), 0);
      assert.deepEqual(await visibleOffers(page), ["offer-phone", "offer-manual"], "no install links with a wallet");
      await shotBoth(page, "login-two-wallets");

      await page.getByRole("button", { name: sentence("login.sign_in_with", { wallet: "Other Wallet" }) }).click();
      await page.waitForURL(`${server.base}/account`);
      await page.getByTestId("user-address").filter({ hasText: accounts[1].address }).waitFor();

      await page.goto(`${server.base}/login`);
      await page.waitForFunction(() => document.querySelectorAll("[data-testid=wallet-option]").length === 2);
      const first = options.first();
      assert.equal(await first.locator(".wallet-name").textContent(), "Other Wallet");
      assert.equal(await first.getByTestId("last-used").textContent(), sentence("login.last_used"));
      assert.equal(await first.getAttribute("aria-label"), sentence("login.sign_in_with_last", { wallet: "Other Wallet" }));
      await shotBoth(page, "login-last-used");
      assert.deepEqual(errors.filter((e) => !e.includes("401")), [], "no script errors");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("a locked wallet says so, whether it refuses, is busy or shares no account", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      const cases = [
        [{ code: 4100, message: "Unauthorized" }, "login.wallet_locked"],
        [[], "login.wallet_locked"],
        [{ code: -32002, message: "Request already pending" }, "login.wallet_busy"],
      ];
      for (const [answer, key] of cases) {
        await page.goto(`${server.base}/login`);
        await page.getByTestId("wallet-option").waitFor();
        await lockWallet(page, answer);
        await page.getByRole("button", { name: "Test Wallet" }).click();
        const notice = page.getByTestId("notice");
        await notice.filter({ hasText: sentence(key) }).waitFor();
        await notice.getByRole("button", { name: sentence("login.try_again") }).waitFor();
      }
      await shotBoth(page, "error-wallet-busy");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("clock skew, a contract wallet this server cannot check and an unreachable chain each say what to do", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      // These refusals come from the server's checks (tested in Rust); here, the page's words.
      const cases = [
        ["issued_at_invalid", "The clock differs.", 400, [sentence("login.try_again")]],
        ["message_expired", "The message expired.", 400, [sentence("login.try_again")]],
        ["contract_wallet_unsupported", "No RPC for chain 1.", 400, [sentence("login.use_phone"), sentence("login.use_manual")]],
        ["chain_unavailable", "The chain did not answer.", 503, [sentence("login.try_again"), sentence("login.use_phone"), sentence("login.use_manual")]],
      ];
      for (const [code, message, status, ways] of cases) {
        await page.route(`${server.base}/api/auth/verify`, (route) =>
          route.fulfill({ status, contentType: "application/json", body: JSON.stringify({ error: code, message }) }),
        );
        await page.goto(`${server.base}/login`);
        await page.getByRole("button", { name: "Test Wallet" }).click();
        const notice = page.getByTestId("notice");
        await notice.filter({ hasText: errorSentence(code, message) }).waitFor();
        assert.deepEqual((await notice.getByRole("button").allTextContents()).map((b) => b.trim()), ways, code);
        await shotBoth(page, `error-${code.replaceAll("_", "-")}`);
        await page.unroute(`${server.base}/api/auth/verify`);
      }
      // The way forward from a contract wallet: the manual flow opens, its address field focused.
      await page.route(`${server.base}/api/auth/verify`, (route) =>
        route.fulfill({ status: 400, contentType: "application/json", body: JSON.stringify({ error: "contract_wallet_unsupported", message: "x" }) }),
      );
      await page.goto(`${server.base}/login`);
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.getByTestId("notice").getByRole("button", { name: sentence("login.use_manual") }).click();
      assert.equal(await page.evaluate(() => document.activeElement.id), "manual-address");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("dark mode follows the system, on the login and account pages", async () => {
    const server = await startServer();
    const { page, context } = await openPage({ colorScheme: "dark" });
    try {
      const luminance = () =>
        page.evaluate(() => {
          const [r, g, b] = getComputedStyle(document.body).backgroundColor.match(/\d+/g).map(Number);
          const [rr, gg, bb] = getComputedStyle(document.documentElement).backgroundColor.match(/\d+/g).map(Number);
          return { body: (r + g + b) / 3, root: (rr + gg + bb) / 3, text: getComputedStyle(document.body).color };
        });
      await page.goto(`${server.base}/login`);
      await page.getByTestId("wallet-option").waitFor();
      const login = await luminance();
      assert.ok(login.root < 50, `a dark background (${JSON.stringify(login)})`);
      await shotBoth(page, "login-dark");
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.waitForURL(`${server.base}/account`);
      await page.getByTestId("wallet").first().waitFor();
      assert.ok((await luminance()).root < 50);
      await shotBoth(page, "account-dark");
    } finally {
      await context.close();
      await server.stop();
    }
  });

  test("the account page shows short addresses with a copy button, keeps the only wallet, and names devices", async () => {
    const server = await startServer();
    const { page, context, errors } = await openPage();
    try {
      await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.base });
      const firefox = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Firefox/128.0";
      await page.setExtraHTTPHeaders({ "User-Agent": firefox });
      await signInWithTestWallet(page, server.base);
      const wallet = page.getByTestId("wallet");
      await wallet.first().waitFor();
      const address = accounts[0].address;
      const short = `${address.slice(0, 6)}…${address.slice(-4)}`;
      assert.equal(await wallet.getByTestId("short-address").textContent(), short);
      assert.equal(await wallet.locator(".address").getAttribute("title"), address);
      assert.ok((await wallet.locator(".visually-hidden").textContent()).includes(address), "the full address for screen readers");
      await wallet.getByRole("button", { name: sentence("account.copy_address", { address: short }) }).click();
      assert.equal(await page.evaluate(() => navigator.clipboard.readText()), address);
      assert.equal(await wallet.getByRole("button", { name: sentence("account.unlink") }).count(), 0, "no Unlink on the only wallet");
      assert.equal(await page.getByTestId("only-wallet").textContent(), sentence("account.only_wallet"));

      const session = page.getByTestId("session");
      await session.first().waitFor();
      assert.equal(await session.getByTestId("session-device").textContent(), sentence("account.device", { browser: "Firefox", os: "macOS" }));
      assert.equal(await session.getByTestId("this-device").textContent(), sentence("account.this_device"));
      assert.ok((await session.textContent()).includes(sentence("account.from_ip", { ip: "127.0.0.1" })));
      assert.equal(await scrollsSideways(page), false);
      await page.setViewportSize({ width: 320, height: 700 });
      assert.equal(await scrollsSideways(page), false, "no sideways scrolling at 320 px");
      await page.setViewportSize(DESKTOP);
      await shotBoth(page, "account-one-wallet");
      assert.deepEqual(errors.filter((e) => !e.includes("401")), [], "no script errors");
    } finally {
      await context.close();
      await server.stop();
    }
  });
});

describe("emailed links", () => {
  test("a verification link's page changes nothing until its button, and a cross-site form is refused", async () => {
    const smtp = await startSmtp();
    const server = await startServer({
      SIWE_EMAIL__SMTP_HOST: "127.0.0.1",
      SIWE_EMAIL__SMTP_PORT: String(smtp.port),
      SIWE_EMAIL__SMTP_TLS: "none",
    });
    // Another site whose page posts a copy of the form.
    const evil = await otherSite((url) => {
      const field = (name) => `<input type="hidden" name="${name}" value="${url.searchParams.get(name)}">`;
      return (
        `<form method="post" action="${server.base}/api/account/verify-email">${field("token")}${field("csrf")}</form>` +
        "<script>document.forms[0].submit()</script>"
      );
    });
    const { page, context, errors } = await openPage({ wallet: false });
    try {
      const signedIn = await signInFromNode(server.base, 0);
      const saved = await call(server.base, "PUT", "/api/account", { email: "e2e@example.org" }, signedIn.token);
      assert.equal(saved.status, 200, JSON.stringify(saved.body));
      const link = await smtp.link(1, server.base);
      assert.ok(link.startsWith(`${server.base}/api/account/verify-email?token=`), link);
      const verified = async () => (await call(server.base, "GET", "/api/account", null, signedIn.token)).body.emailVerified;

      await page.goto(link);
      await page.getByRole("heading", { name: "Confirm your email address" }).waitFor();
      const text = await page.textContent("main");
      assert.ok(text.includes("e2e@example.org") && text.includes(accounts[0].address), text);
      await shot(page, "verify-email-page");
      await page.reload();
      assert.equal(await verified(), false, "opening the link changes nothing");

      // The same form, posted by another site's page in the same browser: refused.
      const token = await page.locator("input[name=token]").getAttribute("value");
      const csrf = await page.locator("input[name=csrf]").getAttribute("value");
      const other = await context.newPage();
      await other.goto(`${evil.base}/?token=${encodeURIComponent(token)}&csrf=${encodeURIComponent(csrf)}`);
      await other.waitForURL(`${server.base}/api/account/verify-email`);
      await other.getByRole("heading", { name: "This link cannot be used" }).waitFor();
      assert.ok((await other.textContent("main")).includes("origin_not_allowed"));
      assert.equal(await verified(), false);

      // The page's own button.
      await page.getByRole("button", { name: "Confirm this email address" }).click();
      await page.waitForURL(`${server.base}/?email_verified=1`);
      await page.getByTestId("notice").filter({ hasText: "email address is confirmed" }).waitFor();
      assert.equal(await verified(), true);
      assert.deepEqual(errors.filter((e) => !e.includes("401")), [], "no script errors (CSP included)");
    } finally {
      await context.close();
      evil.close();
      await server.stop();
      await smtp.stop();
    }
  });

  test("a wallet link followed from a webmail page adds the wallet only from its page's button", async () => {
    const smtp = await startSmtp();
    const server = await startServer({
      SIWE_EMAIL__SMTP_HOST: "127.0.0.1",
      SIWE_EMAIL__SMTP_PORT: String(smtp.port),
      SIWE_EMAIL__SMTP_TLS: "none",
      SIWE_EMAIL__WALLET_ATTACH: "true",
    });
    // The mail reader: another site, whose page links to the emailed URL.
    const webmail = await otherSite((url) => `<a href="${url.searchParams.get("link")}">open the link</a>`);
    const { page, context, errors } = await openPage({ wallet: false });
    try {
      const owner = await signInFromNode(server.base, 0);
      await call(server.base, "PUT", "/api/account", { email: "owner@example.org" }, owner.token);
      await page.goto(`${webmail.base}/?link=${encodeURIComponent(await smtp.link(1, server.base))}`);
      await page.getByRole("link", { name: "open the link" }).click();
      await page.getByRole("button", { name: "Confirm this email address" }).click();
      await page.waitForURL(`${server.base}/?email_verified=1`);

      // A new wallet asks to join the account by email.
      const { body: challenge } = await call(server.base, "POST", "/api/auth/challenge", {
        address: accounts[1].address,
        email: "owner@example.org",
      });
      const signature = await accounts[1].signMessage({ message: challenge.message });
      const asked = await call(server.base, "POST", "/api/auth/verify", {
        message: challenge.message,
        signature,
        email: "owner@example.org",
      });
      assert.equal(asked.status, 202, JSON.stringify(asked.body));
      const link = await smtp.link(2, `${server.base}/api/auth/email-link`);
      const wallets = async () =>
        (await call(server.base, "GET", "/api/account", null, owner.token)).body.wallets.map((w) => w.address);

      await page.goto(`${webmail.base}/?link=${encodeURIComponent(link)}`);
      await page.getByRole("link", { name: "open the link" }).click();
      await page.getByRole("heading", { name: "Add a wallet to your account" }).waitFor();
      const text = await page.textContent("main");
      assert.ok(text.includes(accounts[1].address) && text.includes(accounts[0].address), text);
      await shot(page, "wallet-link-page");
      assert.deepEqual(await wallets(), [accounts[0].address], "opening the link changes nothing");

      await page.getByRole("button", { name: "Add this wallet and sign in" }).click();
      await page.waitForURL(`${server.base}/?signed_in=1`);
      await page.getByTestId("notice").filter({ hasText: "wallet was added" }).waitFor();
      await page.goto(`${server.base}/account`);
      const address = page.getByTestId("user-address");
      await address.waitFor();
      assert.equal((await address.textContent()).toLowerCase(), accounts[1].address.toLowerCase());
      assert.equal((await wallets()).length, 2);
      assert.deepEqual(errors.filter((e) => !e.includes("401")), [], "no script errors (CSP included)");
    } finally {
      await context.close();
      webmail.close();
      await server.stop();
      await smtp.stop();
    }
  });
});

describe("OpenID Connect", () => {
  test("an application's sign-in goes through the login and consent pages and back; its logout too", async () => {
    // The application: another site that shows what it was sent back.
    const app = await otherSite((url) => `<p id="back">${url.pathname}</p>`);
    const dir = mkdtempSync(join(tmpdir(), "siwe-oidc-"));
    const config = join(dir, "config.toml");
    writeFileSync(
      config,
      `[[oidc.clients]]\nid = "web"\nname = "Web App"\npublic = true\n` +
        `redirect_uris = ["${app.base}/cb"]\npost_logout_redirect_uris = ["${app.base}/bye"]\n`,
    );
    const server = await startServer({ SIWE_CONFIG: config });
    const { page, context, errors } = await openPage();
    try {
      const request = new URLSearchParams({
        response_type: "code",
        client_id: "web",
        redirect_uri: `${app.base}/cb`,
        scope: "openid email",
        state: "st-1",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
        login_hint: accounts[0].address,
      });
      await page.goto(`${server.base}/oidc/authorize?${request}`);
      await page.getByTestId("notice").filter({ hasText: accounts[0].address }).waitFor();
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.getByTestId("consent-app").filter({ hasText: "Web App" }).waitFor();
      assert.ok((await page.textContent("main")).includes("your email address"));
      await shot(page, "oidc-consent");
      // The form's answer is a redirect to the application: the page's policy must allow it.
      await page.getByRole("button", { name: "Allow" }).click();
      await page.waitForURL((url) => url.origin === app.base && url.pathname === "/cb");
      const back = new URL(page.url());
      assert.equal(back.searchParams.get("state"), "st-1");
      assert.equal(back.searchParams.get("iss"), server.base);
      assert.match(back.searchParams.get("code"), /^[A-Za-z0-9_-]{43}$/);

      // The account page lists the application; Revoke forgets it.
      await page.goto(`${server.base}/account`);
      const listed = page.getByTestId("app").filter({ hasText: "Web App" });
      await listed.waitFor();
      assert.ok((await listed.textContent()).includes("email"));
      await shot(page, "account-apps");
      page.once("dialog", (dialog) => dialog.accept());
      await listed.getByRole("button", { name: "Revoke" }).click();
      await listed.waitFor({ state: "detached" });
      await page.locator("#apps-empty").waitFor();

      const logout = new URLSearchParams({ client_id: "web", post_logout_redirect_uri: `${app.base}/bye`, state: "b-1" });
      await page.goto(`${server.base}/oidc/logout?${logout}`);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.waitForURL(`${app.base}/bye?state=b-1`);
      await page.goto(`${server.base}/oidc/authorize?${request}`);
      await page.waitForURL((url) => url.pathname === "/login");
      assert.deepEqual(errors.filter((e) => !e.includes("401")), [], "no script errors (CSP included)");
    } finally {
      await context.close();
      app.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** anvil (from the chain suite) on a free port, with ENS deployed from its published artifacts
 * and `alice.eth` set up as accounts[0]'s primary name (see tests/common/ens.rs). */
async function anvilWithEns() {
  const { createTestClient, createWalletClient, http, publicActions, walletActions } = await import("viem");
  const { namehash, labelhash } = await import("viem/ens");
  const modules = join(root, "tests", "suites", "chain", "node_modules");
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const anvil = startProcess(join(modules, "@foundry-rs/anvil-linux-amd64/bin/anvil"), ["--port", String(port), "--chain-id", "31337", "--silent"]);
  const chain = { id: 31337, name: "anvil", nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 }, rpcUrls: { default: { http: [url] } } };
  // anvil's first funded account.
  const deployer = privateKeyToAccount("0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80");
  const client = createTestClient({ chain, mode: "anvil", transport: http(url), account: deployer }).extend(publicActions).extend(walletActions);
  for (let i = 0; i < 100; i++) {
    try {
      await client.getChainId();
      break;
    } catch {
      await sleep(50);
    }
  }
  const artifact = (path) => JSON.parse(readFileSync(join(modules, path), "utf8"));
  const deploy = async (path, args) => {
    const { abi, bytecode } = artifact(path);
    const hash = await client.deployContract({ abi, bytecode, args });
    return (await client.waitForTransactionReceipt({ hash })).contractAddress;
  };
  const send = async (from, address, path, functionName, args) => {
    const hash = await from.writeContract({ address, abi: artifact(path).abi, functionName, args });
    const receipt = await client.waitForTransactionReceipt({ hash });
    assert.equal(receipt.status, "success", functionName);
  };
  const REGISTRY = "@ensdomains/ens/build/contracts/ENSRegistry.json";
  const RESOLVER = "@ensdomains/resolver/build/contracts/PublicResolver.json";
  const REVERSE = "@ensdomains/ens/build/contracts/ReverseRegistrar.json";
  const registry = await deploy(REGISTRY, []);
  const resolver = await deploy(RESOLVER, [registry]);
  const reverse = await deploy(REVERSE, [registry, resolver]);
  const zero = `0x${"00".repeat(32)}`;
  const alice = namehash("alice.eth");
  const wallet = accounts[0].address;
  await send(client, registry, REGISTRY, "setSubnodeOwner", [zero, labelhash("eth"), deployer.address]);
  await send(client, registry, REGISTRY, "setSubnodeOwner", [namehash("eth"), labelhash("alice"), deployer.address]);
  await send(client, registry, REGISTRY, "setSubnodeOwner", [zero, labelhash("reverse"), deployer.address]);
  await send(client, registry, REGISTRY, "setSubnodeOwner", [namehash("reverse"), labelhash("addr"), reverse]);
  await send(client, registry, REGISTRY, "setResolver", [alice, resolver]);
  const setAddr = artifact(RESOLVER).abi.filter((f) => !(f.name === "setAddr" && f.inputs.length === 3));
  const hash = await client.writeContract({ address: resolver, abi: setAddr, functionName: "setAddr", args: [alice, wallet] });
  await client.waitForTransactionReceipt({ hash });
  await send(client, resolver, RESOLVER, "setText", [alice, "avatar", "https://avatars.example/alice.png"]);
  await client.setBalance({ address: wallet, value: 10n ** 20n });
  const walletClient = createWalletClient({ chain, transport: http(url), account: accounts[0] });
  await send(walletClient, reverse, REVERSE, "setName", ["alice.eth"]);
  return { url, registry, stop: () => anvil.stop() };
}

describe("ENS names", () => {
  test("the account page shows a wallet's primary name, its address still there", async () => {
    const chain = await anvilWithEns();
    // A chain's endpoints are a table keyed by chain id: a config file names them.
    const dir = mkdtempSync(join(tmpdir(), "siwe-e2e-ens-"));
    const config = join(dir, "config.toml");
    writeFileSync(config, `[chains."31337"]\nrpc_url = "${chain.url}"\n\n[ens]\nchain_id = 31337\nregistry = "${chain.registry}"\n`);
    const server = await startServer({ SIWE_CONFIG: config });
    const { page, context, errors } = await openPage();
    // The avatar's host, answered here.
    const avatar = `<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8" fill="#c33"/></svg>`;
    await context.route("https://avatars.example/**", (route) => route.fulfill({ contentType: "image/svg+xml", body: avatar }));
    try {
      await signInWithTestWallet(page, server.base);
      // Resolved in the background after the sign-in: reload until it is there.
      const name = page.getByTestId("wallet-ens-name");
      for (let i = 0; i < 50 && (await name.count()) === 0; i++) {
        await sleep(200);
        await page.reload();
        await page.getByTestId("wallet").first().waitFor();
      }
      assert.equal(await name.textContent(), "alice.eth");
      const listed = await page.getByTestId("wallet").textContent();
      assert.ok(listed.includes(accounts[0].address) && listed.includes("primary"), listed);
      assert.equal(await page.locator("#user-name").textContent(), "alice.eth", "the default display name");
      assert.ok((await page.getByTestId("session").first().textContent()).includes("alice.eth"));
      await shot(page, "account-ens");
      const img = page.getByTestId("wallet").locator("img.avatar");
      assert.equal(await img.getAttribute("src"), "https://avatars.example/alice.png");
      assert.ok(await img.evaluate(async (i) => (await i.decode(), i.naturalWidth > 0)), "the avatar loads (CSP img-src https:)");
      // Saving the profile with the name as shown keeps it following the ENS name: the form
      // sends no name, so the default display name is not turned into a chosen one.
      const put = page.waitForRequest((r) => r.method() === "PUT" && r.url().endsWith("/api/account"));
      await page.locator("#profile-form button").click();
      assert.ok(!("name" in (await put).postDataJSON()), "an unchanged name is not sent");
      await page.getByText("Saved.").waitFor();
      assert.deepEqual(errors, [], "no script errors (CSP included)");
    } finally {
      await context.close();
      await server.stop();
      await chain.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
