//! `etcdctl check perf` and `check datascale` run their whole workloads
//! (a minute of puts; ten thousand keys): our etcdctl against the real
//! etcd 3.4 and the real etcdctl against oxcd, at the same time. Each
//! transcript must have etcdctl 3.4's shape, figures aside: pb's counters,
//! the clean-up lines, the verdict lines, an exit code that agrees with the
//! verdict, and no key left under the prefix.

// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

mod common;

use common::{free_port, real_etcd_present, temp_dir, Server, ETCD, ETCDCTL, REAL_ETCD};

const REAL_ETCDCTL: &str = "/usr/bin/etcdctl";

/// Runs `ctl` against `port`: exit code and stdout.
fn run(ctl: &str, port: u16, args: &[&str]) -> (i32, String) {
    let (code, out, _) = common::etcdctl_at(ctl, port, args);
    (code, out)
}

/// The text with every run of digits (and a `.` between two) as `9`, and
/// runs of spaces as one: what is left is the shape.
fn shape(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        let c = if c.is_ascii_digit() { '9' } else { c };
        let last = out.chars().last();
        let repeat = matches!((last, c), (Some('9'), '9') | (Some(' '), ' '));
        let decimal = last == Some('.') && c == '9' && out.ends_with("9.");
        if decimal {
            out.pop();
            continue;
        }
        if !repeat {
            out.push(c);
        }
    }
    out
}

/// Checks a transcript: pb's `\r`-separated counters up to `total`, then
/// the lines that must follow, given as their shapes (alternatives split
/// by `|`); returns the verdict lines.
fn check_transcript(out: &str, total: &str, expected: &[&str]) -> Vec<String> {
    let mut lines = out.lines();
    let mut first = lines.next().unwrap_or_default();
    if let Some(rest) = first.strip_prefix("Start data scale check") {
        assert_eq!(
            shape(rest),
            " for work load [9 key-value pairs, 9 bytes per key-value, 9 concurrent clients].",
            "{out}"
        );
        first = lines.next().unwrap_or_default();
    }
    let bars: Vec<&str> = first.split('\r').skip(1).collect();
    assert!(
        !bars.is_empty() && first.starts_with('\r'),
        "no progress: {out:?}"
    );
    for b in &bars {
        let s = shape(b);
        let ok = [
            " 9 / 9 9%",
            " 9 / 9 9% 9s",
            " 9 / 9 9% 9m9s",
            " 9 / 9 9% 9h9m9s",
        ]
        .contains(&s.as_str());
        assert!(ok, "a bar {b:?} in {out:?}");
        assert!(b.contains(&format!(" / {total} ")), "{b:?}");
    }
    let last = bars.last().expect("one bar at least");
    assert!(
        last.starts_with(&format!(" {total} / {total}  100.00% ")),
        "{last:?}"
    );
    let rest: Vec<&str> = lines.collect();
    assert_eq!(rest.len(), expected.len(), "{out}");
    for (line, want) in rest.iter().zip(expected) {
        let s = shape(line);
        assert!(
            want.split('|').any(|w| w == s),
            "{line:?} is not {want:?} in\n{out}"
        );
    }
    rest.iter().map(|l| l.to_string()).collect()
}

const CLEAN_UP: [&str; 4] = [
    "Compacting with revision 9",
    "Compacted with revision 9",
    "Defragmenting \"9:9\"",
    "Defragmented \"9:9\"",
];

#[test]
fn check_perf_and_datascale_as_etcdctl() {
    if !real_etcd_present(REAL_ETCD, "ctl_check") {
        return;
    }
    let (real_dir, our_dir) = (temp_dir("ctl-check-real"), temp_dir("ctl-check-oxcd"));
    let (real_port, our_port) = (free_port(), free_port());
    let real = Server::spawn_bin(REAL_ETCD, None, &real_dir, real_port, free_port(), &[]);
    let ours = Server::spawn_bin(ETCD, None, &our_dir, our_port, free_port(), &[]);
    real.wait_ready();
    ours.wait_ready();

    let flags = ["--auto-compact", "--auto-defrag"];
    let perf = |ctl: &'static str, port: u16| {
        std::thread::spawn(move || run(ctl, port, &["check", "perf", flags[0], flags[1]]))
    };
    let a = perf(ETCDCTL, real_port);
    let b = perf(REAL_ETCDCTL, our_port);
    let mut expected = CLEAN_UP.to_vec();
    expected.extend([
        "PASS: Throughput is 9 writes/s|FAIL: Throughput too low: 9 writes/s",
        "PASS: Slowest request took 9s|Slowest request took too long: 9s",
        "PASS: Stddev is 9s|Stddev too high: 9s",
        "PASS|FAIL",
    ]);
    for (who, h) in [("our etcdctl on etcd", a), ("etcdctl on oxcd", b)] {
        let (code, out) = h.join().unwrap();
        let verdict = check_transcript(&out, "60", &expected);
        let passed = verdict.last().is_some_and(|l| l == "PASS");
        assert_eq!(code, if passed { 0 } else { 1 }, "{who}: {out}");
        // A verdict line says PASS exactly when the check passed.
        let failed_lines = verdict[4..7]
            .iter()
            .filter(|l| !l.starts_with("PASS"))
            .count();
        assert_eq!(passed, failed_lines == 0, "{who}: {out}");
    }

    let scale = |ctl: &'static str, port: u16| {
        std::thread::spawn(move || run(ctl, port, &["check", "datascale", flags[0], flags[1]]))
    };
    let a = scale(ETCDCTL, real_port);
    let b = scale(REAL_ETCDCTL, our_port);
    let mut expected = CLEAN_UP.to_vec();
    expected.push("PASS: Approximate system memory used : 9 MB.|PASS: Approximate system memory used : -9 MB.");
    for (who, h) in [("our etcdctl on etcd", a), ("etcdctl on oxcd", b)] {
        let (code, out) = h.join().unwrap();
        check_transcript(&out, "10000", &expected);
        assert_eq!(code, 0, "{who}: {out}");
    }

    for port in [real_port, our_port] {
        for prefix in ["/etcdctl-check-perf/", "/etcdctl-check-datascale/"] {
            let (_, left) = run(ETCDCTL, port, &["get", prefix, "--prefix", "--keys-only"]);
            assert_eq!(left, "", "keys left under {prefix}");
        }
    }
    drop((real, ours));
    let _ = std::fs::remove_dir_all(&real_dir);
    let _ = std::fs::remove_dir_all(&our_dir);
}

#[test]
fn shapes() {
    assert_eq!(shape(" 12 / 60   20.00% 00m48s"), " 9 / 9 9% 9m9s");
    // A decimal point between digits goes too (an address's dots as well).
    assert_eq!(
        shape("Defragmented \"127.0.0.1:2379\""),
        "Defragmented \"9:9\""
    );
    assert_eq!(
        shape("PASS: Slowest request took 0.289413s"),
        "PASS: Slowest request took 9s"
    );
}
