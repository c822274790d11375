//! etcd's v2 client handler on the member (`--enable-v2`): `/v2/keys`,
//! `/v2/members`, `/v2/machines`, `/v2/stats/*` and `/v2/auth/*`
//! ([`crate::v2auth`], which also checks the keys and members requests). The request and answer
//! mapping is [`crate::v2http`]'s (pure); this file only takes the request
//! to the member ([`EtcdServer::v2_propose`] through raft, or
//! [`EtcdServer::v2_local`]) and streams a watch's events as they come.

use std::sync::Arc;

use futures::StreamExt;

use crate::rt::net::{HttpRequest, HttpResponse};
use crate::server::EtcdServer;
use crate::v2auth;
use crate::v2http::{self, LocalAnswer, Route, V2Answer};
use crate::v2store::{V2Error, WatcherId, ECODE_RAFT_INTERNAL, ECODE_UNAUTHORIZED};

/// v2's answer to `req`, or `None` when the path is not under `/v2/`.
pub async fn serve(server: &Arc<EtcdServer>, req: &HttpRequest) -> Option<HttpResponse> {
    if !req.path.starts_with("/v2/") && req.path != "/v2" {
        return None;
    }
    let hreq = v2http::HttpRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: [
            ("Content-Type", &req.content_type),
            ("Authorization", &req.authorization),
        ]
        .into_iter()
        .filter_map(|(name, v)| Some((name.to_string(), v.clone()?)))
        .collect(),
        body: req.body.clone(),
    };
    Some(match v2http::route(&req.path) {
        Route::Redirect(to) => {
            // Go's mux keeps the query on the clean path.
            let to = match req.query.as_str() {
                "" => to,
                q => format!("{to}?{q}"),
            };
            convert(v2http::redirect(&to, &req.method))
        }
        Route::NotFound => convert(v2http::not_found()),
        Route::Keys => keys(server, &hreq).await,
        Route::Members => members(server, &hreq).await,
        Route::Auth => convert(v2auth::serve(&**server, &hreq, server.cluster_id).await),
        Route::Machines => machines(server, &hreq),
        Route::StatsStore => get_only(&hreq, || json(server.v2_store_stats().into_bytes())),
        Route::StatsSelf => get_only(&hreq, || self_stats(server)),
        Route::StatsLeader => get_only(&hreq, || leader_stats(server)),
    })
}

/// A v2http answer as the port's (header names as etcd writes them).
fn convert(r: v2http::HttpResponse) -> HttpResponse {
    let headers = r
        .headers
        .into_iter()
        .map(|(name, value)| (static_header(&name), value))
        .collect();
    HttpResponse::new(r.status, headers, r.body)
}

/// The header names v2http writes, as `'static` names for the port.
fn static_header(name: &str) -> &'static str {
    const NAMES: [&str; 9] = [
        "Content-Type",
        "X-Etcd-Cluster-Id",
        "X-Etcd-Index",
        "X-Raft-Index",
        "X-Raft-Term",
        "X-Content-Type-Options",
        "Allow",
        "Location",
        "Content-Length",
    ];
    NAMES
        .into_iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("v2http wrote a header the port does not know: {name}"))
}

fn json(body: Vec<u8>) -> HttpResponse {
    HttpResponse::new(200, vec![("content-type", "application/json".into())], body)
}

fn get_only(req: &v2http::HttpRequest, answer: impl FnOnce() -> HttpResponse) -> HttpResponse {
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return convert(v2http::method_not_allowed(&["GET", "HEAD"]));
    }
    answer()
}

async fn keys(server: &Arc<EtcdServer>, req: &v2http::HttpRequest) -> HttpResponse {
    if !matches!(
        req.method.as_str(),
        "GET" | "HEAD" | "POST" | "PUT" | "DELETE"
    ) {
        return convert(v2http::method_not_allowed(&[
            "GET", "HEAD", "POST", "PUT", "DELETE",
        ]));
    }
    let head = req.method == "HEAD";
    let cluster_id = server.v2_ids().cluster_id;
    let kr = match v2http::parse_key_request(req, crate::rt::time::unix_nanos()) {
        Ok(kr) => kr,
        Err(e) => return convert(v2http::key_error_response(&e, cluster_id, head)),
    };
    // etcd checks the credentials once the request parsed.
    let key = v2http::key_of(req);
    if !v2auth::has_key_prefix_access(&**server, req, &key, kr.request.recursive).await {
        let e = V2Error::request(ECODE_UNAUTHORIZED, "Insufficient credentials");
        return convert(v2http::key_error_response(&e, cluster_id, head));
    }
    let mut r = kr.request;
    if v2http::needs_consensus(&mut r) {
        return match server.v2_propose(r).await {
            Ok(V2Answer::Event(e)) => convert(v2http::key_event_response(
                &e,
                kr.no_value_on_success,
                &server.v2_ids(),
                false,
            )),
            Ok(V2Answer::Error(e)) => convert(v2http::key_error_response(&e, cluster_id, false)),
            Ok(other) => convert(v2http::http_error(
                500,
                &format!("unexpected v2 answer {other:?}"),
            )),
            // etcd's writeKeyError of a server error: 300, with its text.
            Err(e) => {
                let e = V2Error::new(ECODE_RAFT_INTERNAL, e.to_string(), 0);
                convert(v2http::key_error_response(&e, cluster_id, false))
            }
        };
    }
    match server.v2_local(&r) {
        LocalAnswer::Event(e) => convert(v2http::key_event_response(
            &e,
            kr.no_value_on_success,
            &server.v2_ids(),
            head,
        )),
        LocalAnswer::Error(e) => convert(v2http::key_error_response(&e, cluster_id, head)),
        LocalAnswer::Watch(start) => {
            let mut resp = convert(v2http::watch_response_head(
                start.start_index,
                &server.v2_ids(),
            ));
            resp.stream = Some(watch_events(server.clone(), start.id));
            resp
        }
    }
}

