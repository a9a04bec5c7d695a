// The sign-in page, without dead ends: the browser's wallets (EIP-6963, the last one used first);
// without one, in this order, a wallet on the phone (pairing), this page in a phone wallet's
// browser, installing a wallet, and the manual copy-sign-paste flow, open. Every failure says
// what happened and offers a way forward.

import {
  api,
  failureText,
  notify,
  setCsrfToken,
  startPage,
  status,
  UserFacingError,
  withBusy,
} from "./api.js";
import { isPhone, walletBrowserLinks } from "./deeplinks.js";
import { t } from "./i18n.js";
import { mountPairing } from "./pairing-panel.js";
import { setUpManualSigning, signWithWallet } from "./signing.js";
import { discoverWallets, walletButton } from "./wallet.js";

const params = new URLSearchParams(location.search);
let config = { chainIds: [], redirectOrigins: [] };

/** Where the browser remembers the wallet it last signed in with (its rdns, else its uuid). */
const LAST_WALLET = "siwe.lastWallet";

/** Official download pages of a few widely used wallets. */
const WALLET_SITES = [
  { name: "MetaMask", href: "https://metamask.io/download/" },
  { name: "Coinbase Wallet", href: "https://www.coinbase.com/wallet/downloads" },
  { name: "Rainbow", href: "https://rainbow.me/download" },
  { name: "Rabby", href: "https://rabby.io/" },
  { name: "Trust Wallet", href: "https://trustwallet.com/download" },
];

/** Where to go after signing in: a same-origin path or an allowed origin, else /account. */
export function safeNext(raw, redirectOrigins) {
  if (!raw || /[\u0000-\u001f\\]/.test(raw)) return "/account";
  if (raw.startsWith("/") && !raw.startsWith("//")) return raw;
  try {
    const url = new URL(raw);
    if (redirectOrigins.includes(url.origin)) return url.href;
  } catch {
    // not a URL
  }
  return "/account";
}

/** What an OpenID Connect application asks of this sign-in, when it sent the person here
 * (`next` is then its authorization request): the wallet it expects (`login_hint`) and
 * whether the person must sign in again (`login_after`, from `prompt=login` or `max_age`). */
export function applicationAsks(next) {
  if (!next || !next.startsWith("/oidc/authorize?")) return { address: null, again: false };
  const request = new URLSearchParams(next.slice(next.indexOf("?") + 1));
  const hint = request.get("login_hint");
  return {
    address: hint && /^0x[0-9a-fA-F]{40}$/.test(hint) ? hint : null,
    again: request.has("login_after"),
  };
}

function goOn() {
  location.assign(safeNext(params.get("next"), config.redirectOrigins));
}

async function finishSignIn(message, signature) {
  status(t("login.signing_in"));
  const result = await api("POST", "/api/auth/verify", { message, signature });
  setCsrfToken(result.csrfToken);
  // The cookie must have been kept, or the next page would not know us.
  try {
    await api("GET", "/api/auth/session");
  } catch (err) {
    if (err instanceof UserFacingError && err.status === 401) {
      throw new UserFacingError(t("login.cookie_not_kept"), "cookie_not_kept");
    }
    throw err;
  }
  goOn();
}

/** The server-built sign-in message for {address, chainId}. */
function signInChallenge(request) {
  return api("POST", "/api/auth/challenge", request);
}

/** Opens the manual flow and puts the cursor in its first field. */
function openManual() {
  document.getElementById("manual").open = true;
  document.getElementById("manual-address").focus();
}

function showPhoneFlow() {
  const section = document.getElementById("phone-pairing");
  section.scrollIntoView({ block: "nearest" });
  const first = section.querySelector("button, a[href], input");
  if (first) first.focus();
}

/** The sentence for a failed step and the ways forward (`retry` runs the step again). */
export function explainFailure(err, retry) {
  const code = err instanceof UserFacingError ? err.code : null;
  const other = [];
  if (config.pairing !== false) other.push({ label: t("login.use_phone"), run: showPhoneFlow, secondary: true });
  other.push({ label: t("login.use_manual"), run: openManual, secondary: true });
  // A contract wallet this server cannot check fails again however often it is tried.
  const actions = code === "contract_wallet_unsupported" ? other : [{ label: t("login.try_again"), run: retry }];
  if (["wrong_network", "chain_not_allowed", "chain_unavailable"].includes(code)) actions.push(...other);
  notify(failureText(err), "error", actions);
}

