//! Keeps the house as ARCHITECTURE.md draws it: the layer table there is read by this test, every
//! `crate::`/`super::` path in `src/` must point to a lower layer, and long files say why.
//! Reads source text only; no module of ours is mocked or compiled differently.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// A file longer than this must say at its top why it is long.
const MAX_LINES: usize = 400;
const LONG_FILE_REASON: &str = "longer than 400 lines because";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The layers from ARCHITECTURE.md's fenced block after the "<!-- layers -->" marker, top first;
/// modules on one line are peers.
fn layers() -> Vec<Vec<String>> {
    let doc = fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let after = doc
        .split("<!-- layers -->")
        .nth(1)
        .expect("ARCHITECTURE.md has a <!-- layers --> marker before the layer table");
    let block = after
        .split("```")
        .nth(1)
        .expect("a fenced block follows the marker");
    block
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default())
        .map(|line| {
            line.split_whitespace()
                .map(|m| m.trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .filter(|layer| !layer.is_empty())
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a source file: `src/http/mod.rs` -> ["http"], `src/api/auth.rs` -> ["api", "auth"].
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root().join("src")).expect("under src");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Source without comments, string/char literals and `#[cfg(test)]` modules.
fn code_only(src: &str) -> String {
    let without_tests = match src.find("#[cfg(test)]") {
        Some(at) => &src[..at],
        None => src,
    };
    let bytes = without_tests.as_bytes();
    let mut out = String::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (bytes[i], bytes.get(i + 1)) {
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            (b'/', Some(b'*')) => {
                let end = without_tests[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 4 + e);
                i = end;
            }
            (b'r', Some(b'#' | b'"')) if i == 0 || !is_ident(bytes[i - 1]) => {
                let hashes = without_tests[i + 1..]
                    .bytes()
                    .take_while(|b| *b == b'#')
                    .count();
                if bytes.get(i + 1 + hashes) == Some(&b'"') {
                    let close = format!("\"{}", "#".repeat(hashes));
                    let start = i + 2 + hashes;
                    i = without_tests[start..]
                        .find(&close)
                        .map_or(bytes.len(), |e| start + e + close.len());
                    out.push_str("\"\"");
                } else {
                    out.push('r');
                    i += 1;
                }
            }
            (b'"', _) => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            (b'\'', _) if bytes.get(i + 2) == Some(&b'\'') || bytes.get(i + 1) == Some(&b'\\') => {
                // A char literal ('a' or '\n'); lifetimes ('a) fall through.
                let end = without_tests[i + 1..]
                    .find('\'')
                    .map_or(bytes.len(), |e| i + 2 + e);
                i = end;
                out.push_str("' '");
            }
            (b, _) => {
                out.push(b as char);
                i += 1;
            }
        }
    }
    out
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Every path this source names through `crate::` or `super::`, use-groups expanded one level:
/// `use crate::{db::Db, error}` gives ["crate", "db", "Db"] and ["crate", "error"].
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(found) = code[from..].find(start) {
            let at = from + found;
            from = at + start.len();
            if at > 0 && (is_ident(bytes[at - 1]) || bytes[at - 1] == b':') {
                continue;
            }
            let mut prefix = vec![start.trim_end_matches(':').to_string()];
            let mut rest = &code[from..];
            // super::super::...
            while let Some(r) = rest.strip_prefix("super::") {
                prefix.push("super".into());
                rest = r;
            }
            let (head, tail) = split_path(rest);
            let mut base = prefix;
            base.extend(head);
            if let Some(group) = tail.strip_prefix('{') {
                for item in top_level_items(group) {
                    let (segments, _) = split_path(item.trim_start());
                    let mut path = base.clone();
                    path.extend(segments);
                    paths.push(path);
                }
            } else {
                paths.push(base);
            }
        }
    }
    paths
}

/// Splits `a::b::C<...> rest` into ["a", "b", "C"] and what follows the last `::`, if a group.
fn split_path(text: &str) -> (Vec<String>, &str) {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        let len = rest.bytes().take_while(|b| is_ident(*b)).count();
        if len == 0 {
            return (segments, rest);
        }
        segments.push(rest[..len].to_string());
        match rest[len..].strip_prefix("::") {
            Some(r) => rest = r,
            None => return (segments, ""),
        }
    }
}

/// The comma-separated items of a `{...}` group (the text after `{`), nested groups kept whole.
fn top_level_items(group: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..i]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

/// The top-level module a named path points into, from the file that names it.
fn target_module(module: &[String], path: &[String]) -> Option<String> {
    let absolute: Vec<String> = if path[0] == "crate" {
        path[1..].to_vec()
    } else {
        // `super` is the parent module, whether the file is `x/mod.rs` or `x/y.rs`.
        let ups = path.iter().take_while(|s| *s == "super").count();
        let mut here = module.to_vec();
        for _ in 0..ups {
            here.pop();
        }
        here.extend(path[ups..].iter().cloned());
        here
    };
    absolute.into_iter().next()
}

