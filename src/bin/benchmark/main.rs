//! `benchmark`: etcd 3.4's `tools/benchmark`, the same commands, flags and
//! printed reports, so a run against oxcd reads like a run against etcd.
//!
//! ```text
//! benchmark [global flags] put [--key-size=8] [--val-size=8] [--total=10000] ...
//! benchmark [global flags] range <key> [end-range] [--consistency=l|s] ...
//! benchmark [global flags] txn-put | watch | watch-latency | watch-get |
//!           lease-keepalive | stm | mvcc put | lease-grant (oxcd's)
//! ```
//!
//! `benchmark --help` and `benchmark <command> --help` list the flags. Real
//! time is what it measures, so it reads the clock directly.
#![allow(clippy::disallowed_methods)]

mod kv;
mod mvcc;
mod report;
mod stm;
mod watch;

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use oxcd::pb::etcdserverpb::{
    auth_client::AuthClient, cluster_client::ClusterClient, maintenance_client::MaintenanceClient,
    AuthenticateRequest, MemberListRequest, StatusRequest,
};
use tonic::transport::Channel;

use report::{Precision, Reporter};

/// What a flag holds.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Int,
    Bool,
    Str,
    /// A Go duration (`5s`, `1m30s`).
    Dur,
}

struct Flag {
    name: &'static str,
    kind: Kind,
    default: &'static str,
    help: &'static str,
}

const fn f(name: &'static str, kind: Kind, default: &'static str, help: &'static str) -> Flag {
    Flag {
        name,
        kind,
        default,
        help,
    }
}

use Kind::{Bool, Dur, Int, Str};

/// The root command's persistent flags, as etcd 3.4's `root.go`.
const GLOBAL: &[Flag] = &[
    f("endpoints", Str, "127.0.0.1:2379", "gRPC endpoints"),
    f("conns", Int, "1", "Total number of gRPC connections"),
    f("clients", Int, "1", "Total number of gRPC clients"),
    f(
        "precise",
        Bool,
        "false",
        "use full floating point precision",
    ),
    f(
        "sample",
        Bool,
        "false",
        "'true' to sample requests for every second",
    ),
    f(
        "cert",
        Str,
        "",
        "identify HTTPS client using this SSL certificate file",
    ),
    f(
        "key",
        Str,
        "",
        "identify HTTPS client using this SSL key file",
    ),
    f(
        "cacert",
        Str,
        "",
        "verify certificates of HTTPS-enabled servers using this CA bundle",
    ),
    f(
        "user",
        Str,
        "",
        "provide username[:password] and prompt if password is not supplied.",
    ),
    f(
        "dial-timeout",
        Dur,
        "0s",
        "dial timeout for client connections",
    ),
    f(
        "target-leader",
        Bool,
        "false",
        "connect only to the leader node",
    ),
    f("help", Bool, "false", "help for benchmark"),
];

/// A command: its name (`mvcc put` for the one nested command), usage line
/// and flags.
struct Command {
    name: &'static str,
    usage: &'static str,
    short: &'static str,
    flags: &'static [Flag],
}

const COMMANDS: &[Command] = &[
    Command {
        name: "put",
        usage: "put",
        short: "Benchmark put",
        flags: kv::PUT_FLAGS,
    },
    Command {
        name: "range",
        usage: "range key [end-range]",
        short: "Benchmark range",
        flags: kv::RANGE_FLAGS,
    },
    Command {
        name: "txn-put",
        usage: "txn-put",
        short: "Benchmark txn-put",
        flags: kv::TXN_PUT_FLAGS,
    },
    Command {
        name: "lease-keepalive",
        usage: "lease-keepalive",
        short: "Benchmark lease keepalive",
        flags: kv::LEASE_KEEPALIVE_FLAGS,
    },
    Command {
        name: "lease-grant",
        usage: "lease-grant",
        short: "Benchmark lease grant (oxcd's; not in etcd 3.4)",
        flags: kv::LEASE_GRANT_FLAGS,
    },
    Command {
        name: "watch",
        usage: "watch",
        short: "Benchmark watch",
        flags: watch::WATCH_FLAGS,
    },
    Command {
        name: "watch-latency",
        usage: "watch-latency",
        short: "Benchmark watch latency",
        flags: watch::WATCH_LATENCY_FLAGS,
    },
    Command {
        name: "watch-get",
        usage: "watch-get",
        short: "Benchmark watch with get",
        flags: watch::WATCH_GET_FLAGS,
    },
    Command {
        name: "stm",
        usage: "stm",
        short: "Benchmark STM",
        flags: stm::STM_FLAGS,
    },
    Command {
        name: "mvcc put",
        usage: "mvcc put",
        short: "Benchmark put performance of storage (oxcd's MVCC store, in-process)",
        flags: mvcc::MVCC_PUT_FLAGS,
    },
];

