// Browser wallets: EIP-6963 discovery (with window.ethereum as fallback), their buttons, accounts,
// chain, and personal_sign of a server-built message.

import { t } from "./i18n.js";

/** Collects announced providers for a moment; returns [{info: {name, icon, uuid, rdns}, provider}]. */
export function discoverWallets(waitMs = 250) {
  return new Promise((resolve) => {
    const found = new Map();
    const onAnnounce = (event) => {
      const detail = event.detail;
      if (detail && detail.info && detail.provider && !found.has(detail.info.uuid)) {
        found.set(detail.info.uuid, detail);
      }
    };
    window.addEventListener("eip6963:announceProvider", onAnnounce);
    window.dispatchEvent(new Event("eip6963:requestProvider"));
    setTimeout(() => {
      window.removeEventListener("eip6963:announceProvider", onAnnounce);
      const wallets = [...found.values()];
      if (wallets.length === 0 && window.ethereum) {
        wallets.push({ info: { name: t("login.browser_wallet"), icon: "", uuid: "injected" }, provider: window.ethereum });
      }
      resolve(wallets);
    }, waitMs);
  });
}

/**
 * A wallet's button as every page lists it: its icon (a data: or https: image only) and
 * nothing else yet; the page adds the words and what a press does.
 */
export function walletButton(info) {
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
  return button;
}

export async function requestAccount(provider) {
  const accounts = await provider.request({ method: "eth_requestAccounts" });
  if (!accounts || accounts.length === 0) {
    // A locked wallet may answer with no account rather than an error.
    throw Object.assign(new Error("The wallet shared no account."), { code: 4100 });
  }
  return accounts[0];
}

export async function currentChain(provider) {
  return parseInt(await provider.request({ method: "eth_chainId" }), 16);
}

/**
 * Makes sure the wallet is on an accepted chain (asking it to switch if needed); returns the
 * chain id, or throws an error whose message says what to do.
 */
export async function ensureChain(provider, allowed) {
  const chainId = await currentChain(provider);
  if (allowed.length === 0 || allowed.includes(chainId)) return chainId;
  try {
    await provider.request({
      method: "wallet_switchEthereumChain",
      params: [{ chainId: `0x${allowed[0].toString(16)}` }],
    });
    const switched = await currentChain(provider);
    if (allowed.includes(switched)) return switched;
  } catch {
    // fall through to the explanation
  }
  const err = new Error(t("login.wrong_network", { chain: chainId, allowed: allowed.join(", ") }));
  err.wrongNetwork = true;
  throw err;
}

function toHex(text) {
  return "0x" + [...new TextEncoder().encode(text)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export async function personalSign(provider, message, address) {
  return provider.request({ method: "personal_sign", params: [toHex(message), address] });
}