struct Import {
    file: PathBuf,
    from: String,
    to: String,
}

fn imports() -> Vec<Import> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut out = Vec::new();
    for file in files {
        let module = module_of(&file);
        // The binary (src/main.rs) sits above everything.
        let Some(from) = module.first().cloned() else {
            continue;
        };
        let code = code_only(&fs::read_to_string(&file).expect("readable source"));
        for path in named_paths(&code) {
            if let Some(to) = target_module(&module, &path) {
                if to != from {
                    out.push(Import {
                        file: file.clone(),
                        from: from.clone(),
                        to,
                    });
                }
            }
        }
    }
    out
}

fn lib_modules() -> BTreeSet<String> {
    let lib = fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    lib.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("pub mod ")
                .or_else(|| l.trim().strip_prefix("mod "))
        })
        .map(|l| l.trim_end_matches(';').trim().to_string())
        .collect()
}

#[test]
fn every_module_is_in_the_layer_table_and_every_table_entry_exists() {
    let table: BTreeSet<String> = layers().into_iter().flatten().collect();
    let modules = lib_modules();
    let missing: Vec<_> = modules.difference(&table).collect();
    let stale: Vec<_> = table.difference(&modules).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "ARCHITECTURE.md's layer table is out of date: modules not in it {missing:?}, entries \
         that are no module {stale:?}"
    );
}

#[test]
fn imports_only_point_down_the_layers() {
    let rank: BTreeMap<String, usize> = layers()
        .into_iter()
        .enumerate()
        .flat_map(|(i, layer)| layer.into_iter().map(move |m| (m, i)))
        .collect();
    let mut wrong = BTreeSet::new();
    for import in imports() {
        let (Some(from), Some(to)) = (rank.get(&import.from), rank.get(&import.to)) else {
            continue; // the table test reports modules missing from the table
        };
        if to <= from {
            wrong.insert(format!(
                "{} ({}) uses {} ({}): an arrow up or sideways",
                import
                    .file
                    .strip_prefix(root())
                    .unwrap_or(&import.file)
                    .display(),
                import.from,
                import.to,
                if to == from {
                    "same layer"
                } else {
                    "higher layer"
                },
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against ARCHITECTURE.md's layers:\n{}",
        wrong.into_iter().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn only_the_storage_layer_names_the_database_driver() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let offenders: Vec<_> = files
        .iter()
        .filter(|f| !f.starts_with(root().join("src/db")))
        .filter(|f| {
            let code = code_only(&fs::read_to_string(f).expect("readable source"));
            code.contains("rusqlite") || code.contains("r2d2")
        })
        .map(|f| f.strip_prefix(root()).unwrap_or(f).display().to_string())
        .collect();
    assert!(
        offenders.is_empty(),
        "SQLite is named outside src/db/ in {offenders:?}"
    );
}

#[test]
fn long_files_say_why_at_their_top() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let unexplained: Vec<_> = files
        .iter()
        .filter_map(|f| {
            let src = fs::read_to_string(f).expect("readable source");
            let lines = src.lines().count();
            let top: String = src
                .lines()
                .take(12)
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            (lines > MAX_LINES && !top.contains(LONG_FILE_REASON)).then(|| {
                format!(
                    "{} ({lines} lines)",
                    f.strip_prefix(root()).unwrap_or(f).display()
                )
            })
        })
        .collect();
    assert!(
        unexplained.is_empty(),
        "files over {MAX_LINES} lines without \"{LONG_FILE_REASON} ...\" in their top comment: \
         {unexplained:?}"
    );
}

#[test]
fn the_import_reader_sees_groups_super_and_skips_comments_and_strings() {
    let code = code_only(
        "use crate::{db::{self, Db}, error::AppError};\n// use crate::api;\nlet s = \"crate::http\";\n\
         use super::super::domain::siwe;\nfn f() { crate::metrics::metrics(); }",
    );
    let paths = named_paths(&code);
    let heads: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        heads,
        [
            "crate::db",
            "crate::error::AppError",
            "crate::metrics::metrics",
            "super::super::domain::siwe"
        ]
    );
    let file = root().join("src/service/wallets.rs");
    let module = module_of(&file);
    assert_eq!(module, ["service", "wallets"]);
    assert_eq!(target_module(&module, &paths[3]).as_deref(), Some("domain"));
    let dir_file = root().join("src/http/mod.rs");
    assert_eq!(module_of(&dir_file), ["http"]);
    let super_path: Vec<String> = vec!["super".into(), "api".into()];
    assert_eq!(
        target_module(&module_of(&dir_file), &super_path).as_deref(),
        Some("api")
    );
}
