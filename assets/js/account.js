// The account page: wallets, linking, profile, sessions, connected apps, security events,
// signing out, and the fresh signature that sensitive changes need ("sudo mode").
// This file is longer than 400 lines because it is one page's whole behaviour: every part
// re-renders from the same session and wallets, and any change may need the re-authentication
// card.

import {
  api,
  copyText,
  notify,
  setCsrfToken,
  shortAddress,
  startPage,
  UserFacingError,
  withBusy,
} from "./api.js";
import { has, t } from "./i18n.js";
import { setUpManualSigning, signWithWallet } from "./signing.js";
import { discoverWallets, personalSign, requestAccount } from "./wallet.js";

let config = { chainIds: [] };
/** The account's wallets and the one this session signed in with, as last shown. */
let myWallets = [];
let sessionAddress = null;
/** The name the profile form was filled with. */
let shownName = "";
/** The change waiting for the re-authentication card: {resolve, reject}. */
let pendingReauth = null;
/** The card's copy-sign-paste flow (see setUpReauth). */
let reauthManual = null;

function toLogin() {
  location.assign("/login?expired=1&next=/account");
}

/** Runs an action; a 401 means the session ended, so back to the sign-in page. */
async function guarded(button, action) {
  return withBusy(button, async () => {
    try {
      return await action();
    } catch (err) {
      if (err instanceof UserFacingError && err.status === 401 && err.code === "unauthenticated") {
        toLogin();
      }
      throw err;
    }
  });
}

/**
 * Runs `call`; when the server answers that the change needs a recent signature, gets one
 * (see reauthenticate) and runs it once more.
 */
async function withRecentSignature(call) {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof UserFacingError && err.code === "reauthentication_required")) throw err;
    await reauthenticate();
    return call();
  }
}

/** This session's re-authentication message for {address}. */
function reauthChallenge(request) {
  return api("POST", "/api/auth/reauthenticate/challenge", request);
}

/** Has `sign` sign this session's re-authentication challenge for `address`, and sends it. */
async function confirmWith(address, sign) {
  const challenge = await reauthChallenge({ address });
  const signature = await sign(challenge.message);
  await api("POST", "/api/auth/reauthenticate", { message: challenge.message, signature });
}

/**
 * The browser wallet and, if its current account is one of this account's wallets, that
 * address; null when there is no browser wallet.
 */
async function browserWalletOfAccount() {
  const wallets = await discoverWallets();
  if (wallets.length === 0) return null;
  const provider = wallets[0].provider;
  const current = await requestAccount(provider);
  const address = myWallets.find((a) => a.toLowerCase() === current.toLowerCase()) || null;
  return { provider, current, address };
}

/**
 * A fresh signature: straight from the browser wallet when it is on one of the account's
 * wallets; otherwise through the card (browser wallet after switching, or copy and paste),
 * until it is done or cancelled.
 */
async function reauthenticate() {
  const found = await browserWalletOfAccount();
  if (found && found.address) {
    notify(t("account.reauth_sign"), "ok");
    await confirmWith(found.address, (message) => personalSign(found.provider, message, found.address));
    notify("");
    return;
  }
  const hint = found
    ? t("account.reauth_other_wallet", { wallet: shortAddress(found.current) })
    : t("account.reauth_no_wallet");
  await reauthCard(hint);
}

function reauthCard(hint) {
  if (pendingReauth) pendingReauth.reject(new UserFacingError(t("account.not_confirmed")));
  document.getElementById("reauth-hint").textContent = hint;
  const select = document.getElementById("reauth-address");
  select.replaceChildren(
    ...myWallets.map((address) => {
      const option = document.createElement("option");
      option.value = address;
      option.textContent = address;
      option.selected = address === sessionAddress;
      return option;
    }),
  );
  const card = document.getElementById("reauth");
  card.hidden = false;
  card.scrollIntoView({ block: "nearest" });
  reauthManual.load().catch((err) => notify(err.message));
  return new Promise((resolve, reject) => {
    pendingReauth = { resolve, reject };
  });
}

