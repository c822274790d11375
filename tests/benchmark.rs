//! The `benchmark` binary (etcd 3.4's `tools/benchmark`) against an oxcd
//! server: each command runs to the end, prints etcd's report, and did
//! the writes it was asked for.
#![allow(clippy::disallowed_methods)]

mod common;

use std::process::Command;

use common::{free_port, stdout, temp_dir, Server};

const BENCH: &str = env!("CARGO_BIN_EXE_benchmark");

/// Runs the benchmark against `ep`; its stdout, after checking it exited 0.
fn bench(ep: &str, args: &[&str]) -> String {
    let out = Command::new(BENCH)
        .arg(format!("--endpoints={ep}"))
        .args(args)
        .output()
        .expect("run benchmark");
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "benchmark {args:?} failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// Checks one report's shape: the summary, a histogram of 11 rows whose
/// counts add up to `n`, the distribution, no errors. Returns what follows.
fn check_report(text: &str, n: usize) -> &str {
    let at = text
        .find("\nSummary:\n")
        .unwrap_or_else(|| panic!("no summary:\n{text}"));
    let report = &text[at..];
    for line in [
        "  Total:\t",
        "  Slowest:\t",
        "  Fastest:\t",
        "  Average:\t",
        "  Stddev:\t",
    ] {
        let l = report
            .lines()
            .find(|l| l.starts_with(line))
            .unwrap_or_else(|| panic!("no {line:?} line:\n{report}"));
        assert!(l.ends_with(" secs."), "{l:?}");
    }
    let rps = report
        .lines()
        .find_map(|l| l.strip_prefix("  Requests/sec:\t"))
        .unwrap_or_else(|| panic!("no Requests/sec:\n{report}"));
    assert!(rps.parse::<f64>().unwrap() > 0.0, "{rps}");
    let hist = report
        .split("\nResponse time histogram:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no histogram:\n{report}"));
    let rows: Vec<&str> = hist.lines().take_while(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 11, "{hist}");
    let counted: usize = rows
        .iter()
        .map(|r| {
            let n = r.split('[').nth(1).and_then(|s| s.split(']').next());
            n.and_then(|n| n.parse::<usize>().ok())
                .unwrap_or_else(|| panic!("histogram row {r:?}"))
        })
        .sum();
    assert_eq!(counted, n, "{hist}");
    let dist = report
        .split("\nLatency distribution:\n")
        .nth(1)
        .unwrap_or_else(|| panic!("no distribution:\n{report}"));
    assert!(dist.starts_with("  10% in "), "{dist}");
    assert!(dist.contains("  50% in "), "{dist}");
    assert!(!report.contains("Error distribution"), "{report}");
    &report[1..]
}

/// How many keys the server holds (etcdctl 3.4 has no `--count-only`;
/// the JSON answer's count).
fn key_count(s: &Server) -> i64 {
    let out = stdout(&s.ctl(&[
        "get",
        "",
        "--from-key",
        "--keys-only",
        "--limit=1",
        "-w",
        "json",
    ]));
    let count = out
        .split("\"count\":")
        .nth(1)
        .unwrap_or_else(|| panic!("no count in {out}"));
    count
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn benchmark_commands_against_oxcd() {
    let dir = temp_dir("benchmark");
    let s = Server::start(&dir, free_port(), &[]);
    let ep = format!("127.0.0.1:{}", s.port);
    let http = s.endpoint();

    // put: 100 sequential keys of a key space of 100 are 100 keys.
    let out = bench(
        &ep,
        &[
            "--clients=4",
            "--conns=2",
            "put",
            "--total=100",
            "--sequential-keys",
            "--key-space-size=100",
            "--val-size=16",
        ],
    );
    check_report(&out, 100);
    assert!(
        out.ends_with("\n\n"),
        "put prints the report with Println: {out:?}"
    );
    assert_eq!(key_count(&s), 100);

    // The `--flag value` form, and an http:// endpoint.
    let out = bench(
        &http,
        &["range", "--total", "50", "--consistency", "s", "foo"],
    );
    assert!(out.starts_with("bench with serializable range\n"), "{out}");
    check_report(&out, 50);
    let out = bench(&ep, &["range", "foo", "--total=20"]);
    assert!(out.starts_with("bench with linearizable range\n"), "{out}");

    // txn-put: 40 txns of 5 puts over a key space of 300 write keys 0..200,
    // 200 of them (100 are already there from put, the same 8-byte keys).
    let out = bench(
        &ep,
        &[
            "--clients=3",
            "txn-put",
            "--total=40",
            "--txn-ops=5",
            "--key-space-size=300",
        ],
    );
    check_report(&out, 40);
    assert_eq!(key_count(&s), 200);

    let out = bench(&ep, &["--clients=3", "lease-keepalive", "--total=30"]);
    check_report(&out, 30);
    let leases = stdout(&s.ctl(&["lease", "list"]));
    assert!(leases.starts_with("found 3 leases"), "{leases}");

    // watch: two reports, creation (20 watchers) and events (10 puts, each
    // seen by the 20 watchers of the one key).
    let out = bench(
        &ep,
        &[
            "--clients=2",
            "watch",
            "--streams=2",
            "--watch-per-stream=10",
            "--put-total=10",
        ],
    );
    let (created, events) = out
        .split_once("Watch events received summary:\n")
        .unwrap_or_else(|| panic!("no events report:\n{out}"));
    let created = created
        .strip_prefix("Watch creation summary:\n")
        .unwrap_or_else(|| panic!("no creation report:\n{out}"));
    check_report(created, 20);
    check_report(events, 200);

    // stm: every transaction commits in the end; with all keys written.
    for (iso, locker) in [
        ("r", "stm"),
        ("ss", "stm"),
        ("s", "lock-client"),
        ("c", "lock-rpc"),
    ] {
        let iso = format!("--isolation={iso}");
        let locker = format!("--stm-locker={locker}");
        let out = bench(
            &ep,
            &[
                "--clients=3",
                "stm",
                "--total=30",
                "--keys=5",
                "--keys-per-txn=2",
                "--txn-wr-percent=100",
                &iso,
                &locker,
            ],
        );
        check_report(&out, 30);
    }

    // mvcc put runs in-process: the weighted report, then the plain one.
    let out = bench(&ep, &["mvcc", "put", "--total=200", "--txn", "--txn-ops=3"]);
    let rest = check_report(&out, 200);
    check_report(rest, 200);

    // Errors go to the error distribution; an unknown flag is refused.
    let out = bench(&ep, &["put", "--total=5", "--key-size=0"]);
    assert!(
        out.contains("\nError distribution:\n  [5]\tetcdserver: key is not provided\n"),
        "{out}"
    );
    let bad = Command::new(BENCH)
        .args(["put", "--no-such-flag=1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown flag: --no-such-flag"));
}
