// Cross-device sign-in in a real browser: a desktop context without a wallet asks for a pairing
// on the login page, a phone context with the test wallet approves it on /pair/<id>, and the
// desktop ends up signed in where it was going. Also: the code typed on /pair with manual
// signing, decline, expiry, reuse, two phones racing, keyboard-only approval, a lost connection,
// pairing turned off, and the deep links that open the phone page in a wallet's browser.
// Screenshots: target/e2e/pair-<state>-<phone|desktop>.png.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { walletBrowserLinks } from "../../../assets/js/deeplinks.js";
import { accounts, DESKTOP, openPage, PHONE, shot, sleep, startServer, useBrowser } from "./harness.mjs";

useBrowser();

const FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
// The smallest pairing.ttl_secs the configuration accepts.
const SHORTEST_TTL_SECS = 60;

/** `pair-<state>-phone.png` and `pair-<state>-desktop.png` of the page as it is. */
async function shots(page, state) {
  const size = page.viewportSize();
  for (const [name, viewport] of [["phone", PHONE], ["desktop", DESKTOP]]) {
    await page.setViewportSize(viewport);
    await shot(page, `pair-${state}-${name}`);
  }
  await page.setViewportSize(size);
}

/** Errors a page logged, less the failed requests a test provokes on purpose. */
const pageErrors = (errors) => errors.filter((e) => !/Failed to load resource/.test(e));

/** A desktop browser without a wallet on the login page (or `path`), its pairing started. */
async function desktopPairing(base, path = "/login") {
  const desktop = await openPage({ wallet: false, viewport: DESKTOP, userAgent: FIREFOX_ON_WINDOWS });
  await desktop.page.goto(`${base}${path}`);
  await desktop.page.getByTestId("pair-start").click();
  const code = (await desktop.page.getByTestId("pair-code").textContent()).trim();
  const link = await desktop.page.getByTestId("pair-link").getAttribute("href");
  return { ...desktop, code, link };
}

/** A phone (360 px) with the test wallet (unless `wallet` is false) on `url`. */
async function phoneOn(url, { wallet = true } = {}) {
  const phone = await openPage({ wallet, viewport: PHONE });
  await phone.page.goto(url);
  return phone;
}

/** Waits for the phone page's end state `state` (done, declined_here, declined, used, expired, unknown). */
async function phoneEnded(page, state) {
  await page.locator(`[data-testid=pair-ended][data-state=${state}]`).waitFor();
}

async function approveWithTestWallet(page) {
  await page.getByTestId("pair-confirm").check();
  await page.getByRole("button", { name: "Approve with Test Wallet" }).click();
}

async function signedInAs(page, address) {
  const session = await page.evaluate(async () => {
    const resp = await fetch("/api/auth/session", { credentials: "same-origin" });
    return { status: resp.status, body: await resp.json() };
  });
  assert.equal(session.status, 200, JSON.stringify(session.body));
  assert.ok(JSON.stringify(session.body).toLowerCase().includes(address.toLowerCase()), JSON.stringify(session.body));
}

test("deep links carry the whole page address, encoded as each wallet documents", () => {
  const page = "https://auth.example.com:8443/pair/AbC_d-0?x=1&y=2";
  const encoded = encodeURIComponent(page);
  const links = Object.fromEntries(walletBrowserLinks(page).map(({ name, href }) => [name, href]));
  assert.equal(links.MetaMask, "https://link.metamask.io/dapp/auth.example.com:8443/pair/AbC_d-0?x=1&y=2");
  assert.equal(links["Coinbase Wallet"], `https://go.cb-w.com/dapp?cb_url=${encoded}`);
  assert.equal(links["Trust Wallet"], `https://link.trustwallet.com/open_url?coin_id=60&url=${encoded}`);
  // OKX: the page is encoded inside its okx:// link, which is encoded again as a parameter.
  const okx = new URL(links["OKX Wallet"]);
  assert.equal(okx.origin + okx.pathname, "https://web3.okx.com/download");
  const inner = new URL(okx.searchParams.get("deeplink"));
  assert.equal(inner.protocol, "okx:");
  assert.equal(inner.searchParams.get("dappUrl"), page);
  assert.equal(new URL(links.Phantom).searchParams.get("ref"), "https://auth.example.com:8443");
  // Each encoded link reads back as the page itself.
  assert.equal(new URL(links["Coinbase Wallet"]).searchParams.get("cb_url"), page);
  assert.equal(new URL(links["Trust Wallet"]).searchParams.get("url"), page);
  assert.equal(decodeURIComponent(new URL(links.Phantom).pathname.slice("/ul/browse/".length)), page);
  // Nothing but http(s) pages.
  assert.deepEqual(walletBrowserLinks("javascript:alert(1)"), []);
});

