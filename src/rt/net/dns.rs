//! A stub resolver that behaves as Go's pure-Go one (`net/dnsclient_unix.go`,
//! `net/dnsconfig_unix.go`, `net/hosts.go`), which is what etcd's DNS
//! discovery goes through: the name servers, search list and options of
//! `/etc/resolv.conf`, `/etc/hosts` before DNS for host names, UDP with a
//! retry over TCP when the answer is truncated, Go's order of SRV records
//! and Go's error texts (`lookup NAME on SERVER: no such host`).
//!
//! The wire format is `srv::dns` (sans-IO); this is its shell on sockets.
//! It reads the two system files with `std::fs` and is never reached in
//! simulation (DNS discovery is a start-up step the simulator skips).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::srv::dns::{self, Answers, DnsError, Srv};

/// Go's limit on a UDP answer it reads (no EDNS0).
const UDP_ANSWER_BYTES_MAX: usize = 512;

/// `/etc/resolv.conf` as Go reads it (`dnsReadConfig`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvConf {
    pub servers: Vec<SocketAddr>,
    pub search: Vec<String>,
    pub ndots: usize,
    pub timeout: Duration,
    pub attempts: usize,
    pub rotate: bool,
}

impl Default for ResolvConf {
    /// Go's defaults, used for whatever the file does not say.
    fn default() -> Self {
        ResolvConf {
            servers: Vec::new(),
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
            rotate: false,
        }
    }
}

impl ResolvConf {
    /// Parses the file's text; with no `nameserver` line, Go asks the
    /// local host (`127.0.0.1:53` and `[::1]:53`).
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                // Go keeps at most three servers, as libc.
                Some("nameserver") if conf.servers.len() < 3 => {
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                        conf.servers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("domain") => {
                    if let Some(d) = words.next() {
                        conf.search = vec![dns::fqdn(d)];
                    }
                }
                Some("search") => conf.search = words.map(dns::fqdn).collect(),
                Some("options") => {
                    for opt in words {
                        let num = |prefix: &str| {
                            opt.strip_prefix(prefix)
                                .and_then(|v| v.parse::<usize>().ok())
                        };
                        if let Some(n) = num("ndots:") {
                            conf.ndots = n.min(15);
                        } else if let Some(n) = num("timeout:") {
                            conf.timeout = Duration::from_secs(n.max(1) as u64);
                        } else if let Some(n) = num("attempts:") {
                            conf.attempts = n.max(1);
                        } else if opt == "rotate" {
                            conf.rotate = true;
                        }
                    }
                }
                _ => {}
            }
        }
        if conf.servers.is_empty() {
            conf.servers = vec![
                SocketAddr::from(([127, 0, 0, 1], 53)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 53)),
            ];
        }
        conf
    }

    /// The names to try for `name`, in Go's order (`nameList`): a rooted
    /// name alone; a name with at least `ndots` dots as it is, then with
    /// each search domain; a shorter one with the search domains first.
    pub fn name_list(&self, name: &str) -> Vec<String> {
        if name.ends_with('.') {
            return vec![name.to_string()];
        }
        let has_ndots = name.matches('.').count() >= self.ndots;
        let mut names = Vec::with_capacity(self.search.len() + 1);
        if has_ndots {
            names.push(dns::fqdn(name));
        }
        names.extend(self.search.iter().map(|s| format!("{name}.{s}")));
        if !has_ndots {
            names.push(dns::fqdn(name));
        }
        names
    }
}

/// `/etc/hosts`: addresses by name (Go's `lookupStaticHost`).
fn hosts_lookup(text: &str, host: &str) -> Vec<IpAddr> {
    let want = host.trim_end_matches('.');
    text.lines()
        .filter_map(|line| {
            let mut words = line.split('#').next()?.split_whitespace();
            let ip = words.next()?.parse::<IpAddr>().ok()?;
            words
                .any(|n| n.trim_end_matches('.').eq_ignore_ascii_case(want))
                .then_some(ip)
        })
        .collect()
}

/// Go's `byPriorityWeight.sort`: by priority, then within a priority a
/// random order drawn by weight (RFC 2782); records of weight 0 keep the
/// server's order (Go's sort of a few records is a stable insertion sort).
pub fn sort_srv(addrs: &mut [Srv]) {
    addrs.sort_by_key(|s| (s.priority, s.weight));
    let mut start = 0;
    while start < addrs.len() {
        let end = start
            + addrs[start..]
                .iter()
                .take_while(|s| s.priority == addrs[start].priority)
                .count();
        shuffle_by_weight(&mut addrs[start..end]);
        start = end;
    }
}

