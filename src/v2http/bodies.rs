//! The v2 API's answers, byte for byte as etcd 3.4 writes them.

use crate::v2store::json::{
    go_duration, push_f64, push_key, push_str, push_str_list, rfc3339_nano,
};
use crate::v2store::{Action, Event, V2Error, STORE_KEYS_PREFIX};

use super::{HttpResponse, ResponseIds};

const JSON: &str = "application/json";

fn base(status: u16, ids: &ResponseIds, etcd_index: u64) -> HttpResponse {
    HttpResponse {
        status,
        ..Default::default()
    }
    .with("Content-Type", JSON)
    .with("X-Etcd-Cluster-Id", format!("{:x}", ids.cluster_id))
    .with("X-Etcd-Index", etcd_index.to_string())
    .with("X-Raft-Index", ids.raft_index.to_string())
    .with("X-Raft-Term", ids.raft_term.to_string())
}

/// etcd's `writeKeyEvent`: 201 for a new node, else 200; keys without
/// `/1`; with `no_value_on_success`, a set, create, update or CAS answers
/// its action alone. A HEAD answer has no body.
pub fn key_event_response(
    e: &Event,
    no_value_on_success: bool,
    ids: &ResponseIds,
    head: bool,
) -> HttpResponse {
    let status = if e.is_created() { 201 } else { 200 };
    let mut shown = e.trimmed(STORE_KEYS_PREFIX);
    if no_value_on_success
        && matches!(
            shown.action,
            Action::Set | Action::CompareAndSwap | Action::Create | Action::Update
        )
    {
        shown.node = None;
        shown.prev_node = None;
    }
    let r = base(status, ids, e.etcd_index);
    with_body(r, json_line(shown.to_json()), head)
}

/// The answer with `body`; to a HEAD, only its length (Go's server
/// counts what the handler wrote and drops it).
fn with_body(mut r: HttpResponse, body: Vec<u8>, head: bool) -> HttpResponse {
    if head {
        return r.with("Content-Length", body.len().to_string());
    }
    r.body = body;
    r
}

/// etcd's `writeKeyError` of a store or validation error: the cause without
/// `/1`, `X-Etcd-Index` the error's index, no raft headers.
pub fn key_error_response(err: &V2Error, cluster_id: u64, head: bool) -> HttpResponse {
    let mut err = err.clone();
    if let Some(rest) = err.cause.strip_prefix(STORE_KEYS_PREFIX) {
        err.cause = rest.to_string();
    }
    let r = HttpResponse {
        status: err.status(),
        ..Default::default()
    }
    .with("Content-Type", JSON)
    .with("X-Etcd-Cluster-Id", format!("{cluster_id:x}"))
    .with("X-Etcd-Index", err.index.to_string());
    with_body(r, json_line(err.to_json()), head)
}

/// The head of a watch answer (etcd's `handleKeyWatch`): 200 at once,
/// `X-Etcd-Index` the watch's start index; the events follow as chunks.
pub fn watch_response_head(start_index: u64, ids: &ResponseIds) -> HttpResponse {
    base(200, ids, start_index)
}

/// One event of a watch answer: its JSON line, keys without `/1`.
pub fn watch_event_chunk(e: &Event) -> Vec<u8> {
    json_line(e.trimmed(STORE_KEYS_PREFIX).to_json())
}

/// Go's `http.Error(w, "Method Not Allowed", 405)` after `allowMethod`.
pub fn method_not_allowed(allowed: &[&str]) -> HttpResponse {
    text_error(405, "Method Not Allowed").with("Allow", allowed.join(","))
}

/// Go's `http.NotFound`.
pub fn not_found() -> HttpResponse {
    text_error(404, "404 page not found")
}

