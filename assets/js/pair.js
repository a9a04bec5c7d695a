// The phone side of cross-device sign-in: /pair (type the code the other device shows) and
// /pair/<id> (from its QR code). It shows which device asked, the code to compare, asks for an
// explicit confirmation, then has a wallet sign the server-built approval message (a browser
// wallet, a wallet app's own browser through a deep link, or copy and paste). The phone gets no
// session: only the other device is signed in.

import { api, notify, startPage, UserFacingError, withBusy } from "./api.js";
import { walletBrowserLinks } from "./deeplinks.js";
import { pageLanguage, t } from "./i18n.js";
import { setUpManualSigning, signWithWallet } from "./signing.js";
import { discoverWallets, walletButton } from "./wallet.js";

const byId = (id) => document.getElementById(id);
const status = byId("status");
let config = { chainIds: [] };

function show(section) {
  for (const id of ["enter-code", "request", "sign", "ended"]) byId(id).hidden = !section.includes(id);
}

/** An end state: its title and sentence; focus moves to the title so it is read out. */
function ended(kind) {
  const title = byId("ended-title");
  title.textContent = t(`pair.phone.${kind}_title`);
  byId("ended-text").textContent = t(`pair.phone.${kind}_text`, { host: location.host });
  byId("enter-other").hidden = kind === "done";
  byId("ended").dataset.state = kind;
  status.textContent = "";
  notify("");
  show(["ended"]);
  title.focus();
}

/** The end state an error code or pairing state means; null when it is no end. */
function endOf(reason) {
  return (
    {
      pairing_not_found: "unknown",
      not_found: "unknown",
      pairing_expired: "expired",
      expired: "expired",
      pairing_declined: "declined",
      declined: "declined",
      pairing_used: "used",
      approved: "used",
      claimed: "used",
    }[reason] || null
  );
}

/** Runs a step from a button; an error that ends the pairing shows its end state. */
function run(button, action) {
  return withBusy(button, async () => {
    try {
      await action();
    } catch (err) {
      const end = err instanceof UserFacingError && endOf(err.code);
      if (end) ended(end);
      else throw err;
    }
  });
}

function when(isoTime) {
  const at = new Date(isoTime);
  const minutes = Math.round((at.getTime() - Date.now()) / 60000);
  const clock = new Intl.DateTimeFormat(pageLanguage(), { timeStyle: "short" }).format(at);
  const relative = new Intl.RelativeTimeFormat(pageLanguage(), { numeric: "auto" }).format(minutes, "minute");
  return `${clock} (${relative})`;
}

function showRequest(pairing) {
  const device = pairing.device || {};
  byId("device").textContent = device.label || t("pair.phone.unknown_device");
  byId("device-ip").textContent = device.ip || t("pair.phone.unknown_address");
  byId("asked-at").textContent = when(pairing.createdAt);
  byId("request-code").textContent = pairing.code;
  byId("network").textContent = pairing.sameNetwork ? t("pair.phone.same_network") : t("pair.phone.other_network");
  status.textContent = t("pair.phone.compare");
  show(["request", "sign"]);
}

async function approve(id, message, signature) {
  await api("POST", `/api/pairings/${encodeURIComponent(id)}/approve`, { message, signature });
  ended("done");
}

function challengeFor(id) {
  return (request) => api("POST", `/api/pairings/${encodeURIComponent(id)}/challenge`, request);
}

async function setUpSigning(id) {
  const confirm = byId("confirm");
  const signButtons = () => [
    ...byId("wallet-list").querySelectorAll("button"),
    ...byId("manual").querySelectorAll("button[type=submit]"),
  ];
  // Nothing signs before the person confirms the other device is theirs and shows this code.
  const follow = () => {
    for (const button of signButtons()) button.disabled = !confirm.checked;
    byId("confirm-first").hidden = confirm.checked;
  };
  confirm.addEventListener("change", follow);

  const challenge = challengeFor(id);
  setUpManualSigning({
    prefix: "pair-manual",
    challenge,
    submit: (message, signature) => approve(id, message, signature),
    run: (button, action) => (confirm.checked ? run(button, action) : undefined),
  });
  byId("decline").addEventListener("click", (event) =>
    run(event.currentTarget, async () => {
      await api("POST", `/api/pairings/${encodeURIComponent(id)}/decline`);
      ended("declined_here");
    }),
  );

  const wallets = await discoverWallets();
  const list = byId("wallet-list");
  for (const { info, provider } of wallets) {
    const button = walletButton(info);
    button.append(document.createTextNode(t("pair.phone.sign_with", { wallet: info.name })));
    button.addEventListener("click", () =>
      run(button, async () => {
        const { message, signature } = await signWithWallet(provider, config.chainIds, challenge);
        await approve(id, message, signature);
      }),
    );
    list.append(button);
  }
  if (wallets.length === 0) {
    byId("no-wallet").hidden = false;
    byId("manual").open = true;
    const links = byId("open-in-wallet");
    for (const { name, href } of walletBrowserLinks(location.href)) {
      const a = document.createElement("a");
      a.href = href;
      a.rel = "noopener";
      a.textContent = t("pair.phone.open_in", { wallet: name });
      const item = document.createElement("li");
      item.append(a);
      links.append(item);
    }
  }
  follow();
}

async function showPairing(id) {
  let pairing;
  try {
    pairing = await api("GET", `/api/pairings/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err instanceof UserFacingError && endOf(err.code)) return ended(endOf(err.code));
    status.textContent = "";
    notify(err.message);
    return undefined;
  }
  if (pairing.state !== "pending") return ended(endOf(pairing.state) || "unknown");
  showRequest(pairing);
  return setUpSigning(id);
}

function showCodeEntry() {
  status.textContent = "";
  show(["enter-code"]);
  const form = byId("code-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    withBusy(form.querySelector("button"), async () => {
      try {
        const { id } = await api("POST", "/api/pairings/lookup", { code: byId("code").value });
        location.assign(`/pair/${encodeURIComponent(id)}`);
      } catch (err) {
        if (err instanceof UserFacingError && err.code === "pairing_not_found") {
          throw new UserFacingError(t("pair.phone.code_unknown", { host: location.host }), err.code);
        }
        const end = err instanceof UserFacingError && endOf(err.code);
        if (end) ended(end);
        else throw err;
      }
    });
  });
  byId("code").focus();
}

async function start() {
  config = await startPage(config);
  const id = location.pathname.replace(/^\/pair\/?/, "");
  if (id) await showPairing(decodeURIComponent(id));
  else showCodeEntry();
}

start();
