//! HTTPS on the client and peer ports, with certificates made here (rcgen)
//! and checked with the real etcdctl 3.4 (`/usr/bin/etcdctl`): client
//! certificate auth with a CRL, certificates of another CA and plain HTTP
//! refused while the server keeps serving, auto TLS, a three-member cluster
//! over peer TLS with peer client-cert auth, and etcd's start-up refusals.
#![allow(clippy::disallowed_methods)] // real processes: real time

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{free_port, stdout, temp_dir, Server, ETCD};
use oxcd::pb::etcdserverpb::{kv_client::KvClient, PutRequest, RangeRequest};
use oxcd::rt::net::ClientTls;
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

/// The real etcdctl, or `None` (the test is skipped) where it is missing
/// and CI does not require it.
fn real_etcdctl() -> Option<&'static str> {
    if Path::new(REAL_ETCDCTL).exists() {
        return Some(REAL_ETCDCTL);
    }
    assert!(
        std::env::var_os("OXCD_REQUIRE_DIFFERENTIAL").is_none(),
        "{REAL_ETCDCTL} is required"
    );
    eprintln!("{REAL_ETCDCTL} missing: skipped");
    None
}

/// A CA that writes its certificate, leaf certificates and CRLs into `dir`.
struct Pki {
    dir: PathBuf,
    name: String,
    params: CertificateParams,
    key: KeyPair,
    ca: PathBuf,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Pki {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let ca = dir.join(format!("{name}.crt"));
        std::fs::write(&ca, cert.pem()).unwrap();
        Pki {
            dir: dir.to_path_buf(),
            name: name.to_string(),
            params,
            key,
            ca,
        }
    }

