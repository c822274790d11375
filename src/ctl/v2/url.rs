//! The bits of Go's `net/url` and `path` the v2 client's requests are
//! built with: etcdctl's `--debug` prints the URLs, and the server sees
//! them, so they are escaped, cleaned and ordered as Go does it.

/// An endpoint or request URL: scheme, host (`host:port`), and the
/// unescaped path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub host: String,
    pub path: String,
}

impl Url {
    /// Go's `url.Parse` of an endpoint, with etcdctl's default scheme
    /// (`getEndpoints`: a URL without one is `http`).
    pub fn parse_endpoint(s: &str) -> Result<Url, String> {
        if let Some((scheme, rest)) = s.split_once("://") {
            if !is_scheme(scheme) {
                return Err(format!(
                    "parse {s:?}: first path segment in URL cannot contain colon"
                ));
            }
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, ""),
            };
            return Ok(Url {
                scheme: scheme.to_ascii_lowercase(),
                host: host.to_string(),
                path: unescape(path),
            });
        }
        let first = s.split('/').next().unwrap_or("");
        if let Some((scheme, _)) = first.split_once(':') {
            if !is_scheme(scheme) {
                return Err(format!(
                    "parse {s:?}: first path segment in URL cannot contain colon"
                ));
            }
            // `host:port` with a host Go takes for a scheme: an opaque URL
            // that no transport serves.
            return Ok(Url {
                scheme: scheme.to_ascii_lowercase(),
                host: String::new(),
                path: s[scheme.len() + 1..].to_string(),
            });
        }
        Ok(Url {
            scheme: "http".into(),
            host: String::new(),
            path: s.to_string(),
        })
    }

    /// `u.String()` with `query` (already encoded) appended.
    pub fn with_query(&self, query: &str) -> String {
        let mut s = self.to_string();
        if !query.is_empty() {
            s.push('?');
            s.push_str(query);
        }
        s
    }

    /// A copy whose path is `f` of this one's.
    pub fn map_path(&self, f: impl FnOnce(&str) -> String) -> Url {
        Url {
            path: f(&self.path),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.is_empty() && !self.path.starts_with('/') {
            return write!(f, "{}:{}", self.scheme, self.path);
        }
        write!(
            f,
            "{}://{}{}",
            self.scheme,
            self.host,
            escape_path(&self.path)
        )
    }
}

/// Go's `getScheme`: a letter, then letters, digits, `+`, `-`, `.`.
fn is_scheme(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
}

fn unhex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Percent-decoding (a bad escape is kept as it is).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (unhex(b[i + 1]), unhex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-_.~".contains(&c)
}

/// Go's `escape(s, encodePath)`.
pub fn escape_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if unreserved(c) || b"$&+,/:;=@".contains(&c) {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        if unreserved(c) {
            out.push(c as char);
        } else if c == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// Go's `url.Values.Encode`: sorted by key, each escaped.
pub fn encode_query(params: &[(&str, String)]) -> String {
    let mut p: Vec<&(&str, String)> = params.iter().collect();
    p.sort_by(|a, b| a.0.cmp(b.0));
    p.iter()
        .map(|(k, v)| format!("{}={}", query_escape(k), query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

pub use crate::v2store::clean_path as clean;

/// Go's `path.Join`.
pub fn join(parts: &[&str]) -> String {
    let nonempty: Vec<&str> = parts.iter().copied().filter(|p| !p.is_empty()).collect();
    if nonempty.is_empty() {
        return String::new();
    }
    clean(&nonempty.join("/"))
}

/// etcd's `pathutil.CanonicalURLPath`: rooted, cleaned, keeping a
/// trailing slash.
pub fn canonical_url_path(p: &str) -> String {
    if p.is_empty() {
        return "/".into();
    }
    let p = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    };
    let mut np = clean(&p);
    if p.ends_with('/') && np != "/" {
        np.push('/');
    }
    np
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_paths() {
        assert_eq!(clean("/a/../b//c/."), "/b/c");
        assert_eq!(clean("/.."), "/");
        assert_eq!(canonical_url_path("/v2/keys/foo/"), "/v2/keys/foo/");
        assert_eq!(canonical_url_path("/v2/keys//a/../b"), "/v2/keys/b");
        assert_eq!(
            join(&["", "/v2/members", "8e9e05c52164694d"]),
            "/v2/members/8e9e05c52164694d"
        );
    }

    #[test]
    fn go_escaping() {
        assert_eq!(escape_path("/v2/keys/a b?c"), "/v2/keys/a%20b%3Fc");
        assert_eq!(query_escape("a b&c/d"), "a+b%26c%2Fd");
        assert_eq!(
            encode_query(&[("sorted", "false".into()), ("quorum", "true".into())]),
            "quorum=true&sorted=false"
        );
    }

    #[test]
    fn endpoints() {
        let u = Url::parse_endpoint("http://127.0.0.1:2379").unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:2379");
        assert_eq!(
            Url::parse_endpoint("127.0.0.1:2379").unwrap_err(),
            "parse \"127.0.0.1:2379\": first path segment in URL cannot contain colon"
        );
    }
}
