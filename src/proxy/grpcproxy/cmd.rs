//! `etcd grpc-proxy`: etcd 3.4's `etcdmain/grpc_proxy.go` command line —
//! its help, usage and error texts — turned into a [`Start`].

use crate::ctl::flags::{flag, Flag, FlagKind};
use crate::proxy::{flag_error, parse_start, print, StartTexts};
use crate::rt::net::{ClientTls, CIPHER_SUITES};

const FLAGS: &[Flag] = &[
    flag("advertise-client-url", None, FlagKind::Str, "127.0.0.1:23790", "advertise address to register (must be reachable by client)"),
    flag("auto-tls", None, FlagKind::Bool, "false", "proxy TLS using generated certificates"),
    flag("cacert", None, FlagKind::Str, "", "verify certificates of TLS-enabled secure etcd servers using this CA bundle"),
    flag("cert", None, FlagKind::Str, "", "identify secure connections with etcd servers using this TLS certificate file"),
    flag("cert-file", None, FlagKind::Str, "", "identify secure connections to the proxy using this TLS certificate file"),
    flag("client-crl-file", None, FlagKind::Str, "", "proxy client certificate revocation list file."),
    flag("data-dir", None, FlagKind::Str, "default.proxy", "Data directory for persistent data"),
    flag("debug", None, FlagKind::Bool, "false", "Enable debug-level logging for grpc-proxy."),
    flag("discovery-srv", None, FlagKind::Str, "", "domain name to query for SRV records describing cluster endpoints"),
    flag("discovery-srv-name", None, FlagKind::Str, "", "service name to query when using DNS discovery"),
    flag("enable-pprof", None, FlagKind::Bool, "false", "Enable runtime profiling data via HTTP server. Address is at client URL + \"/debug/pprof/\""),
    flag("endpoints", None, FlagKind::StringSlice, "[127.0.0.1:2379]", "comma separated etcd cluster endpoints"),
    flag("experimental-leasing-prefix", None, FlagKind::Str, "", "leasing metadata prefix for disconnected linearized reads."),
    flag("experimental-serializable-ordering", None, FlagKind::Bool, "false", "Ensure serializable reads have monotonically increasing store revisions across endpoints."),
    flag("insecure-discovery", None, FlagKind::Bool, "false", "accept insecure SRV records"),
    flag("insecure-skip-tls-verify", None, FlagKind::Bool, "false", "skip authentication of etcd server TLS certificates (CAUTION: this option should be enabled only for testing purposes)"),
    flag("key", None, FlagKind::Str, "", "identify secure connections with etcd servers using this TLS key file"),
    flag("key-file", None, FlagKind::Str, "", "identify secure connections to the proxy using this TLS key file"),
    flag("listen-addr", None, FlagKind::Str, "127.0.0.1:23790", "listen address"),
    flag("listen-cipher-suites", None, FlagKind::StringSlice, "", "Comma-separated list of supported TLS cipher suites between client/proxy (empty will be auto-populated by Go)."),
    flag("max-concurrent-streams", None, FlagKind::Int, "4294967295", "Maximum concurrent streams that each client can open at a time."),
    flag("max-recv-bytes", None, FlagKind::Int, "2147483647", "message receive limits in bytes (default value is math.MaxInt32)"),
    flag("max-send-bytes", None, FlagKind::Int, "1572864", "message send limits in bytes (default value is 1.5 MiB)"),
    flag("metrics-addr", None, FlagKind::Str, "", "listen for endpoint /metrics requests on an additional interface"),
    flag("namespace", None, FlagKind::Str, "", "string to prefix to all keys for namespacing requests"),
    flag("resolver-prefix", None, FlagKind::Str, "", "prefix to use for registering proxy (must be shared with other grpc-proxy members)"),
    flag("resolver-ttl", None, FlagKind::Int, "0", "specify TTL, in seconds, when registering proxy endpoints"),
    flag("trusted-ca-file", None, FlagKind::Str, "", "verify certificates of TLS-enabled secure proxy using this CA bundle"),
];

/// cobra's help of `etcd grpc-proxy`.
const GROUP_HELP: &str = "grpc-proxy related command

Usage:
  etcd grpc-proxy [command]

Available Commands:
  start       start the grpc proxy

Flags:
  -h, --help   help for grpc-proxy

