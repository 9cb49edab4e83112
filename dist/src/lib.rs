//! The generator behind `xfr-dist`: man pages and shell completions of every xfrd program, from
//! the clap definitions the programs themselves parse (`xfrd::cli`, `xfr_tools::cli`,
//! `xfr_bench::cli`), so `--help`, the man pages and the completions cannot drift apart.
//!
//! What it owns: the list of programs ([`PROGRAMS`]) and where each file goes. What it does not
//! own: the flags (each program's `cli` module) or their rendering (clap_mangen, clap_complete).
//! The README's "Installing" section says how to use it. The crate also holds, outside `src/`,
//! the systemd unit (`systemd/xfrd.service`) and the example config (`xfrd.toml`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
pub use clap_complete::Shell;

/// A program that gets man pages and completions.
#[derive(Debug, Clone, Copy)]
pub struct Program {
    /// The binary's name, which its pages and completion files are named after.
    pub name: &'static str,
    /// Its clap command (each program's `cli::command`).
    pub command: fn() -> clap::Command,
}

/// Every program that gets man pages and completions. A new binary (`xfrctl`, for one) is one
/// more line here, once its clap definitions are in a library module with a `command()`
/// function like these.
pub const PROGRAMS: &[Program] = &[
    Program {
        name: "xfrd",
        command: xfrd::cli::command,
    },
    Program {
        name: "xfrctl",
        command: xfrd::cli::xfrctl::command,
    },
    Program {
        name: "xfr-zone",
        command: xfr_tools::cli::xfr_zone::command,
    },
    Program {
        name: "xfr-frontend",
        command: xfr_tools::cli::xfr_frontend::command,
    },
    Program {
        name: "xfr-bench",
        command: xfr_bench::cli::command,
    },
];

/// The shells written when none is named (bash-completion, zsh's compsys, fish).
pub const SHELLS_DEFAULT: [Shell; 3] = [Shell::Bash, Shell::Zsh, Shell::Fish];

/// Writes the man pages of every program into `dir`; returns the files written.
pub fn man_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for &Program { name, command } in PROGRAMS {
        // As clap_mangen::generate_to does: no `help` subcommand page, names and bin names
        // filled in (`xfrd-serve` for the page, `xfrd serve` in its synopsis).
        let mut cmd = command().name(name).disable_help_subcommand(true);
        cmd.build();
        // Every page of a program names it and its version at the foot, subcommands too.
        let source = format!("{name} {}", cmd.get_version().unwrap_or_default());
        write_pages(&cmd, None, source.trim(), dir, &mut written)?;
    }
    Ok(written)
}

/// The page of `cmd` and of each of its visible subcommands, each with a SEE ALSO section
/// naming its parent, its children and the other programs.
fn write_pages(
    cmd: &clap::Command,
    parent: Option<&str>,
    source: &str,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<()> {
    let title = page_name(cmd);
    let children: Vec<&clap::Command> =
        cmd.get_subcommands().filter(|s| !s.is_hide_set()).collect();
    let mut see_also: Vec<String> = parent.map(str::to_string).into_iter().collect();
    see_also.extend(children.iter().map(|c| page_name(c)));
    if parent.is_none() {
        see_also.extend(
            PROGRAMS
                .iter()
                .map(|p| p.name.to_string())
                .filter(|n| *n != title),
        );
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .manual("xfrd")
        .source(source)
        .render(&mut page)?;
    if !see_also.is_empty() {
        let refs: Vec<String> = see_also
            .iter()
            .map(|n| format!("\\fB{}\\fR(1)", n.replace('-', "\\-")))
            .collect();
        writeln!(page, ".SH \"SEE ALSO\"\n{}", refs.join(",\n"))?;
    }
    let path = dir.join(format!("{title}.1"));
    fs::write(&path, page).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for child in children {
        write_pages(child, Some(&title), source, dir, written)?;
    }
    Ok(())
}

/// `xfrd` for a program, `xfrd-serve` for its subcommand (what `Command::build` sets as the
/// display name).
fn page_name(cmd: &clap::Command) -> String {
    cmd.get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string()
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Every file in the one folder, with clap_complete's names.
    Flat,
    /// Under a prefix, in each shell's own folder, named as that shell looks them up.
    Prefix,
}

/// Writes the completion scripts of every program for each of `shells`; returns the files
/// written.
pub fn completions(dir: &Path, shells: &[Shell], layout: Layout) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for &shell in shells {
        // bash-completion loads a command's completion from a file named just after it.
        let (folder, bare_name) = match layout {
            Layout::Flat => (dir.to_path_buf(), false),
            Layout::Prefix => match shell {
                Shell::Bash => (dir.join("share/bash-completion/completions"), true),
                Shell::Zsh => (dir.join("share/zsh/site-functions"), false),
                Shell::Fish => (dir.join("share/fish/vendor_completions.d"), false),
                other => bail!("no standard folder for {other} completions"),
            },
        };
        fs::create_dir_all(&folder).with_context(|| format!("creating {}", folder.display()))?;
        for &Program { name, command } in PROGRAMS {
            let mut cmd = command().name(name);
            let path = clap_complete::generate_to(shell, &mut cmd, name, &folder)
                .with_context(|| format!("writing {shell} completions of {name}"))?;
            let path = if bare_name {
                let to = folder.join(name);
                fs::rename(&path, &to)?;
                to
            } else {
                path
            };
            written.push(path);
        }
    }
    Ok(written)
}
