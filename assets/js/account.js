// The account page: wallets, linking, profile, sessions, connected apps, security events,
// signing out, and the fresh signature that sensitive changes need ("sudo mode").

import {
  api,
  loadConfig,
  notify,
  setCsrfToken,
  shortAddress,
  UserFacingError,
  withBusy,
} from "./api.js";
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
    notify("Confirm it is you: sign the message in your wallet.", "ok");
    await confirmWith(found.address, (message) => personalSign(found.provider, message, found.address));
    notify("");
    return;
  }
  const hint = found
    ? `Your browser wallet is on ${shortAddress(found.current)}, which is not on this account: ` +
      "switch it to one of your wallets, or sign manually."
    : "No browser wallet found: sign the message manually.";
  await reauthCard(hint);
}

function reauthCard(hint) {
  if (pendingReauth) pendingReauth.reject(new UserFacingError("Not confirmed: nothing was changed."));
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
      if (!found) throw new UserFacingError("No browser wallet found: sign the message manually.");
      if (!found.address) {
        throw new UserFacingError(
          `Your browser wallet is on ${shortAddress(found.current)}, which is not on this account. ` +
            "Switch it to one of your wallets and try again.",
        );
      }
      await confirmWith(found.address, (message) => personalSign(found.provider, message, found.address));
      finishReauth();
    }),
  );
  document.getElementById("reauth-cancel").addEventListener("click", () =>
    finishReauth(new UserFacingError("Not confirmed: nothing was changed.")),
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
  return new Date(iso).toLocaleString();
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
      ? "Confirmed."
      : config.emailEnabled
        ? "Not confirmed yet: open the link we emailed you (saving again sends a new one)."
        : "Not confirmed (this server does not send email)."
    : "";

  const wallets = document.getElementById("wallets");
  wallets.replaceChildren();
  for (const w of user.wallets) {
    const li = item(w.address, "wallet");
    const address = li.firstChild;
    address.className = "mono";
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
      badge.textContent = "primary";
      address.append(badge);
    }
    const actions = document.createElement("span");
    actions.className = "row";
    if (!w.isPrimary) {
      actions.append(
        button("Make primary", "secondary", (b) =>
          guarded(b, async () => {
            await api("POST", `/api/wallets/${w.address}/primary`);
            await refresh();
          }),
        ),
      );
    }
    actions.append(
      button("Unlink", "danger", (b) =>
        guarded(b, async () => {
          if (!confirm(`Remove ${shortAddress(w.address)} from your account?`)) return;
          await withRecentSignature(() => api("DELETE", `/api/wallets/${w.address}`));
          notify(`${shortAddress(w.address)} was removed.`, "ok");
          await refresh();
        }),
      ),
    );
    li.append(actions);
    wallets.append(li);
  }

  const sessions = await api("GET", "/api/auth/sessions");
  const list = document.getElementById("sessions");
  list.replaceChildren();
  for (const s of sessions) {
    const where = [s.ip, s.userAgent && s.userAgent.slice(0, 60)].filter(Boolean).join(" · ");
    const li = item(`${s.ensName || shortAddress(s.address)} · since ${when(s.createdAt)} · ${where}`, "session");
    if (s.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "this device";
      li.firstChild.append(badge);
    } else {
      li.append(
        button("End", "secondary", (b) =>
          guarded(b, async () => {
            await api("DELETE", `/api/auth/sessions/${s.id}`);
            await refresh();
          }),
        ),
      );
    }
    list.append(li);
  }

  await renderApps();

  const events = await api("GET", "/api/account/events?limit=20");
  const eventList = document.getElementById("events");
  eventList.replaceChildren();
  for (const e of events) {
    const parts = [when(e.at), e.kind.replaceAll("_", " "), e.detail, e.address && (e.ensName || shortAddress(e.address)), e.ip];
    eventList.append(item(parts.filter(Boolean).join(" · "), "event"));
  }
}

/** What each scope lets an app see, in words. */
const SCOPE_WORDS = {
  openid: "sign-in",
  profile: "name and wallets",
  email: "email",
  wallets: "wallets",
  offline_access: "access while you are away",
};

async function renderApps() {
  const apps = await api("GET", "/api/account/apps");
  const list = document.getElementById("apps");
  list.replaceChildren();
  document.getElementById("apps-empty").hidden = apps.length > 0;
  for (const a of apps) {
    const sees = a.scopes.map((s) => SCOPE_WORDS[s] || s).join(", ");
    const li = item(`${a.name} · ${sees} · since ${when(a.grantedAt)}`, "app");
    li.append(
      button("Revoke", "danger", (b) =>
        guarded(b, async () => {
          if (!confirm(`Revoke ${a.name}'s access? It will have to ask you again.`)) return;
          await api("DELETE", `/api/account/apps/${encodeURIComponent(a.clientId)}`);
          notify(`${a.name} can no longer use your account.`, "ok");
          await refresh();
        }),
      ),
    );
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
  notify("The wallet is linked to your account.", "ok");
  await refresh();
}

function setUpLinking() {
  document.getElementById("link-injected").addEventListener("click", (event) =>
    guarded(event.currentTarget, async () => {
      const wallets = await discoverWallets();
      if (wallets.length === 0) {
        throw new UserFacingError("No browser wallet found: use “Link a wallet manually”.");
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
      notify("Saved.", "ok");
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
      if (!confirm("Sign out on all your devices, including this one?")) return;
      await withRecentSignature(() => api("POST", "/api/auth/logout-all"));
      location.assign("/login");
    }),
  );
}

async function start() {
  try {
    config = await loadConfig();
  } catch (err) {
    notify(err.message);
  }
  setUpLinking();
  setUpProfile();
  setUpSignOut();
  setUpReauth();
  await refresh();
}

start();
