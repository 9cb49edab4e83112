//! `xfr-dist` run as a user runs it: every program's man pages hold every flag and render with
//! man and groff without a warning; the completions parse in bash, zsh and fish, and bash's
//! completes a real command line; `install` lays them out where man and the shells look.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use xfr_dist::PROGRAMS;
use xfrd_tests::require_program;

fn xfr_dist(args: &[&std::ffi::OsStr]) -> Vec<PathBuf> {
    let out = Command::new(env!("CARGO_BIN_EXE_xfr-dist"))
        .args(args)
        .output()
        .expect("run xfr-dist");
    assert!(
        out.status.success(),
        "xfr-dist {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect()
}

fn names(files: &[PathBuf]) -> BTreeSet<String> {
    files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Every (sub)command of every program, with its page name (`xfrd-serve`) and its long flags.
fn commands() -> Vec<(String, Vec<String>)> {
    fn walk(cmd: &clap::Command, page: String, out: &mut Vec<(String, Vec<String>)>) {
        let flags = cmd
            .get_arguments()
            .filter(|a| !a.is_hide_set())
            .filter_map(|a| a.get_long().map(str::to_string))
            .collect();
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() != "help" {
                walk(sub, format!("{page}-{}", sub.get_name()), out);
            }
        }
        out.push((page, flags));
    }
    let mut out = Vec::new();
    for p in PROGRAMS {
        let mut cmd = (p.command)();
        cmd.build();
        walk(&cmd, p.name.to_string(), &mut out);
    }
    out
}

#[test]
fn man_pages_hold_every_flag_of_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let files = xfr_dist(&["man".as_ref(), dir.path().as_os_str()]);
    let got = names(&files);
    for page in [
        "xfrd.1",
        "xfrd-serve.1",
        "xfr-zone.1",
        "xfr-zone-compile.1",
        "xfr-bench.1",
    ] {
        assert!(got.contains(page), "{page} not written: {got:?}");
    }
    assert!(
        !got.contains("xfrd-help.1"),
        "a page for clap's help: {got:?}"
    );
    let commands = commands();
    assert_eq!(got.len(), commands.len(), "{got:?}");
    for (page, flags) in &commands {
        let text = std::fs::read_to_string(dir.path().join(format!("{page}.1"))).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{page}: no roff"
        );
        for flag in flags {
            // roff writes a hyphen that must stay one as `\-`.
            let roff = format!("--{flag}").replace('-', "\\-");
            assert!(text.contains(&roff), "{page}.1 lacks --{flag}");
        }
    }
    let serve = std::fs::read_to_string(dir.path().join("xfrd-serve.1")).unwrap();
    for flag in ["store\\-dir", "log\\-format", "config", "listen", "handoff"] {
        assert!(
            serve.contains(&format!("\\-\\-{flag}")),
            "xfrd-serve.1: {flag}"
        );
    }
    assert!(
        serve.contains("SEE ALSO") && serve.contains("\\fBxfrd\\fR(1)"),
        "{serve}"
    );
}

#[test]
fn man_pages_render_without_warnings() {
    let (Some(man), Some(groff)) = (require_program("man"), require_program("groff")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for page in xfr_dist(&["man".as_ref(), dir.path().as_os_str()]) {
        // groff with every warning on, output discarded: what it says is what is wrong.
        let out = Command::new(&groff)
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff on {}: {}",
            page.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = Command::new(&man)
        .arg("-l")
        .arg(dir.path().join("xfrd-serve.1"))
        .env("LC_ALL", "C")
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "man -l: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in [
        "xfrd-serve",
        "SYNOPSIS",
        "--store-dir <DIR>",
        "--log-format <FORMAT>",
        "json",
    ] {
        assert!(text.contains(needle), "man -l lacks {needle:?}:\n{text}");
    }
}

fn run_ok(program: &Path, args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{} {args:?}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_parse_and_bash_completes_the_flags() {
    let dir = tempfile::tempdir().unwrap();
    let files = names(&xfr_dist(&["completions".as_ref(), dir.path().as_os_str()]));
    for name in PROGRAMS.iter().map(|p| p.name) {
        for file in [
            format!("{name}.bash"),
            format!("_{name}"),
            format!("{name}.fish"),
        ] {
            assert!(files.contains(&file), "{file} not written: {files:?}");
            let text = std::fs::read_to_string(dir.path().join(&file)).unwrap();
            assert!(text.contains(name), "{file} does not name {name}");
        }
    }
    for file in ["xfrd.bash", "_xfrd", "xfrd.fish"] {
        let text = std::fs::read_to_string(dir.path().join(file)).unwrap();
        assert!(text.contains("store-dir"), "{file} lacks --store-dir");
    }

    let bash = require_program("bash").expect("bash");
    for name in PROGRAMS.iter().map(|p| p.name) {
        let file = dir.path().join(format!("{name}.bash"));
        run_ok(&bash, &["-n".as_ref(), file.as_os_str()]);
    }
    // Sourced, and asked as bash-completion asks: COMP_WORDS, COMP_CWORD, then the function
    // with (command, word, previous word).
    let script = format!(
        "source {}\n\
         COMP_WORDS=(xfrd serve --sto); COMP_CWORD=2; _xfrd xfrd --sto serve\n\
         echo \"1:${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(xfrd serve --log-format ''); COMP_CWORD=3; _xfrd xfrd '' --log-format\n\
         echo \"2:${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(xfrd ''); COMP_CWORD=1; _xfrd xfrd '' xfrd\n\
         echo \"3:${{COMPREPLY[*]}}\"\n",
        dir.path().join("xfrd.bash").display()
    );
    let out = run_ok(&bash, &["-c".as_ref(), script.as_ref()]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1:--store-dir", "{out}");
    assert_eq!(lines[1], "2:text json", "{out}");
    assert!(lines[2].split_whitespace().any(|w| w == "serve"), "{out}");

    if let Some(zsh) = require_program("zsh") {
        for name in PROGRAMS.iter().map(|p| p.name) {
            let file = dir.path().join(format!("_{name}"));
            run_ok(&zsh, &["-n".as_ref(), file.as_os_str()]);
        }
    }
    if let Some(fish) = require_program("fish") {
        for name in PROGRAMS.iter().map(|p| p.name) {
            let file = dir.path().join(format!("{name}.fish"));
            run_ok(&fish, &["--no-execute".as_ref(), file.as_os_str()]);
        }
    }
}

#[test]
fn install_lays_files_out_where_man_and_the_shells_look() {
    let prefix = tempfile::tempdir().unwrap();
    let files = xfr_dist(&["install".as_ref(), prefix.path().as_os_str()]);
    for path in [
        "share/man/man1/xfrd.1",
        "share/man/man1/xfrd-serve.1",
        "share/man/man1/xfr-zone-gen.1",
        "share/bash-completion/completions/xfrd",
        "share/bash-completion/completions/xfr-zone",
        "share/zsh/site-functions/_xfrd",
        "share/fish/vendor_completions.d/xfrd.fish",
    ] {
        let full = prefix.path().join(path);
        assert!(full.is_file(), "{path} missing");
        assert!(files.contains(&full), "{path} not listed");
    }
    if let Some(man) = require_program("man") {
        // man finds the page by name once MANPATH holds the prefix's share/man.
        let out = Command::new(man)
            .args(["-w", "xfrd-serve"])
            .env("MANPATH", prefix.path().join("share/man"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("man1/xfrd-serve.1"));
    }
}
