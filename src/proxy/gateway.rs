//! `etcd gateway`: etcd 3.4's `etcdmain/gateway.go` — the command line,
//! its help and error texts, and `start`, which runs a [`TcpProxy`] from
//! `--listen-addr` to the cluster's client endpoints.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use crate::ctl::flags::{flag, Flag, FlagKind};

use super::{flag_error, parse_start, print, StartTexts};

use super::tcpproxy::TcpProxy;

const FLAGS: &[Flag] = &[
    flag("discovery-srv", None, FlagKind::Str, "", "DNS domain used to bootstrap initial cluster"),
    flag("discovery-srv-name", None, FlagKind::Str, "", "service name to query when using DNS discovery"),
    flag("endpoints", None, FlagKind::StringSlice, "[127.0.0.1:2379]", "comma separated etcd cluster endpoints"),
    flag("insecure-discovery", None, FlagKind::Bool, "false", "accept insecure SRV records"),
    flag("listen-addr", None, FlagKind::Str, "127.0.0.1:23790", "listen address"),
    flag("retry-delay", None, FlagKind::Duration, "1m0s", "duration of delay before retrying failed endpoints"),
    flag("trusted-ca-file", None, FlagKind::Str, "", "path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided."),
];

/// cobra's help of `etcd gateway`.
const GATEWAY_HELP: &str = "gateway related command

Usage:
  etcd gateway [command]

Available Commands:
  start       start the gateway

Flags:
  -h, --help   help for gateway

Use \"etcd gateway [command] --help\" for more information about a command.
";

/// cobra's usage of `etcd gateway start` (the help is this after a line).
const START_USAGE: &str = "Usage:
  etcd gateway start [flags]

Flags:
      --discovery-srv string        DNS domain used to bootstrap initial cluster
      --discovery-srv-name string   service name to query when using DNS discovery
      --endpoints strings           comma separated etcd cluster endpoints (default [127.0.0.1:2379])
  -h, --help                        help for start
      --insecure-discovery          accept insecure SRV records
      --listen-addr string          listen address (default \"127.0.0.1:23790\")
      --retry-delay duration        duration of delay before retrying failed endpoints (default 1m0s)
      --trusted-ca-file string      path to the client server TLS CA file for verifying the discovered endpoints when discovery-srv is provided.
";

/// What `etcd gateway start` runs, once its flags are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub listen_addr: String,
    pub endpoints: Vec<String>,
    pub retry_delay: Duration,
}

/// What the command line asks for: a text to print and an exit code, or a
/// gateway to start.
pub type Command = super::Command<Start>;

const TEXTS: StartTexts = StartTexts {
    group_help: GATEWAY_HELP,
    short: "start the gateway",
    usage: START_USAGE,
};

/// Parses the arguments after `etcd gateway`.
pub fn parse(args: &[String]) -> Command {
    let p = match parse_start(args, FLAGS, &TEXTS) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let delay = p.get("retry-delay", FLAGS);
    let Some(retry_delay) = crate::config::goflag::parse_duration(delay) else {
        let e = format!(
            "invalid argument {delay:?} for \"--retry-delay\" flag: time: invalid duration {delay:?}"
        );
        return print("", &flag_error(&e, START_USAGE), 1);
    };
    if !p.get("discovery-srv", FLAGS).is_empty() {
        return print(
            "",
            "Error: --discovery-srv (DNS discovery) is not built in oxcd yet; give --endpoints\n",
            1,
        );
    }
    let raw = p.get("endpoints", FLAGS);
    let raw = raw.trim_start_matches('[').trim_end_matches(']');
    // A TCP proxy needs hosts, not URLs: etcd strips any scheme.
    let endpoints: Vec<String> = raw
        .split(',')
        .filter(|e| !e.is_empty())
        .map(|e| match e.split_once("://") {
            Some((_, rest)) => rest.trim_end_matches('/').to_string(),
            None => e.to_string(),
        })
        .collect();
    for e in &endpoints {
        if split_host_port(e).is_none() {
            return print(&format!("error parsing endpoint {e:?}"), "", 1);
        }
    }
    let listen_addr = p.get("listen-addr", FLAGS).to_string();
    let Some((_, lport)) = split_host_port(&listen_addr) else {
        return print(
            &format!("failed to validate listen address: {listen_addr}\n"),
            "",
            1,
        );
    };
    // etcd refuses an endpoint that is the gateway itself (a loop).
    let listen_ips = resolve(&listen_addr);
    for e in &endpoints {
        let (_, port) = split_host_port(e).expect("checked");
        if port != lport {
            continue;
        }
        if let Some(ip) = resolve(e).into_iter().find(|a| listen_ips.contains(a)) {
            return print(
                &format!("SRV or endpoint ({e}->{ip}) should not resolve to the gateway listen addr ({listen_addr})\n"),
                "",
                1,
            );
        }
    }
    if endpoints.is_empty() {
        return print("no endpoints found\n", "", 1);
    }
    Command::Start(Start {
        listen_addr,
        endpoints,
        retry_delay,
    })
}

