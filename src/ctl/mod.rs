//! `etcdctl` (API v3), behaving like etcdctl 3.4: same commands, flags,
//! `ETCDCTL_*` variables, output formats, error texts and exit codes.
//!
//! Laid out as etcdctl's `ctlv3/command/`: the command table in
//! `commands.rs`, what commands share in `global.rs`, and one file per
//! output format (`print.rs` and `printer_*.rs`). This file finds the
//! command in the arguments and runs it.

mod commands;
pub mod flags;
mod global;
pub mod print;
mod printer_fields;
mod printer_json;
mod printer_protobuf;
mod printer_simple;
mod printer_table;
mod resolve;
mod util;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use tonic::transport::Channel;

use self::commands::{Command, DEL_FLAGS, GET_FLAGS, PUT_FLAGS};
use self::flags::{Flag, ParseError};
use self::global::{
    bad_args, call, call_as, check_send_size, connect, endpoint_url, rpc_failure_one,
    tls_requested, zap_warn, Ctx, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INVALID_INPUT,
};
use self::print::new_printer;
use self::printer_json::json_str;
use self::resolve::Resolved;
use self::util::{argify, go_duration, go_quote, parse_int};
use crate::pb::etcdserverpb::{
    cluster_client::ClusterClient, compare, kv_client::KvClient,
    maintenance_client::MaintenanceClient, range_request, request_op, AlarmRequest,
    CompactionRequest, Compare, DeleteRangeRequest, HashKvRequest, HashKvResponse,
    MemberAddRequest, MemberListRequest, MemberListResponse, MemberPromoteRequest,
    MemberRemoveRequest, MemberUpdateRequest, MoveLeaderRequest, PutRequest, RangeRequest,
    RequestOp, StatusRequest, StatusResponse, TxnRequest,
};

pub use self::util::prefix_end;

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

/// A failure without a warning line.
#[allow(non_snake_case)]
fn Fail(code: i32, msg: String) -> Fail {
    Fail {
        code,
        msg,
        warn: None,
    }
}

type CmdResult = Result<(), Fail>;

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
    let Some((cmd, ctx)) = prepare(&mut o, &args, env) else {
        return o;
    };
    if let Err(f) = dispatch(cmd, &ctx, &mut o, stdin).await {
        if let Some(w) = f.warn {
            o.err(w);
        }
        o.fail(f.code, f.msg);
    }
    o
}

/// Finds the command and parses its flags, as cobra does before it runs a
/// command; `None` when that already settled the output (help, errors).
fn prepare(
    o: &mut Output,
    args: &[String],
    env: &BTreeMap<String, String>,
) -> Option<(&'static Command, Ctx)> {
    let (path, rest) = match resolve::resolve(args) {
        Resolved::Command(path, rest) => (path, rest),
        Resolved::RootHelp => {
            o.out(commands::root_help());
            return None;
        }
        Resolved::GroupHelp(group) => {
            o.out(commands::group_help(group));
            return None;
        }
        Resolved::Unknown(msg) => {
            // cobra prints the error and the hint, then etcdctl the error again.
            o.err(format!(
                "Error: {msg}\nRun 'etcdctl --help' for usage.\nError: {msg}\n"
            ));
            o.code = EXIT_ERROR;
            return None;
        }
    };
    let Some(cmd) = commands::find(&path) else {
        o.fail(
            EXIT_ERROR,
            format!("'etcdctl {path}' is not built in oxcd's etcdctl yet"),
        );
        return None;
    };
    let p = match flags::parse(&rest, cmd.flags) {
        Ok(p) => p,
        Err(ParseError::Help) => {
            o.out(cmd.usage());
            return None;
        }
        Err(ParseError::Flag(e)) => {
            o.out(cmd.usage());
            o.err(format!("Error: {e}\n\nError: {e}\n"));
            o.code = EXIT_ERROR;
            return None;
        }
    };
    let ctx = Ctx::new(p, cmd.flags, env);
    if let Some(why) = tls_requested(&ctx) {
        o.fail(EXIT_ERROR, why);
        return None;
    }
    Some((cmd, ctx))
}

