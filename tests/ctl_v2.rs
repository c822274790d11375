//! `ETCDCTL_API=2 etcdctl`, ours against etcd 3.4's: a transcript of
//! cases, each run by the real etcdctl against one fresh server and by
//! ours against a twin started the same way (`--enable-v2`), comparing
//! stdout, stderr and exit code after normalising indexes, member ids,
//! ports, TTLs and times. The cases change the servers in the same order,
//! so both twins go through the same states.
//!
//! Then `backup`: its usage errors, and a backup of each twin's data dir,
//! which must start as a new cluster holding the same keys.
//!
//! The transcript runs twice: with the real etcd 3.4 (`/usr/bin/etcd`) as
//! both servers, and with oxcd's (or the binary `OXCD_CTLV2_SERVER` names)
//! as both, so it checks our etcdctl and our server. The oracle is
//! required under `CI` / `OXCD_REQUIRE_DIFFERENTIAL`.

// Real processes on real sockets: real time and threads are the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, temp_dir, Server, ETCDCTL, REAL_ETCD};

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

/// How a case runs.
#[derive(Clone, Copy)]
enum Mode {
    /// With `--endpoints` of the case's server first.
    Plain,
    /// Exactly the arguments given (help, version, bad endpoints).
    Raw,
    /// As `Plain`, but the lines of stdout in any order (an unsorted
    /// listing comes in Go's map order).
    Unordered,
    /// A watch: started, then `during` runs (by the same etcdctl), then
    /// it is waited for, or interrupted (SIGINT) when `interrupt`.
    Watch {
        during: &'static [&'static [&'static str]],
        interrupt: bool,
    },
}

/// A case: `{EP}` in its arguments and environment is its server's
/// client URL.
struct Case {
    args: &'static [&'static str],
    stdin: Option<&'static str>,
    mode: Mode,
    env: &'static [(&'static str, &'static str)],
}

const fn c(args: &'static [&'static str]) -> Case {
    Case {
        args,
        stdin: None,
        mode: Mode::Plain,
        env: &[],
    }
}

const fn raw(args: &'static [&'static str]) -> Case {
    Case {
        args,
        stdin: None,
        mode: Mode::Raw,
        env: &[],
    }
}

/// A `Raw` case with environment variables.
const fn env(vars: &'static [(&'static str, &'static str)], args: &'static [&'static str]) -> Case {
    Case {
        args,
        stdin: None,
        mode: Mode::Raw,
        env: vars,
    }
}

const fn unordered(args: &'static [&'static str]) -> Case {
    Case {
        args,
        stdin: None,
        mode: Mode::Unordered,
        env: &[],
    }
}

const fn input(args: &'static [&'static str], stdin: &'static str) -> Case {
    Case {
        args,
        stdin: Some(stdin),
        mode: Mode::Plain,
        env: &[],
    }
}

const fn watch(
    args: &'static [&'static str],
    during: &'static [&'static [&'static str]],
    interrupt: bool,
) -> Case {
    Case {
        args,
        stdin: None,
        mode: Mode::Watch { during, interrupt },
        env: &[],
    }
}

