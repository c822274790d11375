//! Every flag of etcd 3.4's `etcd --help` (and its hidden ones), with its
//! kind, default, and what oxcd does with it. A flag whose feature is not
//! built yet is either ignored with a warning, where ignoring it cannot hurt
//! the user's data or security, or refused with a message naming the missing
//! feature; either only when it is set to something other than its default.

/// What kind of value a flag takes (Go's `flag` kinds as etcd uses them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Str,
    Bool,
    Uint,
    /// etcd's `flags.Uint32Value` (`--max-concurrent-streams`).
    Uint32,
    Int,
    /// Go's `time.ParseDuration` syntax.
    Duration,
    /// A comma-separated list of http(s)/unix(s) URLs.
    Urls,
    /// One of a fixed set of strings.
    Enum(&'static [&'static str]),
}

/// What oxcd does with a flag set to a value other than its default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    Yes,
    /// Accepted with a warning saying why it changes nothing here.
    Ignored(&'static str),
    /// Start-up is refused with this message (naming the missing feature).
    Refused(&'static str),
}

pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    pub default: &'static str,
    /// The default as `--help` shows it, when it differs.
    pub shown: Option<&'static str>,
    pub support: Support,
    pub hidden: bool,
    pub help: &'static str,
}

#[rustfmt::skip]
const fn f(name: &'static str, kind: Kind, default: &'static str, support: Support, help: &'static str) -> Flag {
    Flag { name, kind, default, shown: None, support, hidden: false, help }
}

const fn shown(mut flag: Flag, s: &'static str) -> Flag {
    flag.shown = Some(s);
    flag
}

const fn hidden(mut flag: Flag) -> Flag {
    flag.hidden = true;
    flag
}

use Kind::*;
use Support::*;

const NO_V2: Support = Ignored("the v2 proxy is not built (--proxy is off, as by default)");
const BACKEND: Support = Ignored("oxcd's backend (sled) batches and frees pages by itself");
const RETENTION: Support = Ignored("oxcd compacts its own WAL and keeps no snapshot files");

