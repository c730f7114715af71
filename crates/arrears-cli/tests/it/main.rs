//! Integration tests of the `arrears` binary (one test binary; modules by feature).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failure is the report

mod agency;
mod bad_input;
mod bureau;
mod cases;
mod channels;
mod cli;
mod demo;
mod evidence;
mod late_scenario;
mod legal;
mod lifecycle_rules;
mod one_system;
mod pages;
mod plan;
mod policy;
mod sale;
mod server;
mod settle;
mod store;
mod work;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn arrears(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(args)
        .output()
        .expect("the arrears binary runs")
}

/// `arrears ARGS` with `line` (and a newline) on standard input, e.g. a password for
/// `--password-stdin`: (success, stdout, stderr).
pub fn arrears_with_stdin(args: &[&str], line: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut c = Command::new(env!("CARGO_BIN_EXE_arrears"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the arrears binary runs");
    // A refused argument ends the command before it reads: the pipe may be closed.
    if let Some(mut stdin) = c.stdin.take() {
        let _ = stdin.write_all(format!("{line}\n").as_bytes());
    }
    let o = c.wait_with_output().expect("the arrears binary ends");
    (o.status.success(), text(&o.stdout), text(&o.stderr))
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

pub fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

/// Writes a small portfolio folder from (file name, content) pairs.
pub fn portfolio(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write portfolio file");
    }
    dir
}
