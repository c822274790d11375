//! Routing and parsing of v2 requests (etcd's `handleV2` mux and
//! `parseKeyRequest`, with Go's `url.ParseQuery` and `ParseForm` rules).

use crate::pb::etcdserverpb::Request;
use crate::v2store::json::NANOS_PER_SEC;
use crate::v2store::*;

use super::HttpRequest;

/// Which v2 handler a path goes to (etcd's `ServeMux` patterns).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    Keys,
    Members,
    Machines,
    StatsStore,
    StatsSelf,
    StatsLeader,
    /// `/v2/auth/enable`, `/v2/auth/users[/…]`, `/v2/auth/roles[/…]`
    /// ([`crate::v2auth::serve`]).
    Auth,
    /// Go's mux answers a path that is not clean with 301 to the clean one.
    Redirect(String),
    NotFound,
}

/// Routes a percent-encoded path.
pub fn route(raw_path: &str) -> Route {
    let p = percent_decode(raw_path, false).unwrap_or_else(|_| raw_path.to_string());
    let mut clean = crate::v2store::clean_path(&p);
    if p.ends_with('/') && clean != "/" {
        clean.push('/');
    }
    if clean != p {
        return Route::Redirect(clean);
    }
    match p.as_str() {
        "/v2/keys" => Route::Keys,
        "/v2/members" => Route::Members,
        "/v2/machines" => Route::Machines,
        "/v2/stats/store" => Route::StatsStore,
        "/v2/stats/self" => Route::StatsSelf,
        "/v2/stats/leader" => Route::StatsLeader,
        "/v2/auth/enable" | "/v2/auth/users" | "/v2/auth/roles" => Route::Auth,
        p if p.starts_with("/v2/auth/users/") || p.starts_with("/v2/auth/roles/") => Route::Auth,
        p if p.starts_with("/v2/keys/") => Route::Keys,
        p if p.starts_with("/v2/members/") => Route::Members,
        _ => Route::NotFound,
    }
}

/// The request's path, percent-decoded (Go's `URL.Path`).
pub fn decoded_path(r: &HttpRequest) -> String {
    percent_decode(&r.path, false).unwrap_or_else(|_| r.path.clone())
}

/// The key of a `/v2/keys` request as etcd's auth checks it: the decoded
/// path after `/v2/keys` (`""` for `/v2/keys` itself).
pub fn key_of(r: &HttpRequest) -> String {
    let path = decoded_path(r);
    path.strip_prefix("/v2/keys").unwrap_or(&path).to_string()
}

/// A parsed `/v2/keys` request.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyRequest {
    pub request: Request,
    /// Answer sets, creates, updates and CASes with the action alone.
    pub no_value_on_success: bool,
}

/// The form of a request: the body's values (a urlencoded POST or PUT)
/// before the query's, each key's values in order (Go's `Request.Form`).
pub fn parse_form(r: &HttpRequest) -> Result<Vec<(String, Vec<String>)>, String> {
    let mut form: Vec<(String, Vec<String>)> = Vec::new();
    let mut first_err = None;
    let is_form = r
        .header("Content-Type")
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .is_some_and(|ct| ct == "application/x-www-form-urlencoded");
    if (r.method == "POST" || r.method == "PUT") && is_form {
        let body = String::from_utf8_lossy(&r.body);
        if let Err(e) = parse_query(&body, &mut form) {
            first_err = Some(e);
        }
    }
    if let Err(e) = parse_query(&r.query, &mut form) {
        first_err.get_or_insert(e);
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(form),
    }
}

/// Go's `url.ParseQuery` into `form`; the first error, after parsing all.
fn parse_query(q: &str, form: &mut Vec<(String, Vec<String>)>) -> Result<(), String> {
    let mut first_err = None;
    for pair in q.split('&') {
        if pair.contains(';') {
            first_err.get_or_insert_with(|| "invalid semicolon separator in query".to_string());
            continue;
        }
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = match (percent_decode(k, true), percent_decode(v, true)) {
            (Ok(k), Ok(v)) => (k, v),
            (Err(e), _) | (_, Err(e)) => {
                first_err.get_or_insert(e);
                continue;
            }
        };
        match form.iter_mut().find(|(fk, _)| *fk == k) {
            Some((_, vs)) => vs.push(v),
            None => form.push((k, vec![v])),
        }
    }
    first_err.map_or(Ok(()), Err)
}

