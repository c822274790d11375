//! The proxy's own metrics (etcd's `proxy/grpcproxy/metrics.go`: names,
//! help and types as there) and its plain HTTP face: `/metrics`, `/health`.
//!
//! etcd 3.4's proxy answers `/metrics` with the *member's* `/metrics`
//! fetched over HTTP, and its own figures never show (they land in the
//! process's default registry, which nothing serves). oxcd serves the
//! member's text with the proxy's own families in place of any the member
//! reports under the same names, and `/proxy/metrics` (etcd 3.5's path)
//! with the proxy's alone.

use std::sync::Arc;
use std::time::Duration;

use prometheus::{Encoder, IntCounter, IntGauge, Registry, TextEncoder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pb::etcdserverpb::{kv_client::KvClient, RangeRequest};
use crate::rt::net::{HttpHandler, HttpRequest, HttpResponse};
use crate::v3rpc::http::{health_body, not_found, plain};

/// The proxy's figures, in a registry of its own.
pub struct ProxyMetrics {
    registry: Registry,
    pub watchers_coalescing: IntGauge,
    pub events_coalescing: IntCounter,
    pub cache_keys: IntGauge,
    pub cache_hits: IntGauge,
    pub cache_misses: IntGauge,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("registered once");
            g
        };
        let watchers_coalescing = gauge(
            "etcd_grpc_proxy_watchers_coalescing_total",
            "Total number of current watchers coalescing",
        );
        let cache_keys = gauge(
            "etcd_grpc_proxy_cache_keys_total",
            "Total number of keys/ranges cached",
        );
        // Gauges in etcd, though they only count up.
        let cache_hits = gauge(
            "etcd_grpc_proxy_cache_hits_total",
            "Total number of cache hits",
        );
        let cache_misses = gauge(
            "etcd_grpc_proxy_cache_misses_total",
            "Total number of cache misses",
        );
        let events_coalescing = IntCounter::new(
            "etcd_grpc_proxy_events_coalescing_total",
            "Total number of events coalescing",
        )
        .expect("valid metric");
        registry
            .register(Box::new(events_coalescing.clone()))
            .expect("registered once");
        ProxyMetrics {
            registry,
            watchers_coalescing,
            events_coalescing,
            cache_keys,
            cache_hits,
            cache_misses,
        }
    }
}

impl ProxyMetrics {
    /// Prometheus's text format of the proxy's own families.
    pub fn text(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// The member's `/metrics` text without the families the proxy reports
/// itself (etcd's member binary registers them too, always zero).
fn without_proxy_families(member: &str) -> String {
    member
        .lines()
        .filter(|l| {
            let name = l
                .strip_prefix("# HELP ")
                .or_else(|| l.strip_prefix("# TYPE "))
                .unwrap_or(l);
            !name.starts_with("etcd_grpc_proxy_")
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Largest member `/metrics` body read.
const MEMBER_METRICS_BYTES_MAX: u64 = 16 << 20;

/// GETs `/metrics` from a plain-HTTP endpoint (`http://host:port`) with
/// HTTP/1.0, so the body ends with the connection and is never chunked.
/// `None` for TLS endpoints and on any failure.
async fn member_metrics(endpoint: &str) -> Option<String> {
    let hostport = endpoint.strip_prefix("http://")?.trim_end_matches('/');
    let fetch = async {
        let mut s = tokio::net::TcpStream::connect(hostport).await.ok()?;
        let req = format!("GET /metrics HTTP/1.0\r\nHost: {hostport}\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut raw = Vec::new();
        s.take(MEMBER_METRICS_BYTES_MAX)
            .read_to_end(&mut raw)
            .await
            .ok()?;
        let text = String::from_utf8(raw).ok()?;
        let (head, body) = text.split_once("\r\n\r\n")?;
        (head.split(' ').nth(1) == Some("200")).then(|| body.to_string())
    };
    tokio::time::timeout(Duration::from_secs(5), fetch)
        .await
        .ok()
        .flatten()
}

/// The proxy port's (and `--metrics-addr`'s) plain HTTP.
pub struct ProxyHttp {
    pub metrics: Arc<ProxyMetrics>,
    pub kv: KvClient<tonic::transport::Channel>,
    /// The endpoint whose `/metrics` the proxy's `/metrics` carries.
    pub endpoint: String,
}

impl ProxyHttp {
    /// etcd's proxy `checkHealth`: a get of `a` within a second (permission
    /// denied counts as healthy: the cluster answered).
    async fn healthy(&self) -> bool {
        let mut kv = self.kv.clone();
        let get = kv.range(RangeRequest {
            key: b"a".to_vec(),
            ..Default::default()
        });
        match tokio::time::timeout(Duration::from_secs(1), get).await {
            Ok(Ok(_)) => true,
            Ok(Err(s)) => s.message() == "etcdserver: permission denied",
            Err(_) => false,
        }
    }
}

fn text_response(body: String) -> HttpResponse {
    HttpResponse::new(
        200,
        vec![("content-type", "text/plain; version=0.0.4".into())],
        body.into_bytes(),
    )
}

#[tonic::async_trait]
impl HttpHandler for ProxyHttp {
    async fn handle(&self, req: HttpRequest) -> HttpResponse {
        match req.path.as_str() {
            "/metrics" => {
                let member = member_metrics(&self.endpoint).await.unwrap_or_default();
                text_response(without_proxy_families(&member) + &self.metrics.text())
            }
            "/proxy/metrics" => text_response(self.metrics.text()),
            "/health" => {
                let ok = self.healthy().await;
                plain(if ok { 200 } else { 503 }, &health_body(ok))
            }
            _ => not_found(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_named_as_etcd() {
        let m = ProxyMetrics::default();
        m.cache_hits.inc();
        let text = m.text();
        for name in [
            "etcd_grpc_proxy_cache_hits_total 1",
            "etcd_grpc_proxy_cache_misses_total 0",
            "etcd_grpc_proxy_cache_keys_total 0",
            "# TYPE etcd_grpc_proxy_events_coalescing_total counter",
            "# TYPE etcd_grpc_proxy_watchers_coalescing_total gauge",
        ] {
            assert!(text.contains(name), "{name} in\n{text}");
        }
        let member = "# HELP etcd_grpc_proxy_cache_hits_total x\n# TYPE etcd_grpc_proxy_cache_hits_total gauge\netcd_grpc_proxy_cache_hits_total 0\netcd_server_has_leader 1\n";
        assert_eq!(without_proxy_families(member), "etcd_server_has_leader 1\n");
    }
}