/// Go's `ServeMux` redirect to the clean path (`http.Redirect`: a GET or
/// HEAD is told it is HTML, and a GET gets a link to follow).
pub fn redirect(location: &str, method: &str) -> HttpResponse {
    let mut r = HttpResponse {
        status: 301,
        ..Default::default()
    };
    if matches!(method, "GET" | "HEAD") {
        r = r.with("Content-Type", "text/html; charset=utf-8");
    }
    if method == "GET" {
        let href: String = location
            .chars()
            .map(|c| match c {
                '&' => "&amp;".to_string(),
                '<' => "&lt;".to_string(),
                '>' => "&gt;".to_string(),
                '"' => "&#34;".to_string(),
                '\'' => "&#39;".to_string(),
                c => c.to_string(),
            })
            .collect();
        r.body = format!("<a href=\"{href}\">Moved Permanently</a>.\n\n").into_bytes();
    }
    r.with("Location", location)
}

fn text_error(status: u16, msg: &str) -> HttpResponse {
    HttpResponse {
        status,
        body: format!("{msg}\n").into_bytes(),
        ..Default::default()
    }
    .with("Content-Type", "text/plain; charset=utf-8")
    .with("X-Content-Type-Options", "nosniff")
}

/// etcd's `httptypes.HTTPError`: `{"message":"..."}` (no newline).
pub fn http_error(status: u16, message: &str) -> HttpResponse {
    let mut body = String::from("{");
    push_key(&mut body, "message");
    push_str(&mut body, message);
    body.push('}');
    HttpResponse {
        status,
        body: body.into_bytes(),
        ..Default::default()
    }
    .with("Content-Type", JSON)
}

fn json_line(mut s: String) -> Vec<u8> {
    s.push('\n');
    s.into_bytes()
}

/// A member as `/v2/members` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberInfo {
    pub id: u64,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

fn push_member(out: &mut String, m: &MemberInfo) {
    out.push('{');
    push_key(out, "id");
    push_str(out, &format!("{:x}", m.id));
    out.push(',');
    push_key(out, "name");
    push_str(out, &m.name);
    out.push(',');
    push_key(out, "peerURLs");
    push_str_list(out, &m.peer_urls);
    out.push(',');
    push_key(out, "clientURLs");
    push_str_list(out, &m.client_urls);
    out.push('}');
}

/// The `GET /v2/members` body (with etcd's newline).
pub fn members_body(members: &[MemberInfo]) -> Vec<u8> {
    let mut out = String::from("{");
    push_key(&mut out, "members");
    out.push('[');
    for (i, m) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_member(&mut out, m);
    }
    out.push_str("]}");
    json_line(out)
}

/// The `GET /v2/members/leader` body (with etcd's newline).
pub fn member_body(m: &MemberInfo) -> Vec<u8> {
    let mut out = String::new();
    push_member(&mut out, m);
    json_line(out)
}

/// The `/v2/machines` body: the client URLs, comma-separated
/// (`text/plain; charset=utf-8`).
pub fn machines_body(client_urls: &[String]) -> Vec<u8> {
    client_urls.join(", ").into_bytes()
}

/// What `/v2/stats/self` shows (etcd's `ServerStats`); times in unix
/// nanoseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelfStats {
    pub name: String,
    pub id: u64,
    pub is_leader: bool,
    pub start_time: i64,
    pub leader_id: u64,
    pub leader_start_time: i64,
    pub now: i64,
    pub recv_append_request_cnt: u64,
    pub recv_pkg_rate: f64,
    pub recv_bandwidth_rate: f64,
    pub send_append_request_cnt: u64,
    pub send_pkg_rate: f64,
    pub send_bandwidth_rate: f64,
}

