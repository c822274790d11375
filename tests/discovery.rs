//! DNS discovery (`--discovery-srv`, `--discovery-srv-name`, etcdctl's
//! `--discovery-srv`) against a DNS server of the test's own, inside a
//! network namespace: the namespace's `/etc/resolv.conf` (bind-mounted by
//! `ip netns exec` from `/etc/netns/<ns>/resolv.conf`) names 127.0.0.1,
//! where a responder thread that entered the namespace answers for
//! `example.test`. Members run at 127.0.0.1, .2 and .3 as m1…m3.example.test.
//! Each scenario runs on oxcd and on the real etcd 3.4, which must agree:
//! the same member lists (names, ids, peer URLs), the same start-up errors
//! and exit codes.
//!
//! Needs root and `ip netns`; skipped without them unless `CI` or
//! `OXCD_REQUIRE_DIFFERENTIAL` is set.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::net::{TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{ETCD, ETCDCTL, REAL_ETCD};

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";
const DOMAIN: &str = "example.test";

/// Whether network namespaces can be made here; where they must (`CI`,
/// `OXCD_REQUIRE_DIFFERENTIAL`) their absence fails the test.
fn netns_available() -> bool {
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success());
    if root && ip {
        return true;
    }
    let required =
        std::env::var_os("CI").is_some() || std::env::var_os("OXCD_REQUIRE_DIFFERENTIAL").is_some();
    assert!(
        !required,
        "DNS discovery tests need root and `ip netns` (root: {root}, ip netns: {ip})"
    );
    eprintln!("DNS discovery tests NOT RUN: they need root and `ip netns`");
    false
}

// ---------------------------------------------------------------- the zone

/// An SRV record: port and target (with its trailing dot).
type Srv = (u16, &'static str);

/// The test's zone. `_etcd-server-ssl-blue` is answered truncated over UDP
/// (and in full over TCP), so the clients must ask again over TCP.
fn zone_srv(name: &str) -> Option<Vec<Srv>> {
    let three = vec![
        (2380, "m1.example.test."),
        (2380, "m2.example.test."),
        (2380, "m3.example.test."),
    ];
    Some(match name {
        "_etcd-server-ssl._tcp.example.test." => three,
        // http peers: etcd 3.4 asks for them and then ignores the answer.
        "_etcd-server._tcp.example.test." => three,
        "_etcd-server-ssl-blue._tcp.example.test." => {
            vec![(2480, "m2.example.test."), (2480, "m1.example.test.")]
        }
        "_etcd-client._tcp.example.test." => vec![
            (2379, "m1.example.test."),
            (2379, "m2.example.test."),
            (2379, "m3.example.test."),
        ],
        _ => return None,
    })
}

fn zone_a(name: &str) -> Option<[u8; 4]> {
    match name {
        "m1.example.test." => Some([127, 0, 0, 1]),
        "m2.example.test." => Some([127, 0, 0, 2]),
        "m3.example.test." => Some([127, 0, 0, 3]),
        _ => None,
    }
}

/// `name` in labels (answers' owner names are compressed instead: a
/// pointer to the question).
fn encode_name(out: &mut Vec<u8>, name: &str) {
    for label in name.trim_end_matches('.').split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
}

/// The answer to one query, or None for a message that is not one.
fn respond(query: &[u8], over_udp: bool) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    let mut at = 12;
    let mut name = String::new();
    while *query.get(at)? != 0 {
        let len = usize::from(query[at]);
        name.push_str(
            &String::from_utf8_lossy(query.get(at + 1..at + 1 + len)?).to_ascii_lowercase(),
        );
        name.push('.');
        at += 1 + len;
    }
    let qtype = u16::from_be_bytes([*query.get(at + 1)?, *query.get(at + 2)?]);
    let question = query.get(12..at + 5)?;
    let mut records: Vec<(u16, Vec<u8>)> = Vec::new();
    let known = zone_srv(&name).is_some() || zone_a(&name).is_some();
    let truncate = over_udp && name.starts_with("_etcd-server-ssl-blue.");
    let mut out = Vec::new();
    out.extend_from_slice(&query[..2]);
    // QR, AA, RD, RA; NXDOMAIN for a name outside the zone.
    let flags: u16 = 0x8580 | if truncate { 0x0200 } else { 0 } | if known { 0 } else { 3 };
    out.extend_from_slice(&flags.to_be_bytes());
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(question);
    if !truncate {
        if let (33, Some(srvs)) = (qtype, zone_srv(&name)) {
            for (port, target) in srvs {
                let mut data = vec![0, 0, 0, 0];
                data.extend_from_slice(&port.to_be_bytes());
                records.push((33, data));
                let last = records.len() - 1;
                // The target is written in place below, compressed.
                records[last].1.extend_from_slice(target.as_bytes());
            }
        }
        if let (1, Some(ip)) = (qtype, zone_a(&name)) {
            records.push((1, ip.to_vec()));
        }
    }
    out[7] = records.len() as u8;
    for (rtype, data) in records {
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        let len_at = out.len();
        out.extend_from_slice(&[0, 0]);
        if rtype == 33 {
            // An SRV target is never compressed (RFC 2782; Go refuses it).
            out.extend_from_slice(&data[..6]);
            encode_name(&mut out, std::str::from_utf8(&data[6..]).unwrap());
        } else {
            out.extend_from_slice(&data);
        }
        let len = (out.len() - len_at - 2) as u16;
        out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
    }
    Some(out)
}

