//! The runtime's modules are layered: each imports only modules below it, so there is no import
//! circle and each can be read (and tested) with what is under it. The order is
//! system ← history ← balances ← benefits ← market ← swork ← staking ← governance ← executive;
//! `state` is under all.
//! This test reads the modules' sources and fails on any `crate::<module>` path that points up
//! or sideways (test code is exempt: it may drive several modules).

use std::path::Path;

const LAYERS: [&str; 10] = [
    "state",
    "system",
    "history",
    "balances",
    "benefits",
    "market",
    "swork",
    "staking",
    "governance",
    "executive",
];

fn is_test_file(name: &str) -> bool {
    name == "tests.rs" || name.ends_with("_tests.rs") || name.starts_with("test_")
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let entries = std::fs::read_dir(dir).expect("runtime source directory");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && !is_test_file(&path.file_name().unwrap_or_default().to_string_lossy())
        {
            out.push(path);
        }
    }
}

/// The names at the top level of a brace group, `text` starting just inside it.
fn top_level_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    let mut at_start = true;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_start = true,
            c if depth == 0 && at_start && (c.is_alphanumeric() || c == '_') => current.push(c),
            _ => {
                if !current.is_empty() {
                    names.push(std::mem::take(&mut current));
                    at_start = false;
                }
            }
        }
        if c == ',' && depth == 0 && !current.is_empty() {
            names.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        names.push(current);
    }
    names
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut checked = 0;
    for (rank, module) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            sources(&dir, &mut files);
        }
        let file = src.join(format!("{module}.rs"));
        if file.is_file() {
            files.push(file);
        }
        assert!(!files.is_empty(), "no sources for runtime module {module}");
        for path in files {
            let text = std::fs::read_to_string(&path).expect("source file");
            // An inline test module (`#[cfg(test)]` then `mod … {`) runs to the end of the file.
            let code = text
                .match_indices("\n#[cfg(test)]\n")
                .find(|(at, m)| {
                    let next = text[at + m.len()..].lines().next().unwrap_or_default();
                    next.starts_with("mod ") && next.ends_with('{')
                })
                .map_or(text.as_str(), |(at, _)| &text[..at]);
            for (line_no, line) in code.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for (other_rank, other) in LAYERS.iter().enumerate() {
                    if other_rank >= rank && other != module {
                        let pattern = format!("crate::{other}");
                        let hit = line.match_indices(&pattern).any(|(at, _)| {
                            !line[at + pattern.len()..]
                                .starts_with(|c: char| c.is_alphanumeric() || c == '_')
                        });
                        if hit {
                            violations.push(format!(
                                "{}:{}: {module} imports {other}: {}",
                                path.strip_prefix(&src).unwrap_or(&path).display(),
                                line_no + 1,
                                line.trim()
                            ));
                        }
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} files read");
    // Grouped imports (`use crate::{a, b::C}`) name modules at the group's top level.
    for (rank, module) in LAYERS.iter().enumerate() {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            sources(&dir, &mut files);
        }
        for path in files {
            let text = std::fs::read_to_string(&path).expect("source file");
            for (at, _) in text.match_indices("crate::{") {
                for name in top_level_names(&text[at + "crate::{".len()..]) {
                    let other_rank = LAYERS.iter().position(|l| *l == name);
                    if other_rank.is_some_and(|r| r >= rank && name != *module) {
                        violations.push(format!(
                            "{}: {module} imports {name} in a group",
                            path.strip_prefix(&src).unwrap_or(&path).display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layering:\n{}",
        violations.join("\n")
    );
}
