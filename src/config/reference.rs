//! docs/configuration.md, generated and kept current by a test: every key with its type,
//! default, environment variable and meaning. The meanings are config.toml.example's comments
//! (a comment block directly above a key; a block ending in a bare `#` right after a section
//! header introduces the section); types and defaults come from `Settings::default()`.
//! Regenerate with `UPDATE_DOCS=1 cargo test --lib config::reference`.

use std::{fmt::Write, path::Path};

use serde_json::Value;

use super::{known_keys, Settings, ENV_PREFIX};

const PAGE: &str = "docs/configuration.md";

/// Types the defaults cannot show (a choice of words, an empty list's items, a table list).
const TYPES: &[(&str, &str)] = &[
    ("siwe.chain_ids", "list of integers"),
    ("session.same_site", "`\"lax\"`, `\"strict\"` or `\"none\"`"),
    ("session.secure", "`\"auto\"`, `true` or `false`"),
    ("email.smtp_tls", "`\"starttls\"`, `\"tls\"` or `\"none\"`"),
    ("log.format", "`\"pretty\"` or `\"json\"`"),
    (
        "forward_auth.rules",
        "list of tables (`host` string, `addresses` list of strings)",
    ),
    (
        "oidc.clients",
        "list of tables (`id`, `name`, `secret` or `secret_file`, `public`, `redirect_uris`, \
         `post_logout_redirect_uris`, `scopes`, `trusted`, `subject`, `id_token_alg`)",
    ),
];

struct Key {
    name: String,
    /// The value the example shows (commented out for keys unset by default).
    example: String,
    meaning: Vec<String>,
    /// Lines of a commented-out table example (`[[section.key]]` and its fields).
    sample: Vec<String>,
}

struct Section {
    name: String,
    intro: Vec<String>,
    keys: Vec<Key>,
}

/// The example's opening comment, then its sections with their keys, in the file's order.
fn parse_example(text: &str) -> (Vec<String>, Vec<Section>) {
    let known = known_keys();
    let mut opening = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut comment: Vec<String> = Vec::new();
    let mut in_sample = false;
    for line in text.lines().map(str::trim) {
        let Some(section) = sections.last_mut() else {
            match line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                Some(name) => sections.push(Section {
                    name: name.to_string(),
                    intro: Vec::new(),
                    keys: Vec::new(),
                }),
                None => opening.extend(line.strip_prefix('#').map(|l| l.trim().to_string())),
            }
            continue;
        };
        if line.is_empty() {
            comment.clear();
            in_sample = false;
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            sections.push(Section {
                name: name.to_string(),
                intro: Vec::new(),
                keys: Vec::new(),
            });
            continue;
        }
        let (commented, body) = match line.strip_prefix('#') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        if commented && body.is_empty() {
            if section.keys.is_empty() && section.intro.is_empty() {
                section.intro = std::mem::take(&mut comment);
            }
            continue;
        }
        if in_sample {
            if let Some(key) = section.keys.last_mut() {
                key.sample.push(body.to_string());
            }
            continue;
        }
        let table = body
            .strip_prefix("[[")
            .and_then(|b| b.strip_suffix("]]"))
            .and_then(|b| b.strip_prefix(&format!("{}.", section.name)));
        let assignment = body.split_once(" = ").map(|(k, v)| (k.trim(), v.trim()));
        let (name, example) = match (table, assignment) {
            (Some(name), _) => (name, String::new()),
            (None, Some((name, value))) if known.contains(&format!("{}.{name}", section.name)) => {
                (name, value.to_string())
            }
            _ if commented => {
                comment.push(body.to_string());
                continue;
            }
            _ => panic!("config.toml.example: cannot read {line:?}"),
        };
        in_sample = table.is_some();
        section.keys.push(Key {
            name: name.to_string(),
            example,
            meaning: std::mem::take(&mut comment),
            sample: if in_sample {
                vec![body.to_string()]
            } else {
                Vec::new()
            },
        });
    }
    (opening, sections)
}

