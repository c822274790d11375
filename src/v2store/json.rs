//! The pieces of Go's `encoding/json` and `time` formatting the v2 API's
//! bodies are made of, byte for byte: clients compare these bodies, and
//! etcd's own tests (and its users' scripts) match on them.
//!
//! Written by hand because `serde` is not a dependency of the simulated build,
//! and because Go escapes more than serde_json does (`<`, `>`, `&`, U+2028,
//! U+2029).

use std::fmt::Write;

/// Appends `s` as a JSON string the way Go's `encoding/json` writes it
/// (HTML-safe: `<` is `\u003c`).
pub fn push_str(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{0}'..='\u{1f}' => {
                let b = c as u8;
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0xf) as usize] as char);
            }
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Appends a JSON array of strings (Go's `[]string`, not nil).
pub fn push_str_list(out: &mut String, v: &[String]) {
    out.push('[');
    for (i, s) in v.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str(out, s);
    }
    out.push(']');
}

/// Appends `"key":` (keys are plain ASCII identifiers, never escaped).
pub fn push_key(out: &mut String, key: &str) {
    debug_assert!(key.bytes().all(|b| b.is_ascii_alphanumeric()));
    out.push('"');
    out.push_str(key);
    out.push_str("\":");
}

/// Appends a float64 as Go's `encoding/json` does: shortest representation,
/// `%f`-style within [1e-6, 1e21), exponent form (`1e+21`, `1e-7`) outside.
/// `None` for NaN and infinities, which Go refuses to encode.
pub fn push_f64(out: &mut String, f: f64) -> Option<()> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        let (mantissa, exp) = s.split_once('e').expect("{:e} has an exponent");
        out.push_str(mantissa);
        out.push('e');
        if !exp.starts_with('-') {
            out.push('+');
        }
        out.push_str(exp);
    } else {
        // Rust's Display is the shortest round-trip form, as Go's -1 precision.
        let _ = write!(out, "{f}");
    }
    Some(())
}

/// Nanoseconds per second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Formats unix nanoseconds as Go's `time.RFC3339Nano` in UTC, as
/// `time.Time.MarshalJSON` (without quotes): trailing zeros of the fraction
/// are dropped, and so is the fraction when it is zero
/// (`2026-12-05T17:35:31.17383588Z`, `2026-12-05T17:35:31Z`).
pub fn rfc3339_nano(unix_ns: i64) -> String {
    let secs = unix_ns.div_euclid(NANOS_PER_SEC);
    let nanos = unix_ns.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let mut s = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a duration in nanoseconds as Go's `time.Duration.String`
/// (`17.386128239s`, `1m2.5s`, `1h0m0s`, `1.5ms`, `0s`).
pub fn go_duration(d: i64) -> String {
    if d == 0 {
        return "0s".to_string();
    }
    let neg = d < 0;
    let u = d.unsigned_abs();
    let mut s = String::new();
    if u < NANOS_PER_SEC as u64 {
        // Below a second Go picks the largest unit that keeps an integer part.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        push_fraction(&mut s, u, scale);
        s.push_str(unit);
    } else {
        let secs = u / NANOS_PER_SEC as u64;
        let h = secs / 3600;
        let m = secs / 60 % 60;
        if h > 0 {
            let _ = write!(s, "{h}h{m}m");
        } else if m > 0 {
            let _ = write!(s, "{m}m");
        }
        push_fraction(
            &mut s,
            u % (60 * NANOS_PER_SEC as u64),
            NANOS_PER_SEC as u64,
        );
        s.push('s');
    }
    if neg {
        s.insert(0, '-');
    }
    s
}

/// `v / scale` with the remainder as a decimal fraction without trailing zeros.
fn push_fraction(out: &mut String, v: u64, scale: u64) {
    let _ = write!(out, "{}", v / scale);
    let rem = v % scale;
    if rem != 0 {
        let digits = scale.ilog10() as usize;
        let frac = format!("{rem:0digits$}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_escape_as_go() {
        // What etcd answered for value=<a&b>"\ é\x01\t.
        let mut s = String::new();
        push_str(&mut s, "<a&b>\"\\ é\u{1}\t");
        assert_eq!(s, r#""\u003ca\u0026b\u003e\"\\ é\u0001\t""#);
        let mut s = String::new();
        push_str(&mut s, "\u{8}\u{c}\u{2028}\u{7f}");
        assert_eq!(s, "\"\\u0008\\u000c\\u2028\u{7f}\"");
    }

    #[test]
    fn floats_format_as_go() {
        let cases: &[(f64, &str)] = &[
            (0.0, "0"),
            (1.5, "1.5"),
            // Go pads the shortest digits with zeros: leader stats' initial minimum.
            (9.223372036854776e18, "9223372036854776000"),
            (1e21, "1e+21"),
            (1.5e-7, "1.5e-7"),
            (1e-10, "1e-10"),
            (0.000001, "0.000001"),
            (-2.25, "-2.25"),
        ];
        for (f, want) in cases {
            let mut s = String::new();
            push_f64(&mut s, *f).unwrap();
            assert_eq!(&s, want, "{f}");
        }
        assert!(push_f64(&mut String::new(), f64::NAN).is_none());
    }

    #[test]
    fn times_format_as_rfc3339_nano() {
        // 2026-12-05T17:35:53.571979534Z, from an etcd answer.
        assert_eq!(
            rfc3339_nano(1_796_492_153_571_979_534),
            "2026-12-05T17:35:53.571979534Z"
        );
        assert_eq!(
            rfc3339_nano(1_796_492_131_173_835_880),
            "2026-12-05T17:35:31.17383588Z"
        );
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(951_782_400 * NANOS_PER_SEC),
            "2000-02-29T00:00:00Z"
        );
        assert_eq!(rfc3339_nano(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn durations_format_as_go() {
        let s = NANOS_PER_SEC;
        assert_eq!(go_duration(17_386_128_239), "17.386128239s");
        assert_eq!(go_duration(62 * s + s / 2), "1m2.5s");
        assert_eq!(go_duration(3600 * s), "1h0m0s");
        assert_eq!(go_duration(1_500_000), "1.5ms");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(7), "7ns");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(-s), "-1s");
    }
}