const CASES: &[Case] = &[
    // Help, version, usage errors (no server needed).
    raw(&[]),
    raw(&["--help"]),
    raw(&["-h"]),
    raw(&["help"]),
    raw(&["h"]),
    raw(&["--version"]),
    raw(&["-v"]),
    raw(&["help", "set"]),
    raw(&["help", "member"]),
    raw(&["help", "nope"]),
    raw(&["nope"]),
    raw(&["--bogus", "get", "/a"]),
    raw(&["-o"]),
    raw(&["--timeout", "x", "get", "/a"]),
    raw(&["set", "--help"]),
    raw(&["get", "-h"]),
    raw(&["mk", "--help"]),
    raw(&["mkdir", "--help"]),
    raw(&["rm", "--help"]),
    raw(&["rmdir", "--help"]),
    raw(&["ls", "--help"]),
    raw(&["setdir", "--help"]),
    raw(&["update", "--help"]),
    raw(&["updatedir", "--help"]),
    raw(&["watch", "--help"]),
    raw(&["exec-watch", "--help"]),
    raw(&["backup", "--help"]),
    raw(&["cluster-health", "--help"]),
    raw(&["member"]),
    raw(&["member", "--help"]),
    raw(&["member", "help"]),
    raw(&["member", "help", "list"]),
    raw(&["member", "list", "--help"]),
    raw(&["member", "nope"]),
    raw(&["user"]),
    raw(&["user", "grant", "--help"]),
    raw(&["user", "add", "--help"]),
    raw(&["user", "list", "--help"]),
    raw(&["role"]),
    raw(&["role", "grant", "--help"]),
    raw(&["role", "revoke", "--help"]),
    raw(&["role", "add", "--help"]),
    raw(&["role", "list", "--help"]),
    raw(&["auth"]),
    raw(&["auth", "enable", "--help"]),
    raw(&["set", "--bogus", "a", "b"]),
    raw(&["set", "--ttl", "abc", "k", "v"]),
    // Unreachable or malformed endpoints.
    raw(&["--endpoints", "http://127.0.0.1:1", "get", "/foo"]),
    raw(&["--endpoints", "http://127.0.0.1:1", "member", "list"]),
    raw(&["--endpoints", "http://127.0.0.1:1", "cluster-health"]),
    raw(&[
        "--no-sync",
        "--endpoints",
        "http://127.0.0.1:1",
        "get",
        "/foo",
    ]),
    raw(&[
        "--no-sync",
        "--endpoints",
        "http://127.0.0.1:1",
        "rm",
        "/foo",
    ]),
    raw(&[
        "--no-sync",
        "--endpoints",
        "http://127.0.0.1:1",
        "user",
        "list",
    ]),
    raw(&["--endpoints", "127.0.0.1:1", "get", "/foo"]),
    // The tutorial.
    c(&["set", "testkey", "hello"]),
    c(&["get", "testkey"]),
    c(&["update", "testkey", "world"]),
    c(&["update", "testkey2", "world"]),
    c(&["-o", "json", "update", "testkey2", "world"]),
    c(&["set", "/foo", "bar"]),
    c(&["get", "/foo"]),
    c(&["-o", "extended", "get", "/foo"]),
    c(&["-o", "json", "get", "/foo"]),
    c(&["--output=json", "set", "/foo", "baz"]),
    c(&["-o", "extended", "set", "/foo", "qux"]),
    c(&["get", "/nope"]),
    c(&["get"]),
    c(&["set", "k"]),
    input(&["set", "/stdin"], "from stdin\n"),
    c(&["get", "/stdin"]),
    c(&["set", "--", "/dash", "-v"]),
    c(&["set", "/dash2", "--", "-v"]),
    c(&["get", "/dash2"]),
    c(&["set", "/dash3", "-v"]),
    c(&["get", "/dash3"]),
    c(&["set", "/dash4", "a", "--", "b"]),
    c(&["get", "/dash4"]),
    c(&["get", "/dash"]),
    c(&["set", "/after", "v", "--ttl", "100"]),
    c(&["-o", "extended", "get", "/after"]),
    // mk, mkdir, setdir, updatedir.
    c(&["mk", "/foo", "again"]),
    c(&["-o", "json", "mk", "/foo", "again"]),
    c(&["mk", "/new", "v1"]),
    c(&["mk", "--ttl", "60", "/newttl", "v"]),
    c(&["mk", "--in-order", "/queue", "job1"]),
    c(&["mkdir", "/dir"]),
    c(&["mkdir", "/dir"]),
    c(&["-o", "extended", "mkdir", "/dir2"]),
    c(&["setdir", "/dir"]),
    c(&["setdir", "/foo"]),
    c(&["updatedir", "/dir", "--ttl", "300"]),
    c(&["updatedir", "/nodir"]),
    c(&["-o", "json", "updatedir", "/dir2"]),
    c(&["get", "/dir"]),
    c(&["set", "/dir/a", "1"]),
    c(&["set", "/dir/b", "2"]),
    c(&["set", "/dir/sub/c", "3"]),
    c(&["set", "/dir", "x"]),
    // ls.
    unordered(&["ls"]),
    unordered(&["ls", "/dir"]),
    c(&["ls", "--sort", "/dir"]),
    c(&["ls", "--recursive", "--sort", "/dir"]),
    c(&["ls", "-p", "--sort", "/dir"]),
    c(&["ls", "-r", "-p", "--sort"]),
    c(&["ls", "/foo"]),
    c(&["ls", "/nope"]),
    c(&["-o", "json", "ls", "--sort", "/dir"]),
    c(&["-o", "extended", "ls", "/dir"]),
    c(&["ls", "/dir", "-p", "--sort"]),
    c(&["get", "/foo", "-o", "json"]),
    // Compare-and-swap.
    c(&["set", "--swap-with-value", "wrong", "/foo", "v"]),
    c(&["set", "--swap-with-value", "qux", "/foo", "swapped"]),
    c(&["set", "--swap-with-index", "1", "/foo", "v"]),
    c(&["-o", "json", "set", "--swap-with-index", "1", "/foo", "v"]),
    // rm, rmdir.
    c(&["rm", "/dir"]),
    c(&["rm", "--dir", "/dir"]),
    c(&["rm", "--with-value", "nope", "/new"]),
    c(&["rm", "--with-value", "v1", "/new"]),
    c(&["rm", "--with-index", "1", "/dash"]),
    c(&["-o", "extended", "rm", "/dash"]),
    c(&["rm", "/dir/a"]),
    c(&["rmdir", "/dir"]),
    c(&["rmdir", "/dir2"]),
    c(&["rm", "--recursive", "/dir"]),
    c(&["-o", "json", "rm", "/nope"]),
    c(&["rm"]),
    c(&["rmdir"]),
    // Members and health.
    c(&["member", "list"]),
    c(&["--no-sync", "member", "list"]),
    c(&["member", "list", "extra"]),
    c(&["member", "add", "only-name"]),
    c(&["member", "add", "m2", "foo://127.0.0.1:1"]),
    c(&["member", "remove"]),
    c(&["member", "remove", "1234"]),
    c(&["member", "update", "1234"]),
    c(&["member", "update", "1234", "http://127.0.0.1:1"]),
    c(&["cluster-health"]),
    c(&["cluster-health", "extra"]),
    // Watches.
    watch(&["watch", "/w"], &[&["set", "/w", "1"]], false),
    watch(
        &["-o", "extended", "watch", "/w"],
        &[&["set", "/w", "2"]],
        false,
    ),
    watch(
        &["watch", "--recursive", "/wd"],
        &[&["set", "/wd/x", "1"]],
        false,
    ),
    watch(&["watch", "--after-index", "1", "/foo"], &[], false),
    watch(
        &["watch", "--forever", "/wf"],
        &[&["set", "/wf", "1"], &["set", "/wf", "2"]],
        true,
    ),
    watch(
        &[
            "exec-watch",
            "--",
            "sh",
            "-c",
            "echo $ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE",
            "/ew",
        ],
        &[&["set", "/ew", "one"], &["set", "/ew", "two"]],
        true,
    ),
    watch(
        &[
            "exec-watch",
            "--recursive",
            "/ewd",
            "--",
            "sh",
            "-c",
            "echo $ETCD_WATCH_KEY",
        ],
        &[&["set", "/ewd/a", "1"]],
        true,
    ),
    watch(
        &["-o", "json", "watch", "--forever", "/exp"],
        &[&["set", "--ttl", "1", "/exp", "v"], &["sleep", "2500"]],
        true,
    ),
    watch(
        &["watch", "--forever", "-r", "/wdir"],
        &[
            &["mkdir", "/wdir/sub"],
            &["set", "/wdir/sub/k", "v"],
            &["rm", "/wdir/sub/k"],
        ],
        true,
    ),
    watch(
        &[
            "exec-watch",
            "-r",
            "/ewdir",
            "--",
            "sh",
            "-c",
            "echo $ETCD_WATCH_ACTION",
        ],
        &[&["mkdir", "/ewdir/sub"], &["set", "/ewdir/sub/k", "v"]],
        true,
    ),
    watch(
        &["exec-watch", "-r", "nosuchcommand-x", "/ewx"],
        &[&["set", "/ewx", "v"]],
        false,
    ),
    c(&["watch"]),
    c(&["exec-watch", "/k"]),
    // Users, roles, auth.
    c(&["user", "list"]),
    c(&["user", "add", "root:rootpw"]),
    input(&["user", "add", "alice"], "alicepw\n"),
    c(&["user", "add"]),
    c(&["user", "get", "root"]),
    c(&["user", "get", "alice"]),
    c(&["user", "get", "nobody"]),
    c(&["user", "list"]),
    c(&["role", "list"]),
    c(&["role", "add", "reader"]),
    c(&["role", "add", "reader"]),
    c(&["role", "get", "reader"]),
    c(&["role", "grant", "reader", "--path", "/foo", "--read"]),
    c(&["role", "grant", "reader", "--path", "/foo", "--read"]),
    c(&["role", "grant", "reader", "--path", "/pub/*", "--rw"]),
    c(&["role", "grant", "reader", "--path", "foo", "--read"]),
    c(&["role", "grant", "reader", "--path", "/foo"]),
    c(&["role", "grant", "reader"]),
    c(&["role", "get", "reader"]),
    c(&["role", "revoke", "reader", "--path", "/pub/*", "--write"]),
    c(&["role", "get", "reader"]),
    c(&["role", "get", "nobody"]),
    c(&["user", "grant", "alice"]),
    c(&["user", "grant", "alice", "--roles", "reader"]),
    c(&["user", "get", "alice"]),
    c(&["user", "revoke", "alice", "--roles", "reader"]),
    c(&["user", "grant", "alice", "--roles", "reader"]),
    input(&["user", "passwd", "alice"], "alicepw2\n"),
    c(&["auth", "enable"]),
    c(&["get", "/foo"]),
    c(&["-u", "root:rootpw", "get", "/foo"]),
    c(&["-u", "root:wrong", "get", "/foo"]),
    c(&["--username", "alice:alicepw2", "get", "/foo"]),
    c(&["--username", "alice:alicepw2", "set", "/foo", "no"]),
    input(&["-u", "root", "user", "list"], "rootpw\n"),
    c(&["-u", "root:rootpw", "role", "list"]),
    env(
        &[("ETCDCTL_USERNAME", "root:rootpw")],
        &["--endpoints", "{EP}", "get", "/foo"],
    ),
    c(&["user", "list"]),
    c(&["auth", "disable"]),
    c(&["-u", "root:rootpw", "auth", "disable"]),
    c(&["role", "remove", "reader"]),
    c(&["user", "remove", "alice"]),
    c(&["user", "remove", "alice"]),
    c(&["auth", "enable", "extra"]),
    // Where the endpoints come from, and the timeouts.
    env(&[("ETCDCTL_ENDPOINTS", "{EP}")], &["get", "/foo"]),
    env(&[("ETCDCTL_ENDPOINT", "{EP}")], &["get", "/foo"]),
    env(&[("ETCDCTL_PEERS", "{EP}")], &["get", "/foo"]),
    env(
        &[("ETCDCTL_ENDPOINTS", "http://127.0.0.1:1")],
        &["--endpoints", "{EP}", "get", "/foo"],
    ),
    raw(&["-C", "{EP}", "get", "/foo"]),
    raw(&["--peers", "{EP}", "get", "/foo"]),
    raw(&["--endpoint", "{EP}", "get", "/foo"]),
    c(&["--total-timeout", "1ns", "get", "/foo"]),
    c(&["--no-sync", "--total-timeout", "1ns", "get", "/foo"]),
    c(&["--timeout", "1ns", "get", "/foo"]),
    c(&["--total-timeout", "1ns", "user", "list"]),
    c(&["--total-timeout", "1ns", "cluster-health"]),
    c(&["--no-sync", "--total-timeout", "1ns", "member", "list"]),
    c(&["-o", "bogus", "get", "/foo"]),
    c(&["get", "/foo", "extra"]),
    // Debug output.
    c(&["--debug", "get", "/foo"]),
    c(&["--debug", "--no-sync", "set", "/dbg", "a b&c"]),
    c(&["--debug", "user", "list"]),
    c(&["--debug", "cluster-health"]),
];

