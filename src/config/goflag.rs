//! Value syntax of Go's `flag` package and `time.ParseDuration`, with Go's
//! error texts, as etcd's flags take them.

use std::time::Duration;

use super::flags::Kind;

/// Go's `strconv.ParseBool`.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `time.ParseDuration`: a signed sequence of decimal numbers with
/// units (`300ms`, `1.5h`, `2h45m`); `0` alone needs no unit. Negative
/// durations parse (etcd accepts them) and come back as zero.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total_ns = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total_ns += value * scale;
        rest = tail;
    }
    if neg {
        return Some(Duration::ZERO);
    }
    Some(Duration::from_nanos(total_ns as u64))
}

/// Checks one URL of a URL-list flag (etcd's `types.NewURLs`): a known
/// scheme, a `host:port` (unix sockets too: the socket file is named so),
/// no path.
pub(crate) fn check_url(u: &str) -> Result<(), String> {
    let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
    if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
        return Err(format!(
            "URL scheme must be http, https, unix, or unixs: {u}"
        ));
    }
    let (host, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(h, _)| !h.contains(':') || h.starts_with('['));
    if host.is_empty() || !has_port {
        return Err(format!(
            "URL address does not have the form \"host:port\": {u}"
        ));
    }
    if !path.is_empty() {
        return Err(format!("URL must not contain a path: {u}"));
    }
    Ok(())
}

/// Checks a value against its kind; the error is Go's whole line.
pub fn check(name: &str, kind: Kind, v: &str) -> Result<(), String> {
    let invalid = |why: &str| format!("invalid value \"{v}\" for flag -{name}: {why}");
    match kind {
        Kind::Str => Ok(()),
        Kind::Bool => parse_bool(v)
            .map(|_| ())
            .ok_or_else(|| format!("invalid boolean value \"{v}\" for -{name}: parse error")),
        Kind::Uint => v
            .parse::<u64>()
            .map(|_| ())
            .map_err(|_| invalid("parse error")),
        Kind::Int => v
            .parse::<i64>()
            .map(|_| ())
            .map_err(|_| invalid("parse error")),
        Kind::Uint32 => v.parse::<u32>().map(|_| ()).map_err(|_| {
            invalid(&format!(
                "strconv.ParseUint: parsing \"{v}\": {}",
                if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                    "value out of range"
                } else {
                    "invalid syntax"
                }
            ))
        }),
        Kind::Duration => parse_duration(v)
            .map(|_| ())
            .ok_or_else(|| invalid("parse error")),
        Kind::Urls => v
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .try_for_each(check_url)
            .map_err(|e| invalid(&e)),
        Kind::Enum(allowed) => {
            if allowed.contains(&v) {
                Ok(())
            } else {
                Err(invalid("invalid value"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go() {
        let d = |s| parse_duration(s);
        assert_eq!(d("5s"), Some(Duration::from_secs(5)));
        assert_eq!(d("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(d("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(d("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(d("0"), Some(Duration::ZERO));
        assert_eq!(d("-1s"), Some(Duration::ZERO));
        for bad in ["5", "abc", "", "1x", "s", "."] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn errors_as_go() {
        assert_eq!(
            check("auto-tls", Kind::Bool, "zz!").unwrap_err(),
            "invalid boolean value \"zz!\" for -auto-tls: parse error"
        );
        assert_eq!(
            check("max-concurrent-streams", Kind::Uint32, "zz!").unwrap_err(),
            "invalid value \"zz!\" for flag -max-concurrent-streams: strconv.ParseUint: parsing \"zz!\": invalid syntax"
        );
        assert_eq!(
            check("listen-client-urls", Kind::Urls, "zz!").unwrap_err(),
            "invalid value \"zz!\" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: zz!"
        );
        for (url, why) in [
            (
                "unix:///tmp/c.sock",
                "URL address does not have the form \"host:port\"",
            ),
            (
                "unix://localhost",
                "URL address does not have the form \"host:port\"",
            ),
            ("http://localhost:2379/x", "URL must not contain a path"),
        ] {
            assert_eq!(
                check("listen-client-urls", Kind::Urls, url).unwrap_err(),
                format!("invalid value \"{url}\" for flag -listen-client-urls: {why}: {url}")
            );
        }
        for ok in [
            "unix://localhost:23679",
            "http://[::1]:2379",
            "http://a:1,http://b:2",
        ] {
            check("listen-client-urls", Kind::Urls, ok).unwrap();
        }
        assert_eq!(
            check("proxy", Kind::Enum(&["off"]), "zz!").unwrap_err(),
            "invalid value \"zz!\" for flag -proxy: invalid value"
        );
        assert_eq!(
            check("grpc-keepalive-min-time", Kind::Duration, "5").unwrap_err(),
            "invalid value \"5\" for flag -grpc-keepalive-min-time: parse error"
        );
    }
}
