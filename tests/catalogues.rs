//! The pages' catalogues (assets/i18n/<lang>.json) are complete: every language has exactly the
//! source language's keys with the same {variables}, every language names itself, every key a
//! page template (`{{key}}`), a script (`t("key")`) or a page built in code uses exists, and
//! every error code and security event kind has its sentence (`errors.<code>`, `events.<kind>`).

use std::{
    collections::{BTreeSet, HashSet},
    fs,
    path::Path,
};

use siwe_server::{
    domain::event::EventKind,
    error::ErrorCode,
    i18n::{template_keys, Catalogues},
};

fn variables(text: &str) -> BTreeSet<&str> {
    text.split('{')
        .skip(1)
        .filter_map(|part| part.split_once('}').map(|(name, _)| name))
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_'))
        .collect()
}

#[test]
fn every_language_has_every_key_with_the_same_variables() {
    let catalogues = Catalogues::embedded().unwrap();
    let source = catalogues.source();
    assert!(
        catalogues.all().len() >= 4,
        "English and at least three more"
    );
    let source_keys: HashSet<&str> = source.keys().collect();
    let mut problems = Vec::new();
    for language in catalogues.all() {
        let keys: HashSet<&str> = language.keys().collect();
        for missing in source_keys.difference(&keys) {
            problems.push(format!("{}: missing {missing}", language.code()));
        }
        for extra in keys.difference(&source_keys) {
            problems.push(format!("{}: {extra} is not in en.json", language.code()));
        }
        for key in keys.intersection(&source_keys) {
            let (ours, theirs) = (language.text(key).unwrap(), source.text(key).unwrap());
            if variables(ours) != variables(theirs) {
                problems.push(format!(
                    "{}: {key} has other {{variables}} than en",
                    language.code()
                ));
            }
            if ours.trim().is_empty() {
                problems.push(format!("{}: {key} is empty", language.code()));
            }
        }
        if source
            .text(&format!("languages.{}", language.code()))
            .is_none()
        {
            problems.push(format!(
                "languages.{} (its name) is missing",
                language.code()
            ));
        }
    }
    problems.sort();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The pages show a server error as `errors.<code>` and an event as `events.<kind>` (the server's
/// messages stay English): every code a client can receive and every kind an account's log can
/// hold needs its sentence, and the fallbacks for ones this version does not know.
#[test]
fn every_error_code_and_event_kind_has_its_sentence() {
    let catalogues = Catalogues::embedded().unwrap();
    let source = catalogues.source();
    let codes = ErrorCode::ALL
        .iter()
        .map(|code| format!("errors.{}", code.as_str()));
    let kinds = EventKind::ALL.iter().map(|kind| format!("events.{kind}"));
    let fallbacks = ["errors.unknown", "events.unknown"].map(String::from);
    let missing: Vec<String> = codes
        .chain(kinds)
        .chain(fallbacks)
        .filter(|key| source.text(key).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "keys missing from en.json:\n{}",
        missing.join("\n")
    );
}

/// `t("key"` / `t('key'` / t(`key` literals without interpolation in a script.
fn script_keys(source: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let bytes = source.as_bytes();
    for (at, _) in source.match_indices("t(") {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'$')
        {
            continue;
        }
        let rest = &source[at + 2..];
        let Some(quote) = rest
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\'' | '`'))
        else {
            continue;
        };
        if let Some(end) = rest[1..].find(quote) {
            let key = &rest[1..1 + end];
            if !key.contains("${") {
                keys.push(key.to_string());
            }
        }
    }
    keys
}

#[test]
fn every_key_the_pages_use_exists() {
    let catalogues = Catalogues::embedded().unwrap();
    let source = catalogues.source();
    let mut problems = Vec::new();
    let mut check = |file: &Path, key: &str| {
        if source.text(key).is_none() {
            problems.push(format!("{}: {key}", file.display()));
        }
    };
    for dir in ["assets", "assets/js"] {
        for entry in fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let text = match path.extension().and_then(|e| e.to_str()) {
                Some("html" | "js") => fs::read_to_string(&path).unwrap(),
                _ => continue,
            };
            if path.extension().is_some_and(|e| e == "html") {
                for key in template_keys(&text) {
                    check(&path, key);
                }
            } else {
                for key in script_keys(&text) {
                    check(&path, &key);
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "keys missing from en.json:\n{}",
        problems.join("\n")
    );
}

/// The pages built in Rust code name their keys as string literals (`"oidc.allow"`).
#[test]
fn every_key_the_pages_built_in_code_use_exists() {
    let catalogues = Catalogues::embedded().unwrap();
    let mut found = 0;
    let mut problems = Vec::new();
    for file in [
        "src/api/pages.rs",
        "src/api/link_page.rs",
        "src/api/oidc/pages.rs",
    ] {
        let text = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        // Every piece between quotes: escaped quotes in format strings only add pieces that
        // cannot look like a key.
        let keys = text.split('"').filter(|literal| {
            ["common.", "link.", "oidc."]
                .iter()
                .any(|section| literal.starts_with(section))
                && literal
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
        });
        for key in keys {
            found += 1;
            if catalogues.source().text(key).is_none() {
                problems.push(format!("{file}: {key}"));
            }
        }
    }
    assert!(found > 20, "only {found} keys found: has the code changed?");
    assert!(
        problems.is_empty(),
        "keys missing from en.json:\n{}",
        problems.join("\n")
    );
}

#[test]
fn script_keys_are_found() {
    assert_eq!(
        script_keys("t(\"a.b\") + t('c', {x}) + t(`d.${e}`) + not(\"x\") + at(\"y\")"),
        vec!["a.b", "c"]
    );
}
