//! The documents stay true to the code. In README.md, BENCHMARKS.md (up to its history) and
//! docs/ (except the generated docs/configuration.md): every relative link and its anchor
//! resolve, every repository path named exists, every config key named is in
//! config.toml.example, every error code named after a status is a real code with that status;
//! docs/api.md lists every path of the OpenAPI document and every error code; docs/operations.md
//! names only real subcommands.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use poem_openapi::types::ParseFromJSON;
use serde_json::Value;
use siwe_server::{error::ErrorCode, http::error::status_of};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_siwe-server");

/// Where inline code that names a repository path starts.
const PATH_PREFIXES: &[&str] = &[
    "tests/",
    "src/",
    "benches/",
    "examples/",
    "assets/",
    "docs/",
    "openapi/",
    "fuzz/",
    ".cargo/",
    ".ci/",
];

/// The checked documents: (path from the repository root, text).
fn documents() -> Vec<(String, String)> {
    let mut names = vec!["README.md".to_string(), "BENCHMARKS.md".to_string()];
    let mut pages: Vec<String> = fs::read_dir(Path::new(ROOT).join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".md") && name != "configuration.md")
        .map(|name| format!("docs/{name}"))
        .collect();
    pages.sort();
    names.extend(pages);
    names
        .into_iter()
        .map(|name| {
            let mut text = fs::read_to_string(Path::new(ROOT).join(&name)).unwrap();
            // A history names files where they were then.
            if let Some(history) = text.find("\n## History") {
                text.truncate(history);
            }
            (name, text)
        })
        .collect()
}

/// The text without fenced code blocks (their backticks and links are not Markdown).
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Each inline code span of `prose` with the text just before it.
fn code_spans(prose: &str) -> Vec<(&str, &str)> {
    let mut spans = Vec::new();
    let mut rest = prose;
    let mut before_start = 0;
    while let Some(open) = rest.find('`') {
        let Some(len) = rest[open + 1..].find('`') else {
            break;
        };
        let offset = prose.len() - rest.len();
        spans.push((
            &prose[before_start..offset + open],
            &rest[open + 1..open + 1 + len],
        ));
        rest = &rest[open + 1 + len + 1..];
        before_start = prose.len() - rest.len();
    }
    spans
}

/// GitHub's anchor for a heading.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .lines()
        .filter(|line| line.starts_with('#'))
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

