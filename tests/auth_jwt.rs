//! JWT tokens (`--auth-token jwt,pub-key=…,priv-key=…,sign-method=…`) on
//! oxcd and on the real etcd 3.4 with the same keys: the same answers to
//! the same steps (a token that works, a tampered one, one gone old with an
//! auth change, a bad sign method at start-up), and a token signed by one
//! server accepted by the other, which is what the shared key promises.
//! Keys come from `openssl` (RSA 2048 and EC P-256), made in the test.
//!
//! The oracle is `/usr/bin/etcd`; missing, it fails under `CI=true` or
//! `OXCD_REQUIRE_DIFFERENTIAL=1` and is reported as not run elsewhere.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{free_port, temp_dir, Server};
use oxcd::pb::etcdserverpb::auth_client::AuthClient;
use oxcd::pb::etcdserverpb::kv_client::KvClient;
use oxcd::pb::etcdserverpb::{
    AuthEnableRequest, AuthRoleAddRequest, AuthUserAddRequest, AuthUserGrantRoleRequest,
    AuthenticateRequest, PutRequest, RangeRequest,
};
use tonic::transport::Channel;
use tonic::Request;

use common::REAL_ETCD;

fn openssl(dir: &Path, args: &[&str]) {
    let ok = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl")
        .status
        .success();
    assert!(ok, "openssl {args:?}");
}

/// `(sign-method, private key, public key)` files in `dir`.
fn keys(dir: &Path) -> Vec<(&'static str, String, String)> {
    openssl(dir, &["genrsa", "-out", "rsa.key", "2048"]);
    openssl(
        dir,
        &["rsa", "-in", "rsa.key", "-pubout", "-out", "rsa.pub"],
    );
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ec.sec1",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "ec.sec1", "-out", "ec.key",
        ],
    );
    openssl(dir, &["ec", "-in", "ec.key", "-pubout", "-out", "ec.pub"]);
    let f = |n: &str| dir.join(n).display().to_string();
    vec![
        ("RS256", f("rsa.key"), f("rsa.pub")),
        ("ES256", f("ec.key"), f("ec.pub")),
    ]
}

fn with_token<M>(m: M, token: &str) -> Request<M> {
    let mut r = Request::new(m);
    r.metadata_mut().insert("token", token.parse().unwrap());
    r
}

fn outcome<T>(r: Result<T, tonic::Status>) -> String {
    match r {
        Ok(_) => "OK".into(),
        Err(st) => format!("{:?}: {}", st.code(), st.message()),
    }
}

struct Run {
    /// Killed when the run is dropped.
    _server: Server,
    ch: Channel,
}

