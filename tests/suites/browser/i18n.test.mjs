// The pages in the person's language, in a real browser: a browser that asks for German
// (Accept-Language from its locale) gets the login page in German, the sentences its scripts
// make included; the language switcher changes to French and the choice (the siwe_lang cookie)
// stays for the next pages, signed in or not; the pages the server renders in code (OpenID
// Connect, emailed links) follow the browser's language and the switcher too. The expected sentences are read
// from assets/i18n/<lang>.json, never copied here.
// Screenshots: target/e2e/i18n-<state>-<320|1280>.png.
//
// Run: cargo build && (cd tests/suites/browser && npm ci && node --test i18n.test.mjs)

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPage, root, shot, signInFromNode, startServer, useBrowser } from "./harness.mjs";

useBrowser();

const NARROW = { width: 320, height: 640 };
const WIDE = { width: 1280, height: 900 };
const FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const APP = "Example App";

/** Every catalogue of assets/i18n by its language's code. */
const catalogues = Object.fromEntries(
  readdirSync(join(root, "assets", "i18n"))
    .filter((file) => file.endsWith(".json"))
    .map((file) => [file.slice(0, -".json".length), JSON.parse(readFileSync(join(root, "assets", "i18n", file), "utf8"))]),
);

/** `key`'s text in `lang`'s catalogue with its {variables} filled ({app} is the app's name). */
function sentence(lang, key, vars = {}) {
  const text = key.split(".").reduce((node, name) => node && node[name], catalogues[lang]);
  assert.equal(typeof text, "string", `${key} is in ${lang}.json`);
  const all = { app: APP, ...vars };
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in all ? String(all[name]) : whole));
}

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A pattern for `key`'s text in `lang` whatever its {variables} are. */
function pattern(lang, key) {
  const text = sentence(lang, key);
  return new RegExp(`^${text.split(/\{\w+\}/).map(escapeRegExp).join(".+")}$`);
}

/** The page's language, title and first heading. */
async function pageWords(page) {
  return page.evaluate(() => ({
    lang: document.documentElement.lang,
    title: document.title,
    heading: document.querySelector("h1")?.textContent.trim(),
  }));
}

/** Screenshots of the page as it is at 320 px and 1280 px (`i18n-<name>-<width>.png`); at 320
 * px the page must not scroll sideways (long German words included). */
async function shots(page, name) {
  const size = page.viewportSize();
  for (const viewport of [NARROW, WIDE]) {
    await page.setViewportSize(viewport);
    await shot(page, `i18n-${name}-${viewport.width}`);
    if (viewport === NARROW) {
      const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, window: window.innerWidth }));
      assert.ok(widths.page <= widths.window, `${name} scrolls sideways at 320 px: ${JSON.stringify(widths)}`);
    }
  }
  await page.setViewportSize(size);
}

/** Errors a page logged, less the failed requests a test provokes on purpose. */
const pageErrors = (errors) => errors.filter((e) => !/Failed to load resource/.test(e));

