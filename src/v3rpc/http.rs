//! etcd's plain HTTP endpoints on the client port (`/health`, `/version`),
//! with etcd 3.4's status codes, bodies, content types and CORS headers.
//! Anything else on the port that is not gRPC gets Go's 404. (Served on real
//! networks through [`crate::rt::net`]; the simulator speaks gRPC only.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::gateway::grpc_methods;
use crate::metrics::GrpcSeries;
use crate::rt::net::{GrpcCallStats, GrpcObserver, HttpHandler, HttpRequest, HttpResponse};
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

pub fn plain(status: u16, body: &str) -> HttpResponse {
    HttpResponse::new(
        status,
        vec![("content-type", TEXT_PLAIN.into())],
        body.as_bytes().to_vec(),
    )
}

/// Go's `http.Error`: plain text that browsers must not sniff.
pub fn go_error(status: u16, text: &str) -> HttpResponse {
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

/// What the client port serves besides gRPC.
#[derive(Clone, Debug)]
pub struct ClientFace {
    pub cors: Cors,
    /// `--enable-grpc-gateway`: the JSON gateway under `/v3/`.
    pub gateway: bool,
    /// `--enable-v2`: the v2 API under `/v2/`.
    pub v2: bool,
}

/// `/health`, counted in `/metrics` as etcd counts it.
async fn health(server: &EtcdServer) -> HttpResponse {
    let ok = healthy(server).await;
    if ok {
        server.metrics().health_success.inc();
    } else {
        server.metrics().health_failures.inc();
        tracing::warn!("/health error (status code 503)");
    }
    plain(if ok { 200 } else { 503 }, &health_body(ok))
}

/// `/metrics`: Prometheus's text format (any method, as Go's promhttp).
fn metrics(server: &EtcdServer) -> HttpResponse {
    HttpResponse::new(
        200,
        vec![(
            "content-type",
            "text/plain; version=0.0.4; charset=utf-8".into(),
        )],
        server.metrics_text().into_bytes(),
    )
}

/// `/health` and `/metrics`, which the client port and the metrics ports
/// both serve; `None` for any other path.
async fn monitoring(server: &EtcdServer, req: &HttpRequest) -> Option<HttpResponse> {
    Some(match req.path.as_str() {
        "/health" if req.method != "GET" => {
            tracing::warn!("/health error (status code 405)");
            method_not_allowed()
        }
        "/health" => health(server).await,
        "/metrics" => metrics(server),
        _ => return None,
    })
}

/// A `--listen-metrics-urls` port: `/metrics` and `/health` only.
pub struct MetricsHttp {
    pub server: Arc<EtcdServer>,
}

#[tonic::async_trait]
impl HttpHandler for MetricsHttp {
    async fn handle(&self, req: HttpRequest) -> HttpResponse {
        monitoring(&self.server, &req)
            .await
            .unwrap_or_else(not_found)
    }
}

/// Counts the client port's gRPC calls into the member's metrics.
struct GrpcMetrics {
    server: Arc<EtcdServer>,
    /// The series of every method of etcd's services, by gRPC path; a path
    /// that names none is not counted, as grpc-go's unknown services are
    /// not.
    series: HashMap<&'static str, GrpcSeries>,
}

impl GrpcMetrics {
    /// Creating the series lists every method of etcd's services with
    /// zeros, as go-grpc-prometheus's `InitializeMetrics` does at etcd's
    /// start-up, so dashboards see each series from the start.
    fn new(server: Arc<EtcdServer>) -> GrpcMetrics {
        let series = grpc_methods()
            .iter()
            .map(|(path, g)| {
                let s = server.metrics().grpc_series(&g.service, &g.method, g.kind);
                (path.as_str(), s)
            })
            .collect();
        GrpcMetrics { server, series }
    }
}

impl GrpcObserver for GrpcMetrics {
    fn started(&self, path: &str) {
        if let Some(s) = self.series.get(path) {
            s.started.inc();
        }
    }

    fn handled(&self, path: &str, stats: &GrpcCallStats) {
        let m = self.server.metrics();
        m.client_grpc_received_bytes.inc_by(stats.bytes_in);
        m.client_grpc_sent_bytes.inc_by(stats.bytes_out);
        let Some(s) = self.series.get(path) else {
            return;
        };
        // A code beyond gRPC's is counted as Unknown (2), as grpc-go does.
        let code = if (stats.code as usize) < s.handled.len() {
            stats.code as usize
        } else {
            2
        };
        s.handled[code].inc();
        s.msg_received.inc_by(stats.msgs_in);
        s.msg_sent.inc_by(stats.msgs_out);
        if let Some(h) = &s.handling_seconds {
            h.observe(stats.took.as_secs_f64());
        }
    }
}

/// The client port's plain HTTP face.
pub struct ClientHttp {
    pub server: Arc<EtcdServer>,
    pub face: ClientFace,
}

impl ClientHttp {
    /// The JSON gateway's or v2's answer, when the path is theirs and
    /// they are on.
    async fn faces(&self, req: &HttpRequest) -> Option<HttpResponse> {
        if self.face.gateway {
            if let Some(r) = super::gateway::serve(req).await {
                return Some(r);
            }
        }
        if self.face.v2 {
            return super::v2client::serve(&self.server, req).await;
        }
        None
    }

    async fn route(&self, req: &HttpRequest) -> HttpResponse {
        if let Some(r) = monitoring(&self.server, req).await {
            return r;
        }
        match req.path.as_str() {
            "/version" if req.method != "GET" => method_not_allowed(),
            "/version" => HttpResponse::new(
                200,
                vec![("content-type", "application/json".into())],
                version_body(
                    self.server.version,
                    self.server.cluster_version().as_deref(),
                )
                .into_bytes(),
            ),
            _ => not_found(),
        }
    }
}

#[tonic::async_trait]
impl HttpHandler for ClientHttp {
    fn grpc_observer(&self) -> Option<Arc<dyn GrpcObserver>> {
        Some(Arc::new(GrpcMetrics::new(self.server.clone())))
    }

    async fn handle(&self, req: HttpRequest) -> HttpResponse {
        let mut headers = self.face.cors.headers(req.origin.as_deref());
        // etcd's CORS handler answers every preflight itself.
        let mut resp = if req.method == "OPTIONS" {
            HttpResponse::new(200, vec![], vec![])
        } else if let Some(r) = self.faces(&req).await {
            r
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