/// Go's `unescape`: `%XX` (and `+` as a space in a query); invalid UTF-8
/// becomes U+FFFD (oxcd's strings are UTF-8; Go keeps the bytes).
fn percent_decode(s: &str, plus_is_space: bool) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|c| hex(*c)),
                    b.get(i + 2).and_then(|c| hex(*c)),
                ) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => {
                        let bad = &s[i..(i + 3).min(s.len())];
                        return Err(format!("invalid URL escape {bad:?}"));
                    }
                }
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn first<'a>(form: &'a [(String, Vec<String>)], key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == key)
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// etcd's `parseKeyRequest`: the request's form checked, in etcd's order,
/// into a store request for `/1/<key>`. `now` (unix nanoseconds) turns a
/// `ttl` into the expiration, with Go's wrapping arithmetic.
pub fn parse_key_request(r: &HttpRequest, now: i64) -> Result<KeyRequest, V2Error> {
    let form = parse_form(r).map_err(|e| V2Error::request(ECODE_INVALID_FORM, e))?;
    let path = decoded_path(r);
    let Some(key) = path.strip_prefix("/v2/keys") else {
        return Err(V2Error::request(ECODE_INVALID_FORM, "incorrect key prefix"));
    };
    let uint = |name: &str, code| -> Result<u64, V2Error> {
        first(&form, name).map_or(Ok(0), |v| {
            v.parse::<u64>()
                .map_err(|_| V2Error::request(code, format!("invalid value for {name:?}")))
        })
    };
    let boolean = |name: &str| -> Result<bool, V2Error> {
        first(&form, name).map_or(Ok(false), |v| {
            parse_bool(v).ok_or_else(|| {
                V2Error::request(ECODE_INVALID_FIELD, format!("invalid value for {name:?}"))
            })
        })
    };
    let prev_index = uint("prevIndex", ECODE_INDEX_NAN)?;
    let since = uint("waitIndex", ECODE_INDEX_NAN)?;
    let recursive = boolean("recursive")?;
    let sorted = boolean("sorted")?;
    let wait = boolean("wait")?;
    let dir = boolean("dir")?;
    let quorum = boolean("quorum")?;
    let stream = boolean("stream")?;
    if wait && r.method != "GET" {
        return Err(V2Error::request(
            ECODE_INVALID_FIELD,
            r#""wait" can only be used with GET requests"#,
        ));
    }
    let prev_value = first(&form, "prevValue");
    if prev_value == Some("") {
        return Err(V2Error::request(
            ECODE_PREV_VALUE_REQUIRED,
            r#""prevValue" cannot be empty"#,
        ));
    }
    let no_value_on_success = boolean("noValueOnSuccess")?;
    let ttl = match first(&form, "ttl") {
        Some(v) if !v.is_empty() => Some(
            v.parse::<u64>()
                .map_err(|_| V2Error::request(ECODE_TTL_NAN, r#"invalid value for "ttl""#))?,
        ),
        _ => None,
    };
    let nullable_bool = |name: &str| -> Result<Option<bool>, V2Error> {
        first(&form, name)
            .map(|v| {
                parse_bool(v).ok_or_else(|| {
                    V2Error::request(ECODE_INVALID_FIELD, format!("invalid value for {name}"))
                })
            })
            .transpose()
    };
    let prev_exist = nullable_bool("prevExist")?;
    let refresh = nullable_bool("refresh")?;
    let value = first(&form, "value").unwrap_or("");
    if refresh == Some(true) {
        if !value.is_empty() {
            return Err(V2Error::request(
                ECODE_REFRESH_VALUE,
                "A value was provided on a refresh",
            ));
        }
        if ttl.is_none() {
            return Err(V2Error::request(
                ECODE_REFRESH_TTL_REQUIRED,
                "No TTL value set",
            ));
        }
    }
    let expiration = ttl.map_or(0, |t| {
        now.wrapping_add((t as i64).wrapping_mul(NANOS_PER_SEC))
    });
    let request = Request {
        method: r.method.clone(),
        path: crate::v2store::clean_path(&format!("{STORE_KEYS_PREFIX}/{key}")),
        val: value.to_string(),
        dir,
        prev_value: prev_value.unwrap_or("").to_string(),
        prev_index,
        prev_exist,
        expiration,
        wait,
        since,
        recursive,
        sorted,
        quorum,
        stream,
        refresh,
        ..Default::default()
    };
    Ok(KeyRequest {
        request,
        no_value_on_success,
    })
}