/** Closes the card and lets the waiting change go on (or fail with `err`). */
function finishReauth(err) {
  document.getElementById("reauth").hidden = true;
  reauthManual.reset();
  const pending = pendingReauth;
  pendingReauth = null;
  if (pending && err) pending.reject(err);
  else if (pending) pending.resolve();
}

function setUpReauth() {
  reauthManual = setUpManualSigning({
    prefix: "reauth",
    challenge: reauthChallenge,
    run: guarded,
    submit: async (message, signature) => {
      await api("POST", "/api/auth/reauthenticate", { message, signature });
      finishReauth();
    },
  });
  document.getElementById("reauth-injected").addEventListener("click", (event) =>
    guarded(event.currentTarget, async () => {
      const found = await browserWalletOfAccount();
      if (!found) throw new UserFacingError(t("account.reauth_no_wallet"));
      if (!found.address) {
        throw new UserFacingError(t("account.reauth_other_wallet", { wallet: shortAddress(found.current) }));
      }
      await confirmWith(found.address, (message) => personalSign(found.provider, message, found.address));
      finishReauth();
    }),
  );
  document.getElementById("reauth-cancel").addEventListener("click", () =>
    finishReauth(new UserFacingError(t("account.not_confirmed"))),
  );
}

function item(text, testid) {
  const li = document.createElement("li");
  const span = document.createElement("span");
  span.textContent = text;
  li.append(span);
  if (testid) li.dataset.testid = testid;
  return li;
}

function button(label, kind, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (kind) b.className = kind;
  b.addEventListener("click", () => onClick(b));
  return b;
}

function when(iso) {
  return new Date(iso).toLocaleString(document.documentElement.lang || undefined);
}

/** `0x1234…abcd` on screen; the full address for screen readers and as the tooltip. */
function addressView(address) {
  const view = document.createElement("span");
  view.className = "mono address";
  view.title = address;
  const short = document.createElement("span");
  short.setAttribute("aria-hidden", "true");
  short.textContent = shortAddress(address);
  short.dataset.testid = "short-address";
  const full = document.createElement("span");
  full.className = "visually-hidden";
  full.textContent = address;
  view.append(short, full);
  return view;
}

/** A session's device in words ("Firefox on macOS"), else its user agent as sent. */
export function deviceLabel(session) {
  const { browser, os } = session.device || {};
  if (browser && os) return t("account.device", { browser, os });
  if (browser || os) return browser || os;
  return session.userAgent ? session.userAgent.slice(0, 60) : t("account.unknown_device");
}

/** A security event's kind in words. */
function eventWords(kind) {
  return has(`events.${kind}`) ? t(`events.${kind}`) : kind.replaceAll("_", " ");
}

/** An event's detail in words: the server's fixed words and error codes come from the
 * catalogue; names it records (an app, a device) are shown as they are. */
function eventDetail(detail) {
  if (!detail) return "";
  if (has(`event_details.${detail}`)) return t(`event_details.${detail}`);
  if (has(`errors.${detail}`)) return t(`errors.${detail}`);
  const ended = /^(\d+) sessions ended$/.exec(detail);
  if (ended) return t("event_details.sessions_ended", { count: ended[1] });
  const chain = /^chain (\d+)$/.exec(detail);
  if (chain) return t("event_details.chain", { id: chain[1] });
  return detail;
}