/// A parsed command line: the command, its positional arguments, and every
/// flag given (by name, as text).
pub struct Opts {
    cmd: &'static Command,
    args: Vec<String>,
    values: BTreeMap<String, String>,
}

impl Opts {
    fn flag(&self, name: &str) -> &Flag {
        GLOBAL
            .iter()
            .chain(self.cmd.flags)
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("--{name} is not a flag of {}", self.cmd.name))
    }
    fn raw(&self, name: &str) -> &str {
        let default = self.flag(name).default;
        self.values.get(name).map_or(default, String::as_str)
    }
    pub fn str(&self, name: &str) -> String {
        self.raw(name).to_string()
    }
    pub fn int(&self, name: &str) -> i64 {
        let v = self.raw(name);
        parse_go_int(v).unwrap_or_else(|| {
            fail(&format!(
                "invalid argument {v:?} for \"--{name}\" flag: strconv.ParseInt: parsing {v:?}: invalid syntax"
            ))
        })
    }
    /// A count that must not be negative.
    pub fn count(&self, name: &str) -> usize {
        let n = self.int(name);
        usize::try_from(n).unwrap_or_else(|_| fail(&format!("expected --{name} >= 0, got {n}")))
    }
    pub fn bool(&self, name: &str) -> bool {
        self.raw(name) == "true"
    }
    pub fn dur(&self, name: &str) -> Duration {
        let v = self.raw(name);
        parse_go_duration(v).unwrap_or_else(|| {
            fail(&format!(
                "invalid argument {v:?} for \"--{name}\" flag: time: invalid duration {v:?}"
            ))
        })
    }
    pub fn args(&self) -> &[String] {
        &self.args
    }
    pub fn usage_and_exit(&self) -> ! {
        eprintln!("{}", usage(Some(self.cmd)));
        std::process::exit(1)
    }
}

/// strconv.ParseInt(s, 0, 64): decimal, or 0x / 0o / 0b / leading-0 octal.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = digits.replace('_', "");
    let lower = digits.to_ascii_lowercase();
    let n = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()?
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()?
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()?
    } else if lower.len() > 1 && lower.starts_with('0') {
        i64::from_str_radix(&lower[1..], 8).ok()?
    } else {
        lower.parse().ok()?
    };
    Some(if neg { -n } else { n })
}

/// Go's `time.ParseDuration`: `0`, or numbers with units, `1m30s`, `1.5h`.
fn parse_go_duration(s: &str) -> Option<Duration> {
    let s = s.strip_prefix('+').unwrap_or(s);
    if s == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = s;
    let mut total = 0.0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += n * unit;
    }
    Some(Duration::from_secs_f64(total))
}

/// Prints an error as the commands do and exits 1.
pub fn fail(msg: &str) -> ! {
    eprintln!("Error: {msg}");
    std::process::exit(1)
}

fn usage(cmd: Option<&Command>) -> String {
    let line = |fl: &Flag| {
        let arg = match fl.kind {
            Bool => String::new(),
            Int => " int".into(),
            Str => " string".into(),
            Dur => " duration".into(),
        };
        let default = match (fl.kind, fl.default) {
            (Bool, "false") | (Str, "") | (Int, "0") | (Dur, "0s") => String::new(),
            (Str, d) => format!(" (default \"{d}\")"),
            (_, d) => format!(" (default {d})"),
        };
        format!("      --{}{arg}\t{}{default}\n", fl.name, fl.help)
    };
    let mut s = String::new();
    match cmd {
        None => {
            s += "A low-level benchmark tool for etcd3 (etcd 3.4's tools/benchmark).\n\n";
            s += "Usage:\n  benchmark [command]\n\nAvailable Commands:\n";
            for c in COMMANDS {
                s += &format!("  {:<16}{}\n", c.name, c.short);
            }
            s += "\nFlags:\n";
            GLOBAL.iter().for_each(|fl| s += &line(fl));
        }
        Some(c) => {
            s += &format!("Usage:\n  benchmark {} [flags]\n\nFlags:\n", c.usage);
            c.flags.iter().for_each(|fl| s += &line(fl));
            s += "\nGlobal Flags:\n";
            GLOBAL
                .iter()
                .filter(|fl| fl.name != "help")
                .for_each(|fl| s += &line(fl));
        }
    }
    s
}