    /// A certificate for 127.0.0.1 and localhost, usable by servers and
    /// clients, with subject CN `cn` and serial `serial`: `(cert, key)`.
    fn leaf(&self, file: &str, cn: &str, serial: u64) -> (PathBuf, PathBuf) {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = vec![
            SanType::IpAddress([127, 0, 0, 1].into()),
            SanType::DnsName("localhost".try_into().unwrap()),
        ];
        params.serial_number = Some(SerialNumber::from(serial));
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2100, 1, 1);
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let (c, k) = (
            self.dir.join(format!("{file}.crt")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    /// A CRL revoking `serials` (PEM).
    fn crl(&self, serials: &[u64]) -> PathBuf {
        let params = CertificateRevocationListParams {
            this_update: rcgen::date_time_ymd(2024, 1, 1),
            next_update: rcgen::date_time_ymd(2100, 1, 1),
            crl_number: SerialNumber::from(1u64),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: rcgen::date_time_ymd(2024, 1, 1),
                    reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let issuer = Issuer::from_params(&self.params, &self.key);
        let crl = params.signed_by(&issuer).unwrap();
        let path = self.dir.join(format!("{}.crl", self.name));
        std::fs::write(&path, crl.pem().unwrap()).unwrap();
        path
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

/// The real etcdctl with `tls` flags (e.g. `--cacert x --cert y --key z`).
fn real_ctl(ctl: &str, endpoint: &str, tls: &[String], args: &[&str]) -> Output {
    Command::new(ctl)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .args(["--dial-timeout=2s", "--command-timeout=4s"])
        .args(tls)
        .args(args)
        .output()
        .unwrap()
}

fn tls_flags(ca: &Path, cert: &Path, key: &Path) -> Vec<String> {
    vec![
        format!("--cacert={}", p(ca)),
        format!("--cert={}", p(cert)),
        format!("--key={}", p(key)),
    ]
}

fn wait_healthy(ctl: &str, endpoint: &str, tls: &[String], server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if real_ctl(ctl, endpoint, tls, &["endpoint", "health"])
            .status
            .success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{endpoint} did not become healthy:\n{}", log(server));
}

fn log(s: &Server) -> String {
    std::fs::read_to_string(s.dir.join(format!("etcd-{}.log", s.port))).unwrap_or_default()
}

/// Sends a plain HTTP request to a TLS port: the server must close the
/// connection without answering (as etcd does).
fn plain_http_is_closed(port: u16) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let n = s.read_to_end(&mut buf).unwrap_or(0);
    assert_eq!(
        n,
        0,
        "plain HTTP got an answer: {:?}",
        String::from_utf8_lossy(&buf)
    );
}

/// A channel from oxcd's own dialler (for etcdctl later).
async fn tls_url_channel(url: &str, tls: &ClientTls) -> tonic::transport::Channel {
    oxcd::rt::net::dial_tls(url, Duration::from_secs(3), tls)
        .await
        .unwrap()
}

/// The value of `key`, through `ch`.
async fn value_of(ch: &tonic::transport::Channel, key: &str) -> Vec<u8> {
    let r = KvClient::new(ch.clone())
        .range(RangeRequest {
            key: key.as_bytes().to_vec(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    r.kvs[0].value.clone()
}

#[test]
fn client_cert_auth_with_crl_and_refusals() {
    let Some(ctl) = real_etcdctl() else { return };
    let dir = temp_dir("tls-client");
    let pki = Pki::new(&dir, "ca");
    let other = Pki::new(&dir, "other-ca");
    let (server_crt, server_key) = pki.leaf("server", "server", 1);
    let (alice_crt, alice_key) = pki.leaf("alice", "alice", 2);
    let (mallory_crt, mallory_key) = pki.leaf("mallory", "mallory", 3);
    let (eve_crt, eve_key) = other.leaf("eve", "eve", 2);
    let crl = pki.crl(&[3]);
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let server = Server::spawn_bin(
        ETCD,
        None,
        &dir,
        port,
        free_port(),
        &[
            &format!("--listen-client-urls={url}"),
            &format!("--advertise-client-urls={url}"),
            &format!("--cert-file={}", p(&server_crt)),
            &format!("--key-file={}", p(&server_key)),
            &format!("--trusted-ca-file={}", p(&pki.ca)),
            "--client-cert-auth",
            &format!("--client-crl-file={}", p(&crl)),
        ],
    );
    let alice = tls_flags(&pki.ca, &alice_crt, &alice_key);
    wait_healthy(ctl, &url, &alice, &server);

    let put = real_ctl(ctl, &url, &alice, &["put", "k", "v1"]);
    assert!(put.status.success(), "{put:?}");
    assert_eq!(stdout(&put), "OK\n");
    let get = real_ctl(ctl, &url, &alice, &["get", "k"]);
    assert_eq!(stdout(&get), "k\nv1\n");

    // No client certificate, a revoked one, one from another CA: refused.
    let no_cert = vec![format!("--cacert={}", p(&pki.ca))];
    let mallory = tls_flags(&pki.ca, &mallory_crt, &mallory_key);
    let eve = tls_flags(&pki.ca, &eve_crt, &eve_key);
    for (who, flags) in [
        ("no cert", &no_cert),
        ("revoked", &mallory),
        ("other CA", &eve),
    ] {
        let o = real_ctl(ctl, &url, flags, &["put", "k", who]);
        assert!(!o.status.success(), "{who}: {o:?}");
    }
    // A client that does not trust the server's CA refuses it too.
    let o = real_ctl(
        ctl,
        &url,
        &tls_flags(&other.ca, &alice_crt, &alice_key),
        &["get", "k"],
    );
    assert!(!o.status.success(), "{o:?}");
    plain_http_is_closed(port);
    // A client that connects and says nothing holds only its own handshake
    // task: the accept loop goes on.
    let silent = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();

    // The server kept serving, and nothing refused was written.
    let get = real_ctl(ctl, &url, &alice, &["get", "k"]);
    assert_eq!(stdout(&get), "k\nv1\n");
    let l = log(&server);
    assert!(l.contains("serving client requests on 127.0.0.1"), "{l}");
    assert!(l.contains("rejected connection from"), "{l}");
    drop(silent);
    assert!(
        l.contains("first record does not look like a TLS handshake"),
        "{l}"
    );

    // oxcd's own dialler (for etcdctl later): https with a client cert.
    let rt = common::runtime();
    rt.block_on(async {
        let alice_tls = ClientTls {
            ca_file: p(&pki.ca),
            cert_file: p(&alice_crt),
            key_file: p(&alice_key),
            ..ClientTls::default()
        };
        let ch = tls_url_channel(&url, &alice_tls).await;
        let mut kv = KvClient::new(ch.clone());
        kv.put(PutRequest {
            key: b"from-dial".to_vec(),
            value: b"x".to_vec(),
            ..Default::default()
        })
        .await
        .unwrap();
        assert_eq!(value_of(&ch, "k").await, b"v1");
        // Without a client certificate the first request fails.
        let tls = ClientTls {
            ca_file: p(&pki.ca),
            ..ClientTls::default()
        };
        let refused = match oxcd::rt::net::dial_tls(&url, Duration::from_secs(3), &tls).await {
            Err(_) => true,
            Ok(ch) => KvClient::new(ch)
                .range(RangeRequest {
                    key: b"k".to_vec(),
                    ..Default::default()
                })
                .await
                .is_err(),
        };
        assert!(refused);
        // A CA that did not sign the server's certificate: refused.
        let tls = ClientTls {
            ca_file: p(&other.ca),
            ..ClientTls::default()
        };
        let e = oxcd::rt::net::dial_tls(&url, Duration::from_secs(3), &tls)
            .await
            .unwrap_err();
        assert!(e.contains("UnknownIssuer"), "{e}");
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn auto_tls_serves_a_self_signed_certificate() {
    let Some(ctl) = real_etcdctl() else { return };
    let dir = temp_dir("tls-auto");
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let data = dir.join("d");
    let server = Server::spawn_bin(
        ETCD,
        None,
        &dir,
        port,
        free_port(),
        &[
            &format!("--data-dir={}", p(&data)),
            &format!("--listen-client-urls={url}"),
            &format!("--advertise-client-urls={url}"),
            "--auto-tls",
        ],
    );
    // etcdctl 3.4 speaks TLS without a CA or certificate flag only with
    // --insecure-transport=false (the same against the real etcd).
    let insecure = vec![
        "--insecure-skip-tls-verify".to_string(),
        "--insecure-transport=false".to_string(),
    ];
    wait_healthy(ctl, &url, &insecure, &server);
    let put = real_ctl(ctl, &url, &insecure, &["put", "a", "1"]);
    assert_eq!(stdout(&put), "OK\n", "{put:?}");
    assert_eq!(
        stdout(&real_ctl(ctl, &url, &insecure, &["get", "a"])),
        "a\n1\n"
    );
    // Verified against the system's roots, the self-signed certificate fails.
    let verified = vec!["--insecure-transport=false".to_string()];
    assert!(!real_ctl(ctl, &url, &verified, &["get", "a"])
        .status
        .success());
    let fixtures = data.join("fixtures").join("client");
    let key = fixtures.join("key.pem");
    assert!(fixtures.join("cert.pem").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    plain_http_is_closed(port);
    // Our dialler with insecure_skip_verify.
    common::runtime().block_on(async {
        let tls = ClientTls {
            insecure_skip_verify: true,
            ..ClientTls::default()
        };
        assert_eq!(
            value_of(&tls_url_channel(&url, &tls).await, "a").await,
            b"1"
        );
    });
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Three members on https:// peer URLs (plain client URLs, for our own
/// etcdctl), each started with `peer_flags(i)` added; waits until all serve.
fn peer_tls_cluster(
    dir: &Path,
    peer_flags: impl Fn(usize) -> Vec<String>,
) -> (Vec<Server>, Vec<u16>) {
    let n = 3;
    let client_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let peer_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
    let initial = (0..n)
        .map(|i| format!("node{}=https://127.0.0.1:{}", i + 1, peer_ports[i]))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Vec::new();
    for i in 0..n {
        let name = format!("node{}", i + 1);
        let peer_url = format!("https://127.0.0.1:{}", peer_ports[i]);
        let mut args = vec![
            format!("--name={name}"),
            format!("--data-dir={}", p(&dir.join(&name))),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster={initial}"),
            "--initial-cluster-token=tls".to_string(),
        ];
        args.extend(peer_flags(i));
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        members.push(Server::spawn(dir, client_ports[i], peer_ports[i], &args));
    }
    for m in &members {
        m.wait_ready();
    }
    (members, peer_ports)
}

#[test]
fn three_members_over_peer_tls_with_client_cert_auth() {
    let dir = temp_dir("tls-peers");
    let pki = Pki::new(&dir, "peer-ca");
    let other = Pki::new(&dir, "other-ca");
    let (members, peer_ports) = peer_tls_cluster(&dir, |i| {
        let (crt, key) = pki.leaf(&format!("node{}", i + 1), "etcd-peer", 10 + i as u64);
        vec![
            format!("--peer-cert-file={}", p(&crt)),
            format!("--peer-key-file={}", p(&key)),
            format!("--peer-trusted-ca-file={}", p(&pki.ca)),
            "--peer-client-cert-auth".to_string(),
            "--peer-cert-allowed-cn=etcd-peer".to_string(),
        ]
    });
    // A leader was elected over TLS, and a write on one member is read on
    // the others.
    let put = members[0].ctl(&["put", "over", "tls"]);
    assert_eq!(stdout(&put), "OK\n", "{put:?}");
    for m in &members[1..] {
        assert_eq!(stdout(&m.ctl(&["get", "over"])), "over\ntls\n");
    }
    let status = stdout(&members[2].ctl(&["endpoint", "status"]));
    assert!(!status.is_empty());
    let l = log(&members[0]);
    assert!(l.contains("peerTLS: cert = "), "{l}");

    // The peer port refuses a certificate of another CA, and one of the
    // right CA with the wrong CN (--peer-cert-allowed-cn).
    let (eve_crt, eve_key) = other.leaf("eve", "etcd-peer", 20);
    let (bob_crt, bob_key) = pki.leaf("bob", "bob", 21);
    common::runtime().block_on(async {
        use oxcd::pb::oxcdpeer::{peer_client::PeerClient, MembersRequest};
        let peer_url = format!("https://127.0.0.1:{}", peer_ports[1]);
        let ask = |crt: PathBuf, key: PathBuf| {
            let tls = ClientTls {
                ca_file: p(&pki.ca),
                cert_file: p(&crt),
                key_file: p(&key),
                ..ClientTls::default()
            };
            let url = peer_url.clone();
            async move {
                match oxcd::rt::net::dial_tls(&url, Duration::from_secs(3), &tls).await {
                    Err(_) => false,
                    Ok(ch) => PeerClient::new(ch).members(MembersRequest {}).await.is_ok(),
                }
            }
        };
        let (node1_crt, node1_key) = (dir.join("node1.crt"), dir.join("node1.key"));
        assert!(
            ask(node1_crt, node1_key).await,
            "a member's own certificate"
        );
        assert!(!ask(eve_crt, eve_key).await, "another CA");
        assert!(!ask(bob_crt, bob_key).await, "another CN");
    });
    // The member logs the refusal after the client has seen it: wait for it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !log(&members[1]).contains("client certificate authentication failed") {
        assert!(Instant::now() < deadline, "{}", log(&members[1]));
        std::thread::sleep(Duration::from_millis(50));
    }
    // Still one cluster serving.
    assert_eq!(stdout(&members[2].ctl(&["get", "over"])), "over\ntls\n");
    drop(members);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--peer-auto-tls`: each member serves a self-signed certificate and
/// dials the others without verifying them, as etcd does.
#[test]
fn three_members_over_peer_auto_tls() {
    let dir = temp_dir("tls-peer-auto");
    let (members, _) = peer_tls_cluster(&dir, |_| vec!["--peer-auto-tls".to_string()]);
    let put = members[1].ctl(&["put", "auto", "peer"]);
    assert_eq!(stdout(&put), "OK\n", "{put:?}");
    for m in [&members[0], &members[2]] {
        assert_eq!(stdout(&m.ctl(&["get", "auto"])), "auto\npeer\n");
    }
    for i in 1..=3 {
        let fixtures = dir.join(format!("node{i}")).join("fixtures").join("peer");
        assert!(fixtures.join("cert.pem").exists() && fixtures.join("key.pem").exists());
    }
    drop(members);
    let _ = std::fs::remove_dir_all(&dir);
}

/// etcd's start-up errors for TLS URLs without certificates (exit 1).
#[test]
fn tls_urls_without_certificates_are_refused() {
    let dir = temp_dir("tls-refused");
    let run = |extra: &[&str]| {
        let port = free_port();
        let mut s = Server::spawn_bin(ETCD, None, &dir, port, free_port(), extra);
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = s.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "still running: {extra:?}");
            std::thread::sleep(Duration::from_millis(20));
        };
        (status.code(), log(&s))
    };
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let peer = free_port();
    let purl = format!("https://127.0.0.1:{peer}");
    let cases: [(Vec<String>, String); 4] = [
        (
            vec![
                format!("--listen-client-urls={url}"),
                format!("--advertise-client-urls={url}"),
            ],
            format!("TLS key/cert (--cert-file, --key-file) must be provided for client url {url} with HTTPS scheme"),
        ),
        (
            vec![
                format!("--listen-peer-urls={purl}"),
                format!("--initial-advertise-peer-urls={purl}"),
                format!("--initial-cluster=default={purl}"),
            ],
            format!("cannot listen on TLS for 127.0.0.1:{peer}: KeyFile and CertFile are not presented"),
        ),
        (
            vec![
                format!("--listen-client-urls={url}"),
                format!("--advertise-client-urls={url}"),
                "--cert-file=nope.crt".to_string(),
                "--key-file=nope.key".to_string(),
            ],
            "open nope.crt: no such file or directory".to_string(),
        ),
        (
            vec!["--cipher-suites=FOO".to_string()],
            "unexpected TLS cipher suite \"FOO\"".to_string(),
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (code, l) = run(&args);
        assert_eq!(code, Some(1), "{args:?}");
        assert!(l.contains(&message), "{args:?}: {l}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// With `--client-cert-auth` and auth on, a request without a token is the
/// user its client certificate names (etcd's `AuthInfoFromTLS`). The same
/// steps, with our etcdctl and the real one, against oxcd and the real
/// etcd 3.4: every output must agree.
#[test]
fn the_certificate_cn_is_the_user() {
    let Some(real) = real_etcdctl() else { return };
    let mut transcripts = Vec::new();
    for server_bin in [ETCD, "/usr/bin/etcd"] {
        if !Path::new(server_bin).exists() {
            continue;
        }
        for ctl in [common::ETCDCTL, real] {
            transcripts.push((server_bin, ctl, cn_steps(server_bin, ctl)));
        }
    }
    let (_, _, first) = &transcripts[0];
    eprintln!(
        "{} runs; ours against oxcd:\n{}",
        transcripts.len(),
        first.join("\n")
    );
    for (server, ctl, t) in &transcripts[1..] {
        assert_eq!(
            t, first,
            "{ctl} against {server} differs from our etcdctl against oxcd"
        );
    }
    assert!(first.iter().any(|l| l.contains("permission denied")));
    assert!(transcripts.len() >= 2, "{transcripts:?}");
}

/// Runs the steps; returns each step's exit code and output.
fn cn_steps(server_bin: &str, ctl: &str) -> Vec<String> {
    let dir = temp_dir("tls-cn");
    let pki = Pki::new(&dir, "ca");
    let (server_crt, server_key) = pki.leaf("server", "server", 1);
    let (root_crt, root_key) = pki.leaf("root", "root", 2);
    let (alice_crt, alice_key) = pki.leaf("alice", "alice", 3);
    let (bob_crt, bob_key) = pki.leaf("bob", "bob", 4);
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let server = Server::spawn_bin(
        server_bin,
        None,
        &dir,
        port,
        free_port(),
        &[
            &format!("--listen-client-urls={url}"),
            &format!("--advertise-client-urls={url}"),
            &format!("--cert-file={}", p(&server_crt)),
            &format!("--key-file={}", p(&server_key)),
            &format!("--trusted-ca-file={}", p(&pki.ca)),
            "--client-cert-auth",
        ],
    );
    let root = tls_flags(&pki.ca, &root_crt, &root_key);
    let alice = tls_flags(&pki.ca, &alice_crt, &alice_key);
    let bob = tls_flags(&pki.ca, &bob_crt, &bob_key);
    wait_healthy(REAL_ETCDCTL, &url, &root, &server);
    let steps: Vec<(&Vec<String>, Vec<&str>)> = vec![
        (&root, vec!["user", "add", "root:rootpw"]),
        (&root, vec!["user", "grant-role", "root", "root"]),
        (&root, vec!["user", "add", "alice", "--no-password"]),
        (&root, vec!["role", "add", "r"]),
        (
            &root,
            vec![
                "role",
                "grant-permission",
                "r",
                "readwrite",
                "--prefix",
                "a/",
            ],
        ),
        (&root, vec!["user", "grant-role", "alice", "r"]),
        (&root, vec!["auth", "enable"]),
        // Each as its certificate says, without a token.
        (&alice, vec!["put", "a/1", "x"]),
        (&alice, vec!["get", "a/1"]),
        (&alice, vec!["put", "b/1", "x"]),
        (&bob, vec!["get", "a/1"]),
        (&root, vec!["get", "a/1", "--print-value-only"]),
        (&alice, vec!["user", "list"]),
        (&root, vec!["user", "list"]),
        (&root, vec!["auth", "disable"]),
        (&bob, vec!["get", "a/1", "--print-value-only"]),
    ];
    let mut out = Vec::new();
    for (tls, args) in steps {
        if args == ["auth", "disable"] {
            // Before auth goes off: a root-only RPC (HashKV, which etcd
            // 3.4 refuses unmapped) as root's and as alice's certificate.
            out.extend(hash_kv_as_certificates(
                &url,
                &pki,
                [(&root_crt, &root_key), (&alice_crt, &alice_key)],
            ));
        }
        let mut cmd = Command::new(ctl);
        cmd.env("ETCDCTL_API", "3")
            .arg(format!("--endpoints={url}"))
            .args(["--dial-timeout=2s", "--command-timeout=4s"])
            .args(tls)
            .args(&args);
        let o = cmd.output().unwrap();
        // The error's last line (clientv3's warning line has a timestamp).
        let err = String::from_utf8_lossy(&o.stderr);
        let err = err.lines().last().unwrap_or("");
        out.push(format!(
            "{} -> {:?} {:?} {:?}",
            args.join(" "),
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            err
        ));
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

/// HashKV over TLS with each client certificate and no token: what each
/// got (`OK`, or the status).
fn hash_kv_as_certificates(url: &str, pki: &Pki, certs: [(&PathBuf, &PathBuf); 2]) -> Vec<String> {
    common::runtime().block_on(async {
        let mut out = Vec::new();
        for (crt, key) in certs {
            let tls = ClientTls {
                ca_file: p(&pki.ca),
                cert_file: p(crt),
                key_file: p(key),
                ..ClientTls::default()
            };
            let ch = tls_url_channel(url, &tls).await;
            let r = oxcd::pb::etcdserverpb::maintenance_client::MaintenanceClient::new(ch)
                .hash_kv(oxcd::pb::etcdserverpb::HashKvRequest { revision: 0 })
                .await;
            out.push(
                match r {
                    Ok(_) => format!("hashkv as {}: OK", p(crt)),
                    Err(st) => format!("hashkv as {}: {:?} {}", p(crt), st.code(), st.message()),
                }
                .replace(&p(&pki.dir), "<dir>"),
            );
        }
        out
    })
}

/// Connections that never finish a handshake (silent, or sending garbage,
/// or a ClientHello cut short) hold only their own handshake task, bounded
/// by its timeout: clients with certificates are served meanwhile, and the
/// server's descriptors come back once they go.
#[test]
fn stalled_handshakes_do_not_stop_tls_serving() {
    let Some(ctl) = real_etcdctl() else { return };
    let dir = temp_dir("tls-stalled");
    let pki = Pki::new(&dir, "ca");
    let (server_crt, server_key) = pki.leaf("server", "server", 1);
    let (alice_crt, alice_key) = pki.leaf("alice", "alice", 2);
    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let server = Server::spawn_bin(
        ETCD,
        None,
        &dir,
        port,
        free_port(),
        &[
            &format!("--listen-client-urls={url}"),
            &format!("--advertise-client-urls={url}"),
            &format!("--cert-file={}", p(&server_crt)),
            &format!("--key-file={}", p(&server_key)),
            &format!("--trusted-ca-file={}", p(&pki.ca)),
            "--client-cert-auth",
        ],
    );
    let alice = tls_flags(&pki.ca, &alice_crt, &alice_key);
    wait_healthy(ctl, &url, &alice, &server);
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    let before = fds();
    // A TLS record header announcing a ClientHello, then nothing more.
    let cut_hello: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc];
    let mut stalled = Vec::new();
    for i in 0..300 {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        match i % 3 {
            0 => {}
            1 => s.write_all(b"\x00\x01garbage").unwrap(),
            _ => s.write_all(cut_hello).unwrap(),
        }
        stalled.push(s);
    }
    let started = Instant::now();
    let put = real_ctl(ctl, &url, &alice, &["put", "k", "during"]);
    assert_eq!(stdout(&put), "OK\n", "{put:?}");
    let get = real_ctl(ctl, &url, &alice, &["get", "k", "--print-value-only"]);
    assert_eq!(stdout(&get), "during\n");
    eprintln!(
        "with 300 stalled handshakes: put+get in {:?}, {} descriptors (from {before})",
        started.elapsed(),
        fds()
    );
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(15);
    while fds() > before + 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        fds() <= before + 5,
        "descriptors {} after, {before} before",
        fds()
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// One port listed as both `http://` and `https://`: etcd 3.4 serves plain
/// text and TLS on it (HTTP and HTTPS alike), told apart per connection.
#[test]
fn one_port_serves_plain_and_tls_when_listed_as_both() {
    let Some(ctl) = real_etcdctl() else { return };
    let dir = temp_dir("tls-mixed");
    let port = free_port();
    let (http, https) = (
        format!("http://127.0.0.1:{port}"),
        format!("https://127.0.0.1:{port}"),
    );
    let server = Server::spawn_bin(
        ETCD,
        None,
        &dir,
        port,
        free_port(),
        &[
            &format!("--data-dir={}", p(&dir.join("d"))),
            &format!("--listen-client-urls={http},{https}"),
            &format!("--advertise-client-urls={http}"),
            "--auto-tls",
        ],
    );
    let insecure = vec![
        "--insecure-skip-tls-verify".to_string(),
        "--insecure-transport=false".to_string(),
    ];
    wait_healthy(ctl, &https, &insecure, &server);
    let put = real_ctl(ctl, &http, &[], &["put", "a", "1"]);
    assert_eq!(stdout(&put), "OK\n", "{put:?}");
    let get = real_ctl(ctl, &https, &insecure, &["get", "a", "--print-value-only"]);
    assert_eq!(stdout(&get), "1\n", "{get:?}");
    // Plain HTTP is answered on the same port.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    assert!(body.contains("\"etcdserver\":\"3.4.23\""), "{body}");
    assert!(log(&server).contains("serving insecure client requests on"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
