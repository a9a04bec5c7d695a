// The pages' words in the person's language: the server renders each page in a language (its
// <html lang>) and the scripts take their sentences from the same catalogue,
// /assets/i18n/<lang>.json (nested objects; a key is the dotted path, such as "login.title").

let texts = {};

function flatten(prefix, value, out) {
  for (const [name, inner] of Object.entries(value)) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (typeof inner === "string") out[key] = inner;
    else if (inner && typeof inner === "object") flatten(key, inner, out);
  }
  return out;
}

/** The page's language, as the server chose it. */
export function pageLanguage() {
  return document.documentElement.lang || "en";
}

/** Loads the page language's catalogue (English when it cannot be had). */
export async function loadCatalogue() {
  for (const lang of [...new Set([pageLanguage(), "en"])]) {
    try {
      const resp = await fetch(`/assets/i18n/${encodeURIComponent(lang)}.json`, { credentials: "same-origin" });
      if (resp.ok) {
        texts = flatten("", await resp.json(), {});
        return;
      }
    } catch {
      // try the next one
    }
  }
}

/** Whether the catalogue has `key`. */
export function has(key) {
  return Object.prototype.hasOwnProperty.call(texts, key);
}

/** The text of `key` with each {name} replaced by vars[name]; the key itself when unknown. */
export function t(key, vars = {}) {
  const text = has(key) ? texts[key] : key;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}
