// A person with a wallet and a browser-less cookie jar: signs in to siwe-server with a real
// EIP-4361 signature (viem), then walks an authorization request the way a browser would
// (following redirects, answering the consent page's form) until it leaves for the app.

import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";

export class Person {
  constructor(base) {
    this.base = base;
    this.wallet = privateKeyToAccount(generatePrivateKey());
    this.cookies = new Map();
  }

  /** fetch with this person's cookies, never following redirects. */
  async fetch(url, init = {}) {
    const headers = new Headers(init.headers);
    const host = new URL(url).host;
    const jar = [...this.cookies].filter(([, c]) => c.host === host).map(([k, c]) => `${k}=${c.value}`);
    if (jar.length) headers.set("cookie", jar.join("; "));
    const res = await fetch(url, { ...init, headers, redirect: "manual" });
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const gone = value === "" || attributes.some((a) => /^\s*max-age=0\s*$/i.test(a));
      if (gone) this.cookies.delete(name);
      else this.cookies.set(name, { host, value });
    }
    return res;
  }

  /** A form POST as the server's own page sends it (same origin). */
  postForm(url, fields) {
    return this.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(url).origin },
      body: new URLSearchParams(fields),
    });
  }

  /** Signs in with the cookie session: nonce, personal_sign, verify. Returns the verify answer. */
  async signIn() {
    const nonce = await (await this.fetch(`${this.base}/api/auth/nonce`)).json();
    const message = [
      `${nonce.domain} wants you to sign in with your Ethereum account:`,
      this.wallet.address,
      "",
      nonce.statement,
      "",
      `URI: ${nonce.uri}`,
      `Version: ${nonce.version}`,
      `Chain ID: ${nonce.chainIds?.[0] ?? 1}`,
      `Nonce: ${nonce.nonce}`,
      `Issued At: ${new Date().toISOString()}`,
    ].join("\n");
    const signature = await this.wallet.signMessage({ message });
    const res = await this.fetch(`${this.base}/api/auth/verify`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: this.base },
      body: JSON.stringify({ message, signature }),
    });
    if (res.status !== 200) throw new Error(`sign-in: ${res.status} ${await res.text()}`);
    return res.json();
  }

  /** Is the cookie session still signed in? */
  async signedIn() {
    return (await this.fetch(`${this.base}/api/auth/session`)).status === 200;
  }

  /**
   * Opens `url` (an authorization request) as a browser would and returns the URL it is finally
   * sent to outside this server (the app's redirect_uri with code or error). The consent page, if
   * shown, is answered with `decision` ("allow" or "deny").
   */
  async authorize(url, decision = "allow") {
    let res = await this.fetch(url);
    for (let hop = 0; hop < 10; hop++) {
      if (res.status >= 300 && res.status < 400) {
        const next = new URL(res.headers.get("location"), url);
        if (next.origin !== this.base) return next;
        if (next.pathname === "/login") throw new Error(`sent to the login page: ${next}`);
        url = next.href;
        res = await this.fetch(url);
      } else if (res.status === 200) {
        const page = await res.text();
        const form = parseForm(page, decision);
        if (!form) throw new Error(`a page without a form at ${url}:\n${page.slice(0, 2000)}`);
        url = new URL(form.action, url).href;
        res = await this.postForm(url, form.fields);
      } else {
        throw new Error(`${url}: ${res.status} ${await res.text()}`);
      }
    }
    throw new Error("too many hops");
  }
}

const attr = (tag, name) => {
  const m = tag.match(new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>"']+))`, "i"));
  return m ? (m[1] ?? m[2] ?? m[3]) : undefined;
};
const unescape = (s) =>
  s?.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&#x27;/g, "'").replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">").replace(/&amp;/g, "&");

/**
 * The page's POST form: its action and fields (hidden inputs, plus the submit button whose
 * name, value or text matches `choice`, e.g. "allow" or "deny"; or the only one).
 */
export function parseForm(page, choice) {
  const forms = [];
  for (const [, open, body] of page.matchAll(/(<form\b[^>]*>)([\s\S]*?)<\/form>/gi)) {
    if ((attr(open, "method") ?? "get").toLowerCase() !== "post") continue;
    const fields = {};
    for (const [input] of body.matchAll(/<input\b[^>]*>/gi)) {
      const name = attr(input, "name");
      if (name && (attr(input, "type") ?? "text").toLowerCase() === "hidden") {
        fields[name] = unescape(attr(input, "value") ?? "");
      }
    }
    const buttons = [...body.matchAll(/<(?:button\b([^>]*)>([\s\S]*?)<\/button|input\b([^>]*type=["']?submit[^>]*))>/gi)]
      .map(([, a, text, input]) => ({
        name: attr(` ${a ?? input}`, "name"),
        value: unescape(attr(` ${a ?? input}`, "value")),
        text: (text ?? "").replace(/<[^>]*>/g, "").trim(),
      }));
    forms.push({ action: unescape(attr(open, "action") ?? ""), fields, buttons });
  }
  const matches = (b) => [b.value, b.name, b.text].some((s) => s && s.toLowerCase().includes(choice));
  // The button named like the choice; else the only button of the only form.
  for (const form of forms) {
    const pick = form.buttons.find(matches);
    if (pick) return withButton(form, pick);
  }
  if (forms.length === 1 && forms[0].buttons.length === 1) return withButton(forms[0], forms[0].buttons[0]);
  return null;
}

function withButton(form, button) {
  const fields = { ...form.fields };
  if (button.name) fields[button.name] = button.value ?? "";
  return { action: form.action, fields };
}