Use \"etcd grpc-proxy [command] --help\" for more information about a command.
";

/// cobra's usage of `etcd grpc-proxy start` (the help is this after a line).
const START_USAGE: &str = r#"Usage:
  etcd grpc-proxy start [flags]

Flags:
      --advertise-client-url string          advertise address to register (must be reachable by client) (default "127.0.0.1:23790")
      --auto-tls                             proxy TLS using generated certificates
      --cacert string                        verify certificates of TLS-enabled secure etcd servers using this CA bundle
      --cert string                          identify secure connections with etcd servers using this TLS certificate file
      --cert-file string                     identify secure connections to the proxy using this TLS certificate file
      --client-crl-file string               proxy client certificate revocation list file.
      --data-dir string                      Data directory for persistent data (default "default.proxy")
      --debug                                Enable debug-level logging for grpc-proxy.
      --discovery-srv string                 domain name to query for SRV records describing cluster endpoints
      --discovery-srv-name string            service name to query when using DNS discovery
      --enable-pprof                         Enable runtime profiling data via HTTP server. Address is at client URL + "/debug/pprof/"
      --endpoints strings                    comma separated etcd cluster endpoints (default [127.0.0.1:2379])
      --experimental-leasing-prefix string   leasing metadata prefix for disconnected linearized reads.
      --experimental-serializable-ordering   Ensure serializable reads have monotonically increasing store revisions across endpoints.
  -h, --help                                 help for start
      --insecure-discovery                   accept insecure SRV records
      --insecure-skip-tls-verify             skip authentication of etcd server TLS certificates (CAUTION: this option should be enabled only for testing purposes)
      --key string                           identify secure connections with etcd servers using this TLS key file
      --key-file string                      identify secure connections to the proxy using this TLS key file
      --listen-addr string                   listen address (default "127.0.0.1:23790")
      --listen-cipher-suites strings         Comma-separated list of supported TLS cipher suites between client/proxy (empty will be auto-populated by Go).
      --max-concurrent-streams uint32        Maximum concurrent streams that each client can open at a time. (default 4294967295)
      --max-recv-bytes int                   message receive limits in bytes (default value is math.MaxInt32) (default 2147483647)
      --max-send-bytes int                   message send limits in bytes (default value is 1.5 MiB) (default 1572864)
      --metrics-addr string                  listen for endpoint /metrics requests on an additional interface
      --namespace string                     string to prefix to all keys for namespacing requests
      --resolver-prefix string               prefix to use for registering proxy (must be shared with other grpc-proxy members)
      --resolver-ttl int                     specify TTL, in seconds, when registering proxy endpoints
      --trusted-ca-file string               verify certificates of TLS-enabled secure proxy using this CA bundle
"#;

/// The proxy's own listener TLS (`--cert-file`, `--key-file`,
/// `--trusted-ca-file`, `--client-crl-file`, `--listen-cipher-suites`,
/// `--auto-tls`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenTls {
    pub cert_file: String,
    pub key_file: String,
    pub trusted_ca_file: String,
    pub crl_file: String,
    pub cipher_suites: Vec<String>,
    pub auto_tls: bool,
}

/// What `etcd grpc-proxy start` runs, once its flags are checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Start {
    pub listen_addr: String,
    /// The cluster's endpoints as URLs (`http://` unless TLS is asked for,
    /// as clientv3 decides for a bare `host:port`).
    pub endpoints: Vec<String>,
    /// What MemberList answers (the proxy itself), unless empty.
    pub advertise_client_url: String,
    pub namespace: String,
    /// Largest message sent to / accepted from the cluster.
    pub max_send_bytes: usize,
    pub max_recv_bytes: usize,
    pub max_concurrent_streams: u32,
    pub metrics_addr: String,
    pub data_dir: String,
    /// How the proxy dials the cluster: `Some` when any of `--cacert`,
    /// `--cert`, `--key`, `--insecure-skip-tls-verify` is given.
    pub client_tls: Option<ClientTls>,
    pub listen_tls: ListenTls,
    pub debug: bool,
    /// Flags accepted but without effect here, to warn about at start.
    pub warnings: Vec<String>,
}

/// What the command line asks for: a text to print and an exit code, or a
/// proxy to start.
pub type Command = crate::proxy::Command<Box<Start>>;

