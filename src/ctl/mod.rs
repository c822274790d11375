//! `etcdctl` (API v3), behaving like etcdctl 3.4: same commands, flags,
//! `ETCDCTL_*` variables, output formats, error texts and exit codes.

pub mod flags;
pub mod print;
mod resolve;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::time::Duration;

use prost::Message;
use tonic::transport::Channel;

use self::flags::{flag, Flag, FlagKind, ParseError, Parsed, GLOBAL_FLAGS};
use self::print::{go_duration, humanize_bytes, table, Fields};
use self::resolve::Resolved;
use crate::pb::etcdserverpb::{
    cluster_client::ClusterClient, compare, kv_client::KvClient,
    maintenance_client::MaintenanceClient, range_request, request_op, response_op, AlarmRequest,
    CompactionRequest, Compare, DeleteRangeRequest, DeleteRangeResponse, HashKvRequest,
    MemberListRequest, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    StatusRequest, TxnRequest, TxnResponse,
};

pub const CTL_VERSION: &str = "3.4.23";

const EXIT_ERROR: i32 = 1;
const EXIT_INVALID_INPUT: i32 = 3;
const EXIT_BAD_FEATURE: i32 = 4;
const EXIT_BAD_ARGS: i32 = 128;

/// A command's outcome: what to print and the exit code.
#[derive(Default)]
pub struct Output {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub code: i32,
    /// Write prompts to the real stdout at once (the binary sets it: a
    /// user at a terminal must see `txn -i`'s prompts before typing).
    pub live: bool,
}

impl Output {
    fn out(&mut self, s: impl AsRef<[u8]>) {
        self.stdout.extend_from_slice(s.as_ref());
    }
    /// A prompt: printed now when live, else kept in order with the output.
    fn prompt(&mut self, s: &str) {
        if self.live {
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(self.stdout.as_slice());
            self.stdout.clear();
            let _ = stdout.write_all(s.as_bytes());
            let _ = stdout.flush();
        } else {
            self.out(s);
        }
    }
    fn err(&mut self, s: impl AsRef<str>) {
        self.stderr.extend_from_slice(s.as_ref().as_bytes());
    }
    fn fail(&mut self, code: i32, msg: impl std::fmt::Display) {
        self.err(format!("Error: {msg}\n"));
        self.code = code;
    }
}

/// Failure inside a command: exit code, message, and the clientv3 warning
/// line that precedes the message for failed RPCs.
struct Fail {
    code: i32,
    msg: String,
    warn: Option<String>,
}

#[allow(non_snake_case)]
fn Fail(code: i32, msg: String) -> Fail {
    Fail {
        code,
        msg,
        warn: None,
    }
}

type CmdResult = Result<(), Fail>;

fn bad_args(msg: impl Into<String>) -> Fail {
    Fail(EXIT_BAD_ARGS, msg.into())
}

struct Command {
    path: &'static str,
    short: &'static str,
    use_line: &'static str,
    description: Option<&'static str>,
    flags: &'static [Flag],
    help_for: &'static str,
}

const GET_FLAGS: &[Flag] = &[
    flag(
        "consistency",
        None,
        FlagKind::Str,
        "l",
        "Linearizable(l) or Serializable(s)",
    ),
    flag(
        "from-key",
        None,
        FlagKind::Bool,
        "false",
        "Get keys that are greater than or equal to the given key using byte compare",
    ),
    flag(
        "keys-only",
        None,
        FlagKind::Bool,
        "false",
        "Get only the keys",
    ),
    flag(
        "limit",
        None,
        FlagKind::Int,
        "0",
        "Maximum number of results",
    ),
    flag(
        "order",
        None,
        FlagKind::Str,
        "",
        "Order of results; ASCEND or DESCEND (ASCEND by default)",
    ),
    flag(
        "prefix",
        None,
        FlagKind::Bool,
        "false",
        "Get keys with matching prefix",
    ),
    flag(
        "print-value-only",
        None,
        FlagKind::Bool,
        "false",
        "Only write values when using the \"simple\" output format",
    ),
    flag("rev", None, FlagKind::Int, "0", "Specify the kv revision"),
    flag(
        "sort-by",
        None,
        FlagKind::Str,
        "",
        "Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION",
    ),
];
const PUT_FLAGS: &[Flag] = &[
    flag(
        "ignore-lease",
        None,
        FlagKind::Bool,
        "false",
        "updates the key using its current lease",
    ),
    flag(
        "ignore-value",
        None,
        FlagKind::Bool,
        "false",
        "updates the key using its current value",
    ),
    flag(
        "lease",
        None,
        FlagKind::Str,
        "0",
        "lease ID (in hexadecimal) to attach to the key",
    ),
    flag(
        "prev-kv",
        None,
        FlagKind::Bool,
        "false",
        "return the previous key-value pair before modification",
    ),
];
const DEL_FLAGS: &[Flag] = &[
    flag(
        "from-key",
        None,
        FlagKind::Bool,
        "false",
        "delete keys that are greater than or equal to the given key using byte compare",
    ),
    flag(
        "prefix",
        None,
        FlagKind::Bool,
        "false",
        "delete keys with matching prefix",
    ),
    flag(
        "prev-kv",
        None,
        FlagKind::Bool,
        "false",
        "return deleted key-value pairs",
    ),
];
const TXN_FLAGS: &[Flag] = &[flag(
    "interactive",
    Some('i'),
    FlagKind::Bool,
    "false",
    "Input transaction in interactive mode",
)];
const COMPACTION_FLAGS: &[Flag] = &[flag(
    "physical",
    None,
    FlagKind::Bool,
    "false",
    "'true' to wait for compaction to physically remove all old revisions",
)];
const CLUSTER_FLAG: Flag = flag(
    "cluster",
    None,
    FlagKind::Bool,
    "false",
    "use all endpoints from the cluster member list",
);

const ENDPOINT_FLAGS: &[Flag] = &[CLUSTER_FLAG];

const HASHKV_FLAGS: &[Flag] = &[
    CLUSTER_FLAG,
    flag(
        "rev",
        None,
        FlagKind::Int,
        "0",
        "maximum revision to hash (default: all revisions)",
    ),
];

const MEMBER_ADD_FLAGS: &[Flag] = &[
    flag(
        "learner",
        None,
        FlagKind::Bool,
        "false",
        "indicates if the new member is raft learner",
    ),
    flag(
        "peer-urls",
        None,
        FlagKind::Str,
        "",
        "comma separated peer URLs for the new member.",
    ),
];

const MEMBER_UPDATE_FLAGS: &[Flag] = &[flag(
    "peer-urls",
    None,
    FlagKind::Str,
    "",
    "comma separated peer URLs for the updated member.",
)];

const PUT_DESCRIPTION: &str = "Puts the given key into the store.

When <value> begins with '-', <value> is interpreted as a flag.
Insert '--' for workaround:

$ put <key> -- <value>
$ put -- <key> <value>

If <value> isn't given as a command line argument and '--ignore-value' is not specified,
this command tries to read the value from standard input.

If <lease> isn't given as a command line argument and '--ignore-lease' is not specified,
this command tries to read the value from standard input.

