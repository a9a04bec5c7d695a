// Links that open a page inside a phone wallet's own browser (where the wallet is injected), for
// a person on a phone whose browser has no wallet. Only wallets that document such a link:
// MetaMask https://docs.metamask.io/sdk/guides/use-deeplinks (link.metamask.io/dapp/<url>),
// Coinbase Wallet https://docs.cdp.coinbase.com/coinbase-wallet/developer-guidance/mobile-dapp-integration,
// Trust Wallet https://developer.trustwallet.com/developer/develop-for-trust/deeplinking,
// OKX Wallet https://web3.okx.com/build/docs/waas/app-universal-link,
// Phantom https://docs.phantom.com/phantom-deeplinks/other-methods/browse.

/** Whether this browser runs on a phone or tablet (the browser says so; no user-agent parsing). */
export function isPhone() {
  if (navigator.userAgentData && typeof navigator.userAgentData.mobile === "boolean") {
    return navigator.userAgentData.mobile;
  }
  return window.matchMedia("(pointer: coarse) and (hover: none)").matches;
}

/** [{name, href}]: links that open `url` (absolute http(s)) in each wallet's browser. */
export function walletBrowserLinks(url) {
  const target = new URL(url);
  if (target.protocol !== "https:" && target.protocol !== "http:") return [];
  const href = target.href;
  const encoded = encodeURIComponent(href);
  // MetaMask takes the page without its scheme as the path (not encoded: it reads it as is).
  const bare = href.slice(target.protocol.length + 2);
  return [
    { name: "MetaMask", href: `https://link.metamask.io/dapp/${bare}` },
    { name: "Coinbase Wallet", href: `https://go.cb-w.com/dapp?cb_url=${encoded}` },
    { name: "Trust Wallet", href: `https://link.trustwallet.com/open_url?coin_id=60&url=${encoded}` },
    {
      name: "OKX Wallet",
      href: `https://web3.okx.com/download?deeplink=${encodeURIComponent(`okx://wallet/dapp/url?dappUrl=${encoded}`)}`,
    },
    { name: "Phantom", href: `https://phantom.app/ul/browse/${encoded}?ref=${encodeURIComponent(target.origin)}` },
  ];
}