const TEXTS: StartTexts = StartTexts {
    group_help: GROUP_HELP,
    short: "start the grpc proxy",
    usage: START_USAGE,
};

/// A flag oxcd refuses: said on stderr, exit 1, before anything starts.
fn refuse(flag: &str, why: &str) -> Command {
    print(
        "",
        &format!("Error: --{flag} is not built in oxcd's grpc-proxy: {why}\n"),
        1,
    )
}

fn slice(raw: &str) -> Vec<String> {
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses the arguments after `etcd grpc-proxy`.
pub fn parse(args: &[String]) -> Command {
    let p = match parse_start(args, FLAGS, &TEXTS) {
        Ok(p) => p,
        Err(c) => return c,
    };
    let get = |name| p.get(name, FLAGS);
    let int = |name| get(name).parse::<i64>().expect("the parser checked it");
    let streams = get("max-concurrent-streams");
    let Ok(max_concurrent_streams) = streams.parse::<u32>() else {
        let why = if streams.starts_with('-') || streams.parse::<u64>().is_err() {
            "invalid syntax"
        } else {
            "value out of range"
        };
        let e = format!("invalid argument {streams:?} for \"--max-concurrent-streams\" flag: strconv.ParseUint: parsing {streams:?}: {why}");
        return print("", &flag_error(&e, START_USAGE), 1);
    };
    // etcd's checkArgs, texts and order as there.
    let (prefix, ttl) = (get("resolver-prefix"), int("resolver-ttl"));
    if !prefix.is_empty() && ttl < 1 {
        return print("", &format!("invalid resolver-ttl {ttl}\n"), 1);
    }
    if prefix.is_empty() && ttl > 0 {
        return print("", &format!("invalid resolver-prefix {prefix:?}\n"), 1);
    }
    if !prefix.is_empty() && get("advertise-client-url").is_empty() {
        return print("", "invalid advertise-client-url \"\"\n", 1);
    }
    if !prefix.is_empty() {
        return refuse(
            "resolver-prefix",
            "registering the proxy for gRPC name resolution (and MemberList answering the registered proxies) needs etcd's naming package",
        );
    }
    if !get("discovery-srv").is_empty() {
        return refuse("discovery-srv", "DNS SRV discovery; give --endpoints");
    }
    if !get("experimental-leasing-prefix").is_empty() {
        return refuse(
            "experimental-leasing-prefix",
            "the leasing KV (clientv3/leasing) would change what reads answer; without it every read goes to the cluster",
        );
    }
    if p.bool("experimental-serializable-ordering", FLAGS) {
        return refuse(
            "experimental-serializable-ordering",
            "the ordering KV (clientv3/ordering) guarantees monotonic revisions that plain forwarding does not",
        );
    }
    let mut warnings = Vec::new();
    if p.bool("enable-pprof", FLAGS) {
        warnings.push(
            "--enable-pprof is not built in oxcd (Go's profiler): /debug/pprof/ answers 404"
                .to_string(),
        );
    }
    let cipher_suites = slice(get("listen-cipher-suites"));
    if let Some(bad) = cipher_suites
        .iter()
        .find(|c| !CIPHER_SUITES.contains(&c.as_str()))
    {
        return print("", &format!("unexpected TLS cipher suite {bad:?}\n"), 1);
    }
    let (ca, cert, key) = (get("cacert"), get("cert"), get("key"));
    let skip = p.bool("insecure-skip-tls-verify", FLAGS);
    let client_tls =
        (!ca.is_empty() || !cert.is_empty() || !key.is_empty() || skip).then(|| ClientTls {
            ca_file: ca.to_string(),
            cert_file: cert.to_string(),
            key_file: key.to_string(),
            insecure_skip_verify: skip,
            server_name: String::new(),
        });
    // clientv3: a scheme decides; a bare host:port is TLS when configured.
    let endpoints: Vec<String> = slice(get("endpoints"))
        .into_iter()
        .map(|e| match (e.contains("://"), &client_tls) {
            (true, _) => e,
            (false, Some(_)) => format!("https://{e}"),
            (false, None) => format!("http://{e}"),
        })
        .collect();
    if endpoints.is_empty() {
        return print("", "etcdclient: no available endpoints\n", 1);
    }
    let listen_addr = get("listen-addr").to_string();
    let bytes = |name| usize::try_from(int(name)).unwrap_or(0);
    Command::Start(Box::new(Start {
        listen_addr,
        endpoints,
        advertise_client_url: get("advertise-client-url").to_string(),
        namespace: get("namespace").to_string(),
        max_send_bytes: bytes("max-send-bytes"),
        max_recv_bytes: bytes("max-recv-bytes"),
        max_concurrent_streams,
        metrics_addr: get("metrics-addr").to_string(),
        data_dir: get("data-dir").to_string(),
        client_tls,
        listen_tls: ListenTls {
            cert_file: get("cert-file").to_string(),
            key_file: get("key-file").to_string(),
            trusted_ca_file: get("trusted-ca-file").to_string(),
            crl_file: get("client-crl-file").to_string(),
            cipher_suites,
            auto_tls: p.bool("auto-tls", FLAGS),
        },
        debug: p.bool("debug", FLAGS),
        warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn start(a: &[&str]) -> Start {
        match parse(&args(a)) {
            Command::Start(s) => *s,
            other => panic!("{a:?} should start: {other:?}"),
        }
    }

    #[test]
    fn command_line_as_etcd_3_4() {
        assert_eq!(parse(&args(&[])), print(GROUP_HELP, "", 0));
        assert_eq!(parse(&args(&["bogus"])), print(GROUP_HELP, "", 0));
        let s = start(&["start"]);
        assert_eq!(s.listen_addr, "127.0.0.1:23790");
        assert_eq!(s.endpoints, ["http://127.0.0.1:2379"]);
        assert_eq!(s.advertise_client_url, "127.0.0.1:23790");
        assert_eq!(s.max_send_bytes, 1572864);
        assert_eq!(s.max_recv_bytes, 2147483647);
        assert_eq!(s.max_concurrent_streams, u32::MAX);
        assert_eq!(s.data_dir, "default.proxy");
        assert_eq!(s.client_tls, None);
        let s = start(&["start", "--endpoints=a:1,https://b:2", "--cacert", "ca.pem"]);
        assert_eq!(s.endpoints, ["https://a:1", "https://b:2"]);
        assert_eq!(s.client_tls.unwrap().ca_file, "ca.pem");
        let s = start(&["start", "--endpoints", "http://a:1,b:2"]);
        assert_eq!(s.endpoints, ["http://a:1", "http://b:2"]);
        let Command::Print { stdout, code, .. } = parse(&args(&["start", "-h"])) else {
            panic!("help prints");
        };
        assert!(
            stdout.starts_with("start the grpc proxy\n\nUsage:\n  etcd grpc-proxy start [flags]\n")
        );
        assert_eq!(code, 0);
        let Command::Print { stderr, code, .. } = parse(&args(&["start", "--bogus"])) else {
            panic!("an unknown flag is refused");
        };
        assert!(stderr.starts_with("Error: unknown flag: --bogus\nUsage:\n"));
        assert_eq!(code, 1);
        assert_eq!(
            parse(&args(&["start", "--resolver-prefix", "p"])),
            print("", "invalid resolver-ttl 0\n", 1)
        );
        assert_eq!(
            parse(&args(&["start", "--resolver-ttl", "5"])),
            print("", "invalid resolver-prefix \"\"\n", 1)
        );
        for refused in [
            &["start", "--resolver-prefix", "p", "--resolver-ttl", "5"][..],
            &["start", "--discovery-srv", "example.com"],
            &["start", "--experimental-leasing-prefix", "l/"],
            &["start", "--experimental-serializable-ordering"],
        ] {
            let Command::Print { stderr, code, .. } = parse(&args(refused)) else {
                panic!("{refused:?} is refused");
            };
            assert!(
                stderr.contains("is not built in oxcd's grpc-proxy"),
                "{stderr}"
            );
            assert_eq!(code, 1);
        }
        assert_eq!(start(&["start", "--enable-pprof"]).warnings.len(), 1);
        let Command::Print { stderr, .. } =
            parse(&args(&["start", "--max-concurrent-streams", "-1"]))
        else {
            panic!("a negative uint32 is refused");
        };
        assert!(stderr.starts_with("Error: invalid argument \"-1\" for \"--max-concurrent-streams\" flag: strconv.ParseUint"));
    }
}