// ------------------------------------------------------- the namespace

/// A network namespace with a DNS server on 127.0.0.1:53 and the
/// processes started in it; all removed on drop, on every path.
struct Netns {
    name: String,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    children: Vec<Child>,
    dir: PathBuf,
}

fn ip(args: &[&str]) {
    let o = Command::new("ip").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Enters the namespace `ns` (this thread only) and binds there.
fn enter(ns: &str) {
    let f = std::fs::File::open(format!("/var/run/netns/{ns}")).unwrap();
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

impl Netns {
    /// A namespace, with the DNS server for `example.test` if `dns`.
    fn new(label: &str, dns: bool) -> Netns {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "oxcd-dns-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        let stop = Arc::new(AtomicBool::new(false));
        let mut ns = Netns {
            name: name.clone(),
            stop: stop.clone(),
            servers: Vec::new(),
            children: Vec::new(),
            dir: common::temp_dir(label),
        };
        ip(&["netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        let etc = PathBuf::from("/etc/netns").join(&name);
        std::fs::create_dir_all(&etc).unwrap();
        std::fs::write(
            etc.join("resolv.conf"),
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        )
        .unwrap();
        if !dns {
            return ns;
        }
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (n, s, ready) = (name.clone(), stop.clone(), ready_tx.clone());
        ns.servers.push(std::thread::spawn(move || {
            enter(&n);
            let sock = UdpSocket::bind("127.0.0.1:53").unwrap();
            sock.set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            ready.send(()).unwrap();
            let mut buf = [0u8; 512];
            while !s.load(Ordering::SeqCst) {
                if let Ok((len, from)) = sock.recv_from(&mut buf) {
                    if let Some(answer) = respond(&buf[..len], true) {
                        let _ = sock.send_to(&answer, from);
                    }
                }
            }
        }));
        let (n, s) = (name.clone(), stop);
        ns.servers.push(std::thread::spawn(move || {
            enter(&n);
            let l = TcpListener::bind("127.0.0.1:53").unwrap();
            l.set_nonblocking(true).unwrap();
            ready_tx.send(()).unwrap();
            while !s.load(Ordering::SeqCst) {
                let Ok((mut c, _)) = l.accept() else {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                };
                use std::io::{Read, Write};
                c.set_nonblocking(false).unwrap();
                c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                let mut len = [0u8; 2];
                if c.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut q = vec![0u8; usize::from(u16::from_be_bytes(len))];
                if c.read_exact(&mut q).is_err() {
                    continue;
                }
                if let Some(a) = respond(&q, false) {
                    let mut framed = (a.len() as u16).to_be_bytes().to_vec();
                    framed.extend_from_slice(&a);
                    let _ = c.write_all(&framed);
                }
            }
        }));
        for _ in 0..2 {
            ready_rx
                .recv_timeout(Duration::from_secs(5))
                .expect("DNS server up");
        }
        ns
    }

    /// `bin args…` inside the namespace, run to its end (bounded).
    fn run(&self, bin: &str, args: &[&str]) -> Output {
        Command::new("timeout")
            .args(["30", "ip", "netns", "exec", &self.name, bin])
            .args(args)
            .env("ETCDCTL_API", "3")
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Starts `bin args…` inside the namespace; its stderr goes to `log`.
    fn spawn(&mut self, bin: &str, args: &[String], log: &str) {
        let log = std::fs::File::create(self.dir.join(log)).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, bin])
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
    }

    fn log(&self, log: &str) -> String {
        std::fs::read_to_string(self.dir.join(log)).unwrap_or_default()
    }

    /// Stops every process started here (the DNS server stays).
    fn stop_children(&mut self) {
        for mut c in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.stop_children();
        self.stop.store(true, Ordering::SeqCst);
        for t in self.servers.drain(..) {
            let _ = t.join();
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(&self.name));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ------------------------------------------------------------ members

/// Member `i` (1-based) of a discovered cluster: m{i}.example.test at
/// 127.0.0.{i}, https peers with auto TLS (etcd 3.4 reads only the
/// `_etcd-server-ssl` records), data in `<server>-m{i}`.
fn member_args(server: &str, i: usize, peer_port: u16, extra: &[&str]) -> Vec<String> {
    let mut a = vec![
        format!("--name=m{i}"),
        format!("--data-dir={server}-m{i}"),
        format!("--discovery-srv={DOMAIN}"),
        format!("--initial-advertise-peer-urls=https://m{i}.example.test:{peer_port}"),
        format!("--listen-peer-urls=https://127.0.0.{i}:{peer_port}"),
        format!("--listen-client-urls=http://127.0.0.{i}:{}", peer_port - 1),
        format!(
            "--advertise-client-urls=http://127.0.0.{i}:{}",
            peer_port - 1
        ),
        "--peer-auto-tls".to_string(),
        "--initial-cluster-token=dns-test".to_string(),
    ];
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn wait_healthy(ns: &Netns, ctl: &str, endpoint: &str, log: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if ns
            .run(ctl, &["--endpoints", endpoint, "endpoint", "health"])
            .status
            .success()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{endpoint} not healthy; {log}:\n{}", ns.log(log));
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts `members` members of `server` with `extra` flags, waits for them
/// and returns `member list` as the etcdctl of the same make prints it,
/// after a put and a get through discovered endpoints; stops them.
fn cluster(
    ns: &mut Netns,
    server: &str,
    members: &[usize],
    peer_port: u16,
    extra: &[&str],
) -> String {
    let (bin, ctl) = if server == "oxcd" {
        (ETCD, ETCDCTL)
    } else {
        (REAL_ETCD, REAL_ETCDCTL)
    };
    for &i in members {
        ns.spawn(
            bin,
            &member_args(server, i, peer_port, extra),
            &format!("{server}-m{i}.log"),
        );
    }
    for &i in members {
        let ep = format!("http://127.0.0.{i}:{}", peer_port - 1);
        wait_healthy(ns, ctl, &ep, &format!("{server}-m{i}.log"));
    }
    let ep = format!("http://127.0.0.{}:{}", members[0], peer_port - 1);
    let o = ns.run(ctl, &["--endpoints", &ep, "put", "k", "v"]);
    assert_eq!(text(&o), "OK\n", "{server} put: {o:?}");
    let o = ns.run(ctl, &["--endpoints", &ep, "get", "k"]);
    assert_eq!(text(&o), "k\nv\n", "{server} get: {o:?}");
    // Each member's log names what DNS gave it.
    for &i in members {
        let log = ns.log(&format!("{server}-m{i}.log"));
        assert!(log.contains(&format!("got bootstrap from DNS for etcd-server at m{i}=https://m{i}.example.test:{peer_port}")), "{server} m{i}:\n{log}");
    }
    let o = ns.run(ctl, &["--endpoints", &ep, "member", "list"]);
    assert!(o.status.success(), "{server} member list: {o:?}");
    ns.stop_children();
    text(&o)
}

#[test]
fn three_members_bootstrap_from_srv_records() {
    if !netns_available() {
        return;
    }
    let mut ns = Netns::new("dns-three", true);
    let ours = cluster(&mut ns, "oxcd", &[1, 2, 3], 2380, &[]);
    assert_eq!(ours.lines().count(), 3, "{ours}");
    for i in 1..=3 {
        assert!(
            ours.contains(&format!(
                ", started, m{i}, https://m{i}.example.test:2380, http://127.0.0.{i}:2379, false"
            )),
            "{ours}"
        );
    }
    if common::real_etcd_present(REAL_ETCD, "the comparison with etcd 3.4's DNS discovery") {
        let theirs = cluster(&mut ns, "etcd34", &[1, 2, 3], 2380, &[]);
        // Member ids come from the peer URLs and the token: equal too.
        assert_eq!(ours, theirs);
    }
}

#[test]
fn srv_name_suffix_and_a_truncated_answer() {
    if !netns_available() {
        return;
    }
    // `_etcd-server-ssl-blue` holds two members (m2 first), answered
    // truncated over UDP: found only by asking again over TCP.
    let mut ns = Netns::new("dns-blue", true);
    let ours = cluster(
        &mut ns,
        "oxcd",
        &[1, 2],
        2480,
        &["--discovery-srv-name=blue"],
    );
    assert_eq!(ours.lines().count(), 2, "{ours}");
    let log = ns.log("oxcd-m1.log");
    assert!(
        log.contains("got bootstrap from DNS for etcd-server at 0=https://m2.example.test:2480"),
        "{log}"
    );
    if common::real_etcd_present(
        REAL_ETCD,
        "the comparison with etcd 3.4's --discovery-srv-name",
    ) {
        let theirs = cluster(
            &mut ns,
            "etcd34",
            &[1, 2],
            2480,
            &["--discovery-srv-name=blue"],
        );
        assert_eq!(ours, theirs);
    }
}

/// The lines a failed start-up logged about discovery, without their
/// timestamps (`E | embed: couldn't resolve…`, `C | etcdmain: error…`)
/// and local ports (`read udp 127.0.0.1:PORT->127.0.0.1:53`).
fn discovery_lines(log: &str) -> Vec<String> {
    let port = |l: &str| {
        let Some(b) = l.find("->") else {
            return l.to_string();
        };
        match l[..b].rfind(':') {
            Some(a) => format!("{}:PORT{}", &l[..a], &l[b..]),
            None => l.to_string(),
        }
    };
    log.lines()
        .filter_map(|l| l.get(27..))
        .map(port)
        .filter(|l| {
            ["SRV", "initial cluster", "from DNS", "discovery"]
                .iter()
                .any(|w| l.contains(w))
        })
        .collect()
}

#[test]
fn failures_match_etcd() {
    if !netns_available() {
        return;
    }
    let real = common::real_etcd_present(
        REAL_ETCD,
        "the comparison of DNS discovery failures with etcd 3.4",
    );
    let ns = Netns::new("dns-fail", true);
    let cases: &[(&str, &[&str])] = &[
        // No SRV record at all: NXDOMAIN.
        ("nxdomain", &["--discovery-srv=nothing.test"]),
        // A suffix with no records.
        ("no-suffix-records", &["--discovery-srv-name=green"]),
        // This member's advertised URL does not resolve.
        (
            "unresolvable",
            &["--initial-advertise-peer-urls=https://m9.example.test:2380"],
        ),
        // The records do not include this member (another port).
        (
            "not-listed",
            &["--initial-advertise-peer-urls=https://m1.example.test:2999"],
        ),
        // Listed, but advertised as http: the https record is not its own.
        (
            "scheme",
            &["--initial-advertise-peer-urls=http://m1.example.test:2380"],
        ),
        // Both ways of naming the cluster.
        (
            "conflict",
            &["--initial-cluster=m1=https://m1.example.test:2380"],
        ),
    ];
    compare_failures(&ns, cases, real);
}

/// No DNS server answers (the port is closed): the same error on both.
#[test]
fn no_dns_server_fails_alike() {
    if !netns_available() {
        return;
    }
    let real = common::real_etcd_present(REAL_ETCD, "the comparison with etcd 3.4 without DNS");
    let ns = Netns::new("dns-none", false);
    compare_failures(&ns, &[("no-server", &[])], real);
}

/// Starts member m1 of oxcd, and of etcd 3.4 if `real`, with each case's
/// flags; both must fail with exit code 1 and log the same lines.
fn compare_failures(ns: &Netns, cases: &[(&str, &[&str])], real: bool) {
    for (case, extra) in cases {
        let mut results = Vec::new();
        for (server, bin) in [("oxcd", ETCD), ("etcd34", REAL_ETCD)] {
            if server == "etcd34" && !real {
                continue;
            }
            let mut args = member_args(&format!("{server}-{case}"), 1, 2380, &[]);
            // Later flags win in Go's flag package and in ours.
            args.extend(extra.iter().map(|s| s.to_string()));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = ns.run(bin, &args);
            let log = String::from_utf8_lossy(&o.stderr).into_owned();
            let lines = discovery_lines(&log);
            assert!(!lines.is_empty(), "{server} {case}: {log}");
            results.push((server, common::shell_status(o.status), lines));
        }
        assert_eq!(results.len(), 1 + usize::from(real));
        if let [(_, code_a, lines_a), (_, code_b, lines_b)] = &results[..] {
            assert_eq!(
                (code_a, lines_a),
                (code_b, lines_b),
                "{case}: oxcd, then etcd 3.4"
            );
        }
        assert_eq!(results[0].1, Some(1), "{case}: {:?}", results[0]);
    }
}

#[test]
fn etcdctl_endpoints_from_srv_records() {
    if !netns_available() {
        return;
    }
    let mut ns = Netns::new("dns-ctl", true);
    cluster_keep(&mut ns);
    for ctl in [ETCDCTL, REAL_ETCDCTL] {
        if ctl == REAL_ETCDCTL
            && !common::real_etcd_present(
                REAL_ETCDCTL,
                "the comparison with etcdctl 3.4's --discovery-srv",
            )
        {
            continue;
        }
        let o = ns.run(ctl, &["--discovery-srv", DOMAIN, "get", "k"]);
        assert_eq!(
            (text(&o).as_str(), o.status.success()),
            ("k\nv\n", true),
            "{ctl}: {o:?}"
        );
        // Without insecure discovery the http records are dropped, with a
        // line each, and `--endpoints` is used instead.
        let o = ns.run(
            ctl,
            &[
                "--discovery-srv",
                DOMAIN,
                "--insecure-discovery=false",
                "--endpoints",
                "http://127.0.0.2:2379",
                "get",
                "k",
            ],
        );
        assert_eq!(text(&o), "k\nv\n", "{ctl}: {o:?}");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(
            err,
            "ignoring discovered insecure endpoint \"http://m1.example.test.:2379\"\n\
             ignoring discovered insecure endpoint \"http://m2.example.test.:2379\"\n\
             ignoring discovered insecure endpoint \"http://m3.example.test.:2379\"\n",
            "{ctl}"
        );
        let o = ns.run(ctl, &["--discovery-srv", "nothing.test", "get", "k"]);
        assert_eq!(common::shell_status(o.status), Some(1), "{ctl}: {o:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stderr),
            "Error: dns lookup errors: lookup _etcd-client-ssl._tcp.nothing.test on 127.0.0.1:53: no such host \
             and lookup _etcd-client._tcp.nothing.test on 127.0.0.1:53: no such host\n",
            "{ctl}"
        );
    }
}

/// A member that has a WAL does not look at DNS again (etcd skips the
/// lookup): m1 restarts with a domain that has no records.
#[test]
fn restart_does_not_ask_dns() {
    if !netns_available() {
        return;
    }
    let mut ns = Netns::new("dns-restart", true);
    cluster_keep(&mut ns);
    let mut m1 = ns.children.remove(0);
    let _ = m1.kill();
    let _ = m1.wait();
    let mut args = member_args("oxcd", 1, 2380, &[]);
    args.push("--discovery-srv=nothing.test".to_string());
    ns.spawn(ETCD, &args, "oxcd-m1-again.log");
    wait_healthy(&ns, ETCDCTL, "http://127.0.0.1:2379", "oxcd-m1-again.log");
    let o = ns.run(
        ETCDCTL,
        &["--endpoints", "http://127.0.0.1:2379", "get", "k"],
    );
    assert_eq!(text(&o), "k\nv\n", "{o:?}");
    let o = ns.run(
        ETCDCTL,
        &["--endpoints", "http://127.0.0.1:2379", "member", "list"],
    );
    assert_eq!(text(&o).lines().count(), 3, "{o:?}");
}

/// An oxcd cluster of three that keeps running (with the key `k`).
fn cluster_keep(ns: &mut Netns) {
    for i in 1..=3 {
        ns.spawn(
            ETCD,
            &member_args("oxcd", i, 2380, &[]),
            &format!("oxcd-m{i}.log"),
        );
    }
    for i in 1..=3 {
        wait_healthy(
            ns,
            ETCDCTL,
            &format!("http://127.0.0.{i}:2379"),
            &format!("oxcd-m{i}.log"),
        );
    }
    let o = ns.run(
        ETCDCTL,
        &["--endpoints", "http://127.0.0.1:2379", "put", "k", "v"],
    );
    assert!(o.status.success(), "{o:?}");
}