For example,
$ cat file | put <key>
will store the content of the file to <key>.
";

const COMMANDS: &[Command] = &[
    Command { path: "get", short: "Gets the key or a range of keys", use_line: "etcdctl get [options] <key> [range_end] [flags]", description: None, flags: GET_FLAGS, help_for: "get" },
    Command { path: "put", short: "Puts the given key into the store", use_line: "etcdctl put [options] <key> <value> (<value> can also be given from stdin) [flags]", description: Some(PUT_DESCRIPTION), flags: PUT_FLAGS, help_for: "put" },
    Command { path: "del", short: "Removes the specified key or range of keys [key, range_end)", use_line: "etcdctl del [options] <key> [range_end] [flags]", description: None, flags: DEL_FLAGS, help_for: "del" },
    Command { path: "txn", short: "Txn processes all the requests in one transaction", use_line: "etcdctl txn [options] [flags]", description: None, flags: TXN_FLAGS, help_for: "txn" },
    Command { path: "compaction", short: "Compacts the event history in etcd", use_line: "etcdctl compaction [options] <revision> [flags]", description: None, flags: COMPACTION_FLAGS, help_for: "compaction" },
    Command { path: "version", short: "Prints the version of etcdctl", use_line: "etcdctl version [flags]", description: None, flags: &[], help_for: "version" },
    Command { path: "move-leader", short: "Transfers leadership to another etcd cluster member.", use_line: "etcdctl move-leader <transferee-member-id> [flags]", description: None, flags: &[], help_for: "move-leader" },
    Command { path: "member add", short: "Adds a member into the cluster", use_line: "etcdctl member add <memberName> [options] [flags]", description: None, flags: MEMBER_ADD_FLAGS, help_for: "add" },
    Command { path: "member remove", short: "Removes a member from the cluster", use_line: "etcdctl member remove <memberID> [flags]", description: None, flags: &[], help_for: "remove" },
    Command { path: "member update", short: "Updates a member in the cluster", use_line: "etcdctl member update <memberID> [options] [flags]", description: None, flags: MEMBER_UPDATE_FLAGS, help_for: "update" },
    Command { path: "member promote", short: "Promotes a non-voting member in the cluster", use_line: "etcdctl member promote <memberID> [flags]", description: Some("Promotes a non-voting learner member to a voting one in the cluster.\n"), flags: &[], help_for: "promote" },
    Command { path: "member list", short: "Lists all members in the cluster", use_line: "etcdctl member list [flags]", description: Some("When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\nThe items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.\n"), flags: &[], help_for: "list" },
    Command { path: "endpoint health", short: "Checks the healthiness of endpoints specified in `--endpoints` flag", use_line: "etcdctl endpoint health [flags]", description: None, flags: ENDPOINT_FLAGS, help_for: "health" },
    Command { path: "endpoint hashkv", short: "Prints the KV history hash for each endpoint in --endpoints", use_line: "etcdctl endpoint hashkv [flags]", description: None, flags: HASHKV_FLAGS, help_for: "hashkv" },
    Command { path: "endpoint status", short: "Prints out the status of endpoints specified in `--endpoints` flag", use_line: "etcdctl endpoint status [flags]", description: Some("When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.\n"), flags: ENDPOINT_FLAGS, help_for: "status" },
];

/// Runs etcdctl with `args` (without the program name), all output kept.
pub async fn run(
    args: Vec<String>,
    env: &BTreeMap<String, String>,
    stdin: &mut dyn BufRead,
) -> Output {
    run_with(Output::default(), args, env, stdin).await
}

/// As [`run`], but prompts go to the real stdout as they are asked.
async fn run_live(
    args: Vec<String>,
    env: &BTreeMap<String, String>,
    stdin: &mut dyn BufRead,
) -> Output {
    let o = Output {
        live: true,
        ..Output::default()
    };
    run_with(o, args, env, stdin).await
}

async fn run_with(
    mut o: Output,
    args: Vec<String>,
    env: &BTreeMap<String, String>,
    stdin: &mut dyn BufRead,
) -> Output {
    let (path, rest) = match resolve::resolve(&args) {
        Resolved::Command(path, rest) => (path, rest),
        Resolved::RootHelp => {
            o.out(root_help());
            return o;
        }
        Resolved::GroupHelp(group) => {
            o.out(group_help(group));
            return o;
        }
        Resolved::Unknown(msg) => {
            // cobra prints the error and the hint, then etcdctl the error again.
            o.err(format!(
                "Error: {msg}\nRun 'etcdctl --help' for usage.\nError: {msg}\n"
            ));
            o.code = EXIT_ERROR;
            return o;
        }
    };
    let Some(cmd) = COMMANDS.iter().find(|c| c.path == path) else {
        o.fail(
            EXIT_ERROR,
            format!("'etcdctl {path}' is not built in oxcd's etcdctl yet"),
        );
        return o;
    };
    let usage = || {
        flags::usage(
            cmd.path,
            cmd.short,
            cmd.use_line,
            cmd.description,
            cmd.flags,
            cmd.help_for,
        )
    };
    let mut p = match flags::parse(&rest, cmd.flags) {
        Ok(p) => p,
        Err(ParseError::Help) => {
            o.out(usage());
            return o;
        }
        Err(ParseError::Flag(e)) => {
            o.out(usage());
            o.err(format!("Error: {e}\n\nError: {e}\n"));
            o.code = EXIT_ERROR;
            return o;
        }
    };
    // ETCDCTL_<FLAG> fills global flags the command line left unset.
    for f in GLOBAL_FLAGS {
        let key = format!("ETCDCTL_{}", f.name.to_ascii_uppercase().replace('-', "_"));
        if let (false, Some(v)) = (p.is_set(f.name), env.get(&key)) {
            p.values.insert(f.name.to_string(), v.clone());
        }
    }
    let ctx = Ctx {
        p,
        flags: cmd.flags,
    };
    if let Some(why) = tls_requested(&ctx) {
        o.fail(EXIT_ERROR, why);
        return o;
    }
    let res = match cmd.path {
        "version" => {
            o.out(format!(
                "etcdctl version: {CTL_VERSION}\nAPI version: 3.4\n"
            ));
            Ok(())
        }
        "get" => get(&ctx, &mut o).await,
        "put" => put(&ctx, &mut o, stdin).await,
        "del" => del(&ctx, &mut o).await,
        "txn" => txn(&ctx, &mut o, stdin).await,
        "compaction" => compaction(&ctx, &mut o).await,
        "member list" => member_list(&ctx, &mut o).await,
        "member add" => member_add(&ctx, &mut o).await,
        "member remove" | "member update" | "member promote" => {
            member_change(&ctx, &mut o, cmd.path).await
        }
        "move-leader" => move_leader(&ctx, &mut o).await,
        "endpoint health" => endpoint_health(&ctx, &mut o).await,
        "endpoint status" => endpoint_status(&ctx, &mut o).await,
        "endpoint hashkv" => endpoint_hashkv(&ctx, &mut o).await,
        _ => unreachable!("listed command"),
    };
    if let Err(f) = res {
        if let Some(w) = f.warn {
            o.err(w);
        }
        o.fail(f.code, f.msg);
    }
    o
}

