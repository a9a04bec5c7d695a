// Talking to the server: JSON in and out, CSRF on state changes, and errors a person can read
// in their language (the server's messages stay English; a code becomes `errors.<code>`).

import { has, loadCatalogue, t } from "./i18n.js";

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

/** The sentence for the server's error `code`: the catalogue's, else the server's message. */
export function errorSentence(code, serverMessage, status) {
  if (code && has(`errors.${code}`)) return t(`errors.${code}`);
  return serverMessage || t("login.server_answered", { status });
}

/** The rate limit's sentence, with the seconds the server asked to wait (Retry-After). */
export function retryMessage(seconds) {
  return t("login.rate_limited", { seconds: Math.max(1, Number(seconds) || 60) });
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
    throw new UserFacingError(t("login.unreachable"), "unreachable");
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
    const code = (data && data.error) || null;
    throw new UserFacingError(errorSentence(code, data && data.message, resp.status), code, resp.status);
  }
  return data;
}

/**
 * Shows a notice (error or confirmation) at the top of the page, with buttons for the ways
 * forward: `actions` is [{label, run}]. An empty text clears it.
 */
export function notify(text, kind = "error", actions = []) {
  const box = document.getElementById("notice");
  const sentence = document.createElement("p");
  sentence.textContent = text;
  const buttons = document.createElement("div");
  buttons.className = "row";
  for (const { label, run, secondary } of actions) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    if (secondary) b.className = "secondary";
    b.addEventListener("click", () => run(b));
    buttons.append(b);
  }
  box.replaceChildren(...(text ? [sentence] : []), ...(actions.length ? [buttons] : []));
  box.className = text ? `notice ${kind}` : "notice";
  box.dataset.kind = text ? kind : "";
  if (text) box.scrollIntoView({ block: "nearest" });
  // The way forward is where the keyboard is: the button that was pressed is busy or gone.
  if (actions.length) buttons.firstChild.focus();
}

/** Says what is going on (waiting for the wallet...) in the page's polite live region. */
export function status(text) {
  const region = document.getElementById("status");
  if (region) region.textContent = text;
}

/**
 * The page's /api/config. A page without /theme.css gets the configured accent here, in the
 * light scheme only (app.css's dark default keeps the contrast; /theme.css has both).
 */
export async function loadConfig() {
  const config = await api("GET", "/api/config");
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  if (!dark && !document.querySelector('link[href="/theme.css"]')) {
    document.documentElement.style.setProperty("--accent", config.accentColor);
  }
  return config;
}

/**
 * What every page does first: its catalogue, then its /api/config. Without the config the page
 * says so, offers a reload, and goes on with `fallback`.
 */
export async function startPage(fallback) {
  await loadCatalogue();
  try {
    return await loadConfig();
  } catch (err) {
    notify(err.message, "error", [{ label: t("login.try_again"), run: () => location.reload() }]);
    return fallback;
  }
}

/** What went wrong, in words: the server's sentence or the wallet's. */
export function failureText(err) {
  return err instanceof UserFacingError ? err.message : humanWalletError(err);
}

/** The default way to report a failed action: its sentence and Try again. */
function explainWithRetry(err, retry) {
  notify(failureText(err), "error", [{ label: t("login.try_again"), run: retry }]);
}

/**
 * Runs an async action from a button, disabling it meanwhile; a failure is reported by
 * `explain(err, retry)` (default: its sentence and a Try again button that presses `button`
 * again).
 */
export async function withBusy(button, action, explain = explainWithRetry) {
  if (button) button.disabled = true;
  status("");
  notify("");
  try {
    return await action();
  } catch (err) {
    status("");
    explain(err, () => {
      notify("");
      if (!button) return;
      button.focus();
      button.click();
    });
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/** The EIP-1193 code of a wallet's error, if any. */
export function walletErrorCode(err) {
  return err && (err.code ?? (err.data && err.data.code));
}

/** Wallet (EIP-1193) errors in words. */
export function humanWalletError(err) {
  const code = walletErrorCode(err);
  if (code === 4001 || code === "ACTION_REJECTED") return t("login.rejected");
  if (code === -32002) return t("login.wallet_busy");
  if (code === 4100) return t("login.wallet_locked");
  return t("login.wallet_problem", { message: (err && err.message) || String(err) });
}

export function shortAddress(address) {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

export async function copyText(text, button) {
  const label = button && button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    status(t("login.copied"));
    if (button) button.textContent = t("login.copied");
    setTimeout(() => {
      status("");
      if (button) button.textContent = label;
    }, 2000);
  } catch {
    notify(t("login.copy_failed"));
  }
}