/// Parses the command line as cobra does: flags anywhere (`--f=v`,
/// `--f v`, `--b` for booleans), `--` ends them, the first positional
/// names the command.
fn parse(argv: &[String]) -> Opts {
    let all_flags = || GLOBAL.iter().chain(COMMANDS.iter().flat_map(|c| c.flags));
    let mut positional = Vec::new();
    let mut given: Vec<(String, Option<String>)> = Vec::new();
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        if a == "--" {
            positional.extend(it.by_ref().cloned());
            break;
        }
        let name = match a.strip_prefix("--").or_else(|| a.strip_prefix('-')) {
            Some(n) if !n.is_empty() && a != "-" => n,
            _ => {
                positional.push(a.clone());
                continue;
            }
        };
        let name = if name == "h" { "help" } else { name };
        if let Some((n, v)) = name.split_once('=') {
            given.push((n.to_string(), Some(v.to_string())));
            continue;
        }
        let is_bool = all_flags().any(|fl| fl.name == name && fl.kind == Bool);
        if is_bool {
            given.push((name.to_string(), Some("true".into())));
        } else {
            given.push((name.to_string(), it.next().cloned()));
        }
    }
    let mut words = positional.into_iter();
    let first = words.next();
    let cmd = match first.as_deref() {
        None => {
            println!("{}", usage(None));
            std::process::exit(0);
        }
        Some("mvcc") => match words.next().as_deref() {
            Some("put") => COMMANDS.iter().find(|c| c.name == "mvcc put"),
            _ => {
                eprintln!("Usage:\n  benchmark mvcc put [flags]\n\n(mvcc has one benchmark, put)");
                std::process::exit(1);
            }
        },
        Some(name) => COMMANDS.iter().find(|c| c.name == name),
    };
    let Some(cmd) = cmd else {
        eprintln!(
            "Error: unknown command {:?} for \"benchmark\"\nRun 'benchmark --help' for usage.",
            first.unwrap_or_default()
        );
        std::process::exit(1);
    };
    let mut values = BTreeMap::new();
    for (name, value) in given {
        let Some(fl) = GLOBAL.iter().chain(cmd.flags).find(|fl| fl.name == name) else {
            eprintln!("Error: unknown flag: --{name}\n{}", usage(Some(cmd)));
            std::process::exit(1);
        };
        let Some(value) = value else {
            eprintln!(
                "Error: flag needs an argument: --{name}\n{}",
                usage(Some(cmd))
            );
            std::process::exit(1);
        };
        let value = if fl.kind == Bool {
            match value.as_str() {
                "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".to_string(),
                "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".to_string(),
                _ => fail(&format!(
                    "invalid argument {value:?} for \"--{name}\" flag: strconv.ParseBool: parsing {value:?}: invalid syntax"
                )),
            }
        } else {
            value
        };
        values.insert(name, value);
    }
    if values.get("help").map(String::as_str) == Some("true") {
        println!("{}", usage(Some(cmd)));
        std::process::exit(0);
    }
    Opts {
        cmd,
        args: words.collect(),
        values,
    }
}

/// The global flags, resolved.
pub struct Global {
    pub endpoints: Vec<String>,
    pub conns: usize,
    pub clients: usize,
    pub reporter: Reporter,
    tls: Option<oxcd::rt::net::ClientTls>,
    user: String,
    dial_timeout: Duration,
    target_leader: bool,
    /// Connections made so far (endpoints are handed out round-robin).
    dialed: Mutex<usize>,
    /// The leader's client URLs, once found for `--target-leader`.
    leader_eps: OnceLock<Vec<String>>,
}

/// The auth token `--user` got, sent with every request.
static TOKEN: OnceLock<String> = OnceLock::new();

/// `m` as a request, carrying the auth token if there is one.
pub fn req<M>(m: M) -> tonic::Request<M> {
    let mut r = tonic::Request::new(m);
    if let Some(v) = TOKEN.get().and_then(|t| t.parse().ok()) {
        r.metadata_mut().insert("token", v);
    }
    r
}

/// A failed call as clientv3 words it: etcd's own errors by their message,
/// anything else as grpc-go's `rpc error: code = … desc = …`.
pub fn status_text(st: &tonic::Status) -> String {
    let desc = st.message();
    if desc.starts_with("etcdserver: ") || desc.starts_with("mvcc: ") || desc.starts_with("auth: ")
    {
        return desc.to_string();
    }
    let code = match st.code() {
        tonic::Code::Cancelled => "Canceled".to_string(),
        c => format!("{c:?}"),
    };
    format!("rpc error: code = {code} desc = {desc}")
}

