//! DNS discovery: etcd's `pkg/srv` (and `GetDNSClusterNames` of its
//! `embed/config.go`). A member started with `--discovery-srv DOMAIN`
//! takes its initial cluster from the SRV records of
//! `_etcd-server-ssl[-NAME]._tcp.DOMAIN`; etcdctl's `--discovery-srv`
//! takes its endpoints from `_etcd-client-ssl[-NAME]._tcp.DOMAIN` and
//! `_etcd-client[-NAME]._tcp.DOMAIN`.
//!
//! An example: records `m1.example.test.:2380`, `m2…`, `m3…` for
//! `_etcd-server-ssl._tcp.example.test` and a member `--name infra2` whose
//! `--initial-advertise-peer-urls` is `https://m2.example.test:2380` make
//! the initial cluster `0=https://m1.example.test:2380,
//! infra2=https://m2.example.test:2380,1=https://m3.example.test:2380`:
//! a target is this member when it resolves to the same IP and port as one
//! of its advertised peer URLs, and the others are named by a counter.
//! Those names are placeholders — member ids come from the peer URLs and
//! the cluster token, and each member publishes its real name once it
//! runs — so members that see the records in different orders still agree
//! on the cluster.
//!
//! The rules are sans-IO over [`Lookup`]; `rt::net::dns::Resolver` is the
//! one on sockets.

pub mod dns;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;

use self::dns::Srv;
use crate::rt::net::dns::{join_host_port, Resolver};

/// The two questions discovery asks, as Go's `net` answers them.
pub trait Lookup {
    /// `net.LookupSRV(service, proto, name)`, in Go's order.
    fn lookup_srv(
        &self,
        service: &str,
        proto: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<Srv>, String>> + Send;
    /// `net.ResolveTCPAddr("tcp", hostport)`.
    fn resolve_tcp_addr(
        &self,
        hostport: &str,
    ) -> impl Future<Output = Result<SocketAddr, String>> + Send;
}

impl Lookup for Resolver {
    fn lookup_srv(
        &self,
        service: &str,
        proto: &str,
        name: &str,
    ) -> impl Future<Output = Result<Vec<Srv>, String>> + Send {
        Resolver::lookup_srv(self, service, proto, name)
    }

    fn resolve_tcp_addr(
        &self,
        hostport: &str,
    ) -> impl Future<Output = Result<SocketAddr, String>> + Send {
        Resolver::resolve_tcp_addr(self, hostport)
    }
}

/// The `host:port` of a URL (Go's `url.Host`).
fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split(['/', '?', '#']).next().unwrap_or("")
}

fn url_scheme(url: &str) -> &str {
    url.split_once("://").map_or("", |(s, _)| s)
}

/// etcd's `srv.GetCluster`: the `(name, peer URL)` pairs of `service`'s
/// records under `domain`, with `scheme`; the record that resolves to one
/// of `apurls` is `name`, the others "0", "1", … in record order.
pub async fn get_cluster(
    r: &impl Lookup,
    scheme: &str,
    service: &str,
    name: &str,
    domain: &str,
    apurls: &[String],
) -> Result<Vec<(String, String)>, String> {
    let mut tcp2ap: HashMap<SocketAddr, &str> = HashMap::new();
    for url in apurls {
        tcp2ap.insert(r.resolve_tcp_addr(url_host(url)).await?, url);
    }
    let failed = |e: &str| format!("error querying DNS SRV records for _{service} {e}");
    let addrs = r
        .lookup_srv(service, "tcp", domain)
        .await
        .map_err(|e| failed(&e))?;
    let mut temp_name = 0;
    let mut parts = Vec::new();
    let mut err = None;
    for srv in addrs {
        let port = srv.port.to_string();
        let addr = match r
            .resolve_tcp_addr(&join_host_port(&srv.target, &port))
            .await
        {
            Ok(a) => a,
            Err(e) => {
                err = Some(e);
                continue;
            }
        };
        let own = tcp2ap.get(&addr);
        let n = match own {
            Some(_) if !name.is_empty() => name.to_string(),
            _ => {
                temp_name += 1;
                (temp_name - 1).to_string()
            }
        };
        // SRV targets end in a dot; a URL's host does not.
        let short = srv.target.strip_suffix('.').unwrap_or(&srv.target);
        let url = format!("{scheme}://{}", join_host_port(short, &port));
        match own {
            Some(ap) if url_scheme(ap) != scheme => {
                err = Some(format!(
                    "bootstrap at {url} from DNS for {service} has scheme mismatch with expected peer {ap}"
                ));
            }
            _ => parts.push((n, url)),
        }
    }
    match err {
        Some(e) if parts.is_empty() => Err(failed(&e)),
        _ => Ok(parts),
    }
}

