//! etcd's plain HTTP endpoints on the client port (`/health`, `/version`),
//! with etcd 3.4's status codes, bodies, content types and CORS headers.
//! Anything else on the port that is not gRPC gets Go's 404. (Served on real
//! networks through [`crate::rt::net`]; the simulator speaks gRPC only.)

use std::sync::Arc;
use std::time::Duration;

use crate::rt::net::{HttpHandler, HttpRequest, HttpResponse};
use crate::server::EtcdServer;

/// `--cors`: which origins browsers may call from (etcd's default is `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cors {
    Any,
    Origins(Vec<String>),
}

impl Cors {
    /// From `--cors`'s comma-separated list.
    pub fn from_list(list: &[String]) -> Cors {
        if list.iter().any(|o| o == "*") {
            Cors::Any
        } else {
            Cors::Origins(list.to_vec())
        }
    }

    /// etcd's `addCORSHeader`, for the origin this request may be answered to.
    fn headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        let allowed = match (self, origin) {
            (Cors::Any, _) => "*".to_string(),
            (Cors::Origins(list), Some(o)) if list.iter().any(|x| x == o) => o.to_string(),
            _ => return vec![],
        };
        vec![
            (
                "access-control-allow-headers",
                "accept, content-type, authorization".into(),
            ),
            (
                "access-control-allow-methods",
                "POST, GET, OPTIONS, PUT, DELETE".into(),
            ),
            ("access-control-allow-origin", allowed),
        ]
    }
}

/// The body `/health` answers, given whether the member can serve.
pub fn health_body(healthy: bool) -> String {
    format!("{{\"health\":\"{healthy}\"}}")
}

/// The body `/version` answers; the cluster version is `not_decided` until
/// the cluster has agreed on one.
pub fn version_body(server_version: &str, cluster_version: Option<&str>) -> String {
    format!(
        "{{\"etcdserver\":\"{server_version}\",\"etcdcluster\":\"{}\"}}",
        cluster_version.unwrap_or("not_decided")
    )
}

/// Whether the member has a leader and can complete a linearizable read.
pub async fn healthy(server: &EtcdServer) -> bool {
    if server.raft_status().leader_id == 0 {
        return false;
    }
    matches!(
        tokio::time::timeout(Duration::from_secs(1), server.linearizable_barrier()).await,
        Ok(Ok(()))
    )
}

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

fn plain(status: u16, body: &str) -> HttpResponse {
    HttpResponse {
        status,
        headers: vec![("content-type", TEXT_PLAIN.into())],
        body: body.as_bytes().to_vec(),
    }
}

/// Go's `http.Error`: plain text that browsers must not sniff.
fn go_error(status: u16, text: &str) -> HttpResponse {
    let mut r = plain(status, &format!("{text}\n"));
    r.headers.push(("x-content-type-options", "nosniff".into()));
    r
}

/// Go's `http.NotFound`.
pub fn not_found() -> HttpResponse {
    go_error(404, "404 page not found")
}

/// etcd's `allowMethod`: only GET, else 405 with `Allow: GET`.
fn method_not_allowed() -> HttpResponse {
    let mut r = go_error(405, "Method Not Allowed");
    r.headers.push(("allow", "GET".into()));
    r
}

/// The client port's plain HTTP face.
pub struct ClientHttp {
    pub server: Arc<EtcdServer>,
    pub cors: Cors,
}

impl ClientHttp {
    async fn route(&self, req: &HttpRequest) -> HttpResponse {
        match req.path.as_str() {
            "/health" if req.method != "GET" => {
                tracing::warn!("/health error (status code 405)");
                method_not_allowed()
            }
            "/health" => {
                let ok = healthy(&self.server).await;
                if !ok {
                    tracing::warn!("/health error (status code 503)");
                }
                plain(if ok { 200 } else { 503 }, &health_body(ok))
            }
            "/version" if req.method != "GET" => method_not_allowed(),
            "/version" => HttpResponse {
                status: 200,
                headers: vec![("content-type", "application/json".into())],
                body: version_body(
                    self.server.version,
                    self.server.cluster_version().as_deref(),
                )
                .into_bytes(),
            },
            _ => not_found(),
        }
    }
}

#[tonic::async_trait]
impl HttpHandler for ClientHttp {
    async fn handle(&self, req: HttpRequest) -> HttpResponse {
        let mut headers = self.cors.headers(req.origin.as_deref());
        // etcd's CORS handler answers every preflight itself.
        let mut resp = if req.method == "OPTIONS" {
            HttpResponse {
                status: 200,
                headers: vec![],
                body: vec![],
            }
        } else {
            self.route(&req).await
        };
        headers.append(&mut resp.headers);
        resp.headers = headers;
        resp
    }
}

/// The peer port's plain HTTP face: nothing yet (etcd's peer HTTP API is
/// replaced by oxcd's peer gRPC service).
pub struct PeerHttp;

#[tonic::async_trait]
impl HttpHandler for PeerHttp {
    async fn handle(&self, _req: HttpRequest) -> HttpResponse {
        not_found()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_as_etcd() {
        assert_eq!(Cors::Any.headers(None)[2].1, "*");
        let only = Cors::from_list(&["http://a".to_string()]);
        assert_eq!(only.headers(Some("http://a"))[2].1, "http://a");
        assert!(only.headers(Some("http://b")).is_empty());
        assert!(only.headers(None).is_empty());
    }

    #[test]
    fn go_texts() {
        assert_eq!(not_found().body, b"404 page not found\n");
        let r = method_not_allowed();
        assert_eq!((r.status, r.body.len()), (405, 19));
        assert!(r.headers.contains(&("allow", "GET".to_string())));
        assert_eq!(
            version_body("3.4.23", Some("3.4.0")),
            r#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#
        );
    }
}
