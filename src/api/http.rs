//! etcd's client port speaks gRPC (HTTP/2) and plain HTTP/1.1 (`/health`,
//! `/version`) on the same socket. On real networks we look at the first
//! bytes of each connection: the HTTP/2 preface goes to tonic, anything else
//! to a small HTTP/1.1 responder. (The simulator serves gRPC only.)

use std::time::Duration;

use crate::server::{EtcdServer, CLUSTER_VERSION};

/// The body `/health` answers, given whether the member can serve.
pub fn health_body(healthy: bool) -> String {
    format!("{{\"health\":\"{healthy}\"}}")
}

/// The body `/version` answers.
pub fn version_body(server_version: &str) -> String {
    format!("{{\"etcdserver\":\"{server_version}\",\"etcdcluster\":\"{CLUSTER_VERSION}\"}}")
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

#[cfg(not(madsim))]
pub use real::serve_mux;

#[cfg(not(madsim))]
mod real {
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::net::{TcpListener, TcpStream};

    use super::{health_body, healthy, version_body};
    use crate::server::EtcdServer;

    const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";
    /// Longest HTTP/1.1 request head we read.
    const HEAD_BYTES_MAX: usize = 8 * 1024;
    /// Buffer between a client socket and tonic, each way.
    const PROXY_BUFFER_BYTES: usize = 256 * 1024;
    /// Connections waiting for tonic to pick them up.
    const PENDING_CONNECTIONS_MAX: usize = 1024;

    pub async fn serve_mux(
        router: tonic::transport::server::Router,
        server: Arc<EtcdServer>,
        addr: SocketAddr,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let listener = TcpListener::bind(addr).await?;
        let (tx, rx) =
            tokio::sync::mpsc::channel::<io::Result<DuplexStream>>(PENDING_CONNECTIONS_MAX);
        let incoming =
            futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|s| (s, rx)) });
        let mut grpc = tokio::spawn(router.serve_with_incoming_shutdown(incoming, shutdown));
        loop {
            tokio::select! {
                res = &mut grpc => {
                    return match res {
                        Ok(r) => r.map_err(io::Error::other),
                        Err(e) => Err(io::Error::other(e)),
                    };
                }
                acc = listener.accept() => {
                    let Ok((sock, _)) = acc else { continue };
                    let _ = sock.set_nodelay(true);
                    let tx = tx.clone();
                    let server = server.clone();
                    tokio::spawn(async move {
                        if is_http2(&sock).await {
                            // Through the :authority shim (see authority.rs).
                            let (ours, theirs) = tokio::io::duplex(PROXY_BUFFER_BYTES);
                            if tx.send(Ok(theirs)).await.is_ok() {
                                proxy(sock, ours).await;
                            }
                        } else {
                            let _ = serve_http1(sock, &server).await;
                        }
                    });
                }
            }
        }
    }

    async fn proxy(sock: TcpStream, duplex: DuplexStream) {
        let (sock_r, mut sock_w) = sock.into_split();
        let (dup_r, dup_w) = tokio::io::split(duplex);
        let up = crate::api::authority::client_to_server(sock_r, dup_w);
        let mut dup_r = dup_r;
        let down = async move {
            let _ = tokio::io::copy(&mut dup_r, &mut sock_w).await;
            let _ = sock_w.shutdown().await;
        };
        let _ = tokio::join!(up, down);
    }

    async fn is_http2(sock: &TcpStream) -> bool {
        let mut buf = [0u8; 14];
        for _ in 0..50 {
            match sock.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n >= H2_PREFACE.len() || !H2_PREFACE.starts_with(&buf[..n]) => {
                    return buf[..n] == *H2_PREFACE;
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(2)).await,
            }
        }
        false
    }

    async fn serve_http1(mut sock: TcpStream, server: &EtcdServer) -> io::Result<()> {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tokio::time::timeout(Duration::from_secs(5), sock.read(&mut buf))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if n == 0 || head.len() + n > HEAD_BYTES_MAX {
                return Ok(());
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = path.split('?').next().unwrap_or("");
        let (status, ctype, body) = match (method, path) {
            ("GET", "/health") => {
                let ok = healthy(server).await;
                let status = if ok {
                    "200 OK"
                } else {
                    "503 Service Unavailable"
                };
                (status, "application/json", health_body(ok))
            }
            ("GET", "/version") => ("200 OK", "application/json", version_body(server.version)),
            _ => (
                "404 Not Found",
                "text/plain; charset=utf-8",
                "404 page not found\n".to_string(),
            ),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        sock.write_all(resp.as_bytes()).await?;
        sock.shutdown().await
    }
}