/// etcd 3.4's `GetDNSClusterNames` as it is: only the `https` records
/// count. It also asks for `_etcd-server[-NAME]` (http peers), but keeps
/// that answer only when the lookup *failed* — an inverted test, so the
/// answer never counts (etcd 3.5 fixed it; no 3.4 release did). oxcd
/// keeps 3.4's behaviour: the same records bootstrap the same cluster, or
/// fail the same way, on both.
pub async fn dns_cluster_names(
    r: &impl Lookup,
    name: &str,
    domain: &str,
    service_name: &str,
    apurls: &[String],
) -> Result<Vec<(String, String)>, String> {
    let suffix = if service_name.is_empty() {
        String::new()
    } else {
        format!("-{service_name}")
    };
    let https_service = format!("etcd-server-ssl{suffix}");
    let https = get_cluster(r, "https", &https_service, name, domain, apurls).await;
    tracing::debug!(target: "embed", "get cluster for {https_service} SRV: {https:?}");
    let http_service = format!("etcd-server{suffix}");
    let http = get_cluster(r, "http", &http_service, name, domain, apurls).await;
    tracing::debug!(target: "embed", "get cluster for {http_service} SRV (unused, as in etcd 3.4): {http:?}");
    https
}

/// etcd's `srv.GetSRVService`: `service`, `-ssl` for https, `-NAME`.
pub fn srv_service(service: &str, service_name: &str, scheme: &str) -> String {
    let service = if scheme == "https" {
        format!("{service}-ssl")
    } else {
        service.to_string()
    };
    if service_name.is_empty() {
        service
    } else {
        format!("{service}-{service_name}")
    }
}