impl Global {
    fn new(o: &Opts) -> Global {
        let endpoints: Vec<String> = o
            .str("endpoints")
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect();
        if endpoints.is_empty() {
            fail("no --endpoints");
        }
        let (ca, cert, key) = (o.str("cacert"), o.str("cert"), o.str("key"));
        let tls = (!ca.is_empty() || !cert.is_empty() || !key.is_empty()).then(|| {
            oxcd::rt::net::ClientTls {
                ca_file: ca,
                cert_file: cert,
                key_file: key,
                insecure_skip_verify: false,
                server_name: String::new(),
            }
        });
        let precision = if o.bool("precise") {
            Precision::Full
        } else {
            Precision::Fixed
        };
        Global {
            endpoints,
            conns: o.count("conns"),
            clients: o.count("clients"),
            reporter: Reporter {
                precision,
                sample: o.bool("sample"),
            },
            tls,
            user: o.str("user"),
            dial_timeout: o.dur("dial-timeout"),
            target_leader: o.bool("target-leader"),
            dialed: Mutex::new(0),
            leader_eps: OnceLock::new(),
        }
    }

    /// One connection (etcd's `mustCreateConn`): to the next endpoint in
    /// turn, or to the leader with `--target-leader`; authenticated with
    /// `--user`. Exits on failure, as etcd does.
    pub async fn connect(&self) -> Channel {
        if self.target_leader && self.leader_eps.get().is_none() {
            let ch = self.dial_next(&self.endpoints).await;
            let eps = find_leader(&ch).await;
            let _ = self.leader_eps.set(eps);
        }
        let eps = self.leader_eps.get().unwrap_or(&self.endpoints);
        let ch = self.dial_next(eps).await;
        if !self.user.is_empty() && TOKEN.get().is_none() {
            let (name, password) = credentials(&self.user);
            let r = AuthClient::new(ch.clone())
                .authenticate(AuthenticateRequest { name, password })
                .await;
            match r {
                Ok(r) => {
                    let _ = TOKEN.set(r.into_inner().token);
                }
                Err(st) => {
                    eprintln!("dial error: {}", status_text(&st));
                    std::process::exit(1);
                }
            }
        }
        ch
    }

    async fn dial_next(&self, eps: &[String]) -> Channel {
        let ep = {
            let mut n = self.dialed.lock().unwrap_or_else(|e| e.into_inner());
            *n += 1;
            eps[(*n - 1) % eps.len()].clone()
        };
        let url = match (ep.contains("://"), &self.tls) {
            (true, _) => ep.clone(),
            (false, Some(_)) => format!("https://{ep}"),
            (false, None) => format!("http://{ep}"),
        };
        // clientv3 with no dial timeout does not wait for the connection;
        // here a dial is always waited for, 5 s at most when none is set,
        // so a wrong endpoint is one line, not one error per request.
        let timeout = if self.dial_timeout.is_zero() {
            Duration::from_secs(5)
        } else {
            self.dial_timeout
        };
        let r = match (&self.tls, url.starts_with("https://")) {
            (Some(tls), true) => oxcd::rt::net::dial_tls(&url, timeout, tls).await,
            (None, true) => oxcd::rt::net::dial_tls(&url, timeout, &Default::default()).await,
            (_, false) => oxcd::rt::net::dial(&url, timeout).await,
        };
        r.unwrap_or_else(|e| {
            eprintln!("dial error: {ep}: {e}");
            std::process::exit(1);
        })
    }

    /// `clients` clients over `conns` connections (etcd's
    /// `mustCreateClients`): client i uses connection i mod conns.
    pub async fn clients(&self, clients: usize, conns: usize) -> Vec<Channel> {
        let conns = conns.max(1);
        let mut chans = Vec::with_capacity(conns);
        for _ in 0..conns {
            chans.push(self.connect().await);
        }
        (0..clients).map(|i| chans[i % conns].clone()).collect()
    }
}

/// `--user`'s name and password; without `:password`, asked for on stdin.
fn credentials(user: &str) -> (String, String) {
    if let Some((name, password)) = user.split_once(':') {
        return (name.to_string(), password.to_string());
    }
    eprint!("Password: ");
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        eprintln!("bad user information: {user}");
        std::process::exit(1);
    }
    (
        user.to_string(),
        line.trim_end_matches(['\n', '\r']).to_string(),
    )
}