/// A watcher's events as they come: each event one chunk; the answer ends
/// when the watcher does (a plain `wait` after its first event). The
/// client going away drops the stream, which removes the watcher.
fn watch_events(server: Arc<EtcdServer>, id: WatcherId) -> crate::rt::net::BodyStream {
    struct Watching {
        server: Arc<EtcdServer>,
        id: WatcherId,
    }
    impl Drop for Watching {
        fn drop(&mut self) {
            self.server.v2_remove(self.id);
        }
    }
    let w = Watching { server, id };
    futures::stream::unfold((w, false), |(w, done)| async move {
        if done {
            return None;
        }
        let changed = w.server.v2_changed();
        loop {
            // Registered before polling, so no change slips between.
            let notified = changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let poll = w.server.v2_poll(w.id);
            if !poll.events.is_empty() || poll.finished {
                let chunk: Vec<u8> = poll
                    .events
                    .iter()
                    .flat_map(v2http::watch_event_chunk)
                    .collect();
                return Some((chunk, (w, poll.finished)));
            }
            notified.await;
        }
    })
    .filter(|chunk| futures::future::ready(!chunk.is_empty()))
    .boxed()
}

fn member_infos(server: &EtcdServer) -> Vec<v2http::MemberInfo> {
    server.member_list().into_iter().map(member_info).collect()
}

fn member_info(m: crate::pb::etcdserverpb::Member) -> v2http::MemberInfo {
    v2http::MemberInfo {
        id: m.id,
        name: m.name,
        peer_urls: m.peer_ur_ls,
        client_urls: m.client_ur_ls,
    }
}

async fn members(server: &EtcdServer, req: &v2http::HttpRequest) -> HttpResponse {
    let etcd_allows = matches!(req.method.as_str(), "GET" | "POST" | "DELETE" | "PUT");
    if etcd_allows && !v2auth::has_write_root_access(server, req).await {
        return convert(v2http::http_error(401, "Insufficient credentials"));
    }
    let mut resp = match req.method.as_str() {
        "POST" | "DELETE" | "PUT" => member_change(server, req).await,
        _ => members_answer(server, req),
    };
    if etcd_allows {
        let id = format!("{:x}", server.cluster_id);
        resp.headers.push(("x-etcd-cluster-id", id));
    }
    resp
}

/// The peer URLs of a member change's JSON body (etcd's `unmarshalRequest`
/// and `types.NewURLs`), or the answer refusing it.
fn peer_urls_of(req: &v2http::HttpRequest) -> Result<Vec<String>, HttpResponse> {
    let ctype = req.header("Content-Type").unwrap_or("");
    if ctype != "application/json" {
        return Err(convert(v2http::http_error(
            415,
            &format!("Bad Content-Type {ctype}, accept application/json"),
        )));
    }
    let bad = |m: String| convert(v2http::http_error(400, &m));
    let body: serde_json::Value =
        serde_json::from_slice(&req.body).map_err(|e| bad(e.to_string()))?;
    let urls: Vec<String> = body
        .get("peerURLs")
        .and_then(|u| serde_json::from_value(u.clone()).ok())
        .unwrap_or_default();
    for u in &urls {
        let (scheme, rest) = u.split_once("://").unwrap_or(("", u));
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(bad(format!(
                "URL scheme must be http, https, unix, or unixs: {u}"
            )));
        }
        if matches!(scheme, "http" | "https") && !rest.trim_end_matches('/').contains(':') {
            return Err(bad(format!(
                "URL address does not have the form \"host:port\": {u}"
            )));
        }
    }
    Ok(urls)
}

