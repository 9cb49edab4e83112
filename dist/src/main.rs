//! `xfr-dist`: writes the man pages and shell completions of xfrd's programs (the library,
//! `xfr_dist`, says how).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand, ValueEnum};
use xfr_dist::{completions, man_pages, Layout, Shell, SHELLS_DEFAULT};

#[derive(Parser, Debug)]
#[command(
    name = "xfr-dist",
    version,
    about = "Write the man pages and shell completions of xfrd, xfr-zone, xfr-frontend and xfr-bench"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Man pages (section 1) into DIR: one per program and one per subcommand (xfrd-serve.1).
    Man {
        /// The folder to write into (created if missing).
        dir: PathBuf,
    },
    /// Completion scripts into DIR: NAME.bash, _NAME (zsh), NAME.fish...
    Completions {
        /// The folder to write into (created if missing).
        dir: PathBuf,
        /// Shells to write for (repeatable; default: bash, zsh and fish).
        #[arg(long, value_enum)]
        shell: Vec<ShellArg>,
    },
    /// Both, laid out under PREFIX where man and the shells look: share/man/man1,
    /// share/bash-completion/completions, share/zsh/site-functions,
    /// share/fish/vendor_completions.d.
    Install {
        /// Usually /usr/local (or a staging folder for a package).
        prefix: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ShellArg {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

impl From<ShellArg> for Shell {
    fn from(s: ShellArg) -> Shell {
        match s {
            ShellArg::Bash => Shell::Bash,
            ShellArg::Zsh => Shell::Zsh,
            ShellArg::Fish => Shell::Fish,
            ShellArg::Elvish => Shell::Elvish,
            ShellArg::Powershell => Shell::PowerShell,
        }
    }
}

fn main() -> Result<()> {
    let written = match Cli::parse().command {
        Cmd::Man { dir } => man_pages(&dir)?,
        Cmd::Completions { dir, shell } => {
            let shells: Vec<Shell> = if shell.is_empty() {
                SHELLS_DEFAULT.to_vec()
            } else {
                shell.into_iter().map(Shell::from).collect()
            };
            completions(&dir, &shells, Layout::Flat)?
        }
        Cmd::Install { prefix } => {
            let mut w = man_pages(&prefix.join("share/man/man1"))?;
            w.extend(completions(&prefix, &SHELLS_DEFAULT, Layout::Prefix)?);
            w
        }
    };
    let mut out = std::io::stdout().lock();
    for path in written {
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}
