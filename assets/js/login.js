// The sign-in page: injected wallets (EIP-6963) and the manual copy-sign-paste flow.

import { api, loadConfig, notify, setCsrfToken, UserFacingError, withBusy } from "./api.js";
import { setUpManualSigning, signWithWallet } from "./signing.js";
import { discoverWallets } from "./wallet.js";

const params = new URLSearchParams(location.search);
let config = { chainIds: [], redirectOrigins: [] };

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

async function finishSignIn(message, signature) {
  const result = await api("POST", "/api/auth/verify", { message, signature });
  setCsrfToken(result.csrfToken);
  // The cookie must have been kept, or the next page would not know us.
  try {
    await api("GET", "/api/auth/session");
  } catch (err) {
    if (err instanceof UserFacingError && err.status === 401) {
      throw new UserFacingError(
        "You are signed in, but your browser did not keep the sign-in cookie. If you opened " +
          "this page inside an app, open it in your wallet's built-in browser or in your " +
          "system browser, and allow cookies for this site.",
        "cookie_not_kept",
      );
    }
    throw err;
  }
  location.assign(safeNext(params.get("next"), config.redirectOrigins));
}

/** The server-built sign-in message for {address, chainId}. */
function signInChallenge(request) {
  return api("POST", "/api/auth/challenge", request);
}

async function signInWith(provider) {
  const { message, signature } = await signWithWallet(provider, config.chainIds, signInChallenge);
  await finishSignIn(message, signature);
}

function renderWallets(wallets) {
  const list = document.getElementById("wallet-list");
  list.replaceChildren();
  document.getElementById("no-wallet").hidden = wallets.length > 0;
  for (const { info, provider } of wallets) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "wallet-button";
    button.dataset.testid = "wallet-option";
    if (info.icon && /^data:image\/|^https:\/\//.test(info.icon)) {
      const icon = document.createElement("img");
      icon.src = info.icon;
      icon.alt = "";
      button.append(icon);
    }
    button.append(document.createTextNode(info.name));
    button.addEventListener("click", () => withBusy(button, () => signInWith(provider)));
    list.append(button);
  }
}

async function start() {
  try {
    config = await loadConfig();
  } catch (err) {
    notify(err.message);
  }
  if (params.get("expired")) notify("Your session has ended. Please sign in again.");
  if (params.get("signed_in")) notify("The wallet was added to your account.", "ok");
  if (params.get("email_verified")) notify("Thank you: your email address is confirmed.", "ok");
  const asks = applicationAsks(params.get("next"));
  if (asks.address) {
    notify(`The application asks you to sign in with the wallet ${asks.address}.`, "ok");
    document.getElementById("manual-address").value = asks.address;
  } else if (asks.again) {
    notify("The application asks you to sign in again.", "ok");
  }
  setUpManualSigning({ prefix: "manual", challenge: signInChallenge, submit: finishSignIn, run: withBusy });
  renderWallets(await discoverWallets());
}

start();
