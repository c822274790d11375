//! etcd's server flags, `ETCD_*` environment variables and `--config-file`,
//! parsed the way Go's `flag` package does (`-name v`, `--name=v`, booleans
//! without a value), with etcd's defaults and error texts.

use std::collections::BTreeMap;

/// The short usage etcd prints after a flag error.
pub const USAGE: &str = include_str!("config_usage.txt");

/// What kind of value a flag takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Uint,
    Int,
    Bool,
}

/// `(name, kind, default, supported)`. Unsupported flags are accepted (so
/// tutorials keep working) and reported in a warning at startup.
const FLAGS: &[(&str, Kind, &str, bool)] = &[
    ("name", Kind::Str, "default", true),
    ("data-dir", Kind::Str, "", true),
    ("wal-dir", Kind::Str, "", false),
    (
        "listen-client-urls",
        Kind::Str,
        "http://localhost:2379",
        true,
    ),
    (
        "advertise-client-urls",
        Kind::Str,
        "http://localhost:2379",
        true,
    ),
    ("listen-peer-urls", Kind::Str, "http://localhost:2380", true),
    (
        "initial-advertise-peer-urls",
        Kind::Str,
        "http://localhost:2380",
        true,
    ),
    ("initial-cluster", Kind::Str, "", true),
    ("initial-cluster-token", Kind::Str, "etcd-cluster", true),
    ("initial-cluster-state", Kind::Str, "new", true),
    ("log-level", Kind::Str, "info", true),
    ("logger", Kind::Str, "capnslog", true),
    ("log-outputs", Kind::Str, "default", true),
    ("quota-backend-bytes", Kind::Int, "0", false),
    ("max-request-bytes", Kind::Uint, "1572864", true),
    ("max-txn-ops", Kind::Uint, "128", true),
    ("heartbeat-interval", Kind::Uint, "100", true),
    ("election-timeout", Kind::Uint, "1000", true),
    ("snapshot-count", Kind::Uint, "100000", true),
    ("config-file", Kind::Str, "", true),
    ("debug", Kind::Bool, "false", true),
    ("enable-v2", Kind::Bool, "false", false),
    ("auto-compaction-retention", Kind::Str, "0", false),
    ("auto-compaction-mode", Kind::Str, "periodic", false),
    ("listen-metrics-urls", Kind::Str, "", false),
    ("enable-pprof", Kind::Bool, "false", false),
    ("strict-reconfig-check", Kind::Bool, "true", true),
    ("max-snapshots", Kind::Uint, "5", false),
    ("max-wals", Kind::Uint, "5", false),
    ("cors", Kind::Str, "", false),
    ("client-cert-auth", Kind::Bool, "false", false),
    ("cert-file", Kind::Str, "", false),
    ("key-file", Kind::Str, "", false),
    ("trusted-ca-file", Kind::Str, "", false),
    ("peer-client-cert-auth", Kind::Bool, "false", false),
    ("peer-cert-file", Kind::Str, "", false),
    ("peer-key-file", Kind::Str, "", false),
    ("peer-trusted-ca-file", Kind::Str, "", false),
    ("auto-tls", Kind::Bool, "false", false),
    ("peer-auto-tls", Kind::Bool, "false", false),
];

/// Outcome of parsing the command line.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Config>),
    Version,
    Help,
}

/// A flag error: what to print (before [`USAGE`]) and exit with code 2.
#[derive(Debug, PartialEq, Eq)]
pub struct FlagError(pub String);

/// The server configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub data_dir: String,
    pub listen_client_urls: Vec<String>,
    pub advertise_client_urls: Vec<String>,
    pub listen_peer_urls: Vec<String>,
    pub initial_advertise_peer_urls: Vec<String>,
    /// `(name, peer url)` pairs.
    pub initial_cluster: Vec<(String, String)>,
    pub initial_cluster_token: String,
    pub initial_cluster_state: String,
    pub log_level: String,
    pub logger: String,
    pub log_outputs: Vec<String>,
    pub quota_backend_bytes: i64,
    pub max_request_bytes: u64,
    pub max_txn_ops: u64,
    pub heartbeat_ms: u64,
    pub election_ms: u64,
    /// `--snapshot-count`: applied entries between log compactions.
    pub snapshot_count: u64,
    /// `--strict-reconfig-check`: refuse membership changes that could
    /// lose quorum (started and reachable members).
    pub strict_reconfig_check: bool,
    /// Flags given that oxcd accepts but does not act on yet.
    pub ignored: Vec<String>,
}