/// A command group's help (`etcdctl member`), as cobra renders it.
fn group_help(group: &str) -> String {
    let (_, short, subs) = resolve::GROUPS
        .iter()
        .find(|(g, _, _)| *g == group)
        .expect("a listed group");
    let commands: Vec<(&str, &str)> = subs
        .iter()
        .map(|s| {
            let path = format!("{group} {s}");
            let c = COMMANDS
                .iter()
                .find(|c| c.path == path)
                .expect("every listed subcommand is built");
            (*s, c.short)
        })
        .collect();
    // The group's own flags are those all its subcommands share.
    let own = match group {
        "endpoint" => ENDPOINT_FLAGS,
        _ => &[],
    };
    flags::group_usage(group, short, &commands, own)
}

/// Until TLS is built, a request for it is refused rather than served in
/// plain text (etcdctl 3.4 would speak TLS, or fail to).
fn tls_requested(ctx: &Ctx) -> Option<String> {
    let refuse = |what: &str| {
        Some(format!(
            "{what}: TLS is not built in oxcd's etcdctl yet; refusing to connect in plain text"
        ))
    };
    if let Some(ep) = ctx
        .endpoints()
        .into_iter()
        .find(|e| e.starts_with("https://") || e.starts_with("unixs://"))
    {
        return refuse(&format!("--endpoints={ep}"));
    }
    for name in ["cacert", "cert", "key"] {
        if !ctx.get(name).is_empty() {
            return refuse(&format!("--{name}"));
        }
    }
    if !ctx.bool("insecure-transport") {
        return refuse("--insecure-transport=false");
    }
    None
}

fn root_help() -> String {
    let mut s = String::from("NAME:\n\tetcdctl - A simple command line client for etcd3.\n\nUSAGE:\n\tetcdctl [flags]\n\nVERSION:\n\t3.4.23\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n");
    for c in COMMANDS {
        s.push_str(&format!("\t{}\t{}\n", c.path, c.short));
    }
    flags::tabwrite(&s)
}

struct Ctx {
    p: Parsed,
    flags: &'static [Flag],
}

impl Ctx {
    fn get(&self, name: &str) -> &str {
        self.p.get(name, self.flags)
    }
    fn bool(&self, name: &str) -> bool {
        self.p.bool(name, self.flags)
    }
    fn args(&self) -> &[String] {
        &self.p.args
    }
    /// The same command context, aimed at one endpoint.
    fn with_endpoint(&self, ep: &str) -> Ctx {
        let mut values = self.p.values.clone();
        values.insert("endpoints".to_string(), ep.to_string());
        Ctx {
            p: Parsed {
                values,
                args: vec![],
            },
            flags: self.flags,
        }
    }

    fn format(&self) -> &str {
        self.get("write-out")
    }
    fn endpoints(&self) -> Vec<String> {
        self.get("endpoints")
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|e| e.trim().to_string())
            .filter(|e| !e.is_empty())
            .collect()
    }
    fn timeout(&self, name: &str) -> Duration {
        parse_go_duration(self.get(name)).unwrap_or(Duration::from_secs(5))
    }
}

fn parse_go_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_alphabetic() || c == 'µ')?);
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

fn endpoint_url(ep: &str) -> String {
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

fn now_rfc3339_ms() -> String {
    #[allow(clippy::disallowed_methods)] // client-side log timestamp, not server logic
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (y, mo, da, h, mi, s) = crate::logging::utc(d.as_secs());
    format!(
        "{y:04}-{mo:02}-{da:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
        d.subsec_millis()
    )
}

/// The pair of lines etcdctl 3.4 prints for a failed RPC of its
/// cluster-wide client (whose gRPC target names a client UUID).
fn rpc_failure(ep: &str, st: &tonic::Status) -> Fail {
    rpc_failure_at(
        &format!("endpoint://client-{}/{}", uuid4(), host_of(ep)),
        st,
    )
}

/// As [`rpc_failure`], for a failed RPC of the client etcdctl makes for
/// one endpoint (`endpoint hashkv`), whose target is `passthrough:///ep`.
fn rpc_failure_one(ep: &str, st: &tonic::Status) -> Fail {
    rpc_failure_at(&format!("passthrough:///{ep}"), st)
}

fn rpc_failure_at(target: &str, st: &tonic::Status) -> Fail {
    let full = format!(
        "rpc error: code = {} desc = {}",
        code_name(st.code()),
        st.message()
    );
    let warn = format!(
        "{{\"level\":\"warn\",\"ts\":\"{}\",\"caller\":\"clientv3/retry_interceptor.go:62\",\"msg\":\"retrying of unary invoker failed\",\"target\":\"{target}\",\"attempt\":0,\"error\":{}}}\n",
        now_rfc3339_ms(),
        print::json_str(&full)
    );
    let msg = if is_etcd_error(st.message()) {
        st.message().to_string()
    } else {
        full
    };
    Fail {
        code: EXIT_ERROR,
        msg,
        warn: Some(warn),
    }
}

async fn connect(ctx: &Ctx) -> Result<(Channel, String), Fail> {
    let dial = ctx.timeout("dial-timeout");
    let mut last = String::new();
    for ep in ctx.endpoints() {
        match crate::rt::net::dial(&endpoint_url(&ep), dial).await {
            Ok(ch) => return Ok((ch, ep)),
            Err(e) => last = e,
        }
    }
    let _ = last;
    Err(Fail(EXIT_ERROR, "context deadline exceeded".into()))
}

/// clientv3's default `MaxCallSendMsgSize`.
const CLIENT_SEND_BYTES_MAX: usize = 2 * 1024 * 1024;

/// grpc-go refuses to send a message over the client's limit.
fn check_send_size(ep: &str, m: &impl Message) -> Result<(), Fail> {
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
async fn call<T>(
    ctx: &Ctx,
    ep: &str,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, Fail> {
    match tokio::time::timeout(ctx.timeout("command-timeout"), f).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(st)) => Err(rpc_failure(ep, &st)),
        Err(_) => Err(Fail(EXIT_ERROR, "context deadline exceeded".into())),
    }
}

/// `[key, key+1)` for a prefix; `\0` ("to the end") when no such end exists.
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            *end.last_mut().expect("non-empty") += 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}

fn parse_int(s: &str) -> Result<i64, String> {
    s.parse::<i64>()
        .map_err(|_| format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))
}