/// etcd's `srv.GetClient`: `https://` endpoints from the `-ssl` records,
/// then `http://` ones; an error only when both lookups fail. The hosts
/// keep the records' trailing dots, as etcd's do.
pub async fn get_client(
    r: &impl Lookup,
    service: &str,
    domain: &str,
    service_name: &str,
) -> Result<Vec<String>, String> {
    let mut endpoints = Vec::new();
    let mut errors = Vec::new();
    for scheme in ["https", "http"] {
        match r
            .lookup_srv(&srv_service(service, service_name, scheme), "tcp", domain)
            .await
        {
            Ok(addrs) => endpoints.extend(addrs.iter().map(|s| {
                format!(
                    "{scheme}://{}",
                    join_host_port(&s.target, &s.port.to_string())
                )
            })),
            Err(e) => errors.push(e),
        }
    }
    if let [https, http] = &errors[..] {
        return Err(format!("dns lookup errors: {https} and {http}"));
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records by name; hosts by name.
    #[derive(Default)]
    struct Fake {
        srv: HashMap<String, Vec<(u16, &'static str)>>,
        hosts: HashMap<&'static str, &'static str>,
    }

    impl Lookup for Fake {
        fn lookup_srv(
            &self,
            service: &str,
            proto: &str,
            name: &str,
        ) -> impl Future<Output = Result<Vec<Srv>, String>> + Send {
            let target = format!("_{service}._{proto}.{name}");
            let r = match self.srv.get(&target) {
                Some(v) => Ok(v
                    .iter()
                    .map(|&(port, t)| Srv {
                        priority: 0,
                        weight: 0,
                        port,
                        target: t.to_string(),
                    })
                    .collect()),
                None => Err(format!("lookup {target} on 127.0.0.1:53: no such host")),
            };
            std::future::ready(r)
        }

        fn resolve_tcp_addr(
            &self,
            hostport: &str,
        ) -> impl Future<Output = Result<SocketAddr, String>> + Send {
            let (host, port) = crate::rt::net::dns::split_host_port(hostport).unwrap();
            let host = host.trim_end_matches('.');
            let ip = self.hosts.get(host).copied().unwrap_or(host);
            std::future::ready(
                format!("{ip}:{port}")
                    .parse()
                    .map_err(|_| format!("lookup {host} on 127.0.0.1:53: no such host")),
            )
        }
    }

    fn fake() -> Fake {
        let mut f = Fake::default();
        let three = vec![
            (2380, "m1.example.test."),
            (2380, "m2.example.test."),
            (2380, "m3.example.test."),
        ];
        f.srv
            .insert("_etcd-server-ssl._tcp.example.test".into(), three.clone());
        f.srv.insert("_etcd-server._tcp.example.test".into(), three);
        f.srv.insert(
            "_etcd-client._tcp.example.test".into(),
            vec![(2379, "m1.example.test.")],
        );
        f.hosts.insert("m1.example.test", "127.0.0.1");
        f.hosts.insert("m2.example.test", "127.0.0.2");
        f.hosts.insert("m3.example.test", "127.0.0.3");
        f
    }

    /// `--name`, `--discovery-srv-name` and one advertised peer URL
    /// against `example.test`.
    fn discover(
        f: &Fake,
        name: &str,
        suffix: &str,
        apurl: &str,
    ) -> Result<Vec<(String, String)>, String> {
        block(dns_cluster_names(
            f,
            name,
            "example.test",
            suffix,
            &[apurl.to_string()],
        ))
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    /// The fake answers at once, so one poll finishes any lookup.
    fn block<T>(f: impl Future<Output = T>) -> T {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("the fake lookup never waits"),
        }
    }

    #[test]
    fn own_record_gets_the_name_others_a_counter() {
        // Matched by address: the advertised URL is an IP, the record a name.
        let got = discover(&fake(), "infra2", "", "https://127.0.0.2:2380");
        assert_eq!(
            got.unwrap(),
            pairs(&[
                ("0", "https://m1.example.test:2380"),
                ("infra2", "https://m2.example.test:2380"),
                ("1", "https://m3.example.test:2380"),
            ])
        );
    }

    #[test]
    fn etcd_34_ignores_http_records() {
        let mut f = fake();
        f.srv.remove("_etcd-server-ssl._tcp.example.test");
        let got = discover(&f, "m1", "", "http://m1.example.test:2380");
        assert_eq!(
            got.unwrap_err(),
            "error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.example.test on 127.0.0.1:53: no such host"
        );
    }

    #[test]
    fn service_name_suffix() {
        let mut f = fake();
        let recs = f.srv["_etcd-server-ssl._tcp.example.test"].clone();
        f.srv.insert(
            "_etcd-server-ssl-blue._tcp.example.test".into(),
            recs[..2].to_vec(),
        );
        let got = discover(&f, "m1", "blue", "https://m1.example.test:2380");
        assert_eq!(
            got.unwrap(),
            pairs(&[
                ("m1", "https://m1.example.test:2380"),
                ("0", "https://m2.example.test:2380")
            ])
        );
        assert_eq!(
            srv_service("etcd-client", "blue", "https"),
            "etcd-client-ssl-blue"
        );
        assert_eq!(srv_service("etcd-client", "", "http"), "etcd-client");
    }

    #[test]
    fn scheme_mismatch_drops_the_own_record() {
        // The other records still count; the member then misses itself.
        let got = discover(&fake(), "m1", "", "http://m1.example.test:2380");
        assert_eq!(
            got.unwrap(),
            pairs(&[
                ("0", "https://m2.example.test:2380"),
                ("1", "https://m3.example.test:2380")
            ])
        );
        // Alone, it is the error.
        let mut f = fake();
        f.srv.insert(
            "_etcd-server-ssl._tcp.example.test".into(),
            vec![(2380, "m1.example.test.")],
        );
        let got = discover(&f, "m1", "", "http://m1.example.test:2380");
        assert_eq!(
            got.unwrap_err(),
            "error querying DNS SRV records for _etcd-server-ssl bootstrap at https://m1.example.test:2380 from DNS for etcd-server-ssl has scheme mismatch with expected peer http://m1.example.test:2380"
        );
    }

    #[test]
    fn client_endpoints() {
        let f = fake();
        assert_eq!(
            block(get_client(&f, "etcd-client", "example.test", "")).unwrap(),
            vec!["http://m1.example.test.:2379"]
        );
        assert_eq!(
            block(get_client(&f, "etcd-client", "none.test", "")).unwrap_err(),
            "dns lookup errors: lookup _etcd-client-ssl._tcp.none.test on 127.0.0.1:53: no such host and lookup _etcd-client._tcp.none.test on 127.0.0.1:53: no such host"
        );
    }
}