/// The `/v2/stats/self` body (no newline); `None` when a rate is not a
/// finite number (Go's encoder refuses those and etcd writes nothing).
pub fn self_stats_body(s: &SelfStats) -> Option<Vec<u8>> {
    let mut o = String::from("{");
    push_key(&mut o, "name");
    push_str(&mut o, &s.name);
    o.push(',');
    push_key(&mut o, "id");
    push_str(&mut o, &format!("{:x}", s.id));
    o.push(',');
    push_key(&mut o, "state");
    push_str(
        &mut o,
        if s.is_leader {
            "StateLeader"
        } else {
            "StateFollower"
        },
    );
    o.push(',');
    push_key(&mut o, "startTime");
    push_str(&mut o, &rfc3339_nano(s.start_time));
    o.push(',');
    push_key(&mut o, "leaderInfo");
    o.push('{');
    push_key(&mut o, "leader");
    push_str(
        &mut o,
        &if s.leader_id == 0 {
            String::new()
        } else {
            format!("{:x}", s.leader_id)
        },
    );
    o.push(',');
    push_key(&mut o, "uptime");
    push_str(
        &mut o,
        &go_duration(s.now.saturating_sub(s.leader_start_time)),
    );
    o.push(',');
    push_key(&mut o, "startTime");
    push_str(&mut o, &rfc3339_nano(s.leader_start_time));
    o.push_str("},");
    let rates =
        |o: &mut String, cnt_key, cnt: u64, pkg_key, pkg: f64, bw_key, bw: f64| -> Option<()> {
            push_key(o, cnt_key);
            o.push_str(&cnt.to_string());
            for (k, v) in [(pkg_key, pkg), (bw_key, bw)] {
                if v != 0.0 {
                    o.push(',');
                    push_key(o, k);
                    push_f64(o, v)?;
                }
            }
            Some(())
        };
    let recv = (
        s.recv_append_request_cnt,
        s.recv_pkg_rate,
        s.recv_bandwidth_rate,
    );
    rates(
        &mut o,
        "recvAppendRequestCnt",
        recv.0,
        "recvPkgRate",
        recv.1,
        "recvBandwidthRate",
        recv.2,
    )?;
    o.push(',');
    let send = (
        s.send_append_request_cnt,
        s.send_pkg_rate,
        s.send_bandwidth_rate,
    );
    rates(
        &mut o,
        "sendAppendRequestCnt",
        send.0,
        "sendPkgRate",
        send.1,
        "sendBandwidthRate",
        send.2,
    )?;
    o.push('}');
    Some(o.into_bytes())
}

/// One follower in `/v2/stats/leader` (etcd's `FollowerStats`; latencies
/// in milliseconds).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FollowerStats {
    pub id: u64,
    pub latency_current: f64,
    pub latency_average: f64,
    pub latency_standard_deviation: f64,
    pub latency_minimum: f64,
    pub latency_maximum: f64,
    pub fail: u64,
    pub success: u64,
}

/// The `/v2/stats/leader` body (no newline), followers by id as Go sorts
/// map keys; `None` for a non-finite latency, as [`self_stats_body`].
pub fn leader_stats_body(leader_id: u64, followers: &[FollowerStats]) -> Option<Vec<u8>> {
    let mut fs: Vec<(String, &FollowerStats)> = followers
        .iter()
        .map(|f| (format!("{:x}", f.id), f))
        .collect();
    fs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut o = String::from("{");
    push_key(&mut o, "leader");
    push_str(&mut o, &format!("{leader_id:x}"));
    o.push(',');
    push_key(&mut o, "followers");
    o.push('{');
    for (i, (id, f)) in fs.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        push_str(&mut o, id);
        o.push_str(":{");
        push_key(&mut o, "latency");
        o.push('{');
        let lat = [
            ("current", f.latency_current),
            ("average", f.latency_average),
            ("standardDeviation", f.latency_standard_deviation),
            ("minimum", f.latency_minimum),
            ("maximum", f.latency_maximum),
        ];
        for (j, (k, v)) in lat.iter().enumerate() {
            if j > 0 {
                o.push(',');
            }
            push_key(&mut o, k);
            push_f64(&mut o, *v)?;
        }
        o.push_str("},");
        push_key(&mut o, "counts");
        o.push('{');
        push_key(&mut o, "fail");
        o.push_str(&f.fail.to_string());
        o.push(',');
        push_key(&mut o, "success");
        o.push_str(&f.success.to_string());
        o.push_str("}}");
    }
    o.push_str("}}");
    Some(o.into_bytes())
}