/// etcdctl's `getGetOp`.
fn get_op(ctx: &Ctx, args: &[String]) -> Result<RangeRequest, Fail> {
    if args.is_empty() {
        return Err(bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = (ctx.bool("prefix"), ctx.bool("from-key"));
    if prefix && from_key {
        return Err(bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let mut r = RangeRequest::default();
    match ctx.get("consistency") {
        "l" => {}
        "s" => r.serializable = true,
        c => {
            return Err(Fail(
                EXIT_BAD_FEATURE,
                format!("unknown consistency flag {c:?}"),
            ))
        }
    }
    r.key = args[0].clone().into_bytes();
    if args.len() > 1 {
        if prefix || from_key {
            return Err(bad_args("too many arguments, only accept one argument when `--prefix` or `--from-key` is set."));
        }
        r.range_end = args[1].clone().into_bytes();
    }
    r.limit = parse_int(ctx.get("limit")).map_err(|e| Fail(EXIT_ERROR, e))?;
    let rev = parse_int(ctx.get("rev")).map_err(|e| Fail(EXIT_ERROR, e))?;
    if rev > 0 {
        r.revision = rev;
    }
    use range_request::{SortOrder, SortTarget};
    let mut order = match ctx.get("order") {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        o => return Err(Fail(EXIT_BAD_FEATURE, format!("bad sort order {o}"))),
    };
    let target = match ctx.get("sort-by") {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        t => return Err(Fail(EXIT_BAD_FEATURE, format!("bad sort target {t}"))),
    };
    // clientv3.WithSort: ascending by key is the server's natural order.
    if target == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    r.sort_order = order as i32;
    r.sort_target = target as i32;
    if prefix {
        if r.key.is_empty() {
            r.key = vec![0];
            r.range_end = vec![0];
        } else {
            r.range_end = prefix_end(&r.key);
        }
    }
    if from_key {
        if r.key.is_empty() {
            r.key = vec![0];
        }
        r.range_end = vec![0];
    }
    r.keys_only = ctx.bool("keys-only");
    Ok(r)
}

/// etcdctl's `getPutOp`.
fn put_op(ctx: &Ctx, args: &[String], stdin: Option<&mut dyn BufRead>) -> Result<PutRequest, Fail> {
    const NEEDS: &str = "put command needs 1 argument and input from stdin or 2 arguments";
    if args.is_empty() {
        return Err(bad_args(NEEDS));
    }
    let ignore_value = ctx.bool("ignore-value");
    if ignore_value && args.len() > 1 {
        return Err(bad_args(
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let mut value = Vec::new();
    if !ignore_value {
        if let Some(v) = args.get(1) {
            value = v.clone().into_bytes();
        } else {
            if let Some(stdin) = stdin {
                let _ = stdin.read_to_end(&mut value);
            }
            if value.is_empty() {
                return Err(bad_args(NEEDS));
            }
        }
    }
    let lease_s = ctx.get("lease");
    let lease = i64::from_str_radix(lease_s, 16).map_err(|_| {
        bad_args(format!(
            "bad lease ID (strconv.ParseInt: parsing {lease_s:?}: invalid syntax), expecting ID in Hex"
        ))
    })?;
    Ok(PutRequest {
        key: args[0].clone().into_bytes(),
        value,
        lease,
        prev_kv: ctx.bool("prev-kv"),
        ignore_value,
        ignore_lease: ctx.bool("ignore-lease"),
    })
}

/// etcdctl's `getDelOp`.
fn del_op(ctx: &Ctx, args: &[String]) -> Result<DeleteRangeRequest, Fail> {
    if args.is_empty() || args.len() > 2 {
        return Err(bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = (ctx.bool("prefix"), ctx.bool("from-key"));
    if prefix && from_key {
        return Err(bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let mut r = DeleteRangeRequest {
        key: args[0].clone().into_bytes(),
        ..Default::default()
    };
    if args.len() > 1 {
        if prefix || from_key {
            return Err(bad_args("too many arguments, only accept one argument when `--prefix` or `--from-key` is set"));
        }
        r.range_end = args[1].clone().into_bytes();
    }
    if prefix {
        if r.key.is_empty() {
            r.key = vec![0];
            r.range_end = vec![0];
        } else {
            r.range_end = prefix_end(&r.key);
        }
    }
    r.prev_kv = ctx.bool("prev-kv");
    if from_key {
        if r.key.is_empty() {
            r.key = vec![0];
        }
        r.range_end = vec![0];
    }
    Ok(r)
}

fn hex_bytes(b: &[u8]) -> String {
    b.iter().map(|x| format!("\\x{x:02x}")).collect()
}

fn print_kv(o: &mut Output, hex: bool, value_only: bool, kv: &crate::pb::mvccpb::KeyValue) {
    let (k, v) = if hex {
        (
            hex_bytes(&kv.key).into_bytes(),
            hex_bytes(&kv.value).into_bytes(),
        )
    } else {
        (kv.key.clone(), kv.value.clone())
    };
    if !value_only {
        o.out(&k);
        o.out("\n");
    }
    o.out(&v);
    o.out("\n");
}

fn table_unsupported() -> Fail {
    Fail(
        EXIT_BAD_FEATURE,
        "table not supported as output format".into(),
    )
}

fn check_format(f: &str) -> Result<(), Fail> {
    match f {
        "simple" | "json" | "fields" | "protobuf" | "table" => Ok(()),
        other => Err(Fail(
            EXIT_BAD_FEATURE,
            format!("unknown output format {other:?}"),
        )),
    }
}

/// The formats every KV response shares: json, fields, protobuf, and
/// "table" (which etcdctl refuses for KV commands); anything else is simple.
fn print_response<M: Message>(
    ctx: &Ctx,
    o: &mut Output,
    r: &M,
    json: fn(&M) -> String,
    fields: fn(&mut Fields, &M),
    simple: fn(&Ctx, &mut Output, &M),
) -> CmdResult {
    match ctx.format() {
        "json" => o.out(format!("{}\n", json(r))),
        "fields" => {
            let mut f = Fields(String::new());
            fields(&mut f, r);
            o.out(f.0);
        }
        "protobuf" => o.out(r.encode_to_vec()),
        "table" => return Err(table_unsupported()),
        _ => simple(ctx, o, r),
    }
    Ok(())
}

fn simple_range(ctx: &Ctx, o: &mut Output, r: &RangeResponse) {
    for kv in &r.kvs {
        print_kv(o, ctx.bool("hex"), ctx.bool("print-value-only"), kv);
    }
}

fn simple_put(ctx: &Ctx, o: &mut Output, r: &PutResponse) {
    o.out("OK\n");
    if let Some(p) = &r.prev_kv {
        print_kv(o, ctx.bool("hex"), false, p);
    }
}

fn simple_del(ctx: &Ctx, o: &mut Output, r: &DeleteRangeResponse) {
    o.out(format!("{}\n", r.deleted));
    for kv in &r.prev_kvs {
        print_kv(o, ctx.bool("hex"), false, kv);
    }
}

fn simple_txn(ctx: &Ctx, o: &mut Output, r: &TxnResponse) {
    o.out(if r.succeeded {
        "SUCCESS\n"
    } else {
        "FAILURE\n"
    });
    for op in &r.responses {
        o.out("\n");
        match &op.response {
            Some(response_op::Response::ResponseRange(x)) => simple_range(ctx, o, x),
            Some(response_op::Response::ResponsePut(x)) => simple_put(ctx, o, x),
            Some(response_op::Response::ResponseDeleteRange(x)) => simple_del(ctx, o, x),
            _ => o.out(format!("unexpected response {op:?}\n")),
        }
    }
}

fn print_range(ctx: &Ctx, o: &mut Output, r: &RangeResponse) -> CmdResult {
    print_response(ctx, o, r, print::range_json, Fields::range, simple_range)
}

fn print_put(ctx: &Ctx, o: &mut Output, r: &PutResponse) -> CmdResult {
    print_response(ctx, o, r, print::put_json, Fields::put, simple_put)
}

fn print_del(ctx: &Ctx, o: &mut Output, r: &DeleteRangeResponse) -> CmdResult {
    print_response(ctx, o, r, print::del_json, Fields::del, simple_del)
}

fn print_txn(ctx: &Ctx, o: &mut Output, r: &TxnResponse) -> CmdResult {
    print_response(ctx, o, r, print::txn_json, Fields::txn, simple_txn)
}

async fn get(ctx: &Ctx, o: &mut Output) -> CmdResult {
    check_format(ctx.format())?;
    let req = get_op(ctx, ctx.args())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(ctx, &ep, KvClient::new(ch).range(req)).await?;
    print_range(ctx, o, &resp)
}

async fn put(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    check_format(ctx.format())?;
    let req = put_op(ctx, ctx.args(), Some(stdin))?;
    let (ch, ep) = connect(ctx).await?;
    check_send_size(&ep, &req)?;
    let resp = call(ctx, &ep, KvClient::new(ch).put(req)).await?;
    print_put(ctx, o, &resp)
}

async fn del(ctx: &Ctx, o: &mut Output) -> CmdResult {
    check_format(ctx.format())?;
    let req = del_op(ctx, ctx.args())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(ctx, &ep, KvClient::new(ch).delete_range(req)).await?;
    print_del(ctx, o, &resp)
}

async fn compaction(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args("compaction command needs 1 argument"));
    }
    let rev = parse_int(&ctx.args()[0]).map_err(|e| Fail(EXIT_ERROR, e))?;
    let (ch, ep) = connect(ctx).await?;
    let req = CompactionRequest {
        revision: rev,
        physical: ctx.bool("physical"),
    };
    call(ctx, &ep, KvClient::new(ch).compact(req)).await?;
    o.out(format!("compacted revision {rev}\n"));
    Ok(())
}

/// Splits a line into words, honouring double quotes (etcdctl's `Argify`).
fn argify(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quote = false;
    let mut has = false;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quote => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '"' => {
                in_quote = !in_quote;
                has = true;
            }
            c if c.is_whitespace() && !in_quote => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            c => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Scans a Go `%q` string at the start of `s`; returns it and the rest.
fn scan_quoted(s: &str) -> Option<(String, &str)> {
    let s = s.trim_start();
    let rest = s.strip_prefix('"')?;
    let mut out = String::new();
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &rest[i + 1..])),
            '\\' => {
                let (_, n) = chars.next()?;
                out.push(match n {
                    'n' => '\n',
                    't' => '\t',
                    other => other,
                });
            }
            c => out.push(c),
        }
    }
    None
}

/// etcdctl's `parseCompare`: `target("key") op "value"`.
fn parse_compare(line: &str) -> Result<Compare, Fail> {
    let bad = |why: String| Fail(EXIT_INVALID_INPUT, why);
    let Some((target, rest)) = line.split_once('(') else {
        return Err(bad(format!("malformed comparison: {line}")));
    };
    let parsed = (|| {
        let (key, rest) = scan_quoted(rest)?;
        let rest = rest.strip_prefix(')')?;
        let rest = rest.trim_start();
        let op_end = rest.find(char::is_whitespace)?;
        let (op, rest) = rest.split_at(op_end);
        let (val, _) = scan_quoted(rest)?;
        Some((key, op.to_string(), val))
    })();
    let Some((key, op, val)) = parsed else {
        return Err(bad(format!("malformed comparison: {line}")));
    };
    use compare::{CompareResult, CompareTarget, TargetUnion};
    let result = match op.as_str() {
        "=" | "==" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        ">" => CompareResult::Greater,
        "<" => CompareResult::Less,
        _ => {
            return Err(bad(format!(
                "malformed comparison: {line} (unknown op {op})"
            )))
        }
    };
    let int = || {
        val.parse::<i64>().map_err(|_| {
            bad(format!(
                "malformed comparison: {line} (strconv.ParseInt: parsing {val:?}: invalid syntax)"
            ))
        })
    };
    let (t, u) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(int()?)),
        "c" | "create" => (CompareTarget::Create, TargetUnion::CreateRevision(int()?)),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(int()?)),
        "val" | "value" => (
            CompareTarget::Value,
            TargetUnion::Value(val.clone().into_bytes()),
        ),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(int()?)),
        _ => {
            return Err(bad(format!(
                "malformed comparison: {line} (unknown target {target})"
            )))
        }
    };
    Ok(Compare {
        result: result as i32,
        target: t as i32,
        key: key.into_bytes(),
        target_union: Some(u),
        range_end: vec![],
    })
}

type OpBuilder = fn(&Ctx) -> Result<request_op::Request, Fail>;

/// etcdctl's `parseRequestUnion`: a `get`/`put`/`del` command line.
fn parse_request(line: &str) -> Result<RequestOp, Fail> {
    let args = argify(line);
    let invalid = || Fail(EXIT_INVALID_INPUT, format!("invalid txn request: {line}"));
    if args.len() < 2 {
        return Err(Fail(
            EXIT_INVALID_INPUT,
            format!("invalid txn compare request: {line}"),
        ));
    }
    let (flags, build): (&'static [Flag], OpBuilder) = match args[0].as_str() {
        "get" => (GET_FLAGS, |c| {
            get_op(c, c.args()).map(request_op::Request::RequestRange)
        }),
        "put" => (PUT_FLAGS, |c| {
            put_op(c, c.args(), None).map(request_op::Request::RequestPut)
        }),
        "del" | "delete" => (DEL_FLAGS, |c| {
            del_op(c, c.args()).map(request_op::Request::RequestDeleteRange)
        }),
        _ => return Err(invalid()),
    };
    let p = flags::parse(&args[1..], flags).map_err(|_| invalid())?;
    let ctx = Ctx { p, flags };
    let req = build(&ctx)?;
    Ok(RequestOp { request: Some(req) })
}

/// Reads lines up to a blank one; end of input first is `EOF`.
fn read_section(stdin: &mut dyn BufRead) -> Result<Vec<String>, Fail> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let n = stdin
            .read_line(&mut line)
            .map_err(|e| Fail(EXIT_INVALID_INPUT, e.to_string()))?;
        if n == 0 {
            return Err(Fail(EXIT_INVALID_INPUT, "EOF".into()));
        }
        let line = line.trim_end_matches('\n').trim_end_matches('\r');
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line.to_string());
    }
}

