//! Go's parsing and formatting that etcdctl's output depends on (its
//! `util.go`, and the Go libraries it calls): a byte-exact copy of what Go
//! prints is what makes our output match etcdctl's.

use std::io;
use std::path::Path;
use std::time::Duration;

pub use crate::mvcc::prefix_end;

/// `strconv.ParseInt`, failing with Go's message (etcdctl prints it).
pub(super) fn parse_int(s: &str) -> Result<i64, String> {
    parse_int_radix(s, 10)
}

/// Go's `strconv.ParseInt(s, radix, 64)`, with its error texts.
pub(super) fn parse_int_radix(s: &str, radix: u32) -> Result<i64, String> {
    use std::num::IntErrorKind::{NegOverflow, PosOverflow};
    i64::from_str_radix(s, radix).map_err(|e| match e.kind() {
        PosOverflow | NegOverflow => format!("strconv.ParseInt: parsing {s:?}: value out of range"),
        _ => format!("strconv.ParseInt: parsing {s:?}: invalid syntax"),
    })
}

/// `time.ParseDuration` for the timeout flags (`5s`, `500ms`, `1.5m`).
pub(super) fn parse_go_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic() || c == 'µ')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

/// Splits a line into words, honouring double quotes (etcdctl's `Argify`),
/// so `txn` reads its requests as a shell would split them.
pub(super) fn argify(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut has = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quote => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_quote = !in_quote;
                has = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Go's `%q` for a byte string.
pub fn go_quote(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    let valid = std::str::from_utf8(b).is_ok();
    let mut out = String::from("\"");
    if valid {
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\x07' => out.push_str("\\a"),
                '\x08' => out.push_str("\\b"),
                '\x0c' => out.push_str("\\f"),
                '\x0b' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c => out.push(c),
            }
        }
    } else {
        for &byte in b {
            match byte {
                b'"' => out.push_str("\\\""),
                b'\\' => out.push_str("\\\\"),
                0x20..=0x7e => out.push(byte as char),
                _ => out.push_str(&format!("\\x{byte:02x}")),
            }
        }
    }
    out.push('"');
    out
}

/// go-humanize's `Bytes` (SI units), as `endpoint status` shows DB size.
pub fn humanize_bytes(s: u64) -> String {
    if s < 10 {
        return format!("{s} B");
    }
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let e = ((s as f64).ln() / 1000f64.ln()).floor() as usize;
    let val = (s as f64 / 1000f64.powi(e as i32) * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[e])
    } else {
        format!("{val:.0} {}", UNITS[e])
    }
}

/// Go's `time.Duration.String()`, as `endpoint health` shows how long a
/// check took and `check perf`'s bar its final time.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    let trim = |v: String| {
        if v.contains('.') {
            v.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            v
        }
    };
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{}µs", trim(format!("{:.3}", ns as f64 / 1e3)))
    } else if ns < 1_000_000_000 {
        format!("{}ms", trim(format!("{:.6}", ns as f64 / 1e6)))
    } else if ns < 60_000_000_000 {
        format!("{}s", trim(format!("{:.9}", ns as f64 / 1e9)))
    } else {
        // `1m0s`, `1h2m3.5s`: hours only when there are some.
        let (h, m) = (ns / 3_600_000_000_000, ns / 60_000_000_000 % 60);
        let s = trim(format!("{:.9}", (ns % 60_000_000_000) as f64 / 1e9));
        let hours = if h > 0 {
            format!("{h}h")
        } else {
            String::new()
        };
        format!("{hours}{m}m{s}s")
    }
}

/// Go's `*PathError` text.
pub(crate) fn path_error(op: &str, path: &Path, e: &io::Error) -> String {
    format!(
        "{op} {}: {}",
        path.display(),
        crate::rt::net::http1::go_errno(e)
    )
}

/// etcd's `fileutil.CreateDirAll`: the directory (0700), which must be
/// empty.
pub(crate) fn create_dir_all(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| path_error("mkdir", dir, &e))?;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| path_error("open", dir, &e))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    if !names.is_empty() {
        names.sort();
        return Err(format!(
            "expected {:?} to be empty, got {names:?}",
            dir.display().to_string()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"foo"), b"fop");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn argify_honours_quotes() {
        assert_eq!(argify("put k \"a b\""), vec!["put", "k", "a b"]);
    }

    #[test]
    fn formats_match_go() {
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5 MB");
        assert_eq!(humanize_bytes(181), "181 B");
        assert_eq!(go_duration(Duration::from_nanos(1_047_254)), "1.047254ms");
        assert_eq!(go_duration(Duration::from_nanos(838_714)), "838.714µs");
        assert_eq!(go_duration(Duration::from_secs(60)), "1m0s");
        assert_eq!(go_duration(Duration::from_millis(3_723_500)), "1h2m3.5s");
        assert_eq!(go_quote(b"a\"b\n"), "\"a\\\"b\\n\"");
    }
}
