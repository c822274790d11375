//! What every command shares (etcdctl's `global.go` and `error.go`): the
//! parsed flags, endpoints and timeouts, connecting, calling an RPC, and the
//! lines and exit codes clientv3 and etcdctl give when that fails.

use std::collections::BTreeMap;
use std::time::Duration;

use prost::Message;
use tonic::transport::Channel;

use super::flags::{Flag, Parsed, GLOBAL_FLAGS};
use super::printer_json::json_str;
use super::util::parse_go_duration;
use super::Fail;

// etcdctl's exit codes (its `error.go`).
pub(super) const EXIT_ERROR: i32 = 1;
pub(super) const EXIT_BAD_CONNECTION: i32 = 2;
pub(super) const EXIT_INVALID_INPUT: i32 = 3;
pub(super) const EXIT_BAD_FEATURE: i32 = 4;
pub(super) const EXIT_BAD_ARGS: i32 = 128;
/// A `--command-timeout` for calls etcdctl makes without a deadline.
pub(super) const NO_DEADLINE: &str = "87600h";
/// Go's exit code for an unrecovered panic, where etcdctl 3.4 dies of one.
pub(super) const EXIT_GO_PANIC: i32 = 2;

/// A wrong argument: etcdctl exits with `ExitBadArgs`.
pub(super) fn bad_args(msg: impl Into<String>) -> Fail {
    Fail(EXIT_BAD_ARGS, msg.into())
}

/// The command line a command runs with: its flags (the command's own and
/// the global ones) and positional arguments.
pub(super) struct Ctx {
    pub(super) p: Parsed,
    pub(super) flags: &'static [Flag],
    /// The environment (`watch` reads `ETCDCTL_WATCH_KEY`).
    pub(super) env: BTreeMap<String, String>,
    /// The auth token `--user` got when [`connect`] authenticated.
    pub(super) token: Token,
}

/// An auth token, set once by [`connect`] and sent with every request
/// after (clientv3 keeps it in its `authTokenBundle` the same way).
#[derive(Clone, Default)]
pub(super) struct Token(std::sync::Arc<TokenState>);

#[derive(Default)]
pub(super) struct TokenState {
    /// `--user`'s name and password, once resolved (prompted for).
    creds: std::sync::OnceLock<(String, String)>,
    token: std::sync::OnceLock<String>,
    /// What authenticating logged (clientv3 warns when auth is off).
    warnings: std::sync::Mutex<String>,
}