async fn txn(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args("txn command does not accept argument"));
    }
    check_format(ctx.format())?;
    let interactive = ctx.bool("interactive");
    let mut req = TxnRequest::default();
    if interactive {
        o.prompt("compares:\n");
    }
    for l in read_section(stdin)? {
        req.compare.push(parse_compare(&l)?);
    }
    if interactive {
        o.prompt("success requests (get, put, del):\n");
    }
    for l in read_section(stdin)? {
        req.success.push(parse_request(&l)?);
    }
    if interactive {
        o.prompt("failure requests (get, put, del):\n");
    }
    for l in read_section(stdin)? {
        req.failure.push(parse_request(&l)?);
    }
    let (ch, ep) = connect(ctx).await?;
    check_send_size(&ep, &req)?;
    let resp = call(ctx, &ep, KvClient::new(ch).txn(req)).await?;
    print_txn(ctx, o, &resp)
}

/// etcdctl's `move-leader`: find the leader among `--endpoints`, ask it to
/// hand over to the target.
async fn move_leader(ctx: &Ctx, o: &mut Output) -> CmdResult {
    use crate::pb::etcdserverpb::MoveLeaderRequest;
    if ctx.args().len() != 1 {
        return Err(bad_args("move-leader command needs 1 argument"));
    }
    let raw = &ctx.args()[0];
    let target = u64::from_str_radix(raw, 16).map_err(|_| {
        bad_args(format!(
            "failed to parse member ID (strconv.ParseUint: parsing {raw:?}: invalid syntax)"
        ))
    })?;
    let eps = ctx.endpoints();
    for ep in &eps {
        let one = ctx.with_endpoint(ep);
        let (ch, ep) = connect(&one).await?;
        let st = call(
            &one,
            &ep,
            MaintenanceClient::new(ch.clone()).status(StatusRequest {}),
        )
        .await?;
        let me = st.header.as_ref().map_or(0, |h| h.member_id);
        if me != st.leader {
            continue;
        }
        let req = MoveLeaderRequest { target_id: target };
        call(&one, &ep, MaintenanceClient::new(ch).move_leader(req)).await?;
        o.out(format!(
            "Leadership transferred from {me:x} to {target:x}\n"
        ));
        return Ok(());
    }
    Err(bad_args(format!(
        "no leader endpoint given at [{}]",
        eps.join(" ")
    )))
}