fn shuffle_by_weight(mut addrs: &mut [Srv]) {
    let mut sum: u64 = addrs.iter().map(|s| u64::from(s.weight)).sum();
    while sum > 0 && addrs.len() > 1 {
        let n = crate::rt::rand::gen_range(0..sum);
        let mut s = 0;
        for i in 0..addrs.len() {
            s += u64::from(addrs[i].weight);
            if s > n {
                addrs.swap(0, i);
                break;
            }
        }
        sum -= u64::from(addrs[0].weight);
        addrs = &mut addrs[1..];
    }
}

/// The resolver: the system's configuration, read once.
#[derive(Clone, Debug)]
pub struct Resolver {
    pub conf: ResolvConf,
    /// The text of `/etc/hosts`.
    pub hosts: String,
}

impl Resolver {
    /// Reads `/etc/resolv.conf` and `/etc/hosts` (either may be missing).
    pub fn system() -> Resolver {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Resolver {
            conf: ResolvConf::parse(&read("/etc/resolv.conf")),
            hosts: read("/etc/hosts"),
        }
    }

    /// Go's `net.LookupSRV(service, proto, name)`: the records of
    /// `_service._proto.name`, in Go's order.
    pub async fn lookup_srv(
        &self,
        service: &str,
        proto: &str,
        name: &str,
    ) -> Result<Vec<Srv>, String> {
        let target = if service.is_empty() && proto.is_empty() {
            name.to_string()
        } else {
            format!("_{service}._{proto}.{name}")
        };
        let mut srv = match self.lookup(&target, &[dns::TYPE_SRV]).await {
            Ok(a) => a.srv,
            // Go names the domain, not the SRV name, when it cannot read
            // the records themselves.
            Err(f) if f.bad_record => return Err(f.text(name)),
            Err(f) => return Err(f.text(&target)),
        };
        sort_srv(&mut srv);
        Ok(srv)
    }

    /// Go's `net.ResolveTCPAddr("tcp", hostport)`: an IP literal as it is,
    /// else `/etc/hosts`, else A and AAAA records; the first IPv4 address
    /// if there is one.
    pub async fn resolve_tcp_addr(&self, hostport: &str) -> Result<SocketAddr, String> {
        let (host, port) = split_host_port(hostport)?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("lookup tcp/{port}: unknown port"))?;
        let ips = self.lookup_ip(host).await?;
        let ip = ips
            .iter()
            .find(|ip| ip.is_ipv4())
            .or(ips.first())
            .copied()
            .ok_or_else(|| format!("lookup {host}: no such host"))?;
        Ok(SocketAddr::new(ip, port))
    }

    /// A host's addresses.
    pub async fn lookup_ip(&self, host: &str) -> Result<Vec<IpAddr>, String> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![ip]);
        }
        let ips = hosts_lookup(&self.hosts, host);
        if !ips.is_empty() {
            return Ok(ips);
        }
        match self.lookup(host, &[dns::TYPE_A, dns::TYPE_AAAA]).await {
            Ok(a) => Ok(a.ips),
            Err(f) => Err(f.text(host)),
        }
    }

    /// Asks for `name`'s records of each type in `qtypes` under each name
    /// of the search list until one answers (Go's `lookup` and
    /// `goLookupIPCNAMEOrder`).
    async fn lookup(&self, name: &str, qtypes: &[u16]) -> Result<Answers, Failure> {
        if name.is_empty() || name.trim_end_matches('.').split('.').any(str::is_empty) {
            return Err(Failure::new("", DnsError::NoSuchHost));
        }
        let mut last_err = None;
        for fqdn in self.conf.name_list(name) {
            let mut found = Answers::default();
            for &qtype in qtypes {
                match self.try_one_name(&fqdn, qtype).await {
                    Ok(a) => {
                        found.srv.extend(a.srv);
                        found.ips.extend(a.ips);
                    }
                    Err(f) if f.bad_record => return Err(f),
                    // Prefer the error about the name itself.
                    Err(f) if last_err.is_none() || fqdn == dns::fqdn(name) => last_err = Some(f),
                    Err(_) => {}
                }
            }
            if !found.srv.is_empty() || !found.ips.is_empty() {
                return Ok(found);
            }
        }
        Err(last_err.unwrap_or_else(|| Failure::new("", DnsError::NoSuchHost)))
    }

    /// Every server, `attempts` times, until one answers; a name error
    /// ends it at once (another server will not know the name either), as
    /// does an answer whose records cannot be read.
    async fn try_one_name(&self, fqdn: &str, qtype: u16) -> Result<Answers, Failure> {
        let servers = &self.conf.servers;
        let mut last = Failure::new("", DnsError::NoSuchHost);
        let first = if self.conf.rotate {
            crate::rt::rand::gen_range(0..servers.len() as u64) as usize
        } else {
            0
        };
        for _ in 0..self.conf.attempts {
            for j in 0..servers.len() {
                let server = servers[(first + j) % servers.len()];
                let id = crate::rt::rand::gen_range(0..1 << 16) as u16;
                let answer = match self.exchange(server, id, fqdn, qtype).await {
                    Ok(msg) => dns::parse_answer(&msg, id, fqdn, qtype),
                    Err(e) => {
                        last = Failure {
                            server: server.to_string(),
                            err: e,
                            bad_record: false,
                        };
                        continue;
                    }
                };
                match answer {
                    Ok(a) => return Ok(a),
                    Err(e @ (DnsError::NoSuchHost | DnsError::BadRecord)) => {
                        return Err(Failure::new(&server.to_string(), e))
                    }
                    Err(e) => last = Failure::new(&server.to_string(), e),
                }
            }
        }
        Err(last)
    }

    /// One query to one server: UDP, then TCP if the answer was truncated;
    /// the error in Go's words.
    async fn exchange(
        &self,
        server: SocketAddr,
        id: u16,
        fqdn: &str,
        qtype: u16,
    ) -> Result<Vec<u8>, String> {
        let query = dns::encode_query(id, fqdn, qtype).map_err(|e| e.to_string())?;
        let msg = udp_exchange(server, id, &query, self.conf.timeout).await?;
        if !dns::truncated(&msg) {
            return Ok(msg);
        }
        match tokio::time::timeout(self.conf.timeout, tcp_exchange(server, &query)).await {
            Ok(r) => r,
            Err(_) => Err(format!("read tcp {server}: i/o timeout")),
        }
    }
}

