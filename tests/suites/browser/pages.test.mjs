// Browser tests of the sign-in and account pages, the emailed links' pages and the OpenID
// Connect pages, through the real binary (see harness.mjs).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
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
  signInWithTestWallet,
  sleep,
  startServer,
  startSmtp,
  useBrowser,
} from "./harness.mjs";

useBrowser();

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
      server.stop();
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
      await page.getByTestId("event").filter({ hasText: "reauthenticated" }).first().waitFor();
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
      server.stop();
    }
  });

  test("without a browser wallet, the re-authentication message is signed elsewhere and pasted", async () => {
    const server = await startServer({ SIWE_SESSION__REAUTH_WINDOW_SECS: "1" });
    const { page, context } = await openPage({ wallet: false });
    try {
      // Signed in from this browser with a message signed elsewhere.
      await page.goto(`${server.base}/login`);
      await page.getByText("Having trouble? Sign in manually").click();
      await page.getByLabel("Your address").fill(accounts[2].address);
      await page.getByRole("button", { name: "Get the message" }).click();
      await page.waitForFunction(() => document.getElementById("manual-message").value.length > 0);
      const signIn = await page.getByLabel("Message to sign").inputValue();
      await page.getByLabel("Signature").fill(await accounts[2].signMessage({ message: signIn }));
      await page.getByRole("button", { name: "Sign in" }).click();
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
      server.stop();
    }
  });

  test("the manual flow signs in with a signature made outside the page", async () => {
    const server = await startServer();
    const { page, context } = await openPage({ wallet: false, viewport: PHONE });
    try {
      await page.goto(`${server.base}/login?next=/account%3Ffrom%3Dmanual`);
      await page.getByText("No browser wallet found").waitFor();
      await shot(page, "login-phone");
      await page.getByText("Having trouble? Sign in manually").click();
      await page.getByLabel("Your address").fill(accounts[2].address.toLowerCase());
      await page.getByRole("button", { name: "Get the message" }).click();
      const box = page.getByLabel("Message to sign");
      await page.waitForFunction(() => document.getElementById("manual-message").value.length > 0);
      const message = await box.inputValue();
      assert.ok(message.includes(accounts[2].address), message);
      assert.ok(message.startsWith(`127.0.0.1:${new URL(server.base).port} wants you to sign in`), message);
      const signature = await accounts[2].signMessage({ message });
      await page.getByLabel("Signature").fill(signature);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.waitForURL(`${server.base}/account?from=manual`);
      await page.getByTestId("user-address").filter({ hasText: accounts[2].address }).waitFor();
    } finally {
      await context.close();
      server.stop();
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
      server.stop();
    }
  });

  test("a rejected signature says so", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.evaluate(() => (window.__testWallet.reject = true));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      const notice = page.getByTestId("notice");
      await notice.filter({ hasText: "You rejected the request in your wallet" }).waitFor();
      assert.equal(new URL(page.url()).pathname, "/");
    } finally {
      await context.close();
      server.stop();
    }
  });

  test("an expired nonce says so", async () => {
    const server = await startServer({ SIWE_SIWE__NONCE_TTL_SECS: "1" });
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.evaluate(() => (window.__testWallet.delayMs = 2500));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.getByTestId("notice").filter({ hasText: "expired" }).waitFor({ timeout: 15000 });
    } finally {
      await context.close();
      server.stop();
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
        assert.match(await notice.textContent(), /try again in \d+ seconds?/);
        await shot(page, `error-rate-limited-${name}`);
      } finally {
        await context.close();
      }
    }
    server.stop();
  });

  test("a wrong network is explained", async () => {
    const server = await startServer({ SIWE_SIWE__CHAIN_IDS: "[10]" });
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.getByTestId("notice").filter({ hasText: "does not accept" }).waitFor();
      await page.evaluate(() => (window.__testWallet.chainId = "0xa"));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.waitForURL(`${server.base}/account`);
    } finally {
      await context.close();
      server.stop();
    }
  });

  test("an unreachable server is explained", async () => {
    const server = await startServer();
    const { page, context } = await openPage();
    try {
      await page.goto(`${server.base}/`);
      await page.getByTestId("wallet-option").waitFor();
      server.stop();
      await new Promise((r) => setTimeout(r, 500));
      await page.getByRole("button", { name: "Test Wallet" }).click();
      await page.getByTestId("notice").filter({ hasText: "Cannot reach the server" }).waitFor();
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
      await page.getByTestId("notice").filter({ hasText: "did not keep the sign-in cookie" }).waitFor();
    } finally {
      await context.close();
      server.stop();
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
      const accent = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--accent").trim());
      assert.equal(accent, "#aa3300");
    } finally {
      await context.close();
      server.stop();
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
      await page.keyboard.press("Enter");
      await page.waitForURL(`${server.base}/account`);
    } finally {
      await context.close();
      server.stop();
    }
  });
});

/** Signs `accounts[index]` in from Node; returns the verify response's body. */
async function signInFromNode(base, index) {
  const { body: challenge } = await call(base, "POST", "/api/auth/challenge", { address: accounts[index].address });
  const signature = await accounts[index].signMessage({ message: challenge.message });
  const { body } = await call(base, "POST", "/api/auth/verify", { message: challenge.message, signature });
  return body;
}

/** A web page on another site (localhost is not 127.0.0.1) that shows `html(url)`. */
async function otherSite(html) {
  const server = createHttpServer((req, res) => {
    res.setHeader("Content-Type", "text/html");
    res.end(html(new URL(req.url, "http://localhost")));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { base: `http://localhost:${server.address().port}`, close: () => server.close() };
}

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
      server.stop();
      smtp.stop();
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
      server.stop();
      smtp.stop();
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
      server.stop();
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
  const child = spawn(join(modules, "@foundry-rs/anvil-linux-amd64/bin/anvil"), ["--port", String(port), "--chain-id", "31337", "--silent"], {
    stdio: "ignore",
  });
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
  return { url, registry, stop: () => child.kill("SIGTERM") };
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
      assert.ok((await page.getByTestId("session").first().textContent()).startsWith("alice.eth"));
      await shot(page, "account-ens");
      const img = page.getByTestId("wallet").locator("img.avatar");
      assert.equal(await img.getAttribute("src"), "https://avatars.example/alice.png");
      assert.ok(await img.evaluate((i) => i.complete && i.naturalWidth > 0), "the avatar loads (CSP img-src https:)");
      // Saving the profile with the name as shown keeps it following the ENS name: the form
      // sends no name, so the default display name is not turned into a chosen one.
      const put = page.waitForRequest((r) => r.method() === "PUT" && r.url().endsWith("/api/account"));
      await page.locator("#profile-form button").click();
      assert.ok(!("name" in (await put).postDataJSON()), "an unchanged name is not sent");
      await page.getByText("Saved.").waitFor();
      assert.deepEqual(errors, [], "no script errors (CSP included)");
    } finally {
      await context.close();
      server.stop();
      chain.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