/// A member ID argument: hex, as etcdctl prints it.
fn member_id_arg(ctx: &Ctx) -> Result<u64, Fail> {
    if ctx.args().len() != 1 {
        return Err(bad_args("member ID is not provided"));
    }
    let raw = &ctx.args()[0];
    u64::from_str_radix(raw, 16).map_err(|_| {
        bad_args(format!(
            "bad member ID arg (strconv.ParseUint: parsing {raw:?}: invalid syntax), expecting ID in Hex"
        ))
    })
}

/// `--peer-urls`, split and checked like Go's `url.Parse` would reject them.
fn peer_urls_arg(ctx: &Ctx) -> Result<Vec<String>, Fail> {
    let raw = ctx.get("peer-urls");
    if raw.is_empty() {
        return Err(bad_args("member peer urls not provided"));
    }
    let urls: Vec<String> = raw.split(',').map(str::to_string).collect();
    for u in &urls {
        if !u.contains("://") {
            let first = u.split('/').next().unwrap_or_default();
            if first.contains(':') {
                return Err(Fail(
                    EXIT_ERROR,
                    format!("parse {u:?}: first path segment in URL cannot contain colon"),
                ));
            }
        }
    }
    Ok(urls)
}

/// The JSON etcdctl prints for a membership response.
fn members_json(
    header: &Option<crate::pb::etcdserverpb::ResponseHeader>,
    member: Option<&crate::pb::etcdserverpb::Member>,
    members: &[crate::pb::etcdserverpb::Member],
) -> String {
    let mut obj = print::Obj::default().opt("header", print::header_json(header));
    if let Some(m) = member {
        obj = obj.raw("member", print::member_json(m));
    }
    format!(
        "{}\n",
        obj.list("members", members.iter().map(print::member_json).collect())
            .done()
    )
}

/// etcdctl's `member add <name> --peer-urls=… [--learner]`.
async fn member_add(ctx: &Ctx, o: &mut Output) -> CmdResult {
    use crate::pb::etcdserverpb::MemberAddRequest;
    check_format(ctx.format())?;
    let args = ctx.args();
    if args.is_empty() {
        return Err(bad_args("member name not provided"));
    }
    if args.len() > 1 {
        let mut ev = String::from("too many arguments");
        for a in args {
            if a.to_ascii_lowercase().starts_with("http") {
                ev.push_str(&format!(", did you mean --peer-urls={a}"));
            }
        }
        return Err(bad_args(ev));
    }
    let name = args[0].clone();
    let peer_urls = peer_urls_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberAddRequest {
        peer_ur_ls: peer_urls.clone(),
        is_learner: ctx.bool("learner"),
    };
    let resp = call(ctx, &ep, ClusterClient::new(ch.clone()).member_add(req)).await?;
    let cluster = resp.header.as_ref().map_or(0, |h| h.cluster_id);
    let new_id = resp.member.as_ref().map_or(0, |m| m.id);
    match ctx.format() {
        "json" => o.out(members_json(
            &resp.header,
            resp.member.as_ref(),
            &resp.members,
        )),
        "protobuf" => o.out(resp.encode_to_vec()),
        "fields" | "table" => {
            return Err(Fail(
                EXIT_BAD_FEATURE,
                format!("{} not supported as output format", ctx.format()),
            ))
        }
        _ => {
            o.out(format!(
                "Member {new_id:16x} added to cluster {cluster:16x}\n"
            ));
            // Like etcdctl, print the new member's environment from a
            // fresh member list.
            let list = fetch_member_list(ctx, ch, &ep).await?;
            let mut conf = Vec::new();
            for m in &list.members {
                let n = if m.id == new_id { &name } else { &m.name };
                for u in &m.peer_ur_ls {
                    conf.push(format!("{n}={u}"));
                }
            }
            o.out(format!(
                "\nETCD_NAME={}\nETCD_INITIAL_CLUSTER={}\nETCD_INITIAL_ADVERTISE_PEER_URLS={}\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
                print::go_quote(name.as_bytes()),
                print::go_quote(conf.join(",").as_bytes()),
                print::go_quote(peer_urls.join(",").as_bytes()),
            ));
        }
    }
    Ok(())
}

/// etcdctl's `member remove|update|promote <id>`.
async fn member_change(ctx: &Ctx, o: &mut Output, path: &str) -> CmdResult {
    use crate::pb::etcdserverpb::{MemberPromoteRequest, MemberRemoveRequest, MemberUpdateRequest};
    check_format(ctx.format())?;
    let id = member_id_arg(ctx)?;
    let peer_urls = if path == "member update" {
        peer_urls_arg(ctx)?
    } else {
        vec![]
    };
    let (ch, ep) = connect(ctx).await?;
    let mut c = ClusterClient::new(ch);
    let (header, members, verb, encoded) = match path {
        "member remove" => {
            let r = call(ctx, &ep, c.member_remove(MemberRemoveRequest { id })).await?;
            let b = r.encode_to_vec();
            (r.header, r.members, "removed from", b)
        }
        "member update" => {
            let req = MemberUpdateRequest {
                id,
                peer_ur_ls: peer_urls,
            };
            let r = call(ctx, &ep, c.member_update(req)).await?;
            let b = r.encode_to_vec();
            (r.header, r.members, "updated in", b)
        }
        _ => {
            let r = call(ctx, &ep, c.member_promote(MemberPromoteRequest { id })).await?;
            let b = r.encode_to_vec();
            (r.header, r.members, "promoted in", b)
        }
    };
    let cluster = header.as_ref().map_or(0, |h| h.cluster_id);
    match ctx.format() {
        "json" => o.out(members_json(&header, None, &members)),
        "protobuf" => o.out(encoded),
        // etcdctl 3.4 has no printer for these (the change is made first).
        "fields" | "table" => {
            return Err(Fail(
                EXIT_BAD_FEATURE,
                format!("{} not supported as output format", ctx.format()),
            ))
        }
        _ => o.out(format!("Member {id:16x} {verb} cluster {cluster:16x}\n")),
    }
    Ok(())
}