/// A server with JWT tokens, root and auth enabled.
async fn start(bin: &str, method: &str, private: &str, public: &str) -> Run {
    let dir = temp_dir("auth-jwt");
    let flag = format!("--auth-token=jwt,pub-key={public},priv-key={private},sign-method={method}");
    let server = Server::spawn_bin(bin, None, &dir, free_port(), free_port(), &[&flag]);
    server.wait_ready();
    let ch = Channel::from_shared(server.endpoint())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut auth = AuthClient::new(ch.clone());
    auth.user_add(AuthUserAddRequest {
        name: "root".into(),
        password: "rootpw".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    auth.user_grant_role(AuthUserGrantRoleRequest {
        user: "root".into(),
        role: "root".into(),
    })
    .await
    .unwrap();
    auth.auth_enable(AuthEnableRequest {}).await.unwrap();
    Run {
        _server: server,
        ch,
    }
}

async fn login(ch: &Channel) -> String {
    AuthClient::new(ch.clone())
        .authenticate(AuthenticateRequest {
            name: "root".into(),
            password: "rootpw".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .token
}

async fn put(ch: &Channel, token: &str) -> String {
    let req = PutRequest {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
        ..Default::default()
    };
    outcome(KvClient::new(ch.clone()).put(with_token(req, token)).await)
}

/// The steps on one server: what each answered.
async fn steps(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    let token = login(&run.ch).await;
    let parts: Vec<&str> = token.split('.').collect();
    out.push(format!("a JWT of {} parts", parts.len()));
    out.push(format!("put: {}", put(&run.ch, &token).await));
    let get = RangeRequest {
        key: b"k".to_vec(),
        ..Default::default()
    };
    let r = KvClient::new(run.ch.clone())
        .range(with_token(get, &token))
        .await
        .map(|r| r.into_inner().kvs.len());
    out.push(format!("get: {r:?}").replace('\n', " "));
    // A signature that does not verify: one of its characters changed
    // (not the last, whose low bits base64 decoders may ignore).
    let mut bad = token.clone().into_bytes();
    let i = bad.len() - 10;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let bad = String::from_utf8(bad).unwrap();
    out.push(format!("tampered: {}", put(&run.ch, &bad).await));
    out.push(format!("garbage: {}", put(&run.ch, "a.b.c").await));
    // An auth change: the token names an older revision now.
    let add = AuthRoleAddRequest { name: "r".into() };
    let r = AuthClient::new(run.ch.clone())
        .role_add(with_token(add, &token))
        .await;
    out.push(format!("role add: {}", outcome(r)));
    out.push(format!("after the change: {}", put(&run.ch, &token).await));
    let fresh = login(&run.ch).await;
    out.push(format!("a fresh token: {}", put(&run.ch, &fresh).await));
    out
}

#[test]
fn jwt_tokens_as_etcd_34_makes_them() {
    let have_etcd = common::real_etcd_present(REAL_ETCD, "the JWT comparison with etcd 3.4");
    let dir = temp_dir("auth-jwt-keys");
    let rt = common::runtime();
    for (method, private, public) in keys(&dir) {
        rt.block_on(async {
            let ours = start(common::ETCD, method, &private, &public).await;
            let got = steps(&ours).await;
            eprintln!("{method} on oxcd: {got:#?}");
            assert_eq!(got[0], "a JWT of 3 parts");
            assert_eq!(got[1], "put: OK");
            assert!(got[3].contains("invalid auth token"), "{got:?}");
            assert!(got[6].contains("revision of auth store is old"), "{got:?}");
            if !have_etcd {
                return;
            }
            let theirs = start(REAL_ETCD, method, &private, &public).await;
            assert_eq!(
                steps(&theirs).await,
                got,
                "{method}: etcd 3.4 answered otherwise"
            );
            // Same key, same auth revision (the same steps): a token one
            // server signed works on the other.
            let from_etcd = login(&theirs.ch).await;
            let from_oxcd = login(&ours.ch).await;
            assert_eq!(
                put(&ours.ch, &from_etcd).await,
                "OK",
                "{method}: etcd's token on oxcd"
            );
            assert_eq!(
                put(&theirs.ch, &from_oxcd).await,
                "OK",
                "{method}: oxcd's token on etcd"
            );
            drop(theirs);
        });
    }
    // A sign method etcd does not know ends start-up, on both.
    for bin in [common::ETCD, REAL_ETCD] {
        if !Path::new(bin).exists() {
            continue;
        }
        let d = temp_dir("auth-jwt-bad");
        let (private, public) = (dir.join("rsa.key"), dir.join("rsa.pub"));
        let flag = format!(
            "--auth-token=jwt,pub-key={},priv-key={},sign-method=XX999",
            public.display(),
            private.display()
        );
        let o = Command::new(bin)
            .current_dir(&d)
            .args([
                &flag,
                "--listen-client-urls=http://127.0.0.1:0",
                "--advertise-client-urls=http://127.0.0.1:0",
                "--listen-peer-urls=http://127.0.0.1:0",
            ])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{bin} started: {err}");
        assert!(
            err.contains("auth: invalid auth signature method"),
            "{bin}: {err}"
        );
    }
}