/// Go's `net.SplitHostPort`, loosely: a host (maybe `[v6]`) and a port.
fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let (host, port) = s.rsplit_once(':')?;
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((host.trim_start_matches('[').trim_end_matches(']'), port))
}

fn resolve(addr: &str) -> Vec<std::net::IpAddr> {
    addr.to_socket_addrs()
        .map(|it| it.map(|a: SocketAddr| a.ip()).collect())
        .unwrap_or_default()
}

/// Runs the gateway until its listener fails; the exit code.
pub async fn start(s: Start) -> i32 {
    let listener = match tokio::net::TcpListener::bind(s.listen_addr.as_str()).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("listen tcp {}: bind: {e}", s.listen_addr);
            return 1;
        }
    };
    let proxy = Arc::new(TcpProxy::new(&s.endpoints, s.retry_delay));
    match proxy.run(listener).await {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_as_etcd_3_4() {
        assert_eq!(parse(&args(&[])), print(GATEWAY_HELP, "", 0));
        let Command::Start(s) = parse(&args(&["start"])) else {
            panic!("defaults start");
        };
        assert_eq!(s.listen_addr, "127.0.0.1:23790");
        assert_eq!(s.endpoints, ["127.0.0.1:2379"]);
        assert_eq!(s.retry_delay, Duration::from_secs(60));
        let Command::Start(s) = parse(&args(&[
            "start",
            "--endpoints=http://a:1,b:2",
            "--endpoints",
            "https://c:3/",
            "--retry-delay",
            "5s",
        ])) else {
            panic!("flags start");
        };
        assert_eq!(s.endpoints, ["a:1", "b:2", "c:3"]);
        assert_eq!(s.retry_delay, Duration::from_secs(5));
        // The real etcd's texts and codes.
        assert_eq!(
            parse(&args(&["start", "--listen-addr", "nope"])),
            print("failed to validate listen address: nope\n", "", 1)
        );
        assert_eq!(
            parse(&args(&["start", "--endpoints", "nope"])),
            print("error parsing endpoint \"nope\"", "", 1)
        );
        let Command::Print { stderr, code, .. } = parse(&args(&["start", "--bogus"])) else {
            panic!("an unknown flag is refused");
        };
        assert!(stderr.starts_with("Error: unknown flag: --bogus\nUsage:\n"));
        assert_eq!(code, 1);
        let Command::Print { stderr, .. } = parse(&args(&["start", "--retry-delay", "x"])) else {
            panic!("a bad duration is refused");
        };
        assert!(stderr.starts_with(
            "Error: invalid argument \"x\" for \"--retry-delay\" flag: time: invalid duration \"x\"\n"
        ));
        assert!(matches!(
            parse(&args(&["start", "--listen-addr", "127.0.0.1:2379"])),
            Command::Print { code: 1, .. }
        ));
    }
}
