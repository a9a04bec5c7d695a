// The login page's "Use a wallet on your phone" panel: the desktop side of cross-device sign-in.
// It asks the server for a pairing, shows its QR code, code and link, waits for the phone
// (polling the pairing's state), and claims the session with the secret only this page holds
// (kept in this closure, never in a URL, the QR code or storage).

import { api, setCsrfToken, UserFacingError } from "./api.js";
import { loadCatalogue, t } from "./i18n.js";

const POLL_MS = 1500;

function element(tag, attributes = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") el.textContent = value;
    else el.setAttribute(name, value);
  }
  el.append(...children);
  return el;
}

function addStylesheet() {
  if (document.querySelector('link[href="/assets/pair.css"]')) return;
  document.head.append(element("link", { rel: "stylesheet", href: "/assets/pair.css" }));
}

/** "4:05" for 245 seconds. */
export function minutesAndSeconds(seconds) {
  const s = Math.max(0, Math.ceil(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The sentence for a pairing that ended without this browser's session, by its state or an
 * error code; null for other errors (their own message says it). */
function endedSentence(reason) {
  switch (reason) {
    case "declined":
    case "pairing_declined":
      return t("pair.desktop.declined");
    case "expired":
    case "pairing_expired":
      return t("pair.desktop.expired");
    case "claimed":
    case "pairing_used":
      return t("pair.desktop.used");
    case "pairing_not_found":
      return t("pair.desktop.gone");
    case "pairing_capacity":
      return t("pair.desktop.busy");
    default:
      return null;
  }
}

/**
 * Fills `container` (the login page's #phone-pairing section) with the panel. `onSignedIn(result)`
 * runs once this browser has its session (`result` as POST /api/auth/verify answers); the login
 * page then goes to its `next`. Hidden when the server has pairing turned off.
 */
export async function mountPairing(container, { onSignedIn } = {}) {
  await loadCatalogue();
  let config = {};
  try {
    config = await api("GET", "/api/config");
  } catch {
    // The login page says the server is unreachable; the panel still offers itself.
  }
  if (config.pairing === false) {
    container.hidden = true;
    return;
  }
  addStylesheet();
  container.classList.add("pairing-panel");

  const start = element("button", { type: "button", "data-testid": "pair-start", text: t("pair.desktop.start") });
  const intro = element("p", { class: "muted", text: t("pair.desktop.intro") });
  const status = element("p", { class: "pair-status", role: "status", "aria-live": "polite", "data-testid": "pair-status" });
  const active = element("div", { class: "pair-active", hidden: "" });
  const again = element("button", { type: "button", class: "secondary", "data-testid": "pair-again", text: t("pair.desktop.again") });
  const startRow = element("div", { class: "row" }, start);
  const againRow = element("div", { class: "row", hidden: "" }, again);
  container.replaceChildren(
    element("h2", { id: "phone-pairing-title", text: t("pair.desktop.title") }),
    intro,
    startRow,
    active,
    status,
    againRow,
  );
  container.setAttribute("aria-labelledby", "phone-pairing-title");

  // One pairing at a time; `run` counts them so a stale poll of an earlier one does nothing.
  let run = 0;
  let timer = null;
  let pairing = null;
  let secret = null;

  function stop() {
    clearTimeout(timer);
    timer = null;
  }

  function end(sentence) {
    stop();
    secret = null;
    pairing = null;
    active.hidden = true;
    active.replaceChildren();
    status.textContent = sentence;
    status.classList.add("ended");
    againRow.hidden = false;
    again.focus();
  }

  function showPairing(created) {
    const phoneUrl = new URL(created.phoneUrl, location.href);
    const code = element("p", { class: "pair-code", "data-testid": "pair-code", text: created.code });
    code.setAttribute("aria-label", t("pair.desktop.code_label", { code: created.code.split("").join(" ") }));
    const countdown = element("p", { class: "muted", "data-testid": "pair-countdown" });
    active.replaceChildren(
      element("img", {
        class: "pair-qr",
        src: created.qrUrl,
        width: "220",
        height: "220",
        alt: t("pair.desktop.qr_alt", { url: phoneUrl.href }),
        "data-testid": "pair-qr",
      }),
      element(
        "div",
        { class: "pair-details" },
        element("p", { text: t("pair.desktop.scan") }),
        element("p", { class: "muted", text: t("pair.desktop.or_type", { url: `${phoneUrl.origin}/pair` }) }),
        code,
        element("p", { class: "muted" }, element("a", { href: phoneUrl.href, class: "mono", "data-testid": "pair-link", target: "_blank", rel: "noopener", text: phoneUrl.href })),
        countdown,
      ),
    );
    active.hidden = false;
    return countdown;
  }

  async function claim(id) {
    const result = await api("POST", `/api/pairings/${encodeURIComponent(id)}/claim`, { secret });
    secret = null;
    if (result && result.csrfToken) setCsrfToken(result.csrfToken);
    status.textContent = t("pair.desktop.signed_in");
    if (onSignedIn) await onSignedIn(result);
    else location.assign("/account");
  }

  function schedule(mine, countdown) {
    const tick = async () => {
      if (mine !== run) return;
      const left = (Date.parse(pairing.expiresAt) - Date.now()) / 1000;
      countdown.textContent = t("pair.desktop.expires_in", { time: minutesAndSeconds(left) });
      if (document.hidden) {
        // Polled again when the page is shown (visibilitychange).
        timer = null;
        return;
      }
      try {
        const now = await api("GET", `/api/pairings/${encodeURIComponent(pairing.id)}`);
        if (mine !== run) return;
        if (now.state === "approved") {
          status.textContent = t("pair.desktop.approved");
          await claim(pairing.id);
          return;
        }
        if (now.state !== "pending") {
          end(endedSentence(now.state) ?? t("pair.desktop.failed"));
          return;
        }
      } catch (err) {
        if (mine !== run) return;
        if (err instanceof UserFacingError && err.code && err.code !== "unreachable" && err.code !== "rate_limited") {
          end(endedSentence(err.code) ?? err.message);
          return;
        }
        // A network hiccup: say so, and keep trying until the pairing expires.
        status.textContent = t("pair.desktop.offline");
        if (left <= 0) {
          end(t("pair.desktop.expired"));
          return;
        }
      }
      timer = setTimeout(tick, POLL_MS);
    };
    return tick;
  }

  let poll = null;
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && pairing && poll && timer === null) poll();
  });

  async function begin() {
    stop();
    run += 1;
    const mine = run;
    start.disabled = true;
    againRow.hidden = true;
    status.classList.remove("ended");
    status.textContent = t("pair.desktop.creating");
    try {
      const created = await api("POST", "/api/pairings", {});
      if (mine !== run) return;
      pairing = created;
      secret = created.secret;
      const countdown = showPairing(created);
      status.textContent = t("pair.desktop.waiting");
      startRow.hidden = true;
      intro.hidden = true;
      poll = schedule(mine, countdown);
      poll();
    } catch (err) {
      end(endedSentence(err && err.code) ?? (err instanceof UserFacingError ? err.message : t("pair.desktop.failed")));
    } finally {
      start.disabled = false;
    }
  }

  start.addEventListener("click", begin);
  again.addEventListener("click", begin);
}
