//! Bad input and abuse against auth, on oxcd and on the real etcd 3.4 (the
//! same assertions, so they are etcd's behaviour): malformed, unknown and
//! expired tokens, wrong passwords and unknown users, oversized auth
//! requests, and a burst of password guesses while a legitimate user keeps
//! writing. Each gets etcd's error (code and message), the server keeps
//! serving, and nothing stored is lost.
//!
//! The oracle is `/usr/bin/etcd` (or `OXCD_AUTH_SERVER=path`); missing, it
//! fails under `CI=true` or `OXCD_REQUIRE_DIFFERENTIAL=1` and is reported
//! as not run elsewhere.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::time::{Duration, Instant};

use common::{free_port, temp_dir, Server};
use oxcd::pb::etcdserverpb::auth_client::AuthClient;
use oxcd::pb::etcdserverpb::kv_client::KvClient;
use oxcd::pb::etcdserverpb::{
    AuthEnableRequest, AuthUserAddRequest, AuthUserGrantRoleRequest, AuthenticateRequest,
    PutRequest, RangeRequest,
};
use tonic::transport::Channel;
use tonic::{Code, Request};

/// Password guesses sent at once.
const GUESSES: usize = 64;

#[test]
fn auth_abuse_against_oxcd() {
    abuse(common::ETCD);
}

#[test]
fn auth_abuse_against_etcd_34() {
    let bin = std::env::var("OXCD_AUTH_SERVER").unwrap_or_else(|_| common::REAL_ETCD.into());
    if !common::real_etcd_present(&bin, "auth_abuse_against_etcd_34") {
        return;
    }
    abuse(&bin);
}

fn with_token<M>(m: M, token: &str) -> Request<M> {
    let mut r = Request::new(m);
    if let Ok(v) = token.parse() {
        r.metadata_mut().insert("token", v);
    }
    r
}

async fn login(ch: &Channel, name: &str, password: &str) -> Result<String, tonic::Status> {
    let req = AuthenticateRequest {
        name: name.into(),
        password: password.into(),
    };
    Ok(AuthClient::new(ch.clone())
        .authenticate(req)
        .await?
        .into_inner()
        .token)
}

fn status_of<T>(r: Result<T, tonic::Status>) -> (Code, String) {
    match r {
        Ok(_) => (Code::Ok, String::new()),
        Err(st) => (st.code(), st.message().to_string()),
    }
}

fn abuse(bin: &str) {
    let dir = temp_dir("auth-abuse");
    let (port, peer) = (free_port(), free_port());
    // A short token TTL, to see a token expire.
    let mut server = Server::spawn_bin(
        bin,
        None,
        &dir,
        port,
        peer,
        &[
            "--auth-token=simple",
            "--auth-token-ttl=2",
            "--bcrypt-cost=4",
        ],
    );
    server.wait_ready();
    let rt = common::runtime();
    rt.block_on(async {
        let ch = Channel::from_shared(server.endpoint())
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut auth = AuthClient::new(ch.clone());
        for (name, pw) in [("root", "rootpw"), ("alice", "alicepw")] {
            auth.user_add(AuthUserAddRequest {
                name: name.into(),
                password: pw.into(),
                ..Default::default()
            })
            .await
            .unwrap();
        }
        auth.user_grant_role(AuthUserGrantRoleRequest {
            user: "root".into(),
            role: "root".into(),
        })
        .await
        .unwrap();
        auth.auth_enable(AuthEnableRequest {}).await.unwrap();
        let root = login(&ch, "root", "rootpw").await.unwrap();
        let mut kv = KvClient::new(ch.clone());
        let put = |k: &str| PutRequest {
            key: k.into(),
            value: b"v".to_vec(),
            ..Default::default()
        };
        kv.put(with_token(put("before"), &root)).await.unwrap();

        // Wrong password, unknown user: the same answer, nothing told apart.
        let failed = (
            Code::InvalidArgument,
            "etcdserver: authentication failed, invalid user ID or password".to_string(),
        );
        assert_eq!(status_of(login(&ch, "root", "nope").await), failed);
        assert_eq!(status_of(login(&ch, "mallory", "x").await), failed);
        assert_eq!(status_of(login(&ch, "", "").await), failed);

        // Malformed and unknown tokens.
        let invalid = (
            Code::Unauthenticated,
            "etcdserver: invalid auth token".to_string(),
        );
        // (Not `<letters>.<index>`: etcd 3.4 waits, without a deadline, for
        // that raft index to be applied before it even looks the token up.)
        for bad in ["garbage", "not-a-token", ""] {
            let r = kv
                .range(with_token(
                    RangeRequest {
                        key: b"before".to_vec(),
                        ..Default::default()
                    },
                    bad,
                ))
                .await;
            // An empty token too is a token, and an invalid one.
            assert_eq!(status_of(r), invalid, "token {bad:?}");
        }

        // An expired token: unused for longer than --auth-token-ttl.
        let alice = login(&ch, "alice", "alicepw").await.unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        let r = kv
            .range(with_token(
                RangeRequest {
                    key: b"before".to_vec(),
                    ..Default::default()
                },
                &alice,
            ))
            .await;
        assert_eq!(status_of(r), invalid, "an expired token");

        // Oversized auth requests: over the transport's limit, and over
        // --max-request-bytes (1.5 MiB) but within it.
        let root = login(&ch, "root", "rootpw").await.unwrap();
        let huge = AuthUserAddRequest {
            name: "x".repeat(3 << 20),
            password: "p".into(),
            ..Default::default()
        };
        let (code, msg) = status_of(auth.user_add(with_token(huge, &root)).await);
        assert_eq!(code, Code::ResourceExhausted, "{msg}");
        assert!(
            msg.starts_with("grpc: received message larger than max ("),
            "{msg}"
        );
        let big = AuthUserAddRequest {
            name: "y".repeat(1600 << 10),
            password: "p".into(),
            ..Default::default()
        };
        assert_eq!(
            status_of(auth.user_add(with_token(big, &root)).await),
            (
                Code::InvalidArgument,
                "etcdserver: request is too large".to_string()
            )
        );

        // A burst of password guesses while root keeps writing: every guess
        // fails as any wrong password does, and every write goes in.
        let started = Instant::now();
        let guesses: Vec<_> = (0..GUESSES)
            .map(|i| {
                let ch = ch.clone();
                tokio::spawn(
                    async move { status_of(login(&ch, "root", &format!("guess{i}")).await) },
                )
            })
            .collect();
        let mut slowest = Duration::ZERO;
        for i in 0..20 {
            let t = Instant::now();
            kv.put(with_token(put(&format!("during/{i}")), &root))
                .await
                .unwrap();
            slowest = slowest.max(t.elapsed());
        }
        for g in guesses {
            assert_eq!(g.await.unwrap(), failed);
        }
        eprintln!(
            "{bin}: {GUESSES} guesses in {:?}; slowest of 20 puts meanwhile {slowest:?}",
            started.elapsed()
        );
        assert!(slowest < Duration::from_secs(3), "a put took {slowest:?}");

        // Nothing stored was lost, and the right password still works.
        let root = login(&ch, "root", "rootpw").await.unwrap();
        let r = kv
            .range(with_token(
                RangeRequest {
                    key: b"before".to_vec(),
                    ..Default::default()
                },
                &root,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.kvs.len(), 1);
        let r = kv
            .range(with_token(
                RangeRequest {
                    key: b"during/".to_vec(),
                    range_end: b"during0".to_vec(),
                    count_only: true,
                    ..Default::default()
                },
                &root,
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(r.count, 20);
    });
    server.terminate();
}