/// Runs the command at `cmd.path`.
async fn dispatch(cmd: &Command, ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    match cmd.path {
        "version" => version(o),
        "get" => get(ctx, o).await,
        "put" => put(ctx, o, stdin).await,
        "del" => del(ctx, o).await,
        "txn" => txn(ctx, o, stdin).await,
        "compaction" => compaction(ctx, o).await,
        "member list" => member_list(ctx, o).await,
        "member add" => member_add(ctx, o).await,
        "member remove" => member_remove(ctx, o).await,
        "member update" => member_update(ctx, o).await,
        "member promote" => member_promote(ctx, o).await,
        "move-leader" => move_leader(ctx, o).await,
        "endpoint health" => endpoint_health(ctx, o).await,
        "endpoint status" => endpoint_status(ctx, o).await,
        "endpoint hashkv" => endpoint_hash_kv(ctx, o).await,
        _ => unreachable!("listed command"),
    }
}

// `etcdctl version` (etcdctl's `version_command.go`).
/// The etcdctl release oxcd's etcdctl behaves as.
pub const CTL_VERSION: &str = "3.4.23";

fn version(o: &mut Output) -> CmdResult {
    o.out(format!(
        "etcdctl version: {CTL_VERSION}\nAPI version: 3.4\n"
    ));
    Ok(())
}

// `etcdctl get` (etcdctl's `get_command.go`).
async fn get(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let req = get_op(ctx, ctx.args())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(ctx, &ep, KvClient::new(ch).range(req)).await?;
    display.get(o, &resp)
}