/// Runs `bin` in v2 mode with `args`, stdin given and then closed.
fn run(bin: &str, args: &[String], stdin: Option<&str>) -> Output {
    run_env(bin, args, stdin, &[])
}

fn run_env(bin: &str, args: &[String], stdin: Option<&str>, env: &[(String, String)]) -> Output {
    let mut ch = spawn_env(bin, args, env);
    let mut pipe = ch.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(pipe);
    ch.wait_with_output().unwrap()
}

fn spawn(bin: &str, args: &[String]) -> Child {
    spawn_env(bin, args, &[])
}

fn spawn_env(bin: &str, args: &[String], env: &[(String, String)]) -> Child {
    Command::new(bin)
        .env("ETCDCTL_API", "2")
        .env_remove("ETCDCTL_ENDPOINTS")
        .envs(env.iter().cloned())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs a watch case: start, let it connect, run the writes, then wait
/// (at most 10 s) or interrupt.
fn run_watch(bin: &str, args: &[String], ep: &str, during: &[&[&str]], interrupt: bool) -> Output {
    let mut ch = spawn(bin, args);
    drop(ch.stdin.take());
    std::thread::sleep(Duration::from_millis(700));
    for w in during {
        if let ["sleep", ms] = w {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            continue;
        }
        let mut a = vec![format!("--endpoints={ep}")];
        a.extend(w.iter().map(|s| s.to_string()));
        let o = run(bin, &a, None);
        assert!(o.status.success(), "{w:?}: {o:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    if interrupt {
        std::thread::sleep(Duration::from_millis(500));
        let _ = Command::new("kill")
            .args(["-INT", &ch.id().to_string()])
            .status();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if ch.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = ch.kill();
    ch.wait_with_output().unwrap()
}

/// Replaces the digits that follow `marker` in `s` with `with`.
fn replace_number_after(s: &str, marker: &str, with: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if n > 0 {
            out.push_str(with);
        }
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

/// Replaces every 16-digit hex word (a member id) with `<ID>`.
fn replace_member_ids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let end = (i..b.len())
            .find(|&j| !b[j].is_ascii_hexdigit())
            .unwrap_or(b.len());
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let word_end = end == b.len() || !b[end].is_ascii_alphanumeric();
        if end > i
            && word_start
            && word_end
            && (end - i == 16 || (12..16).contains(&(end - i)))
            && b[i..end].iter().any(|c| c.is_ascii_alphabetic())
        {
            out.push_str("<ID>");
            i = end;
        } else if end > i {
            out.push_str(&s[i..end]);
            i = end;
        } else {
            let ch = s[i..].chars().next().unwrap();
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// Replaces the value of every `"expiration":"…"` with `<TIME>`.
fn replace_expirations(s: &str) -> String {
    let marker = "\"expiration\":\"";
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(marker) {
        out.push_str(&rest[..i + marker.len()]);
        rest = &rest[i + marker.len()..];
        let n = rest.find('"').unwrap_or(rest.len());
        out.push_str("<TIME>");
        rest = &rest[n..];
    }
    out.push_str(rest);
    out
}

fn normalise(s: &[u8], ports: &[u16]) -> String {
    let mut s = String::from_utf8_lossy(s).into_owned();
    for p in ports {
        s = s.replace(&format!(":{p}"), ":<PORT>");
    }
    for m in [
        "Index: ",
        "\"createdIndex\":",
        "\"modifiedIndex\":",
        "\"index\":",
        "TTL: ",
        "\"ttl\":",
        ") [",
        "ETCD_WATCH_MODIFIED_INDEX=",
        "waitIndex=",
    ] {
        s = replace_number_after(&s, m, "<N>");
    }
    replace_expirations(&replace_member_ids(&s))
}

/// A server binary with `--enable-v2`, in a fresh dir.
fn start(bin: &str) -> (Server, u16) {
    let dir = temp_dir("ctlv2");
    let port = free_port();
    let peer = free_port();
    let srv = Server::spawn_bin(bin, None, &dir, port, peer, &["--enable-v2"]);
    srv.wait_ready();
    (srv, peer)
}

/// The transcript against two fresh `bin` servers: the real etcdctl on
/// one, ours on the other. Returns how many cases matched.
fn transcript(bin: &str) -> usize {
    let (real_srv, real_peer) = start(bin);
    let (our_srv, our_peer) = start(bin);
    let ports = [real_srv.port, real_peer, our_srv.port, our_peer];
    let mut diffs = Vec::new();
    for (n, case) in CASES.iter().enumerate() {
        let mut outs = Vec::new();
        for (ctl, srv) in [(REAL_ETCDCTL, &real_srv), (ETCDCTL, &our_srv)] {
            let ep = srv.endpoint();
            let mut args: Vec<String> = Vec::new();
            if !matches!(case.mode, Mode::Raw) {
                args.push(format!("--endpoints={ep}"));
            }
            args.extend(case.args.iter().map(|s| s.replace("{EP}", &ep)));
            let env: Vec<(String, String)> = case
                .env
                .iter()
                .map(|(k, v)| (k.to_string(), v.replace("{EP}", &ep)))
                .collect();
            let o = match case.mode {
                Mode::Watch { during, interrupt } => run_watch(ctl, &args, &ep, during, interrupt),
                _ => run_env(ctl, &args, case.stdin, &env),
            };
            let mut stdout = normalise(&o.stdout, &ports);
            if matches!(case.mode, Mode::Unordered) {
                let mut lines: Vec<&str> = stdout.lines().collect();
                lines.sort_unstable();
                stdout = lines.join("\n");
            }
            outs.push((
                stdout,
                normalise(&o.stderr, &ports),
                common::shell_status(o.status),
            ));
        }
        if outs[0] != outs[1] {
            diffs.push(format!(
                "case {n} {:?}\n  etcdctl 3.4: {:?}\n  ours:        {:?}",
                case.args, outs[0], outs[1]
            ));
        }
    }
    diffs.extend(backups(bin, &real_srv, &our_srv));
    for d in &diffs {
        eprintln!("{d}");
    }
    assert!(
        diffs.is_empty(),
        "{} of {} cases differ (server {bin})",
        diffs.len(),
        CASES.len()
    );
    for srv in [real_srv, our_srv] {
        let dir = srv.dir.clone();
        drop(srv);
        let _ = std::fs::remove_dir_all(dir);
    }
    CASES.len()
}

/// Replaces the capnslog time stamps at the start of lines.
fn normalise_log_times(s: &str) -> String {
    s.lines()
        .map(|l| match l.find(" I | ") {
            Some(i) if i == 26 => format!("<TIME>{}", &l[i..]),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `backup` by both etcdctls: its usage errors from an empty directory,
/// then a backup of each twin's data dir (`srv` wrote it and still runs),
/// which must start with `--force-new-cluster` (the real etcd only: the
/// backup reads and writes etcd's formats) and hold the keys the twin
/// holds. Returns the differences.
fn backups(bin: &str, real_srv: &Server, our_srv: &Server) -> Vec<String> {
    let mut diffs = Vec::new();
    let cases: &[&[&str]] = &[
        &["backup"],
        &["backup", "--data-dir", "nowhere", "--backup-dir", "out"],
        &[
            "backup",
            "--data-dir",
            "{DATA}",
            "--backup-dir",
            "{OUT}",
            "--with-v3",
        ],
        &["backup", "--data-dir", "{DATA}", "--backup-dir", "{OUT}"],
    ];
    for (i, case) in cases.iter().enumerate() {
        if case.contains(&"--with-v3") {
            continue; // not built in ours
        }
        // `backup` reads etcd's WAL and snapshot files; another server's
        // data dir (oxcd's own layout) is not what it is for.
        if bin != REAL_ETCD && case.contains(&"{DATA}") {
            eprintln!("backup of {bin}'s data dir not compared: not etcd's file format");
            continue;
        }
        let mut outs = Vec::new();
        for (ctl, srv) in [(REAL_ETCDCTL, real_srv), (ETCDCTL, our_srv)] {
            let cwd = temp_dir("ctlv2-backup");
            let data = srv.dir.join("default.etcd");
            let out = cwd.join(format!("backup-{i}"));
            let args: Vec<String> = case
                .iter()
                .map(|a| {
                    a.replace("{DATA}", &data.display().to_string())
                        .replace("{OUT}", &out.display().to_string())
                })
                .collect();
            let o = Command::new(ctl)
                .env("ETCDCTL_API", "2")
                .current_dir(&cwd)
                .args(&args)
                .output()
                .unwrap();
            let stderr =
                String::from_utf8_lossy(&o.stderr).replace(&cwd.display().to_string(), "<CWD>");
            let stderr = stderr.replace(&srv.dir.display().to_string(), "<DIR>");
            outs.push((
                String::from_utf8_lossy(&o.stdout).into_owned(),
                normalise_log_times(&stderr),
                common::shell_status(o.status),
            ));
            if o.status.success() && bin == REAL_ETCD {
                if let Some(d) = restored_differs(bin, srv, &out) {
                    diffs.push(format!("backup by {ctl}: {d}"));
                }
            }
            let _ = std::fs::remove_dir_all(&cwd);
        }
        if outs[0] != outs[1] {
            diffs.push(format!(
                "backup case {case:?}\n  etcdctl 3.4: {:?}\n  ours:        {:?}",
                outs[0], outs[1]
            ));
        }
    }
    diffs
}

/// Starts `bin` on the backup `dir` as a new cluster and compares its
/// keys with the original's; `None` when they are the same.
fn restored_differs(bin: &str, original: &Server, dir: &std::path::Path) -> Option<String> {
    let port = free_port();
    let peer = free_port();
    let data = dir.display().to_string();
    let restored = Server::spawn_bin(
        bin,
        None,
        dir.parent().unwrap(),
        port,
        peer,
        &["--enable-v2", "--force-new-cluster", "--data-dir", &data],
    );
    restored.wait_ready();
    let list = |srv: &Server| {
        let args = vec![
            format!("--endpoints={}", srv.endpoint()),
            "ls".into(),
            "-r".into(),
            "--sort".into(),
            "-p".into(),
        ];
        let o = run(REAL_ETCDCTL, &args, None);
        // In-order keys are named by index, and the backup renumbers.
        let keys: Vec<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(|l| match l.rsplit_once('/') {
                Some((dir, n)) if n.len() == 20 && n.bytes().all(|b| b.is_ascii_digit()) => {
                    format!("{dir}/<SEQ>")
                }
                _ => l.to_string(),
            })
            .collect();
        (keys.join("\n"), o.status.success())
    };
    let (want, got) = (list(original), list(&restored));
    (want != got || !got.1 || want.0.is_empty())
        .then(|| format!("restored keys {got:?}, original {want:?}"))
}

fn oracle_present() -> bool {
    common::real_etcd_present(REAL_ETCD, "ctl_v2")
        && common::real_etcd_present(REAL_ETCDCTL, "ctl_v2")
}

#[test]
fn etcdctl_v2_transcript_against_etcd_34() {
    if !oracle_present() {
        return;
    }
    let n = transcript(REAL_ETCD);
    eprintln!("ctl_v2: {n} cases equal against {REAL_ETCD}");
}

/// The same cases with both etcdctls talking to oxcd's server (or to the
/// binary `OXCD_CTLV2_SERVER` names): the v2 API as etcdctl 3.4 sees it.
#[test]
fn etcdctl_v2_transcript_against_oxcd() {
    let bin = std::env::var("OXCD_CTLV2_SERVER").unwrap_or_else(|_| common::ETCD.to_string());
    if !oracle_present() {
        return;
    }
    let n = transcript(&bin);
    eprintln!("ctl_v2: {n} cases equal against {bin}");
}

#[test]
fn api_version_selects_the_mode() {
    let o = Command::new(ETCDCTL)
        .env("ETCDCTL_API", "7")
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "unsupported API version 7\n"
    );
    assert_eq!(o.status.code(), Some(1));
    if std::path::Path::new(REAL_ETCDCTL).exists() {
        let real = Command::new(REAL_ETCDCTL)
            .env("ETCDCTL_API", "7")
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(real.stderr, o.stderr);
        assert_eq!(real.status.code(), o.status.code());
    }
}
