// Cross-device sign-in in a real browser: a desktop context without a wallet asks for a pairing
// on the login page, a phone context with the test wallet approves it on /pair/<id>, and the
// desktop ends up signed in where it was going. Also: decline, expiry, reuse, two phones racing,
// keyboard-only approval, and the deep links that open the phone page in a wallet's browser.

import { test } from "node:test";
import assert from "node:assert/strict";
import { walletBrowserLinks } from "../../../assets/js/deeplinks.js";

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