/** Runs a step of signing in from `button`: busy meanwhile, a failure explained. */
function attempt(button, step) {
  return withBusy(button, step, explainFailure);
}

function walletKey(info) {
  return info.rdns || info.uuid;
}

function lastWallet() {
  try {
    return localStorage.getItem(LAST_WALLET);
  } catch {
    return null;
  }
}

function rememberWallet(info) {
  try {
    localStorage.setItem(LAST_WALLET, walletKey(info));
  } catch {
    // storage refused (private mode): nothing to remember
  }
}

async function signInWith({ info, provider }) {
  status(t("login.check_wallet"));
  const { message, signature } = await signWithWallet(provider, config.chainIds, signInChallenge);
  rememberWallet(info);
  await finishSignIn(message, signature);
}

/** The wallets, the last one used first and marked. */
function renderWallets(wallets) {
  const last = lastWallet();
  const ordered = [...wallets].sort((a, b) => (walletKey(b.info) === last) - (walletKey(a.info) === last));
  const list = document.getElementById("wallet-list");
  list.replaceChildren();
  for (const wallet of ordered) {
    const { info } = wallet;
    const button = walletButton(info);
    const name = document.createElement("span");
    name.className = "wallet-name";
    name.textContent = info.name;
    button.append(name);
    const isLast = walletKey(info) === last;
    if (isLast) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.testid = "last-used";
      badge.textContent = t("login.last_used");
      button.append(badge);
    }
    button.setAttribute("aria-label", t(isLast ? "login.sign_in_with_last" : "login.sign_in_with", { wallet: info.name }));
    button.addEventListener("click", () => attempt(button, () => signInWith(wallet)));
    list.append(button);
  }
}

function links(listId, items) {
  document.getElementById(listId).replaceChildren(
    ...items.map(({ text, href }) => {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      a.rel = "noopener noreferrer";
      li.append(a);
      return li;
    }),
  );
}

/** Whether the person has started on the manual flow (then it stays as it is). */
let manualInUse = false;

function watchManual() {
  const manual = document.getElementById("manual");
  const inUse = () => (manualInUse = true);
  manual.addEventListener("focusin", inUse);
  manual.addEventListener("input", inUse);
  manual.querySelector("summary").addEventListener("click", inUse);
}

/** Shows what this browser can do: its wallets, or every other way in. */
function offerWays(wallets) {
  const none = wallets.length === 0;
  renderWallets(wallets);
  document.getElementById("no-wallet").hidden = !none;
  document.getElementById("wallets-intro").hidden = none;
  document.getElementById("phone-pairing").hidden = config.pairing === false;
  const inWallet = none && isPhone();
  document.getElementById("open-in-wallet").hidden = !inWallet;
  if (inWallet) {
    links(
      "open-in-wallet-links",
      walletBrowserLinks(location.href).map(({ name, href }) => ({ text: t("login.open_in", { wallet: name }), href })),
    );
  }
  document.getElementById("install").hidden = !none;
  links(
    "install-links",
    WALLET_SITES.map(({ name, href }) => ({ text: t("login.install_link", { wallet: name }), href })),
  );
  // The page comes with it open; with a wallet it folds away, unless the person is using it.
  const manual = document.getElementById("manual");
  if (!none && !manualInUse && !manual.contains(document.activeElement)) manual.open = false;
  document.getElementById("manual-summary-trouble").hidden = none;
  document.getElementById("manual-summary-plain").hidden = !none;
}

async function start() {
  watchManual();
  config = await startPage(config);
  if (params.get("expired")) notify(t("login.session_ended"));
  if (params.get("signed_in")) notify(t("login.wallet_added"), "ok");
  if (params.get("email_verified")) notify(t("login.email_confirmed"), "ok");
  const asks = applicationAsks(params.get("next"));
  if (asks.address) {
    notify(t("login.app_asks_wallet", { address: asks.address }), "ok");
    document.getElementById("manual-address").value = asks.address;
  } else if (asks.again) {
    notify(t("login.app_asks_again"), "ok");
  }
  document.getElementById("reload").addEventListener("click", () => location.reload());
  setUpManualSigning({ prefix: "manual", challenge: signInChallenge, submit: finishSignIn, run: attempt });
  if (config.pairing !== false) {
    mountPairing(document.getElementById("phone-pairing"), { next: params.get("next"), onSignedIn: goOn });
  }
  offerWays(await discoverWallets());
}

start();
