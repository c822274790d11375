//! The python `etcd3` client from PyPI against oxcd (tests/python/*.py):
//! what a user of that library does with KV, leases, watches and locks
//! must work unchanged.
//!
//! `.ci/run` installs the client in a virtualenv at `target/pyenv`
//! (`OXCD_PYTHON` names another interpreter). Without it the test says it
//! did not run, and fails under `CI=true`.

// Real processes on real sockets.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{free_port, temp_dir, Server};

fn python() -> Option<PathBuf> {
    let p = std::env::var_os("OXCD_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python")
        });
    p.exists().then_some(p)
}

#[test]
fn python_etcd3_kv_leases_watch_and_lock() {
    let Some(py) = python() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "python etcd3 is required in CI: .ci/run installs it in target/pyenv"
        );
        eprintln!("PYTHON CLIENT TEST NOT RUN: no target/pyenv (see .ci/run)");
        return;
    };
    let dir = temp_dir("python");
    let port = free_port();
    let srv = Server::start(&dir, port, &[]);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/etcd3_client.py");
    let out = Command::new(py)
        .arg(script)
        .arg(port.to_string())
        // etcd3 0.12's generated code predates protobuf 4's C++ runtime.
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        .output()
        .expect("run python");
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "python etcd3 failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("all python etcd3 checks passed"),
        "{stdout}"
    );
}