async function renderAccount() {
  const session = await api("GET", "/api/auth/session");
  setCsrfToken(session.csrfToken);
  const { user } = session;
  myWallets = user.wallets.map((w) => w.address);
  sessionAddress = session.session.address;
  document.getElementById("me").hidden = false;
  document.getElementById("user-name").textContent = user.name;
  document.getElementById("user-address").textContent = session.session.address;
  document.getElementById("profile-name").value = user.name;
  // What the form showed: the name is sent only when the person changed it, so that saving the
  // email does not turn a name that follows the wallet's ENS name into a chosen one.
  shownName = user.name;
  document.getElementById("profile-email").value = user.email || "";
  document.getElementById("email-status").textContent = user.email
    ? user.emailVerified
      ? t("account.email_confirmed")
      : config.emailEnabled
        ? t("account.email_pending")
        : t("account.email_no_mail")
    : "";

  const wallets = document.getElementById("wallets");
  wallets.replaceChildren();
  const onlyWallet = user.wallets.length === 1;
  document.getElementById("only-wallet").hidden = !onlyWallet;
  for (const w of user.wallets) {
    const li = document.createElement("li");
    li.dataset.testid = "wallet";
    const address = addressView(w.address);
    li.append(address);
    if (w.ensName) {
      // The ENS name first (display only), the full address still shown and copyable.
      const who = document.createElement("span");
      who.className = "who";
      if (w.ensAvatar) {
        const avatar = document.createElement("img");
        avatar.src = w.ensAvatar;
        avatar.alt = "";
        avatar.className = "avatar";
        avatar.referrerPolicy = "no-referrer";
        avatar.loading = "lazy";
        who.append(avatar);
      }
      const name = document.createElement("strong");
      name.textContent = w.ensName;
      name.dataset.testid = "wallet-ens-name";
      who.append(name);
      li.prepend(who);
      who.append(address);
    }
    if (w.isPrimary) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = t("account.primary");
      address.append(badge);
    }
    const actions = document.createElement("span");
    actions.className = "row";
    const copy = button(t("account.copy"), "secondary", (b) => copyText(w.address, b));
    copy.setAttribute("aria-label", t("account.copy_address", { address: shortAddress(w.address) }));
    copy.title = t("account.copy_address", { address: w.address });
    copy.dataset.testid = "copy-address";
    actions.append(copy);
    if (!w.isPrimary) {
      actions.append(
        button(t("account.make_primary"), "secondary", (b) =>
          guarded(b, async () => {
            await api("POST", `/api/wallets/${w.address}/primary`);
            await refresh();
          }),
        ),
      );
    }
    // The only wallet is the only way in: no Unlink, and #only-wallet says why.
    if (!onlyWallet) {
      const unlink = button(t("account.unlink"), "danger", (b) =>
        guarded(b, async () => {
          if (!confirm(t("account.unlink_confirm", { wallet: shortAddress(w.address) }))) return;
          await withRecentSignature(() => api("DELETE", `/api/wallets/${w.address}`));
          notify(t("account.unlinked", { wallet: shortAddress(w.address) }), "ok");
          await refresh();
        }),
      );
      unlink.setAttribute("aria-label", `${t("account.unlink")} ${shortAddress(w.address)}`);
      actions.append(unlink);
    }
    li.append(actions);
    wallets.append(li);
  }

  const sessions = await api("GET", "/api/auth/sessions");
  const list = document.getElementById("sessions");
  list.replaceChildren();
  for (const s of sessions) {
    const li = document.createElement("li");
    li.dataset.testid = "session";
    const about = document.createElement("span");
    const device = document.createElement("strong");
    device.textContent = deviceLabel(s);
    device.dataset.testid = "session-device";
    const details = [
      t("account.signed_in_with", { wallet: s.ensName || shortAddress(s.address) }),
      s.ip && t("account.from_ip", { ip: s.ip }),
      t("account.last_seen", { when: when(s.lastSeenAt) }),
    ];
    const detail = document.createElement("span");
    detail.className = "muted block";
    detail.textContent = details.filter(Boolean).join(" · ");
    about.append(device);
    li.append(about);
    if (s.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.dataset.testid = "this-device";
      badge.textContent = t("account.this_device");
      about.append(badge);
    }
    about.append(detail);
    if (!s.current) {
      li.append(
        button(t("account.end_session"), "secondary", (b) =>
          guarded(b, async () => {
            await api("DELETE", `/api/auth/sessions/${s.id}`);
            await refresh();
          }),
        ),
      );
      li.lastChild.setAttribute("aria-label", `${t("account.end_session")}: ${device.textContent}`);
    }
    list.append(li);
  }

  await renderApps();

  const events = await api("GET", "/api/account/events?limit=20");
  const eventList = document.getElementById("events");
  eventList.replaceChildren();
  for (const e of events) {
    const parts = [when(e.at), eventWords(e.kind), eventDetail(e.detail), e.address && (e.ensName || shortAddress(e.address)), e.ip];
    eventList.append(item(parts.filter(Boolean).join(" · "), "event"));
  }
}