fn kind_of(name: &str) -> Option<(Kind, bool)> {
    FLAGS
        .iter()
        .find(|f| f.0 == name)
        .map(|&(_, k, _, supported)| (k, supported))
}

fn check_value(name: &str, kind: Kind, v: &str) -> Result<(), FlagError> {
    let ok = match kind {
        Kind::Str => true,
        Kind::Uint => v.parse::<u64>().is_ok(),
        Kind::Int => v.parse::<i64>().is_ok(),
        Kind::Bool => parse_bool(v).is_some(),
    };
    if ok {
        Ok(())
    } else {
        Err(FlagError(format!(
            "invalid value \"{v}\" for flag -{name}: parse error"
        )))
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Parses arguments (without the program name) and the environment.
pub fn parse(
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Result<(Parsed, Vec<String>), FlagError> {
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" || !a.starts_with('-') || a == "-" {
            break; // Go's flag package stops at the first non-flag
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
        let Some((kind, _)) = kind_of(name) else {
            return Err(FlagError(format!("flag provided but not defined: -{name}")));
        };
        let value = match (inline, kind) {
            (Some(v), _) => v,
            (None, Kind::Bool) => "true".to_string(),
            (None, _) => {
                if i >= args.len() {
                    return Err(FlagError(format!("flag needs an argument: -{name}")));
                }
                i += 1;
                args[i - 1].clone()
            }
        };
        check_value(name, kind, &value)?;
        set.insert(name.to_string(), value);
    }
    // Environment: ETCD_<FLAG> fills what the command line did not set.
    for (k, v) in env {
        let Some(rest) = k.strip_prefix("ETCD_") else {
            continue;
        };
        let name = rest.to_ascii_lowercase().replace('_', "-");
        match kind_of(&name) {
            Some((kind, _)) => {
                if set.contains_key(&name) {
                    warnings.push(format!(
                        "recognized environment variable {k}, but unused: shadowed by corresponding flag"
                    ));
                    continue;
                }
                check_value(&name, kind, v)
                    .map_err(|_| FlagError(format!("invalid value {v:?} for {k}: parse error")))?;
                set.insert(name, v.clone());
            }
            None if name == "version" || name == "help" => {}
            None => warnings.push(format!("unrecognized environment variable {k}={v}")),
        }
    }
    if let Some(path) = set.get("config-file").cloned() {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| FlagError(format!("error verifying flags, open {path}: {e}")))?;
        set = parse_config_file(&text)?;
    }
    Ok((Parsed::Run(Box::new(build(&set)?)), warnings))
}

/// Reads etcd's YAML config file (flat `key: value` lines, the keys being
/// flag names).
fn parse_config_file(text: &str) -> Result<BTreeMap<String, String>, FlagError> {
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
        if let Some((kind, _)) = kind_of(k) {
            if v.is_empty() || v == "null" || v == "~" {
                continue;
            }
            check_value(k, kind, v)?;
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

fn build(set: &BTreeMap<String, String>) -> Result<Config, FlagError> {
    let get = |name: &str| -> String {
        set.get(name).cloned().unwrap_or_else(|| {
            FLAGS
                .iter()
                .find(|f| f.0 == name)
                .map(|f| f.2.to_string())
                .expect("known flag")
        })
    };
    let name = get("name");
    let mut data_dir = get("data-dir");
    if data_dir.is_empty() {
        data_dir = format!("{name}.etcd");
    }
    let apurls = urls(&get("initial-advertise-peer-urls"));
    let initial_cluster_s = match set.get("initial-cluster") {
        Some(v) => v.clone(),
        None => apurls
            .iter()
            .map(|u| format!("{name}={u}"))
            .collect::<Vec<_>>()
            .join(","),
    };
    let mut initial_cluster = Vec::new();
    for part in initial_cluster_s.split(',').filter(|s| !s.is_empty()) {
        let Some((n, u)) = part.split_once('=') else {
            return Err(FlagError(format!(
                "error verifying flags, {part:?} is not a valid initial cluster entry (want name=url)"
            )));
        };
        initial_cluster.push((n.to_string(), u.to_string()));
    }
    let state = get("initial-cluster-state");
    if state != "new" && state != "existing" {
        return Err(FlagError(format!(
            "invalid value \"{state}\" for flag -initial-cluster-state: invalid value {state:?} for flag -initial-cluster-state"
        )));
    }
    let ignored = FLAGS
        .iter()
        .filter(|f| !f.3 && set.contains_key(f.0))
        .map(|f| f.0.to_string())
        .collect();
    let num = |n: &str| get(n).parse::<u64>().expect("checked");
    Ok(Config {
        name,
        data_dir,
        listen_client_urls: urls(&get("listen-client-urls")),
        advertise_client_urls: urls(&get("advertise-client-urls")),
        listen_peer_urls: urls(&get("listen-peer-urls")),
        initial_advertise_peer_urls: apurls,
        initial_cluster,
        initial_cluster_token: get("initial-cluster-token"),
        initial_cluster_state: state,
        log_level: get("log-level"),
        logger: get("logger"),
        log_outputs: urls(&get("log-outputs")),
        quota_backend_bytes: get("quota-backend-bytes").parse().expect("checked"),
        max_request_bytes: num("max-request-bytes"),
        max_txn_ops: num("max-txn-ops"),
        heartbeat_ms: num("heartbeat-interval"),
        election_ms: num("election-timeout"),
        snapshot_count: num("snapshot-count"),
        strict_reconfig_check: parse_bool(&get("strict-reconfig-check")).expect("checked"),
        ignored,
    })
}

/// `http://host:port` → a socket address to bind (`localhost` → 127.0.0.1).
pub fn bind_addr(url: &str) -> Result<std::net::SocketAddr, String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .or_else(|| url.strip_prefix("unix://"))
        .ok_or_else(|| format!("URL scheme must be http, https, unix or unixs: {url}"))?;
    let hostport = rest.split('/').next().unwrap_or("");
    let (host, port) = hostport
        .rsplit_once(':')
        .ok_or_else(|| format!("address {hostport}: missing port in address"))?;
    let host = match host {
        "localhost" | "" => "127.0.0.1",
        h => h.trim_start_matches('[').trim_end_matches(']'),
    };
    format!("{host}:{port}")
        .parse()
        .or_else(|_| format!("[{host}]:{port}").parse())
        .map_err(|_| format!("listen tcp {hostport}: invalid address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Config, FlagError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        match parse(&args, &BTreeMap::new())?.0 {
            Parsed::Run(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_are_etcds() {
        let c = p(&[]).unwrap();
        assert_eq!(c.name, "default");
        assert_eq!(c.data_dir, "default.etcd");
        assert_eq!(c.listen_client_urls, vec!["http://localhost:2379"]);
        assert_eq!(
            c.initial_cluster,
            vec![("default".to_string(), "http://localhost:2380".to_string())]
        );
        assert_eq!(c.max_request_bytes, 1572864);
    }

    #[test]
    fn go_flag_syntax() {
        let c = p(&[
            "-name",
            "n1",
            "--data-dir=/x",
            "--debug",
            "--max-txn-ops",
            "7",
        ])
        .unwrap();
        assert_eq!(
            (c.name.as_str(), c.data_dir.as_str(), c.max_txn_ops),
            ("n1", "/x", 7)
        );
        assert_eq!(c.initial_cluster[0].0, "n1");
    }

    #[test]
    fn errors_match_etcd() {
        assert_eq!(
            p(&["--bogus"]).unwrap_err().0,
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            p(&["--quota-backend-bytes=abc"]).unwrap_err().0,
            "invalid value \"abc\" for flag -quota-backend-bytes: parse error"
        );
        assert_eq!(
            p(&["--name"]).unwrap_err().0,
            "flag needs an argument: -name"
        );
    }

    #[test]
    fn env_fills_unset_flags() {
        let mut env = BTreeMap::new();
        env.insert("ETCD_NAME".to_string(), "fromenv".to_string());
        env.insert("ETCD_DATA_DIR".to_string(), "/d".to_string());
        let args = vec!["--data-dir=/flag".to_string()];
        let (Parsed::Run(c), warnings) = parse(&args, &env).unwrap() else {
            panic!()
        };
        assert_eq!((c.name.as_str(), c.data_dir.as_str()), ("fromenv", "/flag"));
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn bind_addresses() {
        assert_eq!(
            bind_addr("http://localhost:2379").unwrap().to_string(),
            "127.0.0.1:2379"
        );
        assert_eq!(
            bind_addr("http://0.0.0.0:2379").unwrap().to_string(),
            "0.0.0.0:2379"
        );
        assert!(bind_addr("foo").is_err());
    }
}
