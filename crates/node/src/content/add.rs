//! `crust add`: the inputs walked from disk, imported into the local repository or streamed to
//! a daemon.

use super::client::remote_add;
use super::{RepoArgs, Target, bytes_bar, open};
use crust_ipfs::Cid;
use crust_ipfs::importer::{self, DirBuilder, ImportOptions, Layout};
use std::fs;
use std::path::{Path, PathBuf};

/// `crust add` options (Kubo's names).
#[derive(clap::Args)]
pub struct AddArgs {
    /// Files or directories to add (directories are added recursively).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// CID version: 0 (Qm…, default) or 1 (bafy…, implies raw leaves).
    #[arg(long, default_value_t = 0)]
    pub cid_version: u8,
    /// Store leaves as raw blocks (default: on for CIDv1). As in Kubo, the bare flag means
    /// `true`; `--raw-leaves=false` turns it off.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub raw_leaves: Option<bool>,
    /// Chunker: `size-N` (default size-262144).
    #[arg(short = 's', long, default_value = "size-262144")]
    pub chunker: String,
    /// Trickle DAG layout instead of balanced.
    #[arg(long)]
    pub trickle: bool,
    /// Wrap the inputs in a directory.
    #[arg(short = 'w', long)]
    pub wrap_with_directory: bool,
    /// Only compute the CIDs; store nothing.
    #[arg(short = 'n', long)]
    pub only_hash: bool,
    /// Pin what is added (default true).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub pin: bool,
    /// Include files and directories whose names start with '.'.
    #[arg(short = 'H', long)]
    pub hidden: bool,
    /// Print only the CIDs.
    #[arg(short, long)]
    pub quiet: bool,
    /// Accepted for `ipfs add -r` compatibility: directories are always added recursively.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    #[command(flatten)]
    pub repo: RepoArgs,
}

impl AddArgs {
    fn options(&self) -> Result<ImportOptions, String> {
        let opts = ImportOptions {
            cid_version: self.cid_version,
            raw_leaves: self.raw_leaves,
            chunk_size: ImportOptions::parse_chunker(&self.chunker).map_err(|e| e.to_string())?,
            layout: if self.trickle {
                Layout::Trickle
            } else {
                Layout::Balanced
            },
            ..ImportOptions::default()
        };
        opts.validate().map_err(|e| e.to_string())?;
        Ok(opts)
    }
}

/// An input file or directory entry, relative to the import root.
pub(super) struct Input {
    pub(super) source: PathBuf,
    pub(super) name: String,
    pub(super) is_dir: bool,
    pub(super) size: u64,
}

pub(super) fn collect_inputs(paths: &[PathBuf], hidden: bool) -> Result<Vec<Input>, String> {
    let mut out = Vec::new();
    for path in paths {
        let meta = fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let base = path
            .canonicalize()
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_owned()))
            .ok_or_else(|| format!("{}: cannot name this input", path.display()))?;
        let base = base
            .into_string()
            .map_err(|n| format!("{n:?}: file names must be UTF-8"))?;
        if meta.is_dir() {
            walk(path, &base, hidden, &mut out)?;
        } else {
            out.push(Input {
                source: path.clone(),
                name: base,
                is_dir: false,
                size: meta.len(),
            });
        }
    }
    Ok(out)
}

fn walk(dir: &Path, name: &str, hidden: bool, out: &mut Vec<Input>) -> Result<(), String> {
    out.push(Input {
        source: dir.to_owned(),
        name: name.to_owned(),
        is_dir: true,
        size: 0,
    });
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let file_name = entry
            .file_name()
            .into_string()
            .map_err(|n| format!("{n:?}: file names must be UTF-8"))?;
        if !hidden && file_name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta = fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let child = format!("{name}/{file_name}");
        if meta.is_dir() {
            walk(&path, &child, hidden, out)?;
        } else if meta.is_file() {
            out.push(Input {
                source: path,
                name: child,
                is_dir: false,
                size: meta.len(),
            });
        }
    }
    Ok(())
}

/// `crust add`.
pub fn add(args: AddArgs) -> Result<(), String> {
    let opts = args.options()?;
    let inputs = collect_inputs(&args.paths, args.hidden)?;
    let total: u64 = inputs.iter().map(|i| i.size).sum();
    let bar = bytes_bar(Some(total));
    let print = |name: &str, cid: &Cid| {
        let line = if args.quiet {
            cid.to_string()
        } else {
            format!("added {cid} {name}")
        };
        bar.suspend(|| println!("{line}"));
    };
    match open(&args.repo)? {
        Target::Local(repo) => {
            let wrap = args.wrap_with_directory;
            let roots = repo
                .import_built(
                    args.pin && !args.only_hash,
                    |sink| {
                        let mut null = importer::NullSink;
                        let sink: &mut dyn importer::BlockSink =
                            if args.only_hash { &mut null } else { sink };
                        let mut tree = DirBuilder::new();
                        let mut top = Vec::new();
                        for input in &inputs {
                            if input.is_dir {
                                tree.add_dir(&input.name)?;
                                continue;
                            }
                            let file = fs::File::open(&input.source)?;
                            let imported =
                                importer::import_file(file, &opts, sink, &mut |n| bar.inc(n))?;
                            print(&input.name, &imported.cid);
                            if !input.name.contains('/') {
                                top.push(imported.cid);
                            }
                            tree.add_file(&input.name, imported)?;
                        }
                        let has_dirs = inputs.iter().any(|i| i.is_dir);
                        if !(wrap || has_dirs) {
                            return Ok(top);
                        }
                        let (root, dirs) = tree.build(opts.cid_version, sink)?;
                        let mut roots = top;
                        for d in dirs {
                            if d.path.is_empty() {
                                continue;
                            }
                            print(&d.path, &d.imported.cid);
                            if !d.path.contains('/') {
                                roots.push(d.imported.cid);
                            }
                        }
                        if wrap {
                            print("", &root.cid);
                            return Ok(vec![root.cid]);
                        }
                        Ok(roots)
                    },
                    |roots| roots.clone(),
                )
                .map_err(|e| e.to_string())?;
            bar.finish_and_clear();
            if roots.is_empty() {
                return Err("nothing was added".into());
            }
            Ok(())
        }
        Target::Remote(api) => {
            let result = remote_add(&api, &args, &inputs, &bar, &print, None);
            bar.finish_and_clear();
            result.map(|_| ())
        }
    }
}