/// The cluster's member list, as `member list` asks for it.
async fn fetch_member_list(
    ctx: &Ctx,
    ch: Channel,
    ep: &str,
) -> Result<crate::pb::etcdserverpb::MemberListResponse, Fail> {
    let req = MemberListRequest {
        linearizable: false,
    };
    call(ctx, ep, ClusterClient::new(ch).member_list(req)).await
}

async fn member_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    check_format(ctx.format())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = fetch_member_list(ctx, ch, &ep).await?;
    let status = |m: &crate::pb::etcdserverpb::Member| {
        if m.name.is_empty() {
            "unstarted"
        } else {
            "started"
        }
    };
    match ctx.format() {
        "json" => o.out(format!(
            "{}\n",
            print::Obj::default()
                .opt("header", print::header_json(&resp.header))
                .list(
                    "members",
                    resp.members.iter().map(print::member_json).collect()
                )
                .done()
        )),
        "fields" => {
            let mut f = Fields(String::new());
            f.header(&resp.header);
            for m in &resp.members {
                f.line("ID", m.id);
                f.line("Name", print::go_quote(m.name.as_bytes()));
                for u in &m.peer_ur_ls {
                    f.line("PeerURL", print::go_quote(u.as_bytes()));
                }
                for u in &m.client_ur_ls {
                    f.line("ClientURL", print::go_quote(u.as_bytes()));
                }
                f.line("IsLearner", m.is_learner);
                f.0.push('\n');
            }
            o.out(f.0);
        }
        "protobuf" => o.out(resp.encode_to_vec()),
        "table" => {
            let rows: Vec<Vec<String>> = resp
                .members
                .iter()
                .map(|m| {
                    vec![
                        format!("{:x}", m.id),
                        status(m).to_string(),
                        m.name.clone(),
                        m.peer_ur_ls.join(","),
                        m.client_ur_ls.join(","),
                        m.is_learner.to_string(),
                    ]
                })
                .collect();
            o.out(table(
                &[
                    "ID",
                    "STATUS",
                    "NAME",
                    "PEER ADDRS",
                    "CLIENT ADDRS",
                    "IS LEARNER",
                ],
                &rows,
            ));
        }
        _ => {
            for m in &resp.members {
                o.out(format!(
                    "{:x}, {}, {}, {}, {}, {}\n",
                    m.id,
                    status(m),
                    m.name,
                    m.peer_ur_ls.join(","),
                    m.client_ur_ls.join(","),
                    m.is_learner
                ));
            }
        }
    }
    Ok(())
}

/// The endpoints an `endpoint` command visits: `--endpoints`, or with
/// `--cluster` every client URL in the member list.
async fn endpoint_targets(ctx: &Ctx) -> Result<Vec<String>, Fail> {
    if !ctx.bool("cluster") {
        return Ok(ctx.endpoints());
    }
    let (ch, ep) = connect(ctx).await?;
    let resp = fetch_member_list(ctx, ch, &ep).await?;
    Ok(resp
        .members
        .iter()
        .flat_map(|m| m.client_ur_ls.iter().cloned())
        .collect())
}

async fn endpoint_health(ctx: &Ctx, o: &mut Output) -> CmdResult {
    check_format(ctx.format())?;
    let mut rows = Vec::new();
    let mut all_ok = true;
    for ep in endpoint_targets(ctx).await? {
        let url = endpoint_url(&ep);
        #[allow(clippy::disallowed_methods)] // measures the client's round trip
        let start = std::time::Instant::now();
        let res: Result<(), String> = async {
            let ch = crate::rt::net::dial(&url, ctx.timeout("dial-timeout"))
                .await
                .map_err(|_| "context deadline exceeded".to_string())?;
            let get = RangeRequest {
                key: b"health".to_vec(),
                ..Default::default()
            };
            let t = ctx.timeout("command-timeout");
            match tokio::time::timeout(t, KvClient::new(ch.clone()).range(get)).await {
                Ok(Ok(_)) => {}
                Ok(Err(st)) if st.message() == "etcdserver: permission denied" => {}
                Ok(Err(st)) => return Err(st.message().to_string()),
                Err(_) => return Err("context deadline exceeded".into()),
            }
            let alarms = MaintenanceClient::new(ch)
                .alarm(AlarmRequest::default())
                .await;
            if let Ok(a) = alarms {
                if !a.get_ref().alarms.is_empty() {
                    return Err("Active Alarm(s): NOSPACE".into());
                }
            }
            Ok(())
        }
        .await;
        let took = go_duration(start.elapsed());
        all_ok &= res.is_ok();
        rows.push((url, res, took));
    }
    match ctx.format() {
        "json" => {
            let items: Vec<String> = rows
                .iter()
                .map(|(ep, res, took)| {
                    print::Obj::default()
                        .string("endpoint", ep)
                        .boolean("health", res.is_ok())
                        .string("took", took)
                        .string(
                            "error",
                            res.as_ref().err().map(String::as_str).unwrap_or(""),
                        )
                        .done()
                })
                .collect();
            o.out(format!("[{}]\n", items.join(",")));
        }
        "table" => {
            let t: Vec<Vec<String>> = rows
                .iter()
                .map(|(ep, res, took)| {
                    vec![
                        ep.clone(),
                        res.is_ok().to_string(),
                        took.clone(),
                        res.as_ref().err().cloned().unwrap_or_default(),
                    ]
                })
                .collect();
            o.out(table(&["ENDPOINT", "HEALTH", "TOOK", "ERROR"], &t));
        }
        _ => {
            for (ep, res, took) in &rows {
                match res {
                    Ok(()) => o.err(format!(
                        "{ep} is healthy: successfully committed proposal: took = {took}\n"
                    )),
                    Err(e) => o.err(format!(
                        "{ep} is unhealthy: failed to commit proposal: {e}\n"
                    )),
                }
            }
        }
    }
    if !all_ok {
        return Err(Fail(EXIT_ERROR, "unhealthy cluster".into()));
    }
    Ok(())
}

