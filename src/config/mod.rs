//! etcd's server flags, `ETCD_*` environment variables and `--config-file`,
//! parsed the way Go's `flag` package does (`-name v`, `--name=v`, booleans
//! without a value), with etcd's defaults and error texts. Every flag of
//! etcd 3.4 is known ([`flags::GROUPS`]); one whose feature is not built is
//! ignored with a warning or refused, as the table says.

mod flags;
pub(crate) mod goflag;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use self::flags::{Kind, Support};
pub use self::goflag::{parse_bool, parse_duration};
use crate::rt::net::{ServeOptions, TlsInfo};

/// The usage etcd prints (on stderr) after a flag error and before `--help`.
pub const USAGE: &str = include_str!("usage.txt");

/// The flag part of `--help` (on stdout).
pub fn help() -> String {
    flags::help()
}

/// Outcome of parsing the command line.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Config>),
    Version,
    Help,
}

/// Why the command line cannot start a member.
#[derive(Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// A flag syntax error: printed before [`USAGE`], exit code 2.
    Flag(String),
    /// Start-up refused: etcd logs it (`etcdmain`) and exits 1.
    Fatal(String),
}

/// The server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub data_dir: String,
    /// `--wal-dir`; empty means `<data-dir>/member/wal`.
    pub wal_dir: String,
    pub listen_client_urls: Vec<String>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer_urls: Vec<String>,
    pub initial_advertise_peer_urls: Vec<String>,
    /// `(name, peer url)` pairs.
    pub initial_cluster: Vec<(String, String)>,
    /// `--discovery-srv`: the domain whose SRV records are the initial
    /// cluster (`srv::dns_cluster_names`), or empty.
    pub discovery_srv: String,
    /// `--discovery-srv-name`: the suffix of the SRV service names.
    pub discovery_srv_name: String,
    pub initial_cluster_token: String,
    pub initial_cluster_state: String,
    pub log_level: String,
    pub logger: String,
    pub log_outputs: Vec<String>,
    pub max_request_bytes: u64,
    pub max_txn_ops: u64,
    pub max_concurrent_streams: u32,
    pub grpc_keepalive_min_time: Duration,
    pub grpc_keepalive_interval: Duration,
    pub grpc_keepalive_timeout: Duration,
    /// `--experimental-watch-progress-notify-interval` (0: etcd's 10 minutes).
    pub watch_progress_notify_interval: Duration,
    pub heartbeat_ms: u64,
    pub election_ms: u64,
    /// `--snapshot-count`: applied entries between log compactions.
    pub snapshot_count: u64,
    /// `--auto-compaction-mode` and `--auto-compaction-retention`.
    pub auto_compaction: Option<crate::server::compactor::AutoCompaction>,
    /// `--force-new-cluster`.
    pub force_new_cluster: bool,
    /// `--experimental-initial-corrupt-check`.
    pub initial_corrupt_check: bool,
    /// `--experimental-corrupt-check-time` (zero: off).
    pub corrupt_check_time: std::time::Duration,
    /// `--quota-backend-bytes`: 0 is etcd's default (2 GiB), negative none.
    pub quota_backend_bytes: i64,
    /// `--strict-reconfig-check`: refuse membership changes that could
    /// lose quorum (started and reachable members).
    pub strict_reconfig_check: bool,
    /// `--cors` origins (`*` for any).
    pub cors: Vec<String>,
    /// `--enable-grpc-gateway`: the v3 JSON gateway on the client port.
    pub grpc_gateway: bool,
    /// `--enable-v2`: the v2 API (`/v2/keys` …) on the client port.
    pub enable_v2: bool,
    /// `--metrics`: etcd takes `extensive`, and anything else as `basic`.
    pub metrics: crate::metrics::Level,
    /// `--listen-metrics-urls`: ports with only `/metrics` and `/health`.
    pub listen_metrics_urls: Vec<String>,
    /// `--experimental-enable-lease-checkpoint`.
    pub lease_checkpoint: bool,
    /// `--experimental-enable-lease-checkpoint-persist`.
    pub lease_checkpoint_persist: bool,
    /// `--bcrypt-cost` (etcd falls back to 10 outside bcrypt's 4..=31).
    pub bcrypt_cost: u32,
    /// `--auth-token` and `--auth-token-ttl`.
    pub auth_tokens: crate::auth::TokenConfig,
    /// The client port's TLS (`--cert-file`, `--key-file`,
    /// `--trusted-ca-file`, `--client-cert-auth`, `--client-crl-file`,
    /// `--client-cert-allowed-hostname`, `--cipher-suites`); served on
    /// `https://` (and `unixs://`) listen URLs only.
    pub client_tls: TlsInfo,
    /// The peer port's TLS (`--peer-*`), also how this member dials peers.
    pub peer_tls: TlsInfo,
    /// `--auto-tls`: a self-signed client certificate when none is given.
    pub client_auto_tls: bool,
    /// `--peer-auto-tls`: a self-signed peer certificate when none is given.
    pub peer_auto_tls: bool,
}

