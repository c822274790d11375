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

/// Runs `tests/python/<script>` with `args`; `None` when no interpreter
/// with the clients is installed (allowed outside CI only).
fn run_python(script: &str, args: &[String]) -> Option<String> {
    let Some(py) = python() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(
            !ci,
            "the python clients are required in CI: .ci/run installs them in target/pyenv"
        );
        eprintln!("PYTHON CLIENT TEST NOT RUN: no target/pyenv (see .ci/run)");
        return None;
    };
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new(py)
        .arg(path)
        .args(args)
        // etcd3 0.12's generated code predates protobuf 4's C++ runtime.
        .env("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    Some(stdout)
}

#[test]
fn python_etcd3_kv_leases_watch_and_lock() {
    let dir = temp_dir("python");
    let port = free_port();
    let srv = Server::start(&dir, port, &[]);
    let out = run_python("etcd3_client.py", &[port.to_string()]);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(stdout) = out {
        assert!(
            stdout.contains("all python etcd3 checks passed"),
            "{stdout}"
        );
    }
}

/// OpenStack's etcd3gw talks to the JSON gateway (`/v3/…`) only.
#[test]
fn python_etcd3gw_through_the_json_gateway() {
    let dir = temp_dir("etcd3gw");
    let port = free_port();
    let srv = Server::start(&dir, port, &[]);
    let out = run_python("etcd3gw_client.py", &[port.to_string()]);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(stdout) = out {
        assert!(stdout.contains("all etcd3gw checks passed"), "{stdout}");
    }
}

/// `/metrics` on the client port and on `--listen-metrics-urls`, read by
/// the Prometheus client library's own parser after some traffic.
#[test]
fn prometheus_parses_metrics_with_etcds_dashboard_names() {
    let dir = temp_dir("metrics");
    let (port, metrics_port) = (free_port(), free_port());
    let metrics_url = format!("http://127.0.0.1:{metrics_port}");
    let srv = Server::start(&dir, port, &["--listen-metrics-urls", &metrics_url]);
    for i in 0..20 {
        let o = srv.ctl(&["put", &format!("k{i}"), "v"]);
        assert!(o.status.success(), "{o:?}");
    }
    let out = run_python(
        "prometheus_scrape.py",
        &[format!("http://127.0.0.1:{port}"), metrics_url],
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(stdout) = out {
        assert!(stdout.contains("metrics parsed"), "{stdout}");
    }
}

/// python-etcd speaks the v2 API (`--enable-v2`): keys, directories,
/// in-order keys, CAS, watches and TTL expiry.
#[test]
fn python_etcd_v2_keys_watch_and_ttl() {
    let dir = temp_dir("python-etcd");
    let port = free_port();
    let srv = Server::start(&dir, port, &["--enable-v2"]);
    let out = run_python("python_etcd_client.py", &[port.to_string()]);
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some(stdout) = out {
        assert!(stdout.contains("all python-etcd checks passed"), "{stdout}");
    }
}