#[test]
fn links_resolve() {
    let mut broken = Vec::new();
    for (name, text) in documents() {
        let dir = Path::new(&name).parent().unwrap_or(Path::new(""));
        let text = prose(&text);
        for piece in text.split("](").skip(1) {
            let Some(target) = piece.split(')').next() else {
                continue;
            };
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((target, ""));
            let path: PathBuf = if file.is_empty() {
                PathBuf::from(&name)
            } else {
                normalise(&dir.join(file))
            };
            let full = Path::new(ROOT).join(&path);
            if !full.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            }
            if !fragment.is_empty()
                && !anchors(&fs::read_to_string(&full).unwrap()).contains(fragment)
            {
                broken.push(format!("{name}: {target} (no such heading)"));
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// `docs/../README.md` as `README.md`.
fn normalise(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[test]
fn named_paths_exist() {
    let mut missing = Vec::new();
    for (name, text) in documents() {
        for (_, span) in code_spans(&prose(&text)) {
            let is_path = PATH_PREFIXES.iter().any(|p| span.starts_with(p))
                && !span.contains([' ', '<', '*', '{']);
            if is_path && !Path::new(ROOT).join(span.trim_end_matches('/')).exists() {
                missing.push(format!("{name}: {span}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths named but missing:\n{}",
        missing.join("\n")
    );
}

/// `section` and `section.key` of every key config.toml.example shows (commented out or not).
fn config_keys() -> (BTreeSet<String>, BTreeSet<String>) {
    let example = fs::read_to_string(Path::new(ROOT).join("config.toml.example")).unwrap();
    let (mut sections, mut keys) = (BTreeSet::new(), BTreeSet::new());
    let mut section = String::new();
    for line in example.lines() {
        let line = line.trim_start_matches('#').trim();
        if line.starts_with('[') && line.ends_with(']') {
            section = line.trim_matches(['[', ']']).to_string();
            if let Some((parent, child)) = section.split_once('.') {
                keys.insert(format!("{parent}.{child}"));
            } else {
                sections.insert(section.clone());
            }
        } else if let Some((key, _)) = line.split_once(" = ") {
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                keys.insert(format!("{section}.{key}"));
            }
        }
    }
    (sections, keys)
}

#[test]
fn named_config_keys_exist() {
    let (sections, keys) = config_keys();
    assert!(
        keys.contains("server.public_url"),
        "config.toml.example was read"
    );
    let mut unknown = Vec::new();
    for (name, text) in documents() {
        for (_, span) in code_spans(&prose(&text)) {
            // `section.key`, `section.prefix_*` or `[section] key`
            let named = match span.strip_prefix('[') {
                Some(rest) => rest.split_once("] "),
                None => span.split_once('.'),
            };
            let Some((section, key)) = named else {
                continue;
            };
            if !sections.contains(section)
                || !key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '*')
            {
                continue;
            }
            let known = match key.strip_suffix('*') {
                Some(prefix) => keys
                    .iter()
                    .any(|k| k.starts_with(&format!("{section}.{prefix}"))),
                None => keys.contains(&format!("{section}.{key}")),
            };
            if !known {
                unknown.push(format!("{name}: {span}"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "config keys named but not in config.toml.example:\n{}",
        unknown.join("\n")
    );
}

fn error_code(name: &str) -> Option<ErrorCode> {
    ErrorCode::parse_from_json(Some(Value::String(name.to_string()))).ok()
}

/// "401 `invalid_nonce`" and "| 401 | `invalid_nonce` |": the code exists and has that status.
#[test]
fn error_codes_named_with_a_status_have_it() {
    let mut wrong = Vec::new();
    for (name, text) in documents() {
        for (before, span) in code_spans(&prose(&text)) {
            let before = before.trim_end_matches([' ', '|']);
            let split = before.len().saturating_sub(3);
            let (Some(ahead), Some(status)) = (before.get(..split), before.get(split..)) else {
                continue;
            };
            let Ok(status) = status.parse::<u16>() else {
                continue;
            };
            if !(400..600).contains(&status) || ahead.ends_with(char::is_alphanumeric) {
                continue;
            }
            match error_code(span) {
                None => wrong.push(format!("{name}: {status} `{span}`: no such error code")),
                Some(code) if status_of(code).as_u16() != status => wrong.push(format!(
                    "{name}: {status} `{span}`: the server answers {}",
                    status_of(code).as_u16()
                )),
                Some(_) => {}
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn spec() -> Value {
    serde_json::from_str(&fs::read_to_string(Path::new(ROOT).join("openapi/openapi.json")).unwrap())
        .unwrap()
}

#[test]
fn api_page_lists_every_path_and_error_code() {
    let page = fs::read_to_string(Path::new(ROOT).join("docs/api.md")).unwrap();
    let spec = spec();
    let mut missing: Vec<String> = spec["paths"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|path| !page.contains(&format!("`{path}`")))
        .map(|path| format!("path {path}"))
        .collect();
    let codes = spec["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    assert!(!codes.is_empty());
    missing.extend(
        codes
            .iter()
            .map(|code| code.as_str().unwrap())
            .filter(|code| !page.contains(&format!("| `{code}` |")))
            .map(|code| format!("error code {code}")),
    );
    assert!(
        missing.is_empty(),
        "docs/api.md does not list:\n{}",
        missing.join("\n")
    );
}

#[test]
fn operations_page_names_real_subcommands() {
    let page = fs::read_to_string(Path::new(ROOT).join("docs/operations.md")).unwrap();
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    let named: Vec<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("siwe-server "))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|word| word.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    assert!(
        named.len() >= 3,
        "the command-line block was found: {named:?}"
    );
    for word in named {
        assert!(
            help.contains(&format!("\n  {word} ")),
            "`siwe-server {word}` is not in --help:\n{help}"
        );
    }
}