/// A default as TOML writes it; `None` for a key unset by default.
fn toml_value(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::Array(items) => Some(format!(
            "[{}]",
            items
                .iter()
                .filter_map(toml_value)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        other => Some(other.to_string()),
    }
}

fn type_of(key: &str, default: &Value, example: &str) -> String {
    if let Some((_, described)) = TYPES.iter().find(|(k, _)| *k == key) {
        return described.to_string();
    }
    let of_text = |text: &str| match text.chars().next() {
        Some('"') => "string",
        Some('[') => "list of strings",
        Some('t' | 'f') => "boolean",
        _ => "integer",
    };
    match default {
        Value::Null => format!("{}, optional", of_text(example)),
        Value::String(_) => "string".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Number(_) => "integer".into(),
        Value::Array(_) => "list of strings".into(),
        Value::Object(_) => "table".into(),
    }
}

/// Markdown prose: the example's comments, with angle brackets kept as text.
fn prose(lines: &[String]) -> String {
    lines
        .join(" ")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The whole page.
pub(super) fn render(example: &str) -> String {
    let defaults = serde_json::to_value(Settings::default()).unwrap_or_default();
    let (opening, sections) = parse_example(example);
    let mut page = String::from(
        "# Configuration reference\n\n\
         <!-- Generated from config.toml.example and the defaults in src/config/ by \
         `UPDATE_DOCS=1 cargo test --lib config::reference`: edit those, not this page. -->\n\n",
    );
    let _ = writeln!(page, "{}\n", prose(&opening));
    let _ = writeln!(
        page,
        "A copy of [config.toml.example](../config.toml.example) with every key at its \
         default is a valid config file. Each key below names its environment variable; a \
         list or table is written there as in TOML, e.g. `SIWE_SIWE__CHAIN_IDS=[1,10]`.\n"
    );
    for section in &sections {
        let _ = writeln!(page, "## [{}]\n", section.name);
        if !section.intro.is_empty() {
            let _ = writeln!(page, "{}\n", prose(&section.intro));
        }
        for key in &section.keys {
            let dotted = format!("{}.{}", section.name, key.name);
            let default = &defaults[&section.name][&key.name];
            let _ = writeln!(page, "### `{dotted}`\n");
            if !key.meaning.is_empty() {
                let _ = writeln!(page, "{}\n", prose(&key.meaning));
            }
            if !key.sample.is_empty() {
                let _ = writeln!(page, "```toml\n{}\n```\n", key.sample.join("\n"));
            }
            let env = format!(
                "{ENV_PREFIX}{}__{}",
                section.name.to_ascii_uppercase(),
                key.name.to_ascii_uppercase()
            );
            let default = match toml_value(default) {
                Some(value) => format!("`{value}`"),
                None => format!("unset (e.g. `{}`)", key.example),
            };
            let _ = writeln!(
                page,
                "- Type: {}\n- Default: {default}\n- Environment: `{env}`\n",
                type_of(&dotted, &defaults[&section.name][&key.name], &key.example)
            );
        }
    }
    format!("{}\n", page.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config.toml.example"))
            .unwrap()
    }

    #[test]
    fn every_key_has_a_meaning_once() {
        let (_, sections) = parse_example(&example());
        let mut documented = std::collections::BTreeSet::new();
        for section in &sections {
            documented.insert(section.name.clone());
            for key in &section.keys {
                let dotted = format!("{}.{}", section.name, key.name);
                assert!(!key.meaning.is_empty(), "{dotted} has a comment above it");
                assert!(documented.insert(dotted.clone()), "{dotted} appears once");
            }
        }
        assert_eq!(
            documented,
            known_keys(),
            "the example names exactly the known keys"
        );
    }

    #[test]
    fn the_committed_page_is_current() {
        let page = render(&example());
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE);
        if std::env::var_os("UPDATE_DOCS").is_some() {
            std::fs::write(&path, &page).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == page,
            "{PAGE} is out of date: run `UPDATE_DOCS=1 cargo test --lib config::reference`"
        );
    }
}