describe("pages in the person's language", () => {
  let server;
  let configDir;

  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), "siwe-i18n-config-"));
    const config = join(configDir, "config.toml");
    writeFileSync(
      config,
      `[[oidc.clients]]\nid = "web"\nname = "Web App"\npublic = true\n` +
        `redirect_uris = ["http://localhost:9/cb"]\npost_logout_redirect_uris = ["http://localhost:9/bye"]\n`,
    );
    server = await startServer({ SIWE_CONFIG: config });
  });
  after(async () => {
    await server?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test("a browser that asks for German gets the login page in German, its script's sentences too", async () => {
    const { page, context, errors } = await openPage({ locale: "de-DE", viewport: NARROW });
    try {
      await page.goto(`${server.base}/login`);
      assert.deepEqual(await pageWords(page), {
        lang: "de",
        title: sentence("de", "login.page_title"),
        heading: sentence("de", "login.title"),
      });
      await page.getByRole("heading", { name: sentence("de", "login.wallets_title") }).waitFor();
      // Made by the script: the wallet's button is named in German.
      const wallet = page.getByRole("button", { name: sentence("de", "login.sign_in_with", { wallet: "Test Wallet" }) });
      await wallet.waitFor();
      // The switcher, in German, has German chosen.
      const switcher = page.getByTestId("language-switcher");
      assert.equal(await switcher.getByLabel(sentence("de", "common.language")).inputValue(), "de");
      await switcher.getByRole("button", { name: sentence("de", "common.change_language") }).waitFor();
      await shots(page, "de-login");

      // The wallet refuses to sign: the script's sentence and its way forward are German.
      await page.evaluate(() => (window.__testWallet.reject = true));
      await wallet.click();
      const notice = page.getByTestId("notice");
      await notice.filter({ hasText: sentence("de", "login.rejected") }).waitFor();
      await notice.getByRole("button", { name: sentence("de", "login.try_again") }).waitFor();
      assert.ok(!(await notice.textContent()).includes(sentence("en", "login.rejected")));
      await shots(page, "de-login-rejected");
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("without a wallet, the German page says so, and its links and phone panel are German", async () => {
    const { page, context, errors } = await openPage({ wallet: false, locale: "de-DE", viewport: NARROW });
    try {
      await page.goto(`${server.base}/login`);
      await page.getByText(sentence("de", "login.no_wallet"), { exact: true }).waitFor();
      // The script lists wallets to install, each link's name from the catalogue.
      const installLinks = page.getByRole("link", { name: pattern("de", "login.install_link") });
      await installLinks.first().waitFor();
      assert.ok((await installLinks.count()) >= 2);
      await page.getByRole("button", { name: sentence("de", "login.get_message") }).waitFor();
      await shots(page, "de-login-no-wallet");

      // The phone panel: its code, QR code and countdown say what they are in German.
      await page.getByRole("button", { name: sentence("de", "pair.desktop.start") }).click();
      const link = await page.getByTestId("pair-link").getAttribute("href");
      await page.getByTestId("pair-status").filter({ hasText: sentence("de", "pair.desktop.waiting") }).waitFor();
      assert.equal(await page.getByTestId("pair-qr").getAttribute("alt"), sentence("de", "pair.desktop.qr_alt", { url: link }));
      await page.getByTestId("pair-countdown").filter({ hasText: pattern("de", "pair.desktop.expires_in") }).waitFor();
      await page.getByText(sentence("de", "pair.desktop.scan"), { exact: true }).waitFor();
      await shots(page, "de-pairing");

      // The phone that opens the link asks for German too.
      const phone = await openPage({ locale: "de-DE", viewport: NARROW });
      try {
        await phone.page.goto(link);
        assert.equal((await pageWords(phone.page)).lang, "de");
        await phone.page.getByText(sentence("de", "pair.phone.request_title"), { exact: true }).waitFor();
        await phone.page.getByRole("button", { name: sentence("de", "pair.phone.sign_with", { wallet: "Test Wallet" }) }).waitFor();
        await shots(phone.page, "de-pair-phone");
      } finally {
        await phone.context.close();
      }
      assert.deepEqual(pageErrors(errors), []);
    } finally {
      await context.close();
    }
  });

  test("the language switcher changes to French, and the choice stays: signing in, the account page, other pages", async () => {
    const { page, context, errors } = await openPage({ locale: "de-DE", viewport: WIDE, userAgent: FIREFOX_ON_WINDOWS });
    try {
      const next = "/account?from=switcher";
      await page.goto(`${server.base}/login?next=${encodeURIComponent(next)}`);
      const switcher = page.getByTestId("language-switcher");
      // Each language by its own name.
      const names = await switcher.locator("option").evaluateAll((options) => options.map((o) => [o.value, o.textContent, o.lang]));
      assert.deepEqual(names.map(([code]) => code).sort(), Object.keys(catalogues).sort());
      for (const [code, name, lang] of names) {
        assert.equal(name, sentence(code, `languages.${code}`));
        assert.equal(lang, code);
      }
      await switcher.getByLabel(sentence("de", "common.language")).selectOption("fr");
      await switcher.getByRole("button", { name: sentence("de", "common.change_language") }).click();
      await page.waitForFunction(() => document.documentElement.lang === "fr");
      // Back on the same page, its next kept.
      const url = new URL(page.url());
      assert.equal(url.pathname, "/login");
      assert.equal(url.searchParams.get("next"), next);
      assert.equal((await pageWords(page)).heading, sentence("fr", "login.title"));
      const cookie = (await context.cookies(server.base)).find((c) => c.name === "siwe_lang");
      assert.equal(cookie?.value, "fr");
      assert.equal(cookie.httpOnly, true);
      await page.getByRole("button", { name: sentence("fr", "login.sign_in_with", { wallet: "Test Wallet" }) }).click();

      // Signed in: the account page in French, the script-made parts too.
      await page.waitForURL(`${server.base}${next}`);
      assert.deepEqual(await pageWords(page), {
        lang: "fr",
        title: sentence("fr", "account.page_title"),
        heading: sentence("fr", "account.heading"),
      });
      const device = page.getByTestId("session-device");
      await device.filter({ hasText: sentence("fr", "account.device", { browser: "Firefox", os: "Windows" }) }).waitFor();
      await page.getByTestId("this-device").filter({ hasText: sentence("fr", "account.this_device") }).waitFor();
      const session = page.getByTestId("session").first();
      assert.match(await session.textContent(), new RegExp(escapeRegExp(sentence("fr", "account.signed_in_with", { wallet: "" }))));
      // Each event of the list is named from the French catalogue's events.<kind>.
      await page.getByTestId("event").first().waitFor();
      const events = await page.evaluate(async () => (await (await fetch("/api/account/events?limit=20")).json()).map((e) => [e.kind, e.detail]));
      const kinds = events.map(([kind]) => kind);
      assert.ok(kinds.includes("sign_in"), JSON.stringify(kinds));
      const items = await page.getByTestId("event").allTextContents();
      assert.equal(items.length, kinds.length);
      kinds.forEach((kind, i) => assert.ok(items[i].includes(sentence("fr", `events.${kind}`)), `${items[i]} names ${kind} in French`));
      // The server's fixed detail words too ("created": the first sign-in made the account).
      events.forEach(([, detail], i) => {
        if (detail === "created") assert.ok(items[i].includes(sentence("fr", "event_details.created")), items[i]);
        if (detail) assert.ok(!items[i].includes(` ${detail} `) || detail.includes(" "), `${items[i]} shows ${detail} raw`);
      });
      assert.ok(events.some(([, detail]) => detail === "created"), JSON.stringify(events));
      await page.getByRole("button", { name: sentence("fr", "account.sign_out"), exact: true }).waitFor();
      await shots(page, "fr-account");

      // Other pages keep French, though the browser still asks for German.
      await page.goto(`${server.base}/pair`);
      assert.equal((await pageWords(page)).lang, "fr");
      await page.getByRole("button", { name: sentence("fr", "pair.phone.continue") }).waitFor();
      await page.goto(`${server.base}/account`);
      await page.getByRole("button", { name: sentence("fr", "account.sign_out"), exact: true }).click();
      await page.waitForURL(`${server.base}/login`);
      assert.equal((await pageWords(page)).heading, sentence("fr", "login.title"));
      await shots(page, "fr-login-signed-out");
      assert.deepEqual(pageErrors(errors).filter((e) => !e.includes("401")), []);
    } finally {
      await context.close();
    }
  });

  test("the pages the server builds in code follow the browser's language, and the switcher on them", async () => {
    const { page, context } = await openPage({ wallet: false, locale: "de-DE", viewport: NARROW });
    try {
      // An emailed link that cannot be used: its title, its error's sentence (errors.<code>)
      // and the way on, in German.
      await page.goto(`${server.base}/api/account/verify-email?token=${"A".repeat(43)}`);
      const title = sentence("de", "link.error_title");
      assert.deepEqual(await pageWords(page), { lang: "de", title, heading: title });
      const code = await page.locator("[data-error]").getAttribute("data-error");
      assert.equal((await page.getByTestId("link-error").textContent()).trim(), sentence("de", `errors.${code}`));
      await page.getByRole("link", { name: sentence("de", "link.go_to_sign_in") }).waitFor();
      await shots(page, "de-link-error");

      // An OpenID Connect application's consent page.
      await context.addCookies([(await signInFromNode(server.base)).cookie]);
      const request = new URLSearchParams({
        response_type: "code",
        client_id: "web",
        redirect_uri: "http://localhost:9/cb",
        scope: "openid email profile",
        state: "st-1",
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        code_challenge_method: "S256",
      });
      const consent = `/oidc/authorize?${request}`;
      await page.goto(`${server.base}${consent}`);
      const consentTitle = sentence("de", "oidc.consent_title", { client: "Web App" });
      assert.deepEqual(await pageWords(page), { lang: "de", title: consentTitle, heading: consentTitle });
      const scopes = await page.getByTestId("consent-scopes").locator("li").allTextContents();
      assert.deepEqual(scopes.sort(), [sentence("de", "oidc.scope_email"), sentence("de", "oidc.scope_profile")].sort());
      await page.getByRole("button", { name: sentence("de", "oidc.allow"), exact: true }).waitFor();
      await page.getByRole("button", { name: sentence("de", "oidc.deny"), exact: true }).waitFor();
      await shots(page, "de-oidc-consent");

      // The switcher on a page built in code: French, back on the same consent page.
      const switcher = page.getByTestId("language-switcher");
      await switcher.getByLabel(sentence("de", "common.language")).selectOption("fr");
      await switcher.getByRole("button", { name: sentence("de", "common.change_language") }).click();
      await page.waitForFunction(() => document.documentElement.lang === "fr");
      assert.equal(page.url(), `${server.base}${consent}`);
      assert.equal((await pageWords(page)).heading, sentence("fr", "oidc.consent_title", { client: "Web App" }));
      await page.getByRole("button", { name: sentence("fr", "oidc.allow"), exact: true }).waitFor();
      await shots(page, "fr-oidc-consent");

      // The sign-out confirmation and an error page, now French.
      await page.goto(`${server.base}/oidc/logout?client_id=web`);
      assert.equal((await pageWords(page)).heading, sentence("fr", "oidc.logout_title"));
      await page.getByRole("button", { name: sentence("fr", "oidc.logout_button"), exact: true }).waitFor();
      await page.goto(`${server.base}/oidc/authorize?client_id=nobody`);
      assert.equal((await pageWords(page)).heading, sentence("fr", "oidc.error_title"));
      const oidcCode = await page.locator("[data-error]").getAttribute("data-error");
      assert.equal((await page.getByTestId("oidc-error").textContent()).trim(), sentence("fr", `errors.${oidcCode}`));
      await page.getByRole("link", { name: sentence("fr", "oidc.open_account") }).waitFor();
      await shots(page, "fr-oidc-error");
    } finally {
      await context.close();
    }
  });
});