async fn endpoint_status(ctx: &Ctx, o: &mut Output) -> CmdResult {
    check_format(ctx.format())?;
    let targets = endpoint_targets(ctx).await?;
    let mut rows = Vec::new();
    for ep in &targets {
        let url = endpoint_url(ep);
        let one = ctx.with_endpoint(ep);
        let st = async {
            let (ch, ep) = connect(&one).await?;
            call(
                &one,
                &ep,
                MaintenanceClient::new(ch).status(StatusRequest {}),
            )
            .await
        }
        .await;
        match st {
            Ok(s) => rows.push((url, s)),
            Err(Fail { msg, .. }) => {
                o.err(format!(
                    "{{\"level\":\"warn\",\"ts\":\"{}\",\"caller\":\"command/ep_command.go:198\",\"msg\":\"failed to get the status of endpoint\",\"endpoint\":{},\"error\":{}}}\n",
                    now_rfc3339_ms(),
                    print::json_str(&url),
                    print::json_str(&msg)
                ));
            }
        }
    }
    match ctx.format() {
        "json" => {
            let items: Vec<String> = rows
                .iter()
                .map(|(ep, s)| {
                    format!(
                        "{{\"Endpoint\":{},\"Status\":{}}}",
                        print::json_str(ep),
                        print::status_json(s)
                    )
                })
                .collect();
            o.out(format!("[{}]\n", items.join(",")));
        }
        "fields" => {
            let mut f = Fields(String::new());
            for (ep, s) in &rows {
                f.header(&s.header);
                f.line("Version", print::go_quote(s.version.as_bytes()));
                f.line("DBSize", s.db_size);
                f.line("Leader", s.leader);
                f.line("IsLearner", s.is_learner);
                f.line("RaftIndex", s.raft_index);
                f.line("RaftTerm", s.raft_term);
                f.line("RaftAppliedIndex", s.raft_applied_index);
                f.line("Errors", format!("[{}]", s.errors.join(" ")));
                f.line("Endpoint", print::go_quote(ep.as_bytes()));
                f.0.push('\n');
            }
            o.out(f.0);
        }
        "protobuf" => {
            for (_, s) in &rows {
                o.out(s.encode_to_vec());
            }
        }
        "table" => {
            let t: Vec<Vec<String>> = rows.iter().map(|(ep, s)| status_cells(ep, s)).collect();
            o.out(table(
                &[
                    "ENDPOINT",
                    "ID",
                    "VERSION",
                    "DB SIZE",
                    "IS LEADER",
                    "IS LEARNER",
                    "RAFT TERM",
                    "RAFT INDEX",
                    "RAFT APPLIED INDEX",
                    "ERRORS",
                ],
                &t,
            ));
        }
        _ => {
            for (ep, s) in &rows {
                o.out(format!("{}\n", status_cells(ep, s).join(", ")));
            }
        }
    }
    if rows.len() < targets.len() {
        o.code = EXIT_ERROR;
    }
    Ok(())
}

/// etcdctl's `endpoint hashkv`: every endpoint's KV hash up to `--rev`.
async fn endpoint_hashkv(ctx: &Ctx, o: &mut Output) -> CmdResult {
    check_format(ctx.format())?;
    let rev = parse_int(ctx.get("rev")).map_err(bad_args)?;
    let targets = endpoint_targets(ctx).await?;
    let mut rows = Vec::new();
    let mut failed = None;
    for ep in &targets {
        let one = ctx.with_endpoint(ep);
        let hashed = async {
            let (ch, ep) = connect(&one).await?;
            let req = HashKvRequest { revision: rev };
            let mut client = MaintenanceClient::new(ch);
            let hash = client.hash_kv(req);
            match tokio::time::timeout(one.timeout("command-timeout"), hash).await {
                Ok(Ok(r)) => Ok(r.into_inner()),
                Ok(Err(st)) => Err(rpc_failure_one(&ep, &st)),
                Err(_) => Err(Fail(EXIT_ERROR, "context deadline exceeded".into())),
            }
        }
        .await;
        match hashed {
            Ok(h) => rows.push((ep.clone(), h)),
            Err(f) => {
                if let Some(w) = &f.warn {
                    o.err(w);
                }
                o.err(format!(
                    "Failed to get the hash of endpoint {ep} ({})\n",
                    f.msg
                ));
                failed = Some(f);
            }
        }
    }
    match ctx.format() {
        "json" => {
            let items: Vec<String> = rows
                .iter()
                .map(|(ep, h)| {
                    let mut hash = print::Obj::default();
                    if let Some(header) = print::header_json(&h.header) {
                        hash = hash.raw("header", header);
                    }
                    let hash = hash
                        .uint("hash", u64::from(h.hash))
                        .int("compact_revision", h.compact_revision)
                        .done();
                    print::Obj::default()
                        .string("Endpoint", ep)
                        .raw("HashKV", hash)
                        .done()
                })
                .collect();
            o.out(format!("[{}]\n", items.join(",")));
        }
        "fields" => {
            let mut f = Fields(String::new());
            for (ep, h) in &rows {
                f.header(&h.header);
                f.line("Endpoint", print::go_quote(ep.as_bytes()));
                f.line("Hash", h.hash);
                f.0.push('\n');
            }
            o.out(f.0);
        }
        "table" => {
            let t: Vec<Vec<String>> = rows
                .iter()
                .map(|(ep, h)| vec![ep.clone(), h.hash.to_string()])
                .collect();
            o.out(table(&["ENDPOINT", "HASH"], &t));
        }
        "protobuf" => {
            return Err(Fail(
                EXIT_BAD_FEATURE,
                "protobuf not supported as output format".into(),
            ))
        }
        _ => {
            for (ep, h) in &rows {
                o.out(format!("{ep}, {}\n", h.hash));
            }
        }
    }
    match failed {
        Some(f) => Err(Fail(f.code, f.msg)),
        None => Ok(()),
    }
}

fn status_cells(ep: &str, s: &crate::pb::etcdserverpb::StatusResponse) -> Vec<String> {
    let member = s.header.as_ref().map_or(0, |h| h.member_id);
    vec![
        ep.to_string(),
        format!("{member:x}"),
        s.version.clone(),
        humanize_bytes(s.db_size as u64),
        (s.leader == member).to_string(),
        s.is_learner.to_string(),
        s.raft_term.to_string(),
        s.raft_index.to_string(),
        s.raft_applied_index.to_string(),
        s.errors.join(", "),
    ]
}

/// Entry point of the `etcdctl` binary.
pub fn main() -> i32 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stdin = std::io::stdin();
    let mut lock = stdin.lock();
    let o = rt.block_on(run_live(args, &env, &mut lock));
    let _ = std::io::stdout().write_all(&o.stdout);
    let _ = std::io::stderr().write_all(&o.stderr);
    o.code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end(b"foo"), b"fop");
        assert_eq!(prefix_end(b"a\xff"), b"b");
        assert_eq!(prefix_end(b"\xff"), vec![0]);
    }

    #[test]
    fn compares_parse_like_etcdctl() {
        let c = parse_compare("value(\"testkey\") = \"v6\"").ok().unwrap();
        assert_eq!(c.key, b"testkey");
        let Err(Fail { code, msg, .. }) = parse_compare("bogus(\"x\") = \"1\"") else {
            panic!()
        };
        assert_eq!(code, 3);
        assert_eq!(
            msg,
            "malformed comparison: bogus(\"x\") = \"1\" (unknown target bogus)"
        );
    }

    #[test]
    fn argify_honours_quotes() {
        assert_eq!(argify("put k \"a b\""), vec!["put", "k", "a b"]);
    }
}
