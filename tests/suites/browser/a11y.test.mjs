// Accessibility of every page state: axe-core (pinned in package.json) runs inside the real
// Chromium on each page at 320 px and 1280 px wide, in light and dark colour schemes, and any
// violation of impact "serious" or "critical" fails (colour contrast included); at 320 px the
// page must also not scroll sideways.
//
// Run: cargo build && (cd tests/suites/browser && npm ci && node --test a11y.test.mjs)

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { accounts, call, openPage, root, signInFromNode, startServer, startSmtp, useBrowser } from "./harness.mjs";

useBrowser();

// Evaluated through the DevTools protocol, which the pages' Content-Security-Policy (script-src
// 'self') does not apply to; a script tag would be refused, and bypassing the policy for the
// whole page would hide what it blocks.
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const NARROW = { width: 320, height: 640 };
const WIDE = { width: 1280, height: 900 };
// Each state is opened once per colour scheme (a script may read the scheme as the page
// loads) and checked at both widths by resizing the window (only CSS depends on the width).
const schemes = ["light", "dark"];
const account = accounts[0];

/** Runs axe-core on the page as it is; returns its violations of impact serious or critical. */
async function seriousViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(axeSource);
  const results = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({
      rule: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(" ")}: ${n.failureSummary.replace(/\s+/g, " ")}`),
    }));
}

/** The page's and the window's widths when the page is wider than the window, else null. */
async function sidewaysScroll(page) {
  const widths = await page.evaluate(() => ({ page: document.documentElement.scrollWidth, window: window.innerWidth }));
  return widths.page > widths.window ? widths : null;
}

/**
 * Opens `state` in each colour scheme and checks it at 320 and 1280 px: no serious or critical
 * axe violation, and no sideways scrolling at 320 px. `state.open(page, base)` brings the page to the state.
 */
async function checkState(server, state) {
  const problems = [];
  for (const colorScheme of schemes) {
    const { page, context } = await openPage({
      wallet: Boolean(state.wallet),
      viewport: NARROW,
      colorScheme,
      locale: state.locale,
    });
    try {
      await state.open(page, server.base, context);
      for (const viewport of [NARROW, WIDE]) {
        await page.setViewportSize(viewport);
        const layout = `${viewport.width}px-${colorScheme}`;
        const violations = await seriousViolations(page);
        if (violations.length) problems.push({ state: state.name, layout, violations });
        if (viewport === NARROW) {
          const widths = await sidewaysScroll(page);
          if (widths) problems.push({ state: state.name, layout, scrollsSideways: widths });
        }
      }
    } finally {
      await context.close();
    }
  }
  assert.deepEqual(problems, [], JSON.stringify(problems, null, 2));
}

async function signedIn(context, base) {
  await context.addCookies([(await signInFromNode(base)).cookie]);
}

// The mail server the server sends to, and the first email verification link it received
// (opening it changes nothing, so every layout opens the same one).
const mail = { smtp: null, link: null };

async function emailVerificationLink(base) {
  if (!mail.link) {
    const { token } = await signInFromNode(base);
    const saved = await call(base, "PUT", "/api/account", { email: "a11y@example.org" }, token);
    assert.equal(saved.status, 200, JSON.stringify(saved.body));
    mail.link = await mail.smtp.link(1, `${base}/api/account/verify-email`);
  }
  return mail.link;
}

/** A pending pairing, asked for from Node as a desktop would: its id. */
async function newPairing(base) {
  const created = await call(base, "POST", "/api/pairings", {});
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return created.body.id;
}

/** The English catalogue: the sentences the states wait for. */
const en = JSON.parse(readFileSync(join(root, "assets", "i18n", "en.json"), "utf8"));

/** Starts the login page's phone pairing on the page (a browser without a wallet) and waits for
 * its code, QR code and countdown: the pairing's id. */
async function desktopPairing(page, base) {
  await page.goto(`${base}/login`);
  await page.getByTestId("pair-start").click();
  await page.getByTestId("pair-countdown").filter({ hasText: /\d:\d\d/ }).waitFor();
  await page.getByTestId("pair-qr").evaluate((img) => img.decode());
  const link = await page.getByTestId("pair-link").getAttribute("href");
  return new URL(link).pathname.split("/").pop();
}

/** Waits for the desktop panel's status to say `key`'s sentence. */
async function panelSays(page, key) {
  await page.getByTestId("pair-status").filter({ hasText: en.pair.desktop[key] }).waitFor();
}

const oidcRequest = (base) =>
  new URLSearchParams({
    response_type: "code",
    client_id: "web",
    redirect_uri: "http://localhost:9/cb",
    scope: "openid email profile",
    state: "st-1",
    code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
    code_challenge_method: "S256",
  });

const states = [
  {
    name: "login with a wallet",
    wallet: true,
    async open(page, base) {
      await page.goto(`${base}/login`);
      await page.getByTestId("wallet-option").waitFor();
    },
  },
  {
    name: "login without a wallet",
    async open(page, base) {
      await page.goto(`${base}/login`);
      await page.getByText("No browser wallet found").waitFor();
    },
  },
  {
    name: "login, manual flow with the message",
    async open(page, base) {
      await page.goto(`${base}/login`);
      const manual = page.locator("#manual-address");
      if (!(await manual.isVisible())) await page.locator("details:has(#manual-address) > summary").click();
      await manual.fill(account.address);
      await page.getByRole("button", { name: "Get the message" }).click();
      await page.waitForFunction(() => document.getElementById("manual-message").value.length > 0);
    },
  },
  {
    name: "account",
    async open(page, base, context) {
      await signedIn(context, base);
      await page.goto(`${base}/account`);
      await page.getByTestId("wallet").first().waitFor();
      await page.getByTestId("event").first().waitFor();
    },
  },
  {
    name: "email link page",
    async open(page, base) {
      await page.goto(await emailVerificationLink(base));
      await page.locator("main form button").first().waitFor();
    },
  },
  {
    name: "email link that cannot be used",
    async open(page, base) {
      await page.goto(`${base}/api/account/verify-email?token=${"A".repeat(43)}`);
      await page.locator("main h1").waitFor();
    },
  },
  {
    name: "phone: enter the code",
    async open(page, base) {
      await page.goto(`${base}/pair`);
      await page.locator("#enter-code").waitFor();
    },
  },
  {
    name: "phone: a pairing to confirm",
    wallet: true,
    async open(page, base) {
      await page.goto(`${base}/pair/${await newPairing(base)}`);
      await page.locator("#request").waitFor();
    },
  },
  {
    name: "phone: confirmed, ready to sign",
    wallet: true,
    async open(page, base) {
      await page.goto(`${base}/pair/${await newPairing(base)}`);
      await page.locator("#confirm").check();
      await page.locator("#wallet-list button").first().waitFor();
    },
  },
  {
    name: "phone: confirmed, no wallet in this browser",
    async open(page, base) {
      await page.goto(`${base}/pair/${await newPairing(base)}`);
      await page.locator("#confirm").check();
      await page.locator("#no-wallet").waitFor();
      await page.locator("#manual > summary").click();
    },
  },
  {
    name: "phone: a pairing that is not there",
    async open(page, base) {
      await page.goto(`${base}/pair/AAAAAAAAAAAAAAAAAAAAAA`);
      await page.locator("#ended").waitFor();
    },
  },
  {
    name: "desktop: phone pairing with its code, QR code and countdown",
    async open(page, base) {
      await desktopPairing(page, base);
      await panelSays(page, "waiting");
    },
  },
  {
    name: "desktop: phone pairing declined on the phone",
    async open(page, base) {
      const id = await desktopPairing(page, base);
      const declined = await call(base, "POST", `/api/pairings/${id}/decline`);
      assert.equal(declined.status, 200, JSON.stringify(declined.body));
      await panelSays(page, "declined");
      await page.getByTestId("pair-again").waitFor();
    },
  },
  {
    name: "desktop: phone pairing with the connection lost",
    async open(page, base, context) {
      await desktopPairing(page, base);
      await context.setOffline(true);
      await panelSays(page, "offline");
    },
  },
  {
    name: "desktop: phone pairing expired while offline",
    // The page's clock moved past the pairing's end (the real expiry, a minute at least, is
    // pairing.test.mjs's): the panel ends as when the server says it expired.
    async open(page, base, context) {
      await page.clock.install();
      await desktopPairing(page, base);
      await context.setOffline(true);
      await page.clock.fastForward("30:00");
      await panelSays(page, "expired");
      await page.getByTestId("pair-again").waitFor();
    },
  },
  {
    name: "login in German, without a wallet, the phone pairing started",
    locale: "de-DE",
    async open(page, base) {
      await desktopPairing(page, base);
      const lang = await page.evaluate(() => document.documentElement.lang);
      assert.equal(lang, "de", "the page says its language");
    },
  },
  {
    name: "OpenID Connect error page in German (the server's English detail marked as such)",
    locale: "de-DE",
    async open(page, base) {
      await page.goto(`${base}/oidc/authorize?client_id=nobody`);
      await page.getByTestId("oidc-error").waitFor();
      assert.equal(await page.evaluate(() => document.documentElement.lang), "de", "the page says its language");
    },
  },
  {
    name: "OpenID Connect consent",
    async open(page, base, context) {
      await signedIn(context, base);
      await page.goto(`${base}/oidc/authorize?${oidcRequest(base)}`);
      await page.getByTestId("consent-app").waitFor();
    },
  },
  {
    name: "OpenID Connect sign-out",
    async open(page, base, context) {
      await signedIn(context, base);
      await page.goto(`${base}/oidc/logout?client_id=web`);
      await page.locator("form[action='/oidc/logout']").waitFor();
    },
  },
  {
    name: "OpenID Connect error",
    async open(page, base) {
      await page.goto(`${base}/oidc/authorize?client_id=nobody`);
      await page.getByTestId("oidc-error").waitFor();
    },
  },
];

describe("accessibility (axe-core) and narrow screens", () => {
  let server;
  let configDir;
  before(async () => {
    configDir = mkdtempSync(join(tmpdir(), "siwe-a11y-config-"));
    const config = join(configDir, "config.toml");
    writeFileSync(
      config,
      `[[oidc.clients]]\nid = "web"\nname = "Web App"\npublic = true\n` +
        `redirect_uris = ["http://localhost:9/cb"]\npost_logout_redirect_uris = ["http://localhost:9/bye"]\n`,
    );
    mail.smtp = await startSmtp();
    server = await startServer({
      SIWE_CONFIG: config,
      SIWE_EMAIL__SMTP_HOST: "127.0.0.1",
      SIWE_EMAIL__SMTP_PORT: String(mail.smtp.port),
      SIWE_EMAIL__SMTP_TLS: "none",
    });
  });
  after(async () => {
    await server?.stop();
    await mail.smtp?.stop();
    if (configDir) rmSync(configDir, { recursive: true, force: true });
  });

  test("the check finds what it looks for", async () => {
    const { page, context } = await openPage({ wallet: false, viewport: NARROW });
    try {
      await page.goto(`${server.base}/login`);
      await page.evaluate(() => {
        const faint = Object.assign(document.createElement("p"), { textContent: "faint text" });
        faint.style.cssText = "color: #777; background: #888";
        const unnamed = document.createElement("button");
        unnamed.append(document.createElement("img"));
        document.querySelector("main").append(faint, unnamed);
      });
      assert.equal(await sidewaysScroll(page), null);
      const rules = (await seriousViolations(page)).map((v) => v.rule);
      assert.ok(rules.includes("color-contrast") && rules.includes("button-name"), String(rules));
      await page.evaluate(() => {
        const wide = Object.assign(document.createElement("pre"), { textContent: "x".repeat(200) });
        document.querySelector("main").append(wide);
      });
      assert.notEqual(await sidewaysScroll(page), null);
    } finally {
      await context.close();
    }
  });

  for (const state of states) {
    test(state.name, async () => {
      await checkState(server, state);
    });
  }
});
