//! The pages' words: one catalogue per language (`assets/i18n/<lang>.json`, nested objects of
//! strings; a key is its dotted path, such as `login.title`), and page templates whose
//! `{{key}}` marks are replaced by the chosen language's text, escaped. English is the source:
//! a key another language lacks falls back to it. The server's API messages stay English; the
//! pages map error codes to `errors.<code>` sentences.

use std::collections::HashMap;

use anyhow::{bail, Context};

use crate::assets::Assets;

/// The language every other one falls back to.
pub const SOURCE_LANGUAGE: &str = "en";

/// The longest `Accept-Language` header read, in bytes.
const MAX_ACCEPT_LANGUAGE: usize = 512;

/// One language's texts, by dotted key.
#[derive(Debug, Default)]
pub struct Catalogue {
    code: String,
    texts: HashMap<String, String>,
}

impl Catalogue {
    /// The language's code (`en`, `de`...).
    pub fn code(&self) -> &str {
        &self.code
    }

    pub fn text(&self, key: &str) -> Option<&str> {
        self.texts.get(key).map(String::as_str)
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.texts.keys().map(String::as_str)
    }

    /// Reads a catalogue file's JSON: nested objects whose leaves are strings.
    pub fn parse(code: &str, json: &[u8]) -> anyhow::Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(json)
            .with_context(|| format!("assets/i18n/{code}.json is not JSON"))?;
        let mut texts = HashMap::new();
        flatten(String::new(), &value, &mut texts)
            .with_context(|| format!("in assets/i18n/{code}.json"))?;
        Ok(Self {
            code: code.to_string(),
            texts,
        })
    }
}

fn flatten(
    prefix: String,
    value: &serde_json::Value,
    out: &mut HashMap<String, String>,
) -> anyhow::Result<()> {
    match value {
        serde_json::Value::String(text) if !prefix.is_empty() => {
            out.insert(prefix, text.clone());
        }
        serde_json::Value::Object(entries) => {
            for (name, inner) in entries {
                let key = if prefix.is_empty() {
                    name.clone()
                } else {
                    format!("{prefix}.{name}")
                };
                flatten(key, inner, out)?;
            }
        }
        _ => bail!("{prefix:?} must be an object of strings"),
    }
    Ok(())
}

/// Every language's catalogue, the source language first.
#[derive(Debug)]
pub struct Catalogues {
    languages: Vec<Catalogue>,
}

impl Catalogues {
    /// The catalogues embedded in the binary.
    pub fn embedded() -> anyhow::Result<Self> {
        let mut languages = Vec::new();
        for path in Assets::iter() {
            let Some(code) = path
                .strip_prefix("i18n/")
                .and_then(|name| name.strip_suffix(".json"))
            else {
                continue;
            };
            let file = Assets::get(&path).context("an embedded file vanished")?;
            languages.push(Catalogue::parse(code, &file.data)?);
        }
        languages.sort_by_key(|c| (c.code != SOURCE_LANGUAGE, c.code.clone()));
        if languages.first().map(Catalogue::code) != Some(SOURCE_LANGUAGE) {
            bail!("assets/i18n/{SOURCE_LANGUAGE}.json is missing");
        }
        Ok(Self { languages })
    }

    /// The languages, the source first.
    pub fn all(&self) -> &[Catalogue] {
        &self.languages
    }

    /// The catalogue of `code`, if there is one.
    pub fn get(&self, code: &str) -> Option<&Catalogue> {
        self.languages.iter().find(|c| c.code == code)
    }

    pub fn source(&self) -> &Catalogue {
        &self.languages[0]
    }

    /// The language of a request: the one chosen before (`chosen`, from the language cookie)
    /// when it has a catalogue, else the most preferred one of `accept_language` that has one
    /// (by q-value; a regional tag such as `de-CH` counts as its language `de`; `q=0` means
    /// "not this one"), else the source language.
    pub fn choose(&self, chosen: Option<&str>, accept_language: Option<&str>) -> &Catalogue {
        chosen
            .and_then(|code| self.get(code))
            .or_else(|| accept_language.and_then(|header| self.preferred(header)))
            .unwrap_or_else(|| self.source())
    }

    fn preferred(&self, accept_language: &str) -> Option<&Catalogue> {
        // Browsers send a few dozen bytes; a longer header is not worth parsing.
        if accept_language.len() > MAX_ACCEPT_LANGUAGE {
            return None;
        }
        accept_language::parse_with_quality(accept_language)
            .into_iter()
            .filter(|(_, quality)| *quality > 0.0)
            .find_map(|(tag, _)| {
                let language = tag.split(['-', '_']).next()?.to_ascii_lowercase();
                self.get(&language)
            })
    }