/// The flags, grouped as `etcd --help` lists them.
#[rustfmt::skip]
pub const GROUPS: &[(&str, &[Flag])] = &[
    ("Member", &[
        f("name", Str, "default", Yes, "Human-readable name for this member."),
        shown(f("data-dir", Str, "", Yes, "Path to the data directory."), "${name}.etcd"),
        f("wal-dir", Str, "", Yes, "Path to a dedicated WAL directory (default: inside the data directory)."),
        f("snapshot-count", Uint, "100000", Yes, "Applied entries between log compactions."),
        f("heartbeat-interval", Uint, "100", Yes, "Time (in milliseconds) of a heartbeat interval."),
        f("election-timeout", Uint, "1000", Yes, "Time (in milliseconds) for an election to timeout."),
        f("initial-election-tick-advance", Bool, "true", Ignored("oxcd's first election waits one election timeout"), "Whether to fast-forward initial election ticks on boot."),
        f("listen-peer-urls", Urls, "http://localhost:2380", Yes, "URLs to listen on for peer traffic."),
        f("listen-client-urls", Urls, "http://localhost:2379", Yes, "URLs to listen on for client traffic."),
        f("max-snapshots", Uint, "5", RETENTION, "Maximum number of snapshot files to retain (0 is unlimited)."),
        f("max-wals", Uint, "5", RETENTION, "Maximum number of WAL files to retain (0 is unlimited)."),
        f("quota-backend-bytes", Int, "0", Yes, "Raise alarms when the backend size exceeds this quota (0 is the default quota)."),
        shown(f("backend-batch-interval", Duration, "0", BACKEND, "Maximum time before committing the backend transaction."), ""),
        f("backend-batch-limit", Int, "0", BACKEND, "Maximum operations before committing the backend transaction."),
        f("max-txn-ops", Uint, "128", Yes, "Maximum number of operations permitted in a transaction."),
        f("max-request-bytes", Uint, "1572864", Yes, "Maximum client request size in bytes the server will accept."),
        shown(f("max-concurrent-streams", Uint32, "4294967295", Yes, "Maximum concurrent streams that each client can open at a time."), "math.MaxUint32"),
        f("grpc-keepalive-min-time", Duration, "5s", Yes, "Minimum interval a client should wait before pinging the server."),
        f("grpc-keepalive-interval", Duration, "2h", Yes, "How often the server pings an idle connection (0 disables)."),
        f("grpc-keepalive-timeout", Duration, "20s", Yes, "How long the server waits for a ping's answer before closing the connection."),
    ]),
    ("Clustering", &[
        f("initial-advertise-peer-urls", Urls, "http://localhost:2380", Yes, "This member's peer URLs to advertise to the rest of the cluster."),
        shown(f("initial-cluster", Str, "", Yes, "Initial cluster configuration for bootstrapping."), "default=http://localhost:2380"),
        f("initial-cluster-state", Enum(&["new", "existing"]), "new", Yes, "Initial cluster state ('new' or 'existing')."),
        f("initial-cluster-token", Str, "etcd-cluster", Yes, "Initial cluster token for the etcd cluster during bootstrap."),
        f("advertise-client-urls", Urls, "http://localhost:2379", Yes, "This member's client URLs to advertise to the public."),
        f("discovery", Str, "", Refused("the v2 discovery service is not built in oxcd; list the members with --initial-cluster, or use DNS discovery (--discovery-srv)"), "Discovery URL used to bootstrap the cluster."),
        f("discovery-fallback", Enum(&["proxy", "exit"]), "proxy", Ignored("discovery is not built yet"), "Expected behavior ('exit' or 'proxy') when the discovery service fails."),
        f("discovery-proxy", Str, "", Refused("discovery is not built in oxcd yet; list the members with --initial-cluster"), "HTTP proxy to use for traffic to the discovery service."),
        f("discovery-srv", Str, "", Yes, "DNS srv domain used to bootstrap the cluster."),
        f("discovery-srv-name", Str, "", Yes, "Suffix to the DNS srv name queried when bootstrapping."),
        f("strict-reconfig-check", Bool, "true", Yes, "Reject reconfiguration requests that would cause quorum loss."),
        f("pre-vote", Bool, "false", Ignored("oxcd always runs raft with pre-vote"), "Enable the raft Pre-Vote algorithm."),
        f("auto-compaction-retention", Str, "0", Yes, "Auto compaction retention length (0 disables)."),
        f("auto-compaction-mode", Str, "periodic", Yes, "Interpret 'auto-compaction-retention' as 'periodic' or 'revision'."),
        f("enable-v2", Bool, "false", Yes, "Accept etcd V2 client requests."),
        f("force-new-cluster", Bool, "false", Yes, "Force to create a new one member cluster."),
    ]),
    ("Security", &[
        f("cert-file", Str, "", Yes, "Path to the client server TLS cert file."),
        f("key-file", Str, "", Yes, "Path to the client server TLS key file."),
        f("client-cert-auth", Bool, "false", Yes, "Enable client cert authentication."),
        f("client-crl-file", Str, "", Yes, "Path to the client certificate revocation list file."),
        f("client-cert-allowed-hostname", Str, "", Yes, "Allowed TLS hostname for client cert authentication."),
        f("trusted-ca-file", Str, "", Yes, "Path to the client server TLS trusted CA cert file."),
        f("auto-tls", Bool, "false", Yes, "Client TLS using generated certificates."),
        f("peer-cert-file", Str, "", Yes, "Path to the peer server TLS cert file."),
        f("peer-key-file", Str, "", Yes, "Path to the peer server TLS key file."),
        f("peer-client-cert-auth", Bool, "false", Yes, "Enable peer client cert authentication."),
        f("peer-trusted-ca-file", Str, "", Yes, "Path to the peer server TLS trusted CA file."),
        f("peer-cert-allowed-cn", Str, "", Yes, "Required CN for client certs connecting to the peer endpoint."),
        f("peer-cert-allowed-hostname", Str, "", Yes, "Allowed TLS hostname for inter peer authentication."),
        f("peer-auto-tls", Bool, "false", Yes, "Peer TLS using self-generated certificates."),
        f("peer-crl-file", Str, "", Yes, "Path to the peer certificate revocation list file."),
        f("cipher-suites", Str, "", Yes, "Comma-separated list of supported TLS cipher suites."),
        f("cors", Str, "*", Yes, "Comma-separated whitelist of origins for CORS, or cross-origin resource sharing ('*' allows all)."),
        f("host-whitelist", Str, "*", Refused("--host-whitelist (checking the Host header) is not built in oxcd yet"), "Acceptable hostnames from HTTP client requests ('*' allows all)."),
        hidden(f("experimental-peer-skip-client-san-verification", Bool, "false", Yes, "Skip verification of SAN field in client certificate for peer connections.")),
    ]),
    ("Auth", &[
        f("auth-token", Str, "simple", Yes, "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
        f("bcrypt-cost", Uint, "10", Yes, "Specify the cost / strength of the bcrypt algorithm for hashing auth passwords."),
        f("auth-token-ttl", Uint, "300", Yes, "The lifetime in seconds of the auth token."),
    ]),
    ("Profiling and Monitoring", &[
        f("enable-pprof", Bool, "false", Ignored("pprof is Go's profiler; oxcd has none to serve"), "Enable runtime profiling data via HTTP server."),
        f("metrics", Str, "basic", Yes, "Set level of detail for exported metrics ('basic' or 'extensive')."),
        f("listen-metrics-urls", Urls, "", Yes, "List of URLs to listen on for the metrics and health endpoints."),
        hidden(f("enable-grpc-gateway", Bool, "true", Yes, "Enable the gRPC gateway.")),
    ]),
    ("Logging", &[
        f("logger", Str, "capnslog", Yes, "Specify 'zap' for structured logging or 'capnslog'."),
        f("log-outputs", Str, "default", Yes, "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or a list of output targets."),
        hidden(f("log-output", Str, "default", Yes, "Deprecated: use --log-outputs.")),
        f("log-level", Str, "info", Yes, "Configures log level. Only supports debug, info, warn, error, panic, or fatal."),
        f("debug", Bool, "false", Yes, "Enable debug-level logging for etcd (same as --log-level=debug)."),
        f("log-package-levels", Str, "", Ignored("oxcd logs at one level for every package"), "Specify a particular log level for each etcd package."),
    ]),
    ("v2 Proxy (to be deprecated in v4)", &[
        f("proxy", Enum(&["off", "readonly", "on"]), "off", Refused("the v2 proxy is not built in oxcd"), "Proxy mode setting ('off', 'readonly' or 'on')."),
        f("proxy-failure-wait", Uint, "5000", NO_V2, "Time (in milliseconds) an endpoint will be held in a failed state."),
        f("proxy-refresh-interval", Uint, "30000", NO_V2, "Time (in milliseconds) of the endpoints refresh interval."),
        f("proxy-dial-timeout", Uint, "1000", NO_V2, "Time (in milliseconds) for a dial to timeout."),
        f("proxy-write-timeout", Uint, "5000", NO_V2, "Time (in milliseconds) for a write to timeout."),
        f("proxy-read-timeout", Uint, "0", NO_V2, "Time (in milliseconds) for a read to timeout."),
    ]),
    ("Experimental feature", &[
        f("experimental-initial-corrupt-check", Bool, "false", Yes, "Enable to check data corruption before serving any client/peer traffic."),
        f("experimental-corrupt-check-time", Duration, "0s", Yes, "Duration of time between cluster corruption check passes."),
        f("experimental-enable-v2v3", Str, "", NO_V2, "Serve v2 requests through the v3 backend under a given prefix."),
        shown(f("experimental-backend-bbolt-freelist-type", Str, "", BACKEND, "The freelist type that etcd backend(bboltdb) uses."), "array"),
        f("experimental-enable-lease-checkpoint", Bool, "false", Yes, "Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases."),
        hidden(f("experimental-enable-lease-checkpoint-persist", Bool, "false", Yes, "Persist lease remaining TTL in checkpoints.")),
        shown(f("experimental-compaction-batch-limit", Int, "0", Ignored("compaction here is not batched"), "Sets the maximum revisions deleted in each compaction batch."), "1000"),
        shown(f("experimental-watch-progress-notify-interval", Duration, "0", Yes, "Duration of periodic watch progress notifications."), "10m"),
        f("experimental-warning-apply-duration", Duration, "100ms", Ignored("slow-apply warnings are not built yet"), "Time taken to apply a request beyond which a warning is logged."),
    ]),
    ("Unsafe feature", &[
        hidden(f("unsafe-no-fsync", Bool, "false", Ignored("oxcd always fsyncs"), "Disables fsync, unsafe, will cause data loss.")),
    ]),
    ("Configuration", &[
        hidden(f("config-file", Str, "", Yes, "Path to the server configuration file.")),
    ]),
];

/// Flags etcd 3.4 still accepts and ignores with a warning (`flags.IgnoredFlag`).
pub const LEGACY: &[&str] = &[
    "cluster-active-size",
    "cluster-remove-delay",
    "cluster-sync-interval",
    "config",
    "force",
    "max-result-buffer",
    "max-retry-attempts",
    "peer-heartbeat-interval",
    "peer-election-timeout",
    "retry-interval",
    "snapshot",
    "v",
    "vv",
    "test.coverprofile",
    "test.outputdir",
];

pub fn find(name: &str) -> Option<&'static Flag> {
    GROUPS
        .iter()
        .flat_map(|(_, fs)| fs.iter())
        .find(|f| f.name == name)
}

/// The flag part of `etcd --help` (etcd prints it on stdout, after the
/// usage on stderr).
pub fn help() -> String {
    let mut out = String::new();
    for (group, flags) in GROUPS {
        let visible: Vec<&Flag> = flags.iter().filter(|f| !f.hidden).collect();
        if visible.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{group}:\n"));
        for f in visible {
            let d = f.shown.unwrap_or(f.default);
            out.push_str(&format!("  --{} '{d}'\n    {}\n", f.name, f.help));
        }
    }
    out
}
