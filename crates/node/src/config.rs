//! Config files and environment overrides for the long-running roles.
//!
//! A TOML file (`--config FILE` or `$CRUST_CONFIG`) has one table per role: `[node]`
//! (`crust node`), `[sworker]` (`crust sworker run`), `[ipfs]` (`crust ipfs daemon`), `[pin]`
//! (`crust pin serve`). Every key is a flag of that command, by its long name (`listen`,
//! `bootnode`, `memory`; `_` and `-` are the same); a list gives a repeatable flag several
//! times, `true` turns a switch on. An environment variable `CRUST_<ROLE>_<FLAG>` (e.g.
//! `CRUST_NODE_RPC=0.0.0.0:9933`) overrides the file, and a flag on the command line overrides
//! both. Unknown tables and keys are refused with the keys that exist, so a typo never passes
//! silently. `crust config show ROLE` prints the effective values and where each came from.
//!
//! The file and the environment become command-line flags before clap parses the command
//! line, so every flag has a key, and each value is checked exactly as the flag is.

use clap::{ArgAction, CommandFactory as _};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The roles a config file configures: table name and the command path it applies to.
pub(crate) const ROLES: [(&str, &[&str]); 4] = [
    ("node", &["node"]),
    ("sworker", &["sworker", "run"]),
    ("ipfs", &["ipfs", "daemon"]),
    ("pin", &["pin", "serve"]),
];

/// Where a value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The command line.
    Flag,
    /// An environment variable.
    Env,
    /// The config file.
    File,
    /// The flag's default.
    Default,
}

impl Source {
    fn name(self) -> &'static str {
        match self {
            Source::Flag => "command line",
            Source::Env => "environment",
            Source::File => "config file",
            Source::Default => "default",
        }
    }
}

/// One flag of a role: its long name, whether it repeats or is a switch, and its help.
struct Flag {
    long: String,
    short: Option<char>,
    list: bool,
    switch: bool,
    help: String,
    defaults: Vec<String>,
}

fn flags(path: &[&str]) -> Vec<Flag> {
    let mut cmd = crate::cli::Cli::command();
    cmd.build();
    let mut sub = &cmd;
    for name in path {
        match sub.find_subcommand(name) {
            Some(s) => sub = s,
            None => return Vec::new(),
        }
    }
    sub.get_arguments()
        .filter(|a| !a.is_positional())
        .filter_map(|a| {
            let long = a.get_long()?.to_owned();
            // The top-level flags (`--output`, `--log-format`, `--config`) are not a role's keys.
            if matches!(
                long.as_str(),
                "help" | "version" | "output" | "log-format" | "config"
            ) {
                return None;
            }
            Some(Flag {
                long,
                short: a.get_short(),
                list: matches!(a.get_action(), ArgAction::Append),
                switch: matches!(a.get_action(), ArgAction::SetTrue),
                help: first_sentence(&a.get_help().map(|h| h.to_string()).unwrap_or_default()),
                defaults: a
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect(),
            })
        })
        .collect()
}

/// A help text's first sentence, on one line.
fn first_sentence(help: &str) -> String {
    let one_line = help.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut from = 0;
    while let Some(at) = one_line[from..].find(". ") {
        let end = from + at;
        if !(one_line[..end].ends_with("e.g") || one_line[..end].ends_with("i.e")) {
            return one_line[..end].to_owned();
        }
        from = end + 2;
    }
    one_line.trim_end_matches('.').to_owned()
}

/// The role whose command `args` (without the program name) runs, with the index just past
/// its command path.
fn role_of(args: &[OsString]) -> Option<(&'static str, &'static [&'static str], usize)> {
    // The command words, skipping flags and the values of the global flags that take one.
    let mut words: Vec<(usize, &str)> = Vec::new();
    let mut skip = false;
    for (i, a) in args.iter().enumerate() {
        let Some(s) = a.to_str() else { continue };
        if skip {
            skip = false;
            continue;
        }
        if matches!(s, "--config" | "--output" | "--log-format") {
            skip = true;
            continue;
        }
        if s.starts_with('-') {
            continue;
        }
        words.push((i, s));
    }
    for (role, path) in ROLES {
        if words.len() >= path.len() && words.iter().zip(path.iter()).all(|((_, w), p)| w == p) {
            return Some((role, path, words[path.len() - 1].0 + 1));
        }
    }
    None
}

/// The config file named by `--config FILE`, `--config=FILE` or `$CRUST_CONFIG`.
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.to_string_lossy();
        if s == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(v) = s.strip_prefix("--config=") {
            return Some(PathBuf::from(v));
        }
    }
    std::env::var_os("CRUST_CONFIG").map(PathBuf::from)
}