/// The leader's client URLs: the leader named by the first endpoint's
/// status, looked up in the member list (etcd's `mustFindLeaderEndpoints`).
async fn find_leader(ch: &Channel) -> Vec<String> {
    let members = match ClusterClient::new(ch.clone())
        .member_list(req(MemberListRequest::default()))
        .await
    {
        Ok(r) => r.into_inner().members,
        Err(st) => {
            eprintln!("failed to get a member list: {}", status_text(&st));
            std::process::exit(1);
        }
    };
    let leader = MaintenanceClient::new(ch.clone())
        .status(req(StatusRequest {}))
        .await
        .map(|r| r.into_inner().leader)
        .unwrap_or(0);
    match members.into_iter().find(|m| m.id == leader) {
        Some(m) => m.client_ur_ls,
        None => {
            eprintln!("failed to find a leader endpoint");
            std::process::exit(1);
        }
    }
}

/// Go's `rate.Limiter` with a rate and a burst: `wait` returns when the
/// next request may go. No rate: never waits.
pub struct Limiter {
    interval: Option<Duration>,
    burst: u32,
    /// When the bucket would be full again (GCRA's theoretical arrival).
    tat: tokio::sync::Mutex<Instant>,
}

impl Limiter {
    /// `rate` per second (0: unlimited), `burst` at once.
    pub fn new(rate: i64, burst: i64) -> Limiter {
        Limiter {
            interval: (rate > 0).then(|| Duration::from_secs_f64(1.0 / rate as f64)),
            burst: burst.max(1) as u32,
            tat: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    pub async fn wait(&self) {
        let Some(t) = self.interval else { return };
        let at = {
            let mut tat = self.tat.lock().await;
            let now = Instant::now();
            let next = (*tat).max(now) + t;
            *tat = next;
            next.checked_sub(t * self.burst).unwrap_or(now)
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// etcd's `binary.PutVarint` into a key of `buf.len()` zero bytes (cut
/// short if the key is too small for the number).
pub fn put_varint(buf: &mut [u8], n: i64) {
    buf.iter_mut().for_each(|b| *b = 0);
    let mut ux = ((n << 1) ^ (n >> 63)) as u64;
    let mut i = 0;
    while i < buf.len() {
        if ux < 0x80 {
            buf[i] = ux as u8;
            return;
        }
        buf[i] = (ux as u8) | 0x80;
        ux >>= 7;
        i += 1;
    }
}

/// `n` random bytes (etcd's `mustRandBytes`).
pub fn rand_bytes(n: usize) -> Vec<u8> {
    use rand::RngCore;
    let mut b = vec![0; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A random number in `0..n`.
pub fn rand_below(n: usize) -> usize {
    use rand::Rng;
    rand::thread_rng().gen_range(0..n.max(1))
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let opts = parse(&argv);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        if opts.cmd.name == "mvcc put" {
            let g = Global::new(&opts);
            return mvcc::put(&opts, &g);
        }
        let g = Global::new(&opts);
        match opts.cmd.name {
            "put" => kv::put(&opts, &g).await,
            "range" => kv::range(&opts, &g).await,
            "txn-put" => kv::txn_put(&opts, &g).await,
            "lease-keepalive" => kv::lease_keepalive(&opts, &g).await,
            "lease-grant" => kv::lease_grant(&opts, &g).await,
            "watch" => watch::watch(&opts, &g).await,
            "watch-latency" => watch::watch_latency(&opts, &g).await,
            "watch-get" => watch::watch_get(&opts, &g).await,
            "stm" => stm::stm(&opts, &g).await,
            other => unreachable!("command {other} has no runner"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn flags_in_both_forms_anywhere() {
        let o = parse(&argv(
            "--endpoints 127.0.0.1:1 --total=5 put --key-size 3 --sequential-keys --clients=4",
        ));
        assert_eq!(o.cmd.name, "put");
        assert_eq!(o.str("endpoints"), "127.0.0.1:1");
        assert_eq!(o.int("total"), 5);
        assert_eq!(o.int("key-size"), 3);
        assert!(o.bool("sequential-keys"));
        assert_eq!(o.count("clients"), 4);
        assert_eq!(o.int("val-size"), 8);
        let o = parse(&argv("range foo fop --consistency s"));
        assert_eq!(o.args(), ["foo", "fop"]);
        assert_eq!(o.str("consistency"), "s");
        let o = parse(&argv("mvcc put --txn --txn-ops=0x10"));
        assert_eq!(o.cmd.name, "mvcc put");
        assert!(o.bool("txn"));
        assert_eq!(o.int("txn-ops"), 16);
    }

    #[test]
    fn durations_and_varints() {
        assert_eq!(parse_go_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_go_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("5"), None);
        let mut k = [9u8; 8];
        put_varint(&mut k, 0);
        assert_eq!(k, [0; 8]);
        put_varint(&mut k, 99);
        assert_eq!(k, [0xc6, 0x01, 0, 0, 0, 0, 0, 0]);
        put_varint(&mut k, -1);
        assert_eq!(k[..2], [1, 0]);
    }
}
