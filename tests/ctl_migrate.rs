//! `etcdctl migrate` against etcd 3.4.23: the same v2 history (a key set
//! twice, a directory, a TTL key, a hidden key, an empty directory) and a
//! v3 key, on a real etcd and on oxcd; each stopped and migrated with its
//! own etcdctl (the real one reads etcd's WAL and bbolt file, ours oxcd's
//! backend), with and without `--no-ttl`, then restarted: what `migrate`
//! prints, the v3 keys with their revisions, and the revision of the next
//! write must be the same.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;

use common::{free_port, real_etcd_present, temp_dir, Server, ETCD, ETCDCTL, REAL_ETCD};

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

/// A v2 `PUT` of a form body, as curl sends it; the response's body.
fn v2_put(port: u16, path: &str, form: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "PUT /v2/keys{path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out.split_once("\r\n\r\n")
        .map_or(out.clone(), |(_, b)| b.to_string())
}

/// Runs `ctl` with `args` against `port`: exit code, stdout, stderr.
fn run(ctl: &str, port: u16, args: &[&str]) -> (i32, String, String) {
    common::etcdctl_at(ctl, port, args)
}

/// Starts `bin` on `dir` (its `default.etcd`), v2 on.
fn start(bin: &str, dir: &Path, port: u16) -> Server {
    let s = Server::spawn_bin(bin, None, dir, port, free_port(), &["--enable-v2"]);
    s.wait_ready();
    s
}

/// What one server and its etcdctl make of the history: `migrate`'s
/// output (without the zap lines etcd's membership logs to stdout while
/// it replays its WAL), then the keys and the next write's header.
fn migrated(bin: &str, ctl: &str, no_ttl: bool) -> Vec<String> {
    let dir = temp_dir("ctl-migrate");
    let port = free_port();
    let mut srv = start(bin, &dir, port);
    for (path, form) in [
        ("/foo", "value=bar"),
        ("/dir/a", "value=1"),
        ("/foo", "value=baz"),
        ("/ttlkey", "value=t&ttl=1000"),
        ("/_hidden", "value=h"),
        ("/emptydir", "dir=true"),
    ] {
        let body = v2_put(port, path, form);
        assert!(body.contains("\"action\":\"set\""), "{path}: {body}");
    }
    assert_eq!(run(ctl, port, &["put", "v3key", "v3val"]).0, 0);
    srv.terminate();

    let data = dir.join("default.etcd");
    let mut args = vec!["migrate", "--data-dir", data.to_str().unwrap()];
    if no_ttl {
        args.push("--no-ttl");
    }
    let (code, out, err) = run(ctl, port, &args);
    let mut seen = vec![format!("migrate exit {code}, stderr {err:?}")];
    seen.extend(
        out.lines()
            .filter(|l| !l.starts_with('{'))
            .map(str::to_string),
    );

    let mut srv = start(bin, &dir, port);
    let (_, keys, _) = run(ctl, port, &["get", "", "--prefix", "-w", "json"]);
    let (_, next, _) = run(ctl, port, &["put", "after", "x", "-w", "json"]);
    seen.push(without_ids(&keys));
    seen.push(without_ids(&next));
    srv.terminate();
    let _ = std::fs::remove_dir_all(&dir);
    seen
}

/// A response header's ids and term, which belong to the server.
fn without_ids(json: &str) -> String {
    let mut s = json.to_string();
    for key in ["\"cluster_id\":", "\"member_id\":", "\"raft_term\":"] {
        if let Some(at) = s.find(key) {
            let from = at + key.len();
            let to = from + s[from..].find(|c: char| !c.is_ascii_digit()).unwrap_or(0);
            s.replace_range(from..to, "N");
        }
    }
    s
}

#[test]
fn migrate_as_etcd() {
    if !real_etcd_present(REAL_ETCD, "ctl_migrate") {
        return;
    }
    for no_ttl in [false, true] {
        let real = migrated(REAL_ETCD, REAL_ETCDCTL, no_ttl);
        let ours = migrated(ETCD, ETCDCTL, no_ttl);
        assert_eq!(
            ours, real,
            "migrate (--no-ttl={no_ttl}): oxcd, then etcd 3.4"
        );
        // The keys as etcd's migrate writes them: the TTL key unless
        // `--no-ttl`, no directory, no hidden key, the v3 key kept.
        let keys = &real[real.len() - 2];
        assert_eq!(keys.contains("\"key\":\"L3R0bGtleQ==\""), !no_ttl, "{keys}");
        assert!(
            keys.contains(
                "\"key\":\"L2Zvbw==\",\"create_revision\":6,\"mod_revision\":6,\"version\":1"
            ),
            "{keys}"
        );
    }
}

/// A transformer that fails: etcdctl says so and exits with its status.
#[test]
fn a_failing_transformer_is_reported() {
    let dir = temp_dir("ctl-migrate-transformer");
    let port = free_port();
    let mut srv = start(ETCD, &dir, port);
    v2_put(port, "/k", "value=v");
    srv.terminate();
    let script = dir.join("transform.sh");
    std::fs::write(&script, "#!/bin/sh\ncat >/dev/null\nexit 3\n").unwrap();
    let _ = std::process::Command::new("chmod")
        .arg("+x")
        .arg(&script)
        .status();
    let data = dir.join("default.etcd");
    let (code, out, err) = run(
        ETCDCTL,
        port,
        &[
            "migrate",
            "--data-dir",
            data.to_str().unwrap(),
            "--transformer",
            script.to_str().unwrap(),
        ],
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (1, "failed to transform keys\n", "Error: exit status 3\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}