/// Why a lookup failed: Go's `DNSError` less the name, which the caller
/// picks (Go names the name asked for, or for SRV data the domain).
#[derive(Debug)]
struct Failure {
    server: String,
    err: String,
    /// The records of a good answer could not be read (`DnsError::BadRecord`).
    bad_record: bool,
}

impl Failure {
    fn new(server: &str, e: DnsError) -> Failure {
        Failure {
            server: server.to_string(),
            err: e.to_string(),
            bad_record: e == DnsError::BadRecord,
        }
    }

    /// `lookup NAME on SERVER: ERR` (without a server: `lookup NAME: ERR`).
    fn text(&self, name: &str) -> String {
        if self.server.is_empty() {
            format!("lookup {name}: {}", self.err)
        } else {
            format!("lookup {name} on {}: {}", self.server, self.err)
        }
    }
}

/// Go's text for a socket error: `read udp 127.0.0.1:41566->127.0.0.1:53:
/// read: connection refused`.
fn op_error(op: &str, net: &str, addrs: &str, e: io::Error) -> String {
    format!("{op} {net} {addrs}: {op}: {}", super::go_text(&e))
}

async fn udp_exchange(
    server: SocketAddr,
    id: u16,
    query: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let local: SocketAddr = if server.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let dial = |e| format!("dial udp {server}: {}", super::go_text(&e));
    let sock = tokio::net::UdpSocket::bind(local).await.map_err(dial)?;
    sock.connect(server).await.map_err(dial)?;
    let addrs = match sock.local_addr() {
        Ok(l) => format!("{l}->{server}"),
        Err(_) => server.to_string(),
    };
    sock.send(query)
        .await
        .map_err(|e| op_error("write", "udp", &addrs, e))?;
    let mut buf = vec![0u8; UDP_ANSWER_BYTES_MAX];
    // An answer to an earlier query (another id) is not ours: read on, as
    // Go does, until ours comes or the timeout ends the wait.
    let ours = async {
        loop {
            let n = sock
                .recv(&mut buf)
                .await
                .map_err(|e| op_error("read", "udp", &addrs, e))?;
            if dns::message_id(&buf[..n]) == Some(id) {
                return Ok(buf[..n].to_vec());
            }
        }
    };
    match tokio::time::timeout(timeout, ours).await {
        Ok(r) => r,
        Err(_) => Err(format!("read udp {addrs}: i/o timeout")),
    }
}