/// etcd's `membersHandler` for POST, DELETE and PUT: the same changes as
/// the v3 Cluster service, with v2's statuses and texts.
async fn member_change(server: &EtcdServer, req: &v2http::HttpRequest) -> HttpResponse {
    use crate::membership::MemberError;
    use crate::server::ServerError;
    let internal = || convert(v2http::http_error(500, "Internal Server Error"));
    let rest = req.path.trim_end_matches('/').strip_prefix("/v2/members");
    let id_text = rest.unwrap_or("").trim_start_matches('/');
    if req.method == "POST" {
        if !id_text.is_empty() {
            return convert(v2http::method_not_allowed(&[
                "GET", "POST", "DELETE", "PUT",
            ]));
        }
        let urls = match peer_urls_of(req) {
            Ok(u) => u,
            Err(r) => return r,
        };
        return match server.member_add(urls, false).await {
            Ok((m, _)) => {
                let mut r = json(v2http::member_body(&member_info(m)));
                r.status = 201;
                r
            }
            Err(ServerError::Member(MemberError::Exists)) => {
                convert(v2http::http_error(409, "membership: ID exists"))
            }
            Err(ServerError::Member(MemberError::PeerUrlExists)) => {
                convert(v2http::http_error(409, "membership: peerURL exists"))
            }
            Err(_) => internal(),
        };
    }
    let no_such = || {
        convert(v2http::http_error(
            404,
            &format!("No such member: {id_text}"),
        ))
    };
    let Ok(id) = u64::from_str_radix(id_text, 16) else {
        return no_such();
    };
    let done = match req.method.as_str() {
        "DELETE" => {
            if server.member_is_removed(id) {
                return convert(v2http::http_error(
                    410,
                    &format!("Member permanently removed: {id_text}"),
                ));
            }
            server.member_remove(id).await.map(|_| ())
        }
        _ => {
            let urls = match peer_urls_of(req) {
                Ok(u) => u,
                Err(r) => return r,
            };
            server.member_update(id, urls).await.map(|_| ())
        }
    };
    match done {
        Ok(()) => HttpResponse::new(204, vec![], vec![]),
        Err(ServerError::Member(MemberError::NotFound)) => no_such(),
        Err(_) => internal(),
    }
}

fn members_answer(server: &EtcdServer, req: &v2http::HttpRequest) -> HttpResponse {
    if req.method != "GET" {
        return convert(v2http::method_not_allowed(&[
            "GET", "POST", "DELETE", "PUT",
        ]));
    }
    let infos = member_infos(server);
    if req.path.trim_end_matches('/') == "/v2/members/leader" {
        let leader = server.raft_status().leader_id;
        return match infos.iter().find(|m| m.id == leader) {
            Some(m) => json(v2http::member_body(m)),
            None => convert(v2http::http_error(503, "During election")),
        };
    }
    if req.path.trim_end_matches('/') != "/v2/members" {
        return convert(v2http::not_found());
    }
    json(v2http::members_body(&infos))
}

fn machines(server: &EtcdServer, req: &v2http::HttpRequest) -> HttpResponse {
    get_only(req, || {
        let urls: Vec<String> = member_infos(server)
            .into_iter()
            .flat_map(|m| m.client_urls)
            .collect();
        // Go's server sniffs the type of a body written without one.
        let text = ("content-type", "text/plain; charset=utf-8".to_string());
        HttpResponse::new(200, vec![text], v2http::machines_body(&urls))
    })
}

fn self_stats(server: &EtcdServer) -> HttpResponse {
    let st = server.raft_status();
    let name = member_infos(server)
        .into_iter()
        .find(|m| m.id == server.member_id)
        .map(|m| m.name)
        .unwrap_or_default();
    let stats = v2http::SelfStats {
        name,
        id: server.member_id,
        is_leader: st.is_leader,
        start_time: server.started_unix_nanos(),
        leader_id: st.leader_id,
        leader_start_time: server.started_unix_nanos(),
        now: crate::rt::time::unix_nanos(),
        ..Default::default()
    };
    match v2http::self_stats_body(&stats) {
        Some(body) => json(body),
        None => HttpResponse::new(200, vec![], vec![]),
    }
}

fn leader_stats(server: &EtcdServer) -> HttpResponse {
    let st = server.raft_status();
    if !st.is_leader {
        return convert(v2http::http_error(403, "not current leader"));
    }
    let followers: Vec<v2http::FollowerStats> = server
        .member_list()
        .into_iter()
        .filter(|m| m.id != server.member_id)
        .map(|m| v2http::FollowerStats {
            id: m.id,
            ..Default::default()
        })
        .collect();
    match v2http::leader_stats_body(server.member_id, &followers) {
        Some(body) => json(body),
        None => HttpResponse::new(200, vec![], vec![]),
    }
}