impl Config {
    /// Where the WAL lives.
    pub fn wal_dir(&self) -> PathBuf {
        if self.wal_dir.is_empty() {
            PathBuf::from(&self.data_dir).join("member").join("wal")
        } else {
            PathBuf::from(&self.wal_dir)
        }
    }

    /// How the listeners serve connections.
    pub fn serve_options(&self) -> ServeOptions {
        ServeOptions {
            max_concurrent_streams: self.max_concurrent_streams,
            keepalive_interval: self.grpc_keepalive_interval,
            keepalive_timeout: self.grpc_keepalive_timeout,
            keepalive_min_time: self.grpc_keepalive_min_time,
            http_body_bytes_max: self.max_request_bytes as usize,
            ..ServeOptions::default()
        }
    }
}

fn flag_error(msg: String) -> ConfigError {
    ConfigError::Flag(msg)
}

/// Parses arguments (without the program name) and the environment; the
/// second value holds warnings for the log.
pub fn parse(
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(Parsed, Vec<String>), ConfigError> {
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            break;
        }
        if !a.starts_with('-') || a == "-" {
            // Go's flag package stops at the first non-flag; etcd then
            // refuses it.
            return Err(ConfigError::Fatal(format!(
                "error verifying flags, '{a}' is not a valid flag. See 'etcd --help'."
            )));
        }
        let body = a.strip_prefix("--").unwrap_or(&a[1..]);
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        match name {
            "version" => return Ok((Parsed::Version, warnings)),
            "h" | "help" => return Ok((Parsed::Help, warnings)),
            _ => {}
        }
        if flags::LEGACY.contains(&name) {
            warnings.push(format!(
                "flag \"-{name}\" is no longer supported - ignoring."
            ));
            continue;
        }
        let Some(flag) = flags::find(name) else {
            return Err(flag_error(format!(
                "flag provided but not defined: -{name}"
            )));
        };
        let value = match (inline, flag.kind) {
            (Some(v), _) => v,
            (None, Kind::Bool) => "true".to_string(),
            (None, _) => {
                if i >= args.len() {
                    return Err(flag_error(format!("flag needs an argument: -{name}")));
                }
                i += 1;
                args[i - 1].clone()
            }
        };
        goflag::check(name, flag.kind, &value).map_err(flag_error)?;
        set.insert(name.to_string(), value);
    }
    // Environment: ETCD_<FLAG> fills what the command line did not set.
    for (k, v) in env {
        let Some(rest) = k.strip_prefix("ETCD_") else {
            continue;
        };
        let name = rest.to_ascii_lowercase().replace('_', "-");
        match flags::find(&name) {
            Some(flag) => {
                if set.contains_key(&name) {
                    warnings.push(format!(
                        "recognized environment variable {k}, but unused: shadowed by corresponding flag"
                    ));
                    continue;
                }
                goflag::check(&name, flag.kind, v)
                    .map_err(|_| flag_error(format!("invalid value {v:?} for {k}: parse error")))?;
                set.insert(name, v.clone());
            }
            None if name == "version" || name == "help" => {}
            None => warnings.push(format!("unrecognized environment variable {k}={v}")),
        }
    }
    if let Some(path) = set.get("config-file").filter(|p| !p.is_empty()).cloned() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| flag_error(format!("error verifying flags, open {path}: {e}")))?;
        set = parse_config_file(&text)?;
    }
    let cfg = build(&set, &mut warnings)?;
    Ok((Parsed::Run(Box::new(cfg)), warnings))
}

/// Reads etcd's YAML config file (flat `key: value` lines, the keys being
/// flag names).
pub fn parse_config_file(text: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut set = BTreeMap::new();
    for line in text.lines() {
        let line = line.split(" #").next().unwrap_or("").trim_end();
        if line.trim_start().starts_with('#') || line.trim().is_empty() || line.starts_with(' ') {
            continue;
        }
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let k = k.trim();
        let v = v.trim().trim_matches(|c| c == '\'' || c == '"');
        if let Some(flag) = flags::find(k) {
            if v.is_empty() || v == "null" || v == "~" {
                continue;
            }
            goflag::check(k, flag.kind, v).map_err(flag_error)?;
            set.insert(k.to_string(), v.to_string());
        }
    }
    Ok(set)
}