async fn tcp_exchange(server: SocketAddr, query: &[u8]) -> Result<Vec<u8>, String> {
    let mut conn = tokio::net::TcpStream::connect(server)
        .await
        .map_err(|e| format!("dial tcp {server}: {}", super::go_text(&e)))?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    conn.write_all(&framed)
        .await
        .map_err(|e| op_error("write", "tcp", &server.to_string(), e))?;
    let mut len = [0u8; 2];
    conn.read_exact(&mut len)
        .await
        .map_err(|e| op_error("read", "tcp", &server.to_string(), e))?;
    let mut msg = vec![0u8; usize::from(u16::from_be_bytes(len))];
    conn.read_exact(&mut msg)
        .await
        .map_err(|e| op_error("read", "tcp", &server.to_string(), e))?;
    Ok(msg)
}

/// Go's `net.SplitHostPort` (brackets around an IPv6 host).
pub fn split_host_port(hostport: &str) -> Result<(&str, &str), String> {
    let missing = || format!("address {hostport}: missing port in address");
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(missing)?;
        return Ok((host, after.strip_prefix(':').ok_or_else(missing)?));
    }
    let (host, port) = hostport.rsplit_once(':').ok_or_else(missing)?;
    if host.contains(':') {
        return Err(format!("address {hostport}: too many colons in address"));
    }
    Ok((host, port))
}

/// Go's `net.JoinHostPort`.
pub fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn srv(priority: u16, weight: u16, target: &str) -> Srv {
        Srv {
            priority,
            weight,
            port: 1,
            target: target.into(),
        }
    }

    #[test]
    fn resolv_conf_as_go_reads_it() {
        let c = ResolvConf::parse(
            "# comment\nnameserver 10.0.0.1\nnameserver ::1 ; x\nsearch a.test b.test\noptions ndots:2 timeout:1 attempts:3 rotate\n",
        );
        assert_eq!(
            c.servers,
            vec!["10.0.0.1:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
        assert_eq!(c.search, vec!["a.test.", "b.test."]);
        assert_eq!(
            (c.ndots, c.timeout, c.attempts, c.rotate),
            (2, Duration::from_secs(1), 3, true)
        );
        assert_eq!(ResolvConf::parse("").servers.len(), 2);
        // `domain` and `search`: the last one wins.
        assert_eq!(
            ResolvConf::parse("search x.test\ndomain d.test\n").search,
            vec!["d.test."]
        );
    }

    #[test]
    fn name_list_in_go_order() {
        let c = ResolvConf::parse("search s.test\n");
        assert_eq!(c.name_list("a.b"), vec!["a.b.", "a.b.s.test."]);
        assert_eq!(c.name_list("a"), vec!["a.s.test.", "a."]);
        assert_eq!(c.name_list("a.b."), vec!["a.b."]);
    }

    #[test]
    fn hosts_file() {
        let text = "127.0.0.1 localhost\n# 10.0.0.9 m1.test\n::1 ip6-localhost localhost\n";
        assert_eq!(
            hosts_lookup(text, "LOCALHOST."),
            vec![
                "127.0.0.1".parse::<IpAddr>().unwrap(),
                "::1".parse().unwrap()
            ]
        );
        assert!(hosts_lookup(text, "m1.test").is_empty());
    }

    #[test]
    fn srv_order() {
        let sorted = |v: &[(u16, u16, &str)]| {
            let mut s: Vec<Srv> = v.iter().map(|&(p, w, t)| srv(p, w, t)).collect();
            sort_srv(&mut s);
            s.into_iter().map(|s| s.target).collect::<Vec<_>>()
        };
        // Weight 0: by priority, the server's order kept within one.
        let got = sorted(&[(2, 0, "c"), (1, 0, "a"), (2, 0, "d"), (1, 0, "b")]);
        assert_eq!(got, ["a", "b", "c", "d"]);
        // Weighted: any order within a priority, priorities kept.
        let mut got = sorted(&[(1, 5, "x"), (0, 10, "a"), (1, 1, "y"), (0, 20, "b")]);
        got[..2].sort();
        got[2..].sort();
        assert_eq!(got, ["a", "b", "x", "y"]);
    }

    #[test]
    fn host_port() {
        assert_eq!(split_host_port("m1.test.:2380"), Ok(("m1.test.", "2380")));
        assert_eq!(split_host_port("[::1]:2380"), Ok(("::1", "2380")));
        assert!(split_host_port("m1").is_err());
        assert_eq!(join_host_port("::1", "1"), "[::1]:1");
    }
}