impl Token {
    /// `m` as a request carrying the token, if there is one.
    pub(super) fn req<M>(&self, m: M) -> tonic::Request<M> {
        let mut r = tonic::Request::new(m);
        if let Some(v) = self.0.token.get().and_then(|t| t.parse().ok()) {
            r.metadata_mut().insert("token", v);
        }
        r
    }
    pub(super) fn set_credentials(&self, user: String, password: String) {
        let _ = self.0.creds.set((user, password));
    }
    pub(super) fn warn(&self, w: String) {
        self.0
            .warnings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push_str(&w);
    }
    /// The warnings logged so far, taken.
    pub(super) fn take_warnings(&self) -> String {
        std::mem::take(&mut *self.0.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Ctx {
    /// A command's context; `ETCDCTL_<FLAG>` fills the global flags the
    /// command line left unset, as etcdctl's environment binding does.
    pub(super) fn new(
        mut p: Parsed,
        flags: &'static [Flag],
        env: &BTreeMap<String, String>,
    ) -> Ctx {
        for f in GLOBAL_FLAGS {
            let key = format!("ETCDCTL_{}", f.name.to_ascii_uppercase().replace('-', "_"));
            if let (false, Some(v)) = (p.is_set(f.name), env.get(&key)) {
                p.values.insert(f.name.to_string(), v.clone());
            }
        }
        Ctx {
            p,
            flags,
            env: env.clone(),
            token: Token::default(),
        }
    }
    pub(super) fn get(&self, name: &str) -> &str {
        self.p.get(name, self.flags)
    }
    pub(super) fn bool(&self, name: &str) -> bool {
        self.p.bool(name, self.flags)
    }
    pub(super) fn args(&self) -> &[String] {
        &self.p.args
    }
    /// The same command context, aimed at one endpoint.
    pub(super) fn with_endpoint(&self, ep: &str) -> Ctx {
        self.with_flag("endpoints", ep)
    }
    /// The same command context with another `--command-timeout` (a Go
    /// duration): for the calls etcdctl makes under a deadline of its own.
    pub(super) fn with_timeout(&self, timeout: &str) -> Ctx {
        self.with_flag("command-timeout", timeout)
    }
    fn with_flag(&self, name: &str, value: &str) -> Ctx {
        let mut values = self.p.values.clone();
        values.insert(name.to_string(), value.to_string());
        Ctx {
            p: Parsed {
                values,
                args: self.p.args.clone(),
                dash: self.p.dash,
            },
            env: self.env.clone(),
            flags: self.flags,
            token: self.token.clone(),
        }
    }
    /// `m` as a request with this context's auth token.
    pub(super) fn req<M>(&self, m: M) -> tonic::Request<M> {
        self.token.req(m)
    }
    /// `--write-out`.
    pub(super) fn format(&self) -> &str {
        self.get("write-out")
    }
    pub(super) fn endpoints(&self) -> Vec<String> {
        self.get("endpoints")
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    }
    pub(super) fn timeout(&self, name: &str) -> Duration {
        parse_go_duration(self.get(name)).unwrap_or(Duration::from_secs(5))
    }
}

impl Ctx {
    /// etcdctl's `endpointsFromFlagValue`: with `--discovery-srv`, the
    /// endpoints of the `_etcd-client-ssl[-NAME]` and `_etcd-client[-NAME]`
    /// SRV records replace `--endpoints` (`http://` ones dropped, with a
    /// line each, under `--insecure-discovery=false`; none found keeps
    /// `--endpoints`).
    pub(super) async fn discover_endpoints(&mut self, o: &mut super::Output) -> Result<(), Fail> {
        let domain = self.get("discovery-srv").to_string();
        if domain.is_empty() {
            return Ok(());
        }
        let resolver = crate::rt::net::dns::Resolver::system();
        let service_name = self.get("discovery-srv-name").to_string();
        let eps = crate::srv::get_client(&resolver, "etcd-client", &domain, &service_name)
            .await
            .map_err(|e| Fail(EXIT_ERROR, e))?;
        let insecure = self.bool("insecure-discovery");
        let mut kept = Vec::with_capacity(eps.len());
        for ep in eps {
            if !insecure && ep.starts_with("http://") {
                o.err(format!("ignoring discovered insecure endpoint {ep:?}\n"));
                continue;
            }
            kept.push(ep);
        }
        if !kept.is_empty() {
            self.p
                .values
                .insert("endpoints".to_string(), kept.join(","));
        }
        Ok(())
    }
}

/// Refuses what oxcd's etcdctl cannot do: dial a TLS unix socket.
pub(super) fn tls_requested(ctx: &Ctx) -> Option<String> {
    ctx.endpoints()
        .into_iter()
        .find(|e| e.starts_with("unixs://"))
        .map(|ep| {
            format!("--endpoints={ep}: unixs:// endpoints are not built in oxcd's etcdctl yet")
        })
}

impl Ctx {
    /// `--cacert`, `--cert`, `--key`, `--insecure-skip-tls-verify`, as
    /// etcdctl's `newClientCfg` reads them: TLS is configured when any
    /// file is given or `--insecure-transport=false`.
    pub(super) fn client_tls(&self) -> Option<crate::rt::net::ClientTls> {
        let (ca, cert, key) = (self.get("cacert"), self.get("cert"), self.get("key"));
        let any = !ca.is_empty() || !cert.is_empty() || !key.is_empty();
        (any || !self.bool("insecure-transport")).then(|| crate::rt::net::ClientTls {
            ca_file: ca.to_string(),
            cert_file: cert.to_string(),
            key_file: key.to_string(),
            insecure_skip_verify: self.bool("insecure-skip-tls-verify"),
            server_name: String::new(),
        })
    }

    /// Dials `ep` as clientv3 does: `https://` over TLS (with the system's
    /// roots when no CA is given), `http://` in plain text whatever the
    /// flags say, and a bare `host:port` over TLS exactly when TLS is
    /// configured.
    pub(super) async fn dial(&self, ep: &str) -> Result<Channel, String> {
        let timeout = self.timeout("dial-timeout");
        let tls = self.client_tls();
        let url = match (ep.contains("://"), &tls) {
            (true, _) => ep.to_string(),
            (false, Some(_)) => format!("https://{ep}"),
            (false, None) => format!("http://{ep}"),
        };
        if !url.starts_with("https://") {
            // No TLS configuration to build (it would look for the system's
            // roots, which a minimal image does not have).
            return crate::rt::net::dial(&url, timeout).await;
        }
        crate::rt::net::dial_tls(&url, timeout, &tls.unwrap_or_default()).await
    }
}

/// An endpoint as a URL: etcdctl accepts `host:port` and means plain HTTP.
pub(super) fn endpoint_url(ep: &str) -> String {
    if ep.contains("://") {
        ep.to_string()
    } else {
        format!("http://{ep}")
    }
}

fn host_of(ep: &str) -> &str {
    ep.split("://").last().unwrap_or(ep)
}

/// gRPC code names as grpc-go prints them.
fn code_name(c: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match c {
        Ok => "OK",
        Cancelled => "Canceled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// Whether clientv3 maps this message to one of etcd's typed errors (then
/// etcdctl prints just the message).
fn is_etcd_error(desc: &str) -> bool {
    desc.starts_with("etcdserver: ") || desc.starts_with("mvcc: ") || desc.starts_with("auth: ")
}

fn uuid4() -> String {
    #[allow(clippy::disallowed_methods)] // a client-side id, like clientv3's; no server state
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The wall clock for a client-side log line: the UTC date and time
/// `(year, month, day, hour, minute, second)` and the time since the epoch.
pub(super) fn utc_now() -> ((i64, u32, u32, u32, u32, u32), std::time::Duration) {
    #[allow(clippy::disallowed_methods)] // client-side log timestamp, not server logic
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (crate::logging::utc(d.as_secs()), d)
}

pub(super) fn now_rfc3339_ms() -> String {
    let ((y, mo, da, h, mi, s), d) = utc_now();
    format!(
        "{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        d.subsec_millis()
    )
}

/// A warning line as etcdctl's zap logger writes it to stderr, stamped
/// now; `fields` are name and JSON-encoded value.
pub(super) fn zap_warn(caller: &str, msg: &str, fields: &[(&str, String)]) -> String {
    zap_line("warn", &json_str(&now_rfc3339_ms()), caller, msg, fields)
}

/// A zap JSON log line: `ts` already encoded (a quoted time, or Unix
/// seconds), `fields` are name and JSON-encoded value.
pub(super) fn zap_line(
    level: &str,
    ts: &str,
    caller: &str,
    msg: &str,
    fields: &[(&str, String)],
) -> String {
    let mut line =
        format!("{{\"level\":\"{level}\",\"ts\":{ts},\"caller\":\"{caller}\",\"msg\":\"{msg}\"");
    for (name, value) in fields {
        line.push_str(&format!(",\"{name}\":{value}"));
    }
    line.push_str("}\n");
    line
}

/// The pair of lines etcdctl 3.4 prints for a failed RPC of its
/// cluster-wide client (whose gRPC target names a client UUID).
pub(super) fn rpc_failure(ep: &str, st: &tonic::Status) -> Fail {
    rpc_failure_at(
        &format!("endpoint://client-{}/{}", uuid4(), host_of(ep)),
        st,
    )
}

/// As [`rpc_failure`], for a failed RPC of the client etcdctl makes for
/// one endpoint (`endpoint hashkv`), whose target is `passthrough:///ep`.
pub(super) fn rpc_failure_one(ep: &str, st: &tonic::Status) -> Fail {
    rpc_failure_at(&format!("passthrough:///{ep}"), st)
}

/// grpc-go's text for a failed call.
fn rpc_error(st: &tonic::Status) -> String {
    format!(
        "rpc error: code = {} desc = {}",
        code_name(st.code()),
        st.message()
    )
}

/// What etcdctl prints of a failed call: an etcd error's message alone,
/// anything else as grpc-go words it.
pub(super) fn status_text(st: &tonic::Status) -> String {
    if is_etcd_error(st.message()) {
        st.message().to_string()
    } else {
        rpc_error(st)
    }
}

fn rpc_failure_at(target: &str, st: &tonic::Status) -> Fail {
    let full = rpc_error(st);
    let warn = zap_warn(
        "clientv3/retry_interceptor.go:62",
        "retrying of unary invoker failed",
        &[
            ("target", format!("\"{target}\"")),
            ("attempt", "0".into()),
            ("error", json_str(&full)),
        ],
    );
    Fail {
        code: EXIT_ERROR,
        msg: status_text(st),
        warn: Some(warn),
    }
}

/// The first of `--endpoints` that answers within `--dial-timeout`; with
/// `--user`, authenticated there first (the token goes with every request
/// made through [`Ctx::req`]).
pub(super) async fn connect(ctx: &Ctx) -> Result<(Channel, String), Fail> {
    for ep in ctx.endpoints() {
        if let Ok(ch) = ctx.dial(&ep).await {
            let state = &ctx.token.0;
            if let (Some((user, password)), None) = (state.creds.get(), state.token.get()) {
                let token = super::auth::authenticate(ctx, &ch, &ep, user, password).await?;
                if let Some(t) = token {
                    let _ = state.token.set(t);
                }
            }
            return Ok((ch, ep));
        }
    }
    Err(deadline_exceeded())
}

/// What etcdctl says when a dial or an RPC outlasts its timeout.
pub(super) fn deadline_exceeded() -> Fail {
    Fail(EXIT_ERROR, "context deadline exceeded".into())
}

/// clientv3's default `MaxCallSendMsgSize`.
const CLIENT_SEND_BYTES_MAX: usize = 2 * 1024 * 1024;

/// grpc-go refuses to send a message over the client's limit.
pub(super) fn check_send_size(ep: &str, m: &impl Message) -> Result<(), Fail> {
    let len = m.encoded_len();
    if len > CLIENT_SEND_BYTES_MAX {
        let st = tonic::Status::resource_exhausted(format!(
            "trying to send message larger than max ({len} vs. {CLIENT_SEND_BYTES_MAX})"
        ));
        return Err(rpc_failure(ep, &st));
    }
    Ok(())
}

/// Runs an RPC under `--command-timeout`, mapping failures to etcdctl's output.
pub(super) async fn call<T>(
    ctx: &Ctx,
    ep: &str,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Fail> {
    call_as(ctx, ep, f, rpc_failure).await
}

/// As [`call`], with the failure lines of the client that made the call.
pub(super) async fn call_as<T>(
    ctx: &Ctx,
    ep: &str,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    failure: fn(&str, &tonic::Status) -> Fail,
) -> Result<T, Fail> {
    match tokio::time::timeout(ctx.timeout("command-timeout"), f).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(st)) => Err(failure(ep, &st)),
        Err(_) => Err(deadline_exceeded()),
    }
}
