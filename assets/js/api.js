// Talking to the server: JSON in and out, CSRF on state changes, and errors a person can read.

let csrfToken = null;

export function setCsrfToken(token) {
  csrfToken = token;
}

/** An error with a message fit to show, and the server's code when there is one. */
export class UserFacingError extends Error {
  constructor(message, code = null, status = 0) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

const messages = {
  invalid_nonce: "This sign-in request expired or was already used. Please try again.",
  message_expired: "This sign-in request expired. Please try again.",
  issued_at_invalid: "Your device's clock seems to be off. Check the date and time, then try again.",
  invalid_signature: "The signature does not match the address. Make sure you sign with the same wallet.",
  invalid_signature_format: "That does not look like a signature: it should be 0x followed by 130 hex digits.",
  invalid_address: "That does not look like an Ethereum address: it should be 0x followed by 40 hex digits.",
  chain_not_allowed: "This network is not accepted here. Switch your wallet to a supported network.",
  unauthenticated: "Your session has ended. Please sign in again.",
  wallet_already_linked: "This wallet belongs to another account. Sign in with it and unlink it there first.",
  wallet_already_yours: "This wallet is already linked to your account.",
  last_sign_in_method: "This is your only wallet; link another one before removing it.",
  email_in_use: "Another account uses this email.",
  reauthentication_required: "This change needs a fresh signature from one of your wallets.",
};

export function retryMessage(seconds) {
  const s = Number(seconds) || 60;
  return `Too many attempts from your network. Please try again in ${s} second${s === 1 ? "" : "s"}.`;
}

/** fetch + JSON; throws UserFacingError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new UserFacingError("Cannot reach the server. Check your connection and try again.", "unreachable");
  }
  if (resp.status === 204) return null;
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    if (resp.status === 429) {
      throw new UserFacingError(retryMessage(resp.headers.get("Retry-After")), "rate_limited", 429);
    }
    const code = data && data.error;
    const text = messages[code] || (data && data.message) || `The server answered ${resp.status}.`;
    throw new UserFacingError(text, code, resp.status);
  }
  return data;
}

/** Shows a notice (error or confirmation) at the top of the page. */
export function notify(text, kind = "error") {
  const box = document.getElementById("notice");
  box.textContent = text;
  box.className = `notice ${kind}`;
  box.hidden = !text;
  if (text) box.scrollIntoView({ block: "nearest" });
}

/** Applies [ui] branding; returns the config. */
export async function loadConfig() {
  const config = await api("GET", "/api/config");
  document.documentElement.style.setProperty("--accent", config.accentColor);
  for (const el of document.querySelectorAll("#app-name")) el.textContent = config.appName;
  document.title = `${document.title} · ${config.appName}`;
  if (config.logoUrl) {
    const logo = document.getElementById("logo");
    logo.src = config.logoUrl;
    logo.alt = config.appName;
    logo.hidden = false;
  }
  return config;
}

/** Runs an async action from a button, disabling it meanwhile and reporting errors. */
export async function withBusy(button, action) {
  if (button) button.disabled = true;
  try {
    notify("");
    return await action();
  } catch (err) {
    notify(err instanceof UserFacingError ? err.message : humanWalletError(err));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** Wallet (EIP-1193) errors in words. */
export function humanWalletError(err) {
  const code = err && (err.code ?? (err.data && err.data.code));
  if (code === 4001 || code === "ACTION_REJECTED") {
    return "You rejected the request in your wallet. Nothing was signed.";
  }
  if (code === -32002) {
    return "Your wallet already has a request waiting. Open your wallet to finish or cancel it.";
  }
  if (code === 4100) return "Your wallet did not allow this site to see your account. Unlock or connect it, then try again.";
  return `Your wallet reported a problem: ${(err && err.message) || err}`;
}

export function shortAddress(address) {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

export async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    if (button) {
      const label = button.textContent;
      button.textContent = "Copied";
      setTimeout(() => (button.textContent = label), 1500);
    }
  } catch {
    notify("Copying is not allowed here: select the message and copy it yourself.");
  }
}