    /// `key`'s text in `language`, else in the source language, else the key itself (a test
    /// makes sure that never happens for the pages' keys).
    pub fn text<'a>(&'a self, language: &'a Catalogue, key: &'a str) -> &'a str {
        self.lookup(language, key).unwrap_or(key)
    }

    /// `key`'s text in `language`, else in the source language, if either has it.
    pub fn lookup<'a>(&'a self, language: &'a Catalogue, key: &str) -> Option<&'a str> {
        language.text(key).or_else(|| self.source().text(key))
    }
}

/// `text` with each `{name}` replaced by its value in `vars` (others left as they are).
/// One pass, so a value is never filled in again (the first of two same names wins).
pub fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let value = after.find('}').and_then(|end| {
            vars.iter()
                .find(|(name, _)| *name == &after[..end])
                .map(|(_, value)| (end, *value))
        });
        match value {
            Some((end, value)) => {
                out.push_str(value);
                rest = &after[end + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A template with each `{{key}}` replaced by `text(key)` (escaped) and each `{{@name}}` by
/// `special(name)` (markup, not escaped: the caller builds it from escaped parts).
pub fn render(
    template: &str,
    text: impl Fn(&str) -> String,
    special: impl Fn(&str) -> String,
) -> String {
    let mut out = String::with_capacity(template.len() + template.len() / 4);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let mark = after[..end].trim();
        match mark.strip_prefix('@') {
            Some(name) => out.push_str(&special(name)),
            None => out.push_str(&escape(&text(mark))),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The `{{key}}` marks of a template (not the `{{@name}}` ones).
pub fn template_keys(template: &str) -> Vec<&str> {
    template
        .split("{{")
        .skip(1)
        .filter_map(|part| part.split_once("}}").map(|(mark, _)| mark.trim()))
        .filter(|mark| !mark.starts_with('@'))
        .collect()
}

/// Text for HTML content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_leaves_no_markup() {
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn render_replaces_marks_and_escapes_text() {
        let page = render(
            "<h1>{{login.title}}</h1>{{@logo}}<p>{{ missing }}</p>{{unclosed",
            |key| match key {
                "login.title" => "Sign in <now>".into(),
                other => other.to_string(),
            },
            |name| format!("<i>{name}</i>"),
        );
        assert_eq!(
            page,
            "<h1>Sign in &lt;now&gt;</h1><i>logo</i><p>missing</p>{{unclosed"
        );
        assert_eq!(template_keys("{{a.b}} {{@lang}} {{ c }}"), vec!["a.b", "c"]);
    }

    #[test]
    fn catalogues_flatten_and_fall_back_to_english() {
        let catalogues = Catalogues::embedded().unwrap();
        assert_eq!(catalogues.source().code(), "en");
        let german = Catalogue::parse("de", br#"{"login": {}}"#).unwrap();
        let english = catalogues.source();
        let key = english.keys().next().unwrap().to_string();
        assert_eq!(catalogues.text(&german, &key), english.text(&key).unwrap());
        assert_eq!(catalogues.text(&german, "no.such.key"), "no.such.key");
        assert_eq!(catalogues.lookup(&german, "no.such.key"), None);
        assert_eq!(catalogues.lookup(&german, &key), english.text(&key));
        assert!(Catalogue::parse("xx", br#"{"a": 1}"#).is_err());
        assert!(
            Catalogue::parse("xx", br#"{"a": {"b": "c"}}"#)
                .unwrap()
                .text("a.b")
                == Some("c")
        );
    }

    #[test]
    fn the_chosen_language_wins_then_accept_language_by_quality_then_english() {
        let catalogues = Catalogues::embedded().unwrap();
        let pick = |chosen, header| catalogues.choose(chosen, header).code().to_string();
        assert_eq!(pick(None, None), "en");
        assert_eq!(pick(None, Some("de-CH")), "de");
        assert_eq!(pick(None, Some("it, fr;q=0.5, de;q=0.8")), "de");
        assert_eq!(pick(None, Some("fr-FR;q=0.9, es;q=1")), "es");
        assert_eq!(pick(None, Some("de;q=0, it")), "en");
        assert_eq!(pick(None, Some("*, zz")), "en");
        assert_eq!(pick(Some("fr"), Some("de")), "fr");
        assert_eq!(pick(Some("xx"), Some("de")), "de");
        assert_eq!(pick(None, Some(&"de,".repeat(300))), "en");
    }

    #[test]
    fn fill_replaces_named_variables() {
        assert_eq!(
            fill("Sign in to {app}, {app}! {other}", &[("app", "X")]),
            "Sign in to X, X! {other}"
        );
        assert_eq!(
            fill("{a} {b} {", &[("a", "{b}"), ("b", "B"), ("b", "not")]),
            "{b} B {"
        );
    }
}