fn urls(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Go's names of TLS 1.2 cipher suites (etcd 3.4's `tlsutil` table) that
/// rustls does not offer: asking for one is refused rather than ignored.
const CIPHER_SUITES_NOT_OFFERED: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// `--cipher-suites`: etcd's error for a name Go does not know; a clear
/// refusal for one rustls does not offer.
fn cipher_suites(v: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for s in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if CIPHER_SUITES_NOT_OFFERED.contains(&s) {
            return Err(ConfigError::Fatal(format!(
                "--cipher-suites: {s} is not offered by oxcd (rustls offers only ECDHE suites with AES-GCM or ChaCha20-Poly1305: {})",
                crate::rt::net::CIPHER_SUITES.join(", ")
            )));
        }
        if !crate::rt::net::CIPHER_SUITES.contains(&s) {
            return Err(ConfigError::Fatal(format!(
                "unexpected TLS cipher suite {s:?}"
            )));
        }
        out.push(s.to_string());
    }
    Ok(out)
}

/// Warns about, or refuses, flags set away from their default whose
/// feature is not built.
fn check_support(
    set: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(), ConfigError> {
    for (name, value) in set {
        let flag = flags::find(name).expect("only known flags are set");
        if value == flag.default
            || (flag.kind == Kind::Bool && parse_bool(value) == parse_bool(flag.default))
        {
            continue;
        }
        match flag.support {
            Support::Yes => {}
            Support::Ignored(why) => warnings.push(format!(
                "--{name}={value} is accepted but has no effect: {why}"
            )),
            Support::Refused(why) => {
                return Err(ConfigError::Fatal(format!("--{name}={value}: {why}")))
            }
        }
    }
    Ok(())
}

fn build(
    set: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Config, ConfigError> {
    check_support(set, warnings)?;
    let get = |name: &str| -> String {
        set.get(name)
            .cloned()
            .unwrap_or_else(|| flags::find(name).expect("known flag").default.to_string())
    };
    let name = get("name");
    let mut data_dir = get("data-dir");
    if data_dir.is_empty() {
        data_dir = format!("{name}.etcd");
    }
    let apurls = urls(&get("initial-advertise-peer-urls"));
    let (discovery_srv, discovery_srv_name) = (get("discovery-srv"), get("discovery-srv-name"));
    let initial_cluster_s = match set.get("initial-cluster") {
        Some(v) => v.clone(),
        // As etcd: with DNS discovery (even just its service name) the
        // default initial cluster (this member alone) is not assumed.
        None if !discovery_srv.is_empty() || !discovery_srv_name.is_empty() => String::new(),
        None => apurls
            .iter()
            .map(|u| format!("{name}={u}"))
            .collect::<Vec<_>>()
            .join(","),
    };
    let mut initial_cluster = Vec::new();
    for part in initial_cluster_s.split(',').filter(|s| !s.is_empty()) {
        let Some((n, u)) = part.split_once('=') else {
            return Err(flag_error(format!(
                "error verifying flags, {part:?} is not a valid initial cluster entry (want name=url)"
            )));
        };
        initial_cluster.push((n.to_string(), u.to_string()));
    }
    if !discovery_srv.is_empty() && !initial_cluster_s.is_empty() {
        return Err(ConfigError::Fatal(
            "error verifying flags, multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\". See 'etcd --help'.".to_string(),
        ));
    }
    let log_outputs = match (set.get("log-outputs"), set.get("log-output")) {
        (None, Some(old)) => urls(old),
        _ => urls(&get("log-outputs")),
    };
    let num = |n: &str| get(n).parse::<u64>().expect("checked");
    let dur = |n: &str| parse_duration(&get(n)).expect("checked");
    let flag = |n: &str| parse_bool(&get(n)).expect("checked");
    let suites = cipher_suites(&get("cipher-suites"))?;
    let auto_compaction = crate::server::compactor::AutoCompaction::parse(
        &get("auto-compaction-mode"),
        &get("auto-compaction-retention"),
    )
    .map_err(ConfigError::Fatal)?;
    let cfg = Config {
        auto_compaction,
        initial_corrupt_check: flag("experimental-initial-corrupt-check"),
        force_new_cluster: flag("force-new-cluster"),
        corrupt_check_time: dur("experimental-corrupt-check-time"),
        name,
        data_dir,
        wal_dir: get("wal-dir"),
        listen_client_urls: urls(&get("listen-client-urls")),
        advertise_client_urls: urls(&get("advertise-client-urls")),
        listen_peer_urls: urls(&get("listen-peer-urls")),
        initial_advertise_peer_urls: apurls,
        initial_cluster,
        discovery_srv,
        discovery_srv_name,
        initial_cluster_token: get("initial-cluster-token"),
        initial_cluster_state: get("initial-cluster-state"),
        log_level: if parse_bool(&get("debug")) == Some(true) {
            "debug".to_string()
        } else {
            get("log-level")
        },
        logger: get("logger"),
        log_outputs,
        max_request_bytes: num("max-request-bytes"),
        max_txn_ops: num("max-txn-ops"),
        max_concurrent_streams: get("max-concurrent-streams").parse().expect("checked"),
        grpc_keepalive_min_time: dur("grpc-keepalive-min-time"),
        grpc_keepalive_interval: dur("grpc-keepalive-interval"),
        grpc_keepalive_timeout: dur("grpc-keepalive-timeout"),
        watch_progress_notify_interval: dur("experimental-watch-progress-notify-interval"),
        heartbeat_ms: num("heartbeat-interval"),
        election_ms: num("election-timeout"),
        snapshot_count: num("snapshot-count"),
        quota_backend_bytes: get("quota-backend-bytes").parse().expect("checked"),
        strict_reconfig_check: parse_bool(&get("strict-reconfig-check")).expect("checked"),
        cors: urls(&get("cors")),
        grpc_gateway: parse_bool(&get("enable-grpc-gateway")).expect("checked"),
        enable_v2: parse_bool(&get("enable-v2")).expect("checked"),
        metrics: crate::metrics::Level::parse(&get("metrics")).unwrap_or_default(),
        listen_metrics_urls: urls(&get("listen-metrics-urls")),
        lease_checkpoint: parse_bool(&get("experimental-enable-lease-checkpoint"))
            .expect("checked"),
        lease_checkpoint_persist: parse_bool(&get("experimental-enable-lease-checkpoint-persist"))
            .expect("checked"),
        bcrypt_cost: match num("bcrypt-cost") {
            c @ 4..=31 => c as u32,
            _ => crate::auth::BCRYPT_COST_DEFAULT,
        },
        auth_tokens: auth_tokens(&get("auth-token"), num("auth-token-ttl"))?,
        client_tls: TlsInfo {
            cert_file: get("cert-file"),
            key_file: get("key-file"),
            trusted_ca_file: get("trusted-ca-file"),
            client_cert_auth: flag("client-cert-auth"),
            crl_file: get("client-crl-file"),
            allowed_cn: String::new(),
            allowed_hostname: get("client-cert-allowed-hostname"),
            check_client_san: false,
            cipher_suites: suites.clone(),
            self_cert: false,
            server_name: String::new(),
        },
        peer_tls: TlsInfo {
            cert_file: get("peer-cert-file"),
            key_file: get("peer-key-file"),
            trusted_ca_file: get("peer-trusted-ca-file"),
            client_cert_auth: flag("peer-client-cert-auth"),
            crl_file: get("peer-crl-file"),
            allowed_cn: get("peer-cert-allowed-cn"),
            allowed_hostname: get("peer-cert-allowed-hostname"),
            check_client_san: !flag("experimental-peer-skip-client-san-verification"),
            cipher_suites: suites,
            self_cert: false,
            server_name: String::new(),
        },
        client_auto_tls: flag("auto-tls"),
        peer_auto_tls: flag("peer-auto-tls"),
    };
    if cfg.lease_checkpoint_persist && !cfg.lease_checkpoint {
        return Err(flag_error(
            "setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint".to_string(),
        ));
    }
    Ok(cfg)
}

#[cfg(test)]
mod tests;

/// `--auth-token`: `simple`, or `jwt,sign-method=…,pub-key=…,priv-key=…,ttl=…`
/// (etcd's `NewTokenProvider`; its errors end start-up).
fn auth_tokens(v: &str, simple_ttl_secs: u64) -> Result<crate::auth::TokenConfig, ConfigError> {
    let mut parts = v.split(',');
    let kind = parts.next().unwrap_or("");
    #[allow(unused_mut)] // set only where JWTs are built
    let mut cfg = crate::auth::TokenConfig::simple(Duration::from_secs(simple_ttl_secs));
    let fatal = |e: String| ConfigError::Fatal(format!("failed to create token provider: {e}"));
    let invalid = || fatal("auth: invalid auth options".to_string());
    let mut opts = Vec::new();
    for p in parts {
        let (k, v) = p.split_once('=').ok_or_else(invalid)?;
        opts.push((k.to_string(), v.to_string()));
    }
    match kind {
        "simple" => Ok(cfg),
        #[cfg(not(madsim))]
        "jwt" => {
            let jwt = crate::auth::jwt::JwtTokens::from_options(&opts).map_err(fatal)?;
            cfg.jwt = Some(std::sync::Arc::new(jwt));
            Ok(cfg)
        }
        #[cfg(madsim)]
        "jwt" => Err(fatal("jwt tokens are not simulated".to_string())),
        _ => Err(invalid()),
    }
}