describe("cross-device sign-in", () => {
  let server;
  let configDir;
  // A second server whose pairings live as short as allowed; its pairing is started first and
  // checked last, so the wait overlaps the other tests.
  let shortLived;
  let expiring;

  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), "siwe-pair-config-"));
    const config = join(configDir, "config.toml");
    writeFileSync(
      config,
      `[[oidc.clients]]\nid = "web"\nname = "Web App"\npublic = true\n` +
        `redirect_uris = ["http://localhost:9/cb"]\npost_logout_redirect_uris = ["http://localhost:9/bye"]\n`,
    );
    server = await startServer({ SIWE_CONFIG: config });
    shortLived = await startServer({ SIWE_PAIRING__TTL_SECS: String(SHORTEST_TTL_SECS) });
    const desktop = await desktopPairing(shortLived.base);
    const phone = await phoneOn(desktop.link);
    await phone.page.getByTestId("pair-confirm").waitFor();
    expiring = { desktop, phone, startedAt: Date.now() };
  });
  after(async () => {
    await expiring?.desktop.context.close();
    await expiring?.phone.context.close();
    await server?.stop();
    await shortLived?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test("the phone approves with its wallet and the desktop is signed in on /account", async () => {
    const desktop = await desktopPairing(server.base);
    let phone;
    try {
      assert.match(desktop.code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
      assert.ok(desktop.link.startsWith(`${server.base}/pair/`), desktop.link);
      // The QR code is an image of the server's, with a text alternative naming the link.
      const qr = desktop.page.getByTestId("pair-qr");
      assert.ok((await qr.getAttribute("alt")).includes(desktop.link));
      // decode() waits for the image (the panel shows the code before its image has arrived) and
      // fails if it cannot load.
      assert.ok(await qr.evaluate(async (img) => (await img.decode(), img.naturalWidth > 0)), "the QR code loads");
      await desktop.page.getByTestId("pair-countdown").filter({ hasText: /\d:\d\d/ }).waitFor();
      await shots(desktop.page, "panel-waiting");

      phone = await phoneOn(desktop.link);
      const { page } = phone;
      // Which device asked, from where, and the code to compare.
      await page.getByTestId("pair-device").filter({ hasText: "Firefox on Windows" }).waitFor();
      assert.equal((await page.getByTestId("pair-ip").textContent()).trim(), "127.0.0.1");
      assert.match(await page.getByTestId("pair-network").textContent(), /same network/);
      assert.equal((await page.getByTestId("pair-code").textContent()).trim(), desktop.code);
      // Nothing signs before the confirmation.
      const approve = page.getByRole("button", { name: "Approve with Test Wallet" });
      assert.equal(await approve.isDisabled(), true);
      await shots(page, "request");
      await page.getByTestId("pair-confirm").check();
      assert.equal(await approve.isDisabled(), false);
      await approve.click();
      await phoneEnded(page, "done");
      assert.match(await page.textContent("main"), /Your other device is now signed in\. You can close this page\./);
      assert.equal(phone.signed.count, 1);
      await shots(page, "done");
      // The phone has no session of its own.
      const phoneSession = await page.evaluate(async () => (await fetch("/api/auth/session")).status);
      assert.equal(phoneSession, 401);

      await desktop.page.waitForURL(`${server.base}/account`);
      await signedInAs(desktop.page, accounts[0].address);
      assert.deepEqual(pageErrors(desktop.errors), []);
      assert.deepEqual(pageErrors(phone.errors), []);

      // Reuse: the link of a used pairing says so, and so does its code.
      await page.goto(desktop.link);
      await phoneEnded(page, "used");
      await shots(page, "used");
      await page.goto(`${server.base}/pair`);
      await page.getByRole("textbox", { name: "Code", exact: true }).fill(desktop.code);
      await page.getByRole("button", { name: "Continue" }).click();
      await phoneEnded(page, "used");
    } finally {
      await desktop.context.close();
      await phone?.context.close();
    }
  });

  test("the code typed on /pair, signed by copy and paste, takes the desktop to its same-origin next", async () => {
    const desktop = await desktopPairing(server.base, `/login?next=${encodeURIComponent("/account?from=pair")}`);
    const phone = await phoneOn(`${server.base}/pair`, { wallet: false });
    try {
      const { page } = phone;
      await page.getByRole("textbox", { name: "Code", exact: true }).waitFor();
      await shots(page, "enter-code");
      // However it is typed: lower case, no dash.
      await page.getByRole("textbox", { name: "Code", exact: true }).fill(desktop.code.replace("-", "").toLowerCase());
      await page.getByRole("button", { name: "Continue" }).click();
      await page.waitForURL(desktop.link);
      await page.getByTestId("pair-code").filter({ hasText: desktop.code }).waitFor();
      // No wallet here: links open this page in wallet apps, and manual signing is open.
      const openIn = page.getByTestId("open-in-wallet").getByRole("link");
      await openIn.first().waitFor();
      assert.ok((await openIn.count()) >= 3);
      const coinbase = await page.getByRole("link", { name: "Open in Coinbase Wallet" }).getAttribute("href");
      assert.equal(new URL(coinbase).searchParams.get("cb_url"), desktop.link);
      await shots(page, "request-no-wallet");

      await page.getByTestId("pair-confirm").check();
      await page.getByLabel("Your address").fill(accounts[1].address);
      await page.getByRole("button", { name: "Get the message" }).click();
      await page.waitForFunction(() => document.getElementById("pair-manual-message").value.length > 0);
      const message = await page.locator("#pair-manual-message").inputValue();
      assert.match(message, new RegExp(`Sign in on another device \\(Firefox on Windows\\), code ${desktop.code}\\.`));
      const signature = await accounts[1].signMessage({ message });
      await page.getByLabel("Signature").fill(signature);
      await page.getByRole("button", { name: "Approve", exact: true }).click();
      await phoneEnded(page, "done");

      await desktop.page.waitForURL(`${server.base}/account?from=pair`);
      await signedInAs(desktop.page, accounts[1].address);
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });

  test("a desktop sent by an OpenID Connect application ends up back in its authorization", async () => {
    const request = new URLSearchParams({
      response_type: "code",
      client_id: "web",
      redirect_uri: "http://localhost:9/cb",
      scope: "openid",
      state: "st-1",
      code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
      code_challenge_method: "S256",
    });
    const desktop = await desktopPairing(server.base, `/oidc/authorize?${request}`);
    const phone = await phoneOn(desktop.link);
    try {
      assert.ok(new URL(desktop.page.url()).searchParams.get("next").startsWith("/oidc/authorize?"));
      await approveWithTestWallet(phone.page);
      await phoneEnded(phone.page, "done");
      // The consent page of the application: the authorization continues.
      await desktop.page.getByTestId("consent-app").filter({ hasText: "Web App" }).waitFor();
      assert.equal(new URL(desktop.page.url()).pathname, "/oidc/authorize");
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });

  test("declining on the phone: the desktop says so and offers to try again", async () => {
    const desktop = await desktopPairing(server.base);
    const phone = await phoneOn(desktop.link);
    try {
      await phone.page.getByTestId("pair-decline").click();
      await phoneEnded(phone.page, "declined_here");
      await shots(phone.page, "declined-here");
      await desktop.page.getByTestId("pair-status").filter({ hasText: "declined on your phone" }).waitFor();
      const again = desktop.page.getByTestId("pair-again");
      await again.waitFor();
      await shots(desktop.page, "panel-declined");
      assert.equal(phone.signed.count, 0);
      // The link now says the request was declined.
      await phone.page.goto(desktop.link);
      await phoneEnded(phone.page, "declined");
      await shots(phone.page, "declined");
      // Try again: a new code.
      await again.click();
      await desktop.page.getByTestId("pair-code").filter({ hasNotText: desktop.code }).waitFor();
      const session = await desktop.page.evaluate(async () => (await fetch("/api/auth/session")).status);
      assert.equal(session, 401);
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });

  test("two phones race to approve: one wins, the other is told the request was used", async () => {
    const desktop = await desktopPairing(server.base);
    const first = await phoneOn(desktop.link);
    const second = await phoneOn(desktop.link);
    try {
      for (const phone of [first, second]) await phone.page.getByTestId("pair-confirm").check();
      await Promise.all(
        [first, second].map((phone) => phone.page.getByRole("button", { name: "Approve with Test Wallet" }).click()),
      );
      const outcome = async (phone) => {
        const ended = phone.page.getByTestId("pair-ended");
        await ended.and(phone.page.locator("[data-state=done], [data-state=used]")).waitFor();
        return ended.getAttribute("data-state");
      };
      const outcomes = (await Promise.all([outcome(first), outcome(second)])).sort();
      assert.deepEqual(outcomes, ["done", "used"]);
      const loser = (await first.page.getByTestId("pair-ended").getAttribute("data-state")) === "used" ? first : second;
      assert.match(await loser.page.textContent("main"), /already used/);
      await desktop.page.waitForURL(`${server.base}/account`);
    } finally {
      await desktop.context.close();
      await first.context.close();
      await second.context.close();
    }
  });

  test("the phone approves with the keyboard alone", async () => {
    const desktop = await desktopPairing(server.base);
    const phone = await phoneOn(desktop.link);
    try {
      const { page } = phone;
      await page.getByRole("button", { name: "Approve with Test Wallet" }).waitFor();
      const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.textContent?.trim());
      const tabTo = async (wanted) => {
        for (let i = 0; i < 30; i++) {
          await page.keyboard.press("Tab");
          if ((await focused()) === wanted) return;
        }
        assert.fail(`Tab never reached ${wanted}`);
      };
      await tabTo("confirm");
      await page.keyboard.press("Space");
      await tabTo("Approve with Test Wallet");
      await page.keyboard.press("Enter");
      await phoneEnded(page, "done");
      // The end state's title has the focus, so a screen reader reads it.
      assert.equal(await focused(), "ended-title");
      await desktop.page.waitForURL(`${server.base}/account`);
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });

  test("a lost connection on the desktop is said and survived", async () => {
    const desktop = await desktopPairing(server.base);
    const phone = await phoneOn(desktop.link);
    try {
      await desktop.context.setOffline(true);
      await desktop.page.getByTestId("pair-status").filter({ hasText: "Cannot reach the server" }).waitFor();
      await shots(desktop.page, "panel-offline");
      await approveWithTestWallet(phone.page);
      await phoneEnded(phone.page, "done");
      await desktop.context.setOffline(false);
      await desktop.page.waitForURL(`${server.base}/account`);
    } finally {
      await desktop.context.close();
      await phone.context.close();
    }
  });

  test("unknown links and codes each say so", async () => {
    const phone = await phoneOn(`${server.base}/pair/AAAAAAAAAAAAAAAAAAAAAA`);
    try {
      await phoneEnded(phone.page, "unknown");
      await shots(phone.page, "unknown");
      await phone.page.goto(`${server.base}/pair`);
      await phone.page.getByRole("textbox", { name: "Code", exact: true }).fill("BBBB-BBBB");
      await phone.page.getByRole("button", { name: "Continue" }).click();
      await phone.page.getByTestId("notice").filter({ hasText: /No sign-in request on \S+ has this code/ }).waitFor();
      await shots(phone.page, "code-unknown");
    } finally {
      await phone.context.close();
    }
  });

  test("an expired pairing: the desktop says so, the phone cannot approve it", async () => {
    const { desktop, phone, startedAt } = expiring;
    await sleep(Math.max(0, startedAt + SHORTEST_TTL_SECS * 1000 + 1500 - Date.now()));
    await desktop.page.getByTestId("pair-status").filter({ hasText: "expired" }).waitFor({ timeout: 10_000 });
    await desktop.page.getByTestId("pair-again").waitFor();
    await shots(desktop.page, "panel-expired");
    // The phone page still open: approving now ends in the expired state.
    await approveWithTestWallet(phone.page);
    await phoneEnded(phone.page, "expired");
    await shots(phone.page, "expired");
    await phone.page.goto(desktop.link);
    await phoneEnded(phone.page, "expired");
  });
});

test("with pairing turned off, the login page does not offer it", async () => {
  const server = await startServer({ SIWE_PAIRING__ENABLED: "false" });
  const { page, context } = await openPage({ wallet: false });
  try {
    await page.goto(`${server.base}/login`);
    await page.locator("#phone-pairing").waitFor({ state: "attached" });
    await sleep(300);
    assert.equal(await page.getByTestId("pair-start").isVisible(), false);
  } finally {
    await context.close();
    await server.stop();
  }
});