/// The table for `role` in the config file at `path`, checked against the role's flags (and the
/// file's other tables against their roles').
fn load(path: &Path, role: &str) -> Result<toml::Table, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("{}: {e}", path.display()))?;
    let mut mine = toml::Table::new();
    for (section, value) in doc {
        let Some((_, cmd)) = ROLES.iter().find(|(r, _)| *r == section) else {
            return Err(format!(
                "{}: unknown table [{section}] (tables: [node], [sworker], [ipfs], [pin])",
                path.display()
            ));
        };
        let toml::Value::Table(table) = value else {
            return Err(format!("{}: [{section}] must be a table", path.display()));
        };
        let known = flags(cmd);
        let mut normalized = toml::Table::new();
        for (key, v) in table {
            let long = key.replace('_', "-");
            if !known.iter().any(|f| f.long == long) {
                let names: Vec<&str> = known.iter().map(|f| f.long.as_str()).collect();
                return Err(format!(
                    "{}: unknown key '{key}' in [{section}] (keys: {})",
                    path.display(),
                    names.join(", ")
                ));
            }
            normalized.insert(long, v);
        }
        if section == role {
            mine = normalized;
        }
    }
    Ok(mine)
}

/// A config value as flag values: a list gives each element, a switch `true`/`false`.
fn values(key: &str, value: &toml::Value) -> Result<Vec<String>, String> {
    let one = |v: &toml::Value| -> Result<String, String> {
        match v {
            toml::Value::String(s) => Ok(s.clone()),
            toml::Value::Integer(i) => Ok(i.to_string()),
            toml::Value::Float(f) => Ok(f.to_string()),
            toml::Value::Boolean(b) => Ok(b.to_string()),
            _ => Err(format!(
                "'{key}': a string, number or boolean, or a list of them"
            )),
        }
    };
    match value {
        toml::Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

/// The environment variable that sets `flag` of `role`.
pub(crate) fn env_name(role: &str, flag: &str) -> String {
    format!(
        "CRUST_{}_{}",
        role.to_uppercase(),
        flag.to_uppercase().replace('-', "_")
    )
}

/// Whether `args` (past the command path) set `flag` on the command line.
fn given(args: &[OsString], flag: &Flag) -> bool {
    args.iter().any(|a| {
        let s = a.to_string_lossy();
        s == format!("--{}", flag.long)
            || s.starts_with(&format!("--{}=", flag.long))
            || flag.short.is_some_and(|c| s == format!("-{c}"))
    })
}

/// Each flag's effective values and their source, for `role` given `args`.
fn resolve(
    role: &str,
    path: &[&str],
    args: &[OsString],
    file: &toml::Table,
) -> Result<Vec<(Flag, Vec<String>, Source)>, String> {
    let mut out = Vec::new();
    for flag in flags(path) {
        let env = std::env::var(env_name(role, &flag.long)).ok();
        let (vals, source) = if given(args, &flag) {
            (Vec::new(), Source::Flag)
        } else if let Some(v) = env {
            let vals = if flag.list {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            } else {
                vec![v]
            };
            (vals, Source::Env)
        } else if let Some(v) = file.get(&flag.long) {
            (values(&flag.long, v)?, Source::File)
        } else {
            (flag.defaults.clone(), Source::Default)
        };
        out.push((flag, vals, source));
    }
    Ok(out)
}

/// The command line with the config file's and the environment's values added as flags for
/// the role being run (unchanged for other commands).
pub(crate) fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let rest = args.get(1..).unwrap_or_default();
    let Some((role, path, _)) = role_of(rest) else {
        return Ok(args);
    };
    let file = match config_path(rest) {
        Some(p) => load(&p, role)?,
        None => toml::Table::new(),
    };
    let mut out = args.clone();
    for (flag, vals, source) in resolve(role, path, rest, &file)? {
        if !matches!(source, Source::Env | Source::File) {
            continue;
        }
        if flag.switch {
            let on = vals.first().map(String::as_str) == Some("true");
            let off = vals.first().map(String::as_str) == Some("false");
            if !on && !off {
                return Err(format!("'{}' is a switch: true or false", flag.long));
            }
            if on {
                out.push(format!("--{}", flag.long).into());
            }
            continue;
        }
        if !flag.list && vals.len() > 1 {
            return Err(format!("'{}' takes one value, not a list", flag.long));
        }
        for v in vals {
            out.push(format!("--{}={v}", flag.long).into());
        }
    }
    Ok(out)
}

/// `crust config show ROLE`: every key of the role with its effective value and source.
pub(crate) fn show(role: &str, config: Option<&Path>) -> Result<(), String> {
    let Some((_, path)) = ROLES.iter().find(|(r, _)| *r == role) else {
        return Err(format!(
            "no role '{role}' (roles: node, sworker, ipfs, pin)"
        ));
    };
    let file = match config
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CRUST_CONFIG").map(PathBuf::from))
    {
        Some(p) => load(&p, role)?,
        None => toml::Table::new(),
    };
    println!("[{role}]");
    for (flag, vals, source) in resolve(role, path, &[], &file)? {
        let value = if flag.switch {
            vals.first().cloned().unwrap_or_else(|| "false".into())
        } else if flag.list {
            format!(
                "[{}]",
                vals.iter()
                    .map(|v| format!("{v:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            match vals.first() {
                Some(v) => format!("{v:?}"),
                None => {
                    println!(
                        "# {} = …  # {} (not set; {})",
                        flag.long,
                        flag.help,
                        env_name(role, &flag.long)
                    );
                    continue;
                }
            }
        };
        println!(
            "{} = {value}  # {} ({}; {})",
            flag.long,
            flag.help,
            source.name(),
            env_name(role, &flag.long)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<OsString> {
        words.iter().map(OsString::from).collect()
    }

    #[test]
    fn every_role_has_flags_and_the_node_has_the_ones_docs_name() {
        for (_, path) in ROLES {
            assert!(!flags(path).is_empty(), "{path:?}");
        }
        let node: Vec<String> = flags(&["node"]).into_iter().map(|f| f.long).collect();
        for key in [
            "chain",
            "validator",
            "listen",
            "bootnode",
            "rpc",
            "metrics",
            "memory",
        ] {
            assert!(node.iter().any(|k| k == key), "{key} in {node:?}");
        }
    }

    #[test]
    fn file_values_become_flags_the_command_line_wins_and_typos_are_refused() {
        let dir = std::env::temp_dir().join(format!("crust-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("crust.toml");
        std::fs::write(
            &file,
            "[node]\nlisten = \"0.0.0.0:30333\"\nbootnode = [\"a@h:1\", \"b@h:2\"]\nmemory = \"256MiB\"\n\n[sworker]\ntrust_node_committee = true\n",
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let out = expand(args(&["crust", "--config", f, "node", "--memory", "1GiB"])).unwrap();
        let out: Vec<String> = out
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(
            out.contains(&"--listen=0.0.0.0:30333".to_owned()),
            "{out:?}"
        );
        assert!(
            out.contains(&"--bootnode=a@h:1".to_owned())
                && out.contains(&"--bootnode=b@h:2".to_owned())
        );
        assert!(
            !out.iter().any(|a| a == "--memory=256MiB"),
            "the command line wins: {out:?}"
        );
        let out = expand(args(&["crust", "--config", f, "sworker", "run"])).unwrap();
        assert!(out.iter().any(|a| a == "--trust-node-committee"));
        // Other commands are left alone.
        let plain = args(&["crust", "--config", f, "status", "bafy"]);
        assert_eq!(expand(plain.clone()).unwrap(), plain);
        std::fs::write(&file, "[node]\nlisen = \"x\"\n").unwrap();
        let err = expand(args(&["crust", "--config", f, "node"])).unwrap_err();
        assert!(
            err.contains("unknown key 'lisen'") && err.contains("listen"),
            "{err}"
        );
        std::fs::write(&file, "[nodes]\n").unwrap();
        let err = expand(args(&["crust", "--config", f, "node"])).unwrap_err();
        assert!(err.contains("unknown table [nodes]"), "{err}");
        std::fs::write(&file, "[node]\nlisten = [\"a\", \"b\"]\n").unwrap();
        let err = expand(args(&["crust", "--config", f, "node"])).unwrap_err();
        assert!(err.contains("one value"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn env_names_follow_role_and_flag() {
        assert_eq!(env_name("node", "public-addr"), "CRUST_NODE_PUBLIC_ADDR");
        assert_eq!(
            env_name("sworker", "srd-unit-mib"),
            "CRUST_SWORKER_SRD_UNIT_MIB"
        );
    }
}
