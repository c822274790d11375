//! etcd's `proxy/tcpproxy`: a layer-4 proxy in front of a cluster's client
//! ports. Each accepted connection goes to the next active endpoint in
//! round-robin order; an endpoint that refuses a dial is marked inactive
//! and the next one is tried, and a monitor tries inactive endpoints again
//! every `monitor_interval` (`--retry-delay`). The bytes are copied both
//! ways until either side closes; both sockets are then closed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// One endpoint and whether it takes connections.
#[derive(Debug)]
struct Remote {
    addr: String,
    active: bool,
}

/// The proxy's endpoints and its round-robin position.
#[derive(Debug)]
pub struct TcpProxy {
    remotes: Mutex<(Vec<Remote>, usize)>,
    monitor_interval: Duration,
    dial_timeout: Duration,
}

impl TcpProxy {
    pub fn new(endpoints: &[String], monitor_interval: Duration) -> TcpProxy {
        let remotes = endpoints
            .iter()
            .map(|e| Remote {
                addr: e.clone(),
                active: true,
            })
            .collect();
        TcpProxy {
            remotes: Mutex::new((remotes, 0)),
            monitor_interval,
            dial_timeout: Duration::from_secs(5),
        }
    }

    /// The next active endpoint, round robin.
    fn pick(&self) -> Option<String> {
        let mut g = self.remotes.lock().expect("remotes");
        let (remotes, next) = &mut *g;
        for _ in 0..remotes.len() {
            let i = *next % remotes.len();
            *next = next.wrapping_add(1);
            if remotes[i].active {
                return Some(remotes[i].addr.clone());
            }
        }
        None
    }

    fn set_active(&self, addr: &str, active: bool) {
        let mut g = self.remotes.lock().expect("remotes");
        for r in g.0.iter_mut().filter(|r| r.addr == addr) {
            r.active = active;
        }
    }

    /// Accepts until the listener fails (then returns its error).
    pub async fn run(self: Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let eps: Vec<String> = {
            let g = self.remotes.lock().expect("remotes");
            g.0.iter().map(|r| r.addr.clone()).collect()
        };
        tracing::info!(target: "tcpproxy", "ready to proxy client requests to {eps:?}");
        tokio::spawn(self.clone().monitor());
        loop {
            let (conn, _) = listener.accept().await?;
            tokio::spawn(self.clone().serve(conn));
        }
    }

    async fn serve(self: Arc<Self>, mut conn: TcpStream) {
        // At most one try per endpoint: each failure deactivates one.
        let mut out = None;
        while let Some(addr) = self.pick() {
            match tokio::time::timeout(self.dial_timeout, TcpStream::connect(addr.as_str())).await {
                Ok(Ok(s)) => {
                    out = Some(s);
                    break;
                }
                Ok(Err(e)) => self.deactivate(&addr, &e.to_string()),
                Err(_) => self.deactivate(&addr, "dial timed out"),
            }
        }
        // No endpoint: the client's connection is dropped, so closed.
        let Some(mut out) = out else {
            return;
        };
        let _ = tokio::io::copy_bidirectional(&mut conn, &mut out).await;
    }

    fn deactivate(&self, addr: &str, why: &str) {
        self.set_active(addr, false);
        tracing::warn!(
            target: "tcpproxy",
            "deactivated endpoint [{addr}] due to {why} for {}",
            crate::ctl::util::go_duration(self.monitor_interval)
        );
    }

    /// Every interval, dials each inactive endpoint once; one that answers
    /// takes connections again.
    async fn monitor(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.monitor_interval).await;
            let inactive: Vec<String> = {
                let g = self.remotes.lock().expect("remotes");
                g.0.iter()
                    .filter(|r| !r.active)
                    .map(|r| r.addr.clone())
                    .collect()
            };
            for addr in inactive {
                let dialed =
                    tokio::time::timeout(self.dial_timeout, TcpStream::connect(addr.as_str()))
                        .await;
                match dialed {
                    Ok(Ok(_)) => {
                        self.set_active(&addr, true);
                        tracing::info!(target: "tcpproxy", "activated {addr}");
                    }
                    _ => tracing::warn!(
                        target: "tcpproxy",
                        "failed to activate endpoint [{addr}] (stay inactive for another {})",
                        crate::ctl::util::go_duration(self.monitor_interval)
                    ),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_round_robin_and_skips_inactive_endpoints() {
        let eps: Vec<String> = ["a:1", "b:2", "c:3"].map(String::from).to_vec();
        let p = TcpProxy::new(&eps, Duration::from_secs(60));
        let first: Vec<_> = (0..4).map(|_| p.pick().unwrap()).collect();
        assert_eq!(first, ["a:1", "b:2", "c:3", "a:1"]);
        p.set_active("b:2", false);
        let next: Vec<_> = (0..3).map(|_| p.pick().unwrap()).collect();
        assert_eq!(next, ["c:3", "a:1", "c:3"]);
        p.set_active("a:1", false);
        p.set_active("c:3", false);
        assert_eq!(p.pick(), None);
        p.set_active("b:2", true);
        assert_eq!(p.pick().as_deref(), Some("b:2"));
    }
}