/** What a scope lets an app see, in words. */
function scopeWords(scope) {
  return has(`account.scope_${scope}`) ? t(`account.scope_${scope}`) : scope;
}

async function renderApps() {
  const apps = await api("GET", "/api/account/apps");
  const list = document.getElementById("apps");
  list.replaceChildren();
  document.getElementById("apps-empty").hidden = apps.length > 0;
  for (const a of apps) {
    const sees = a.scopes.map(scopeWords).join(", ");
    const li = item(`${a.name} · ${sees} · ${t("account.since", { when: when(a.grantedAt) })}`, "app");
    li.append(
      button(t("account.revoke"), "danger", (b) =>
        guarded(b, async () => {
          if (!confirm(t("account.revoke_confirm", { app: a.name }))) return;
          await api("DELETE", `/api/account/apps/${encodeURIComponent(a.clientId)}`);
          notify(t("account.revoked", { app: a.name }), "ok");
          await refresh();
        }),
      ),
    );
    li.lastChild.setAttribute("aria-label", `${t("account.revoke")}: ${a.name}`);
    list.append(li);
  }
}

async function refresh() {
  try {
    await renderAccount();
  } catch (err) {
    if (err instanceof UserFacingError && err.status === 401) toLogin();
    else notify(err.message);
  }
}

/** A message that links {address} (on {chainId}) to this account; may ask for a fresh signature. */
function linkChallenge(request) {
  return withRecentSignature(() => api("POST", "/api/wallets/challenge", request));
}

async function link(message, signature) {
  await withRecentSignature(() => api("POST", "/api/wallets", { message, signature }));
  notify(t("account.linked"), "ok");
  await refresh();
}

function setUpLinking() {
  document.getElementById("link-injected").addEventListener("click", (event) =>
    guarded(event.currentTarget, async () => {
      const wallets = await discoverWallets();
      if (wallets.length === 0) {
        throw new UserFacingError(t("account.link_no_wallet"));
      }
      const { message, signature } = await signWithWallet(wallets[0].provider, config.chainIds, linkChallenge);
      await link(message, signature);
    }),
  );
  const manual = setUpManualSigning({
    prefix: "link",
    challenge: linkChallenge,
    run: guarded,
    submit: async (message, signature) => {
      await link(message, signature);
      manual.reset();
    },
  });
}

function setUpProfile() {
  const form = document.getElementById("profile-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    guarded(form.querySelector("button"), async () => {
      const email = document.getElementById("profile-email").value.trim();
      const name = document.getElementById("profile-name").value.trim();
      const update = { email: email || null };
      if (name !== shownName) update.name = name;
      await withRecentSignature(() => api("PUT", "/api/account", update));
      notify(t("account.saved"), "ok");
      await refresh();
    });
  });
}

function setUpSignOut() {
  document.getElementById("sign-out").addEventListener("click", (event) =>
    guarded(event.currentTarget, async () => {
      await api("POST", "/api/auth/logout");
      location.assign("/login");
    }),
  );
  document.getElementById("sign-out-all").addEventListener("click", (event) =>
    guarded(event.currentTarget, async () => {
      if (!confirm(t("account.sign_out_all_confirm"))) return;
      await withRecentSignature(() => api("POST", "/api/auth/logout-all"));
      location.assign("/login");
    }),
  );
}

async function start() {
  config = await startPage(config);
  setUpLinking();
  setUpProfile();
  setUpSignOut();
  setUpReauth();
  await refresh();
}

start();
