//! The etcd tutorial's first steps against a fresh `etcd`, with our etcdctl,
//! plus the client port's HTTP endpoints and a clean SIGTERM stop.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{free_port, stdout, temp_dir, Server};

fn http_get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn tutorial_transcript() {
    let dir = temp_dir("tutorial");
    let port = free_port();
    let mut srv = Server::start(&dir, port, &[]);

    let o = srv.ctl(&["member", "list"]);
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        format!("8e9e05c52164694d, started, default, http://localhost:2380, http://127.0.0.1:{port}, false\n")
    );
    let o = srv.ctl(&["put", "testkey", "hello world"]);
    assert_eq!(stdout(&o), "OK\n");
    let o = srv.ctl(&["get", "testkey"]);
    assert_eq!(stdout(&o), "testkey\nhello world\n");
    assert!(
        dir.join("default.etcd/member/wal").is_dir(),
        "etcd's data dir layout"
    );

    let v = http_get(port, "/version");
    assert!(v.starts_with("HTTP/1.1 200 OK"), "{v}");
    assert!(
        v.ends_with("{\"etcdserver\":\"3.4.23\",\"etcdcluster\":\"3.4.0\"}"),
        "{v}"
    );
    let h = http_get(port, "/health");
    assert!(h.ends_with("{\"health\":\"true\"}"), "{h}");
    assert!(http_get(port, "/nope").starts_with("HTTP/1.1 404"));

    // A clean stop, then a restart that finds the data.
    assert_eq!(srv.terminate(), Some(143));
    let srv = Server::start(&dir, port, &[]);
    assert_eq!(
        stdout(&srv.ctl(&["get", "testkey"])),
        "testkey\nhello world\n"
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unimplemented_rpcs_name_themselves() {
    let dir = temp_dir("unimpl");
    let srv = Server::start(&dir, free_port(), &[]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ep = srv.endpoint();
    let st = rt.block_on(async move {
        let mut c = oxcd::pb::etcdserverpb::maintenance_client::MaintenanceClient::connect(ep)
            .await
            .unwrap();
        c.downgrade(oxcd::pb::etcdserverpb::DowngradeRequest::default())
            .await
            .unwrap_err()
    });
    assert_eq!(st.code(), tonic::Code::Unimplemented);
    assert!(
        st.message().contains("Maintenance.Downgrade"),
        "{}",
        st.message()
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_are_refused_like_etcd() {
    let o = std::process::Command::new(common::ETCD)
        .arg("--bogus")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with("flag provided but not defined: -bogus\nUsage:\n"),
        "{err}"
    );
    let o = std::process::Command::new(common::ETCD)
        .arg("--max-request-bytes=lots")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .starts_with("invalid value \"lots\" for flag -max-request-bytes: parse error"));
}

/// As etcd 3.4: once the data dir has a WAL, the member is the one its data
/// says; `--initial-cluster*` flags (here another token) are ignored, and
/// what it stored is still there. (Found by jepsen/: a member added with
/// MemberAdd, then restarted with the cluster's original flags, refused.)
#[test]
fn a_restart_takes_its_identity_from_the_data_dir_not_the_flags() {
    let dir = temp_dir("otherdir");
    let port = free_port();
    let data = dir.join("d");
    let data_flag = format!("--data-dir={}", data.display());
    let mut srv = Server::start(&dir, port, &[&data_flag, "--initial-cluster-token=one"]);
    let put = srv.ctl(&["put", "kept", "yes"]);
    assert!(put.status.success(), "{put:?}");
    let id = |s: &Server| {
        let o = s.ctl(&["member", "list", "-w", "fields"]);
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .find(|l| l.starts_with("\"ID\""))
            .map(str::to_string)
    };
    let before = id(&srv);
    assert!(before.is_some(), "member list shows an ID");
    assert_eq!(srv.terminate(), Some(143));
    let mut srv = Server::start(&dir, port, &[&data_flag, "--initial-cluster-token=two"]);
    let got = srv.ctl(&["get", "kept", "--print-value-only"]);
    assert_eq!(String::from_utf8_lossy(&got.stdout), "yes\n");
    assert_eq!(id(&srv), before, "the same member");
    assert_eq!(srv.terminate(), Some(143));
    let _ = std::fs::remove_dir_all(&dir);
}

/// The tutorial's v2 lines against `etcd --enable-v2`, with our etcdctl in
/// v2 mode and curl's request, answered as etcd 3.4 answers them (a fresh
/// member's v2 index is 3, so the failed update names index 5).
#[test]
fn tutorial_v2_lines() {
    let dir = temp_dir("tutorial-v2");
    let port = free_port();
    let srv = Server::start(&dir, port, &["--enable-v2"]);
    let v2 = |args: &[&str]| {
        std::process::Command::new(common::ETCDCTL)
            .env("ETCDCTL_API", "2")
            .arg(format!("--endpoints=http://127.0.0.1:{port}"))
            .args(args)
            .output()
            .unwrap()
    };
    let o = v2(&["set", "testkey", "hello"]);
    assert_eq!((stdout(&o).as_str(), o.status.code()), ("hello\n", Some(0)));
    let o = v2(&["update", "testkey", "world"]);
    assert_eq!((stdout(&o).as_str(), o.status.code()), ("world\n", Some(0)));
    let o = v2(&["update", "testkey2", "world"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "Error:  100: Key not found (/testkey2) [5]\n"
    );
    assert_eq!(o.status.code(), Some(4));
    let r = http_get(port, "/v2/keys/testkey");
    assert!(r.starts_with("HTTP/1.1 200 OK"), "{r}");
    assert!(
        r.ends_with(
            "{\"action\":\"get\",\"node\":{\"key\":\"/testkey\",\"value\":\"world\",\"modifiedIndex\":5,\"createdIndex\":4}}\n"
        ),
        "{r}"
    );
    drop(srv);
    let _ = std::fs::remove_dir_all(&dir);
}
