//! `etcdctl` (API v3), behaving like etcdctl 3.4: same commands, flags,
//! `ETCDCTL_*` variables, output formats, error texts and exit codes.
//!
//! Laid out as etcdctl's `ctlv3/command/`: one file per command group, the
//! command table in `commands.rs`, what commands share in `global.rs`, and
//! one file per output format (`print.rs` and `printer_*.rs`). This file
//! finds the command in the arguments and runs it.

mod alarm;
mod auth;
mod check;
mod commands;
mod compaction;
mod completion;
pub mod defrag;
mod del;
mod elect;
mod endpoint;
pub mod flags;
mod get;
mod global;
mod lease;
mod lock;
mod make_mirror;
mod member;
pub mod migrate;
mod move_leader;
pub mod print;
mod printer_fields;
mod printer_json;
mod printer_protobuf;
mod printer_simple;
mod printer_table;
mod put;
mod resolve;
mod session;
mod snapshot;
mod txn;
pub(crate) mod util;
pub mod v2;
mod version;
mod watch;

pub use commands::flag_sets;
pub use txn::parse_txn;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use self::commands::{Command, Run};
use self::flags::ParseError;
use self::global::{tls_requested, Ctx, EXIT_ERROR};
use self::resolve::Resolved;

pub use self::util::prefix_end;
pub use self::version::CTL_VERSION;

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
        self.live(s.as_bytes());
    }
    /// Output of a command that runs until stopped (`lease keep-alive`,
    /// `watch`): printed as it comes when live.
    fn live(&mut self, b: &[u8]) {
        if self.live {
            let mut stdout = std::io::stdout();
            let _ = stdout.write_all(self.stdout.as_slice());
            self.stdout.clear();
            let _ = stdout.write_all(b);
            let _ = stdout.flush();
        } else {
            self.out(b);
        }
    }
    fn err(&mut self, s: impl AsRef<str>) {
        self.stderr.extend_from_slice(s.as_ref().as_bytes());
    }
    /// A diagnostic of a command that runs until stopped: printed now when
    /// live.
    fn live_err(&mut self, s: impl AsRef<str>) {
        if self.live {
            let mut stderr = std::io::stderr();
            let _ = stderr.write_all(self.stderr.as_slice());
            self.stderr.clear();
            let _ = stderr.write_all(s.as_ref().as_bytes());
        } else {
            self.err(s);
        }
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
    let mut env: BTreeMap<String, String> = std::env::vars().collect();
    // etcdctl's main: ETCDCTL_API picks the mode and is then forgotten.
    match env.remove("ETCDCTL_API").as_deref() {
        None | Some("") | Some("3") => {}
        Some("2") => return v2::main(args, &env),
        Some(other) => {
            eprintln!("unsupported API version {other}");
            return 1;
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    // Not stdin's lock, held for the whole run: `watch -i` reads stdin
    // from a blocking task of its own.
    let mut stdin = std::io::BufReader::new(std::io::stdin());
    let o = rt.block_on(run_live(args, &env, &mut stdin));
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
    // cobra answers its completion requests before it parses anything
    // else: the words after `__complete` are the command line to complete.
    if let Some(at) = resolve::first_word(&args) {
        let word = args[at].as_str();
        if word == completion::COMPLETE || word == completion::COMPLETE_NO_DESC {
            completion::complete(&args[at + 1..], word == completion::COMPLETE, &mut o);
            return o;
        }
    }
    let Some((cmd, mut ctx)) = prepare(&mut o, &args, env) else {
        return o;
    };
    // A command that builds a client looks for `--discovery-srv` endpoints
    // first; the offline ones (and `version`) build none.
    let offline = matches!(
        cmd.run,
        Run::Version
            | Run::SnapshotStatus
            | Run::SnapshotRestore
            | Run::Migrate
            | Run::Completion
            | Run::Help
    );
    if !offline {
        if let Err(f) = ctx.discover_endpoints(&mut o).await {
            o.fail(f.code, f.msg);
            return o;
        }
    }
    let res = match auth::credentials(&ctx, &mut o, stdin) {
        // clientv3 authenticates only with both a name and a password.
        Ok(Some((user, password))) if !user.is_empty() && !password.is_empty() => {
            ctx.token.set_credentials(user, password);
            dispatch(cmd, &ctx, &mut o, stdin).await
        }
        Ok(_) => dispatch(cmd, &ctx, &mut o, stdin).await,
        Err(f) => Err(f),
    };
    // What authenticating logged comes first, as clientv3 logs it at dial.
    let warned = ctx.token.take_warnings();
    if !warned.is_empty() {
        o.stderr.splice(0..0, warned.into_bytes());
    }
    if let Err(f) = res {
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
            o.out(commands::root_help(true));
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
    if cmd.run == Run::Help {
        help_topic(o, &p.args);
        return None;
    }
    let ctx = Ctx::new(p, cmd.flags, env);
    if let Some(why) = tls_requested(&ctx) {
        o.fail(EXIT_ERROR, why);
        return None;
    }
    Some((cmd, ctx))
}

/// `help [command]`: cobra finds the command as it would run it and
/// prints its help; a word it cannot find gets the root's help, after a
/// note on stderr.
fn help_topic(o: &mut Output, words: &[String]) {
    if words.is_empty() {
        o.out(commands::root_help(true));
        return;
    }
    match resolve::resolve(words) {
        Resolved::Command(path, _) => match commands::find(&path) {
            Some(c) => o.out(c.usage()),
            None => o.fail(
                EXIT_ERROR,
                format!("'etcdctl {path}' is not built in oxcd's etcdctl yet"),
            ),
        },
        Resolved::GroupHelp(group) => o.out(commands::group_help(group)),
        Resolved::RootHelp => o.out(commands::root_help(true)),
        Resolved::Unknown(_) => {
            // Go's `%#q` of the words: back-quoted where it can be.
            let quoted: Vec<String> = words
                .iter()
                .map(|w| {
                    if w.contains('`') || w.chars().any(|c| c.is_control() && c != '\t') {
                        util::go_quote(w.as_bytes())
                    } else {
                        format!("`{w}`")
                    }
                })
                .collect();
            o.err(format!("Unknown help topic [{}]\n", quoted.join(" ")));
            o.out(commands::root_help(false));
        }
    }
}

/// Runs the command's handler.
async fn dispatch(cmd: &Command, ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    match cmd.run {
        Run::Version => version::version(o),
        Run::Get => get::get(ctx, o).await,
        Run::Put => put::put(ctx, o, stdin).await,
        Run::Del => del::del(ctx, o).await,
        Run::Txn => txn::txn(ctx, o, stdin).await,
        Run::Compaction => compaction::compaction(ctx, o).await,
        Run::Watch => watch::watch(ctx, o).await,
        Run::LeaseGrant => lease::lease_grant(ctx, o).await,
        Run::LeaseRevoke => lease::lease_revoke(ctx, o).await,
        Run::LeaseTimeToLive => lease::lease_time_to_live(ctx, o).await,
        Run::LeaseList => lease::lease_list(ctx, o).await,
        Run::LeaseKeepAlive => lease::lease_keep_alive(ctx, o).await,
        Run::Lock => lock::lock(ctx, o).await,
        Run::Elect => elect::elect(ctx, o).await,
        Run::MemberList => member::member_list(ctx, o).await,
        Run::MemberAdd => member::member_add(ctx, o).await,
        Run::MemberRemove => member::member_remove(ctx, o).await,
        Run::MemberUpdate => member::member_update(ctx, o).await,
        Run::MemberPromote => member::member_promote(ctx, o).await,
        Run::MoveLeader => move_leader::move_leader(ctx, o).await,
        Run::EndpointHealth => endpoint::endpoint_health(ctx, o).await,
        Run::EndpointStatus => endpoint::endpoint_status(ctx, o).await,
        Run::EndpointHashKv => endpoint::endpoint_hash_kv(ctx, o).await,
        Run::AuthEnable => auth::auth_enable(ctx, o).await,
        Run::AuthDisable => auth::auth_disable(ctx, o).await,
        Run::UserAdd => auth::user_add(ctx, o, stdin).await,
        Run::UserDelete => auth::user_delete(ctx, o).await,
        Run::UserGet => auth::user_get(ctx, o).await,
        Run::UserList => auth::user_list(ctx, o).await,
        Run::UserPasswd => auth::user_passwd(ctx, o, stdin).await,
        Run::UserGrantRole => auth::user_grant_role(ctx, o).await,
        Run::UserRevokeRole => auth::user_revoke_role(ctx, o).await,
        Run::RoleAdd => auth::role_add(ctx, o).await,
        Run::RoleDelete => auth::role_delete(ctx, o).await,
        Run::RoleGet => auth::role_get(ctx, o).await,
        Run::RoleList => auth::role_list(ctx, o).await,
        Run::RoleGrantPermission => auth::role_grant_permission(ctx, o).await,
        Run::RoleRevokePermission => auth::role_revoke_permission(ctx, o).await,
        Run::SnapshotSave => snapshot::snapshot_save(ctx, o).await,
        Run::SnapshotStatus => snapshot::snapshot_status(ctx, o),
        Run::SnapshotRestore => snapshot::snapshot_restore(ctx, o),
        Run::AlarmDisarm => alarm::alarm_disarm(ctx, o).await,
        Run::AlarmList => alarm::alarm_list(ctx, o).await,
        Run::Defrag => defrag::defrag(ctx, o).await,
        Run::CheckPerf => check::check_perf(ctx, o).await,
        Run::CheckDatascale => check::check_datascale(ctx, o).await,
        Run::MakeMirror => make_mirror::make_mirror(ctx, o).await,
        Run::Migrate => migrate::migrate(ctx, o),
        Run::Completion => {
            if let Some(arg) = ctx.args().first() {
                // cobra's `NoArgs`: the usage, then its error twice.
                let e = format!(
                    "unknown command {} for \"etcdctl {}\"",
                    util::go_quote(arg.as_bytes()),
                    cmd.path
                );
                o.out(cmd.usage());
                o.err(format!("Error: {e}\n\n"));
                return Err(Fail(EXIT_ERROR, e));
            }
            let shell = cmd.path.trim_start_matches("completion ");
            completion::script(shell, ctx.bool("no-descriptions"), o);
            Ok(())
        }
        Run::Help => unreachable!("help is answered before a command runs"),
    }
}