/// etcdctl's `getGetOp`: the range a `get` command line asks for (also a
/// `get` line of `txn`).
fn get_op(ctx: &Ctx, args: &[String]) -> Result<RangeRequest, Fail> {
    if args.is_empty() {
        return Err(bad_args(
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = range_flags(ctx)?;
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
    let (order, target) = sort_op(ctx)?;
    r.sort_order = order as i32;
    r.sort_target = target as i32;
    apply_range_flags(&mut r.key, &mut r.range_end, prefix, from_key);
    r.keys_only = ctx.bool("keys-only");
    Ok(r)
}

/// `--prefix` and `--from-key` (of `get` and `del`), which exclude each other.
fn range_flags(ctx: &Ctx) -> Result<(bool, bool), Fail> {
    let (prefix, from_key) = (ctx.bool("prefix"), ctx.bool("from-key"));
    if prefix && from_key {
        return Err(bad_args(
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    Ok((prefix, from_key))
}

/// The range `--prefix` or `--from-key` makes of `key`: `\0` stands for
/// the empty key (the whole keyspace) and for "to the end".
fn apply_range_flags(key: &mut Vec<u8>, range_end: &mut Vec<u8>, prefix: bool, from_key: bool) {
    if prefix {
        if key.is_empty() {
            *key = vec![0];
            *range_end = vec![0];
        } else {
            *range_end = prefix_end(key);
        }
    }
    if from_key {
        if key.is_empty() {
            *key = vec![0];
        }
        *range_end = vec![0];
    }
}

/// `--order` and `--sort-by`, as clientv3's `WithSort` sends them.
fn sort_op(ctx: &Ctx) -> Result<(range_request::SortOrder, range_request::SortTarget), Fail> {
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
    // Ascending by key is the server's natural order: clientv3 asks for none.
    if target == SortTarget::Key && order == SortOrder::Ascend {
        order = SortOrder::None;
    }
    Ok((order, target))
}

// `etcdctl put` (etcdctl's `put_command.go`).
async fn put(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    let display = new_printer(ctx)?;
    let req = put_op(ctx, ctx.args(), Some(stdin))?;
    let (ch, ep) = connect(ctx).await?;
    check_send_size(&ep, &req)?;
    let resp = call(ctx, &ep, KvClient::new(ch).put(req)).await?;
    display.put(o, &resp)
}

/// etcdctl's `getPutOp`: the put a `put` command line asks for (also a
/// `put` line of `txn`, which has no stdin to take a value from).
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

// `etcdctl del` (etcdctl's `del_command.go`).
async fn del(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let req = del_op(ctx, ctx.args())?;
    let (ch, ep) = connect(ctx).await?;
    let resp = call(ctx, &ep, KvClient::new(ch).delete_range(req)).await?;
    display.del(o, &resp)
}

/// etcdctl's `getDelOp`: the range a `del` command line deletes (also a
/// `del` line of `txn`).
fn del_op(ctx: &Ctx, args: &[String]) -> Result<DeleteRangeRequest, Fail> {
    if args.is_empty() || args.len() > 2 {
        return Err(bad_args(
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (prefix, from_key) = range_flags(ctx)?;
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
    apply_range_flags(&mut r.key, &mut r.range_end, prefix, from_key);
    r.prev_kv = ctx.bool("prev-kv");
    Ok(r)
}

// `etcdctl txn` (etcdctl's `txn_command.go`): a transaction read from
// stdin in three sections (compares, success requests, failure requests),
// each ended by a blank line.
async fn txn(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args("txn command does not accept argument"));
    }
    let display = new_printer(ctx)?;
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
    display.txn(o, &resp)
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

/// Builds a request from a `txn` line's parsed flags and arguments.
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

/// Reads lines up to a blank one (the end of a section of the script); end
/// of input first is `EOF`.
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

// `etcdctl compaction` (etcdctl's `compaction_command.go`).
/// Compacts the history up to a revision; etcdctl prints one line whatever
/// `--write-out` says.
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

// `etcdctl move-leader` (etcdctl's `move_leader_command.go`).
/// Finds the leader among `--endpoints` and asks it to hand over to the
/// target (only the leader can transfer its leadership).
async fn move_leader(ctx: &Ctx, o: &mut Output) -> CmdResult {
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

// `etcdctl member add|remove|update|promote|list` (etcdctl's
// `member_command.go`).
/// `member add <name> --peer-urls=… [--learner]`.
async fn member_add(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let name = member_name_arg(ctx)?;
    let peer_urls = peer_urls_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberAddRequest {
        peer_ur_ls: peer_urls.clone(),
        is_learner: ctx.bool("learner"),
    };
    let resp = call(ctx, &ep, ClusterClient::new(ch.clone()).member_add(req)).await?;
    display.member_add(o, &resp)?;
    // Like etcdctl, the simple format goes on with the environment the new
    // member starts with, from a fresh member list.
    if ctx.format() == "simple" {
        let new_id = resp.member.as_ref().map_or(0, |m| m.id);
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
            go_quote(name.as_bytes()),
            go_quote(conf.join(",").as_bytes()),
            go_quote(peer_urls.join(",").as_bytes()),
        ));
    }
    Ok(())
}

/// `member remove <id>`.
async fn member_remove(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let id = member_id_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberRemoveRequest { id };
    let resp = call(ctx, &ep, ClusterClient::new(ch).member_remove(req)).await?;
    display.member_remove(o, id, &resp)
}

/// `member update <id> --peer-urls=…`.
async fn member_update(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let id = member_id_arg(ctx)?;
    let peer_ur_ls = peer_urls_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberUpdateRequest { id, peer_ur_ls };
    let resp = call(ctx, &ep, ClusterClient::new(ch).member_update(req)).await?;
    display.member_update(o, id, &resp)
}

/// `member promote <id>`: a learner becomes a voting member.
async fn member_promote(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let id = member_id_arg(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let req = MemberPromoteRequest { id };
    let resp = call(ctx, &ep, ClusterClient::new(ch).member_promote(req)).await?;
    display.member_promote(o, id, &resp)
}

/// `member list`.
async fn member_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let (ch, ep) = connect(ctx).await?;
    let resp = fetch_member_list(ctx, ch, &ep).await?;
    display.member_list(o, &resp)
}

/// The cluster's member list, as `member list` asks for it.
async fn fetch_member_list(ctx: &Ctx, ch: Channel, ep: &str) -> Result<MemberListResponse, Fail> {
    let req = MemberListRequest {
        linearizable: false,
    };
    call(ctx, ep, ClusterClient::new(ch).member_list(req)).await
}

/// `member add`'s one argument, the new member's name; a URL among extra
/// arguments was most likely meant for `--peer-urls`.
fn member_name_arg(ctx: &Ctx) -> Result<String, Fail> {
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
    Ok(args[0].clone())
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

// `etcdctl endpoint health|status|hashkv` (etcdctl's `ep_command.go`):
// each endpoint asked on its own, its result or its failure reported.
/// One endpoint's health: how long the check took and what failed.
struct EpHealth {
    ep: String,
    health: Result<(), String>,
    took: String,
}

/// One endpoint's status.
struct EpStatus {
    ep: String,
    resp: StatusResponse,
}

/// One endpoint's KV hash.
struct EpHashKv {
    ep: String,
    resp: HashKvResponse,
}

/// The endpoints an `endpoint` command visits: `--endpoints`, or with
/// `--cluster` every client URL in the member list.
async fn endpoints_from_cluster(ctx: &Ctx) -> Result<Vec<String>, Fail> {
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

/// `endpoint health`: every endpoint serves a read (a refused one counts:
/// it was answered) and has no alarm raised.
async fn endpoint_health(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let mut hs = Vec::new();
    for ep in endpoints_from_cluster(ctx).await? {
        hs.push(check_health(ctx, endpoint_url(&ep)).await);
    }
    display.endpoint_health(o, &hs)?;
    if hs.iter().any(|h| h.health.is_err()) {
        return Err(Fail(EXIT_ERROR, "unhealthy cluster".into()));
    }
    Ok(())
}

async fn check_health(ctx: &Ctx, url: String) -> EpHealth {
    #[allow(clippy::disallowed_methods)] // measures the client's round trip
    let start = std::time::Instant::now();
    let health: Result<(), String> = async {
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
    EpHealth {
        ep: url,
        health,
        took: go_duration(start.elapsed()),
    }
}

/// `endpoint status`: an endpoint that fails is logged and left out, and
/// the command exits 1.
async fn endpoint_status(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let targets = endpoints_from_cluster(ctx).await?;
    let mut ss = Vec::new();
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
            Ok(resp) => ss.push(EpStatus { ep: url, resp }),
            Err(Fail { msg, .. }) => o.err(zap_warn(
                "command/ep_command.go:198",
                "failed to get the status of endpoint",
                &[("endpoint", json_str(&url)), ("error", json_str(&msg))],
            )),
        }
    }
    display.endpoint_status(o, &ss)?;
    if ss.len() < targets.len() {
        o.code = EXIT_ERROR;
    }
    Ok(())
}

/// `endpoint hashkv`: every endpoint's KV hash up to `--rev`; the last
/// failure is the command's.
async fn endpoint_hash_kv(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let display = new_printer(ctx)?;
    let rev = parse_int(ctx.get("rev")).map_err(bad_args)?;
    let targets = endpoints_from_cluster(ctx).await?;
    let mut hs = Vec::new();
    let mut failed = None;
    for ep in &targets {
        let one = ctx.with_endpoint(ep);
        let hashed = async {
            let (ch, ep) = connect(&one).await?;
            let req = HashKvRequest { revision: rev };
            let mut client = MaintenanceClient::new(ch);
            // etcdctl asks each endpoint with a client of its own.
            call_as(&one, &ep, client.hash_kv(req), rpc_failure_one).await
        }
        .await;
        match hashed {
            Ok(resp) => hs.push(EpHashKv {
                ep: ep.clone(),
                resp,
            }),
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
    display.endpoint_hash_kv(o, &hs)?;
    match failed {
        Some(f) => Err(Fail(f.code, f.msg)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
