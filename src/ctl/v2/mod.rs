//! `ETCDCTL_API=2 etcdctl`: etcdctl 3.4's v2 mode, a client of etcd's v2
//! HTTP API (`/v2/keys`, `/v2/members`, `/v2/auth`, `/health`), with its
//! commands, flags, `ETCDCTL_*` variables, outputs, error texts and exit
//! codes.
//!
//! Laid out as etcd's `etcdctl/ctlv2/command/`: one file per command
//! group (`keys.rs` for the key commands, `watch.rs`, `member.rs` with
//! `cluster-health`, `auth.rs` for `user`/`role`/`auth`, `backup.rs`);
//! `cli.rs` is urfave/cli, `commands.rs` the command table, `client.rs`
//! etcd's v2 Go client, `format.rs` its responses and their printing.
//! Output is written as it comes, as Go writes it (watches run until
//! stopped).

mod auth;
mod backup;
mod cli;
mod client;
mod commands;
mod format;
mod keys;
mod member;
mod url;
mod watch;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use self::cli::Values;
use self::client::{Client, ClientError};
use self::commands::{Cmd, Entry, Group, Run, APP_FLAGS, COMMANDS, HELP_FLAG, VERSION_FLAG};
use self::url::Url;

/// etcdctl v2's exit codes (`command/error.go`).
pub const EXIT_BAD_ARGS: i32 = 1;
pub const EXIT_BAD_CONNECTION: i32 = 2;
pub const EXIT_SERVER_ERROR: i32 = 4;
pub const EXIT_CLUSTER_NOT_HEALTHY: i32 = 5;

/// How a command ends early: the exit code, its message already printed.
pub type Res = Result<(), i32>;

/// The process's stdout and stderr, written at once (a watch prints as
/// events come; `exec-watch`'s children share the streams).
#[derive(Default)]
pub struct Io;

impl Io {
    pub fn out(&mut self, s: &str) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(s.as_bytes());
        let _ = o.flush();
    }
    pub fn err(&mut self, s: &str) {
        let _ = std::io::stderr().lock().write_all(s.as_bytes());
    }
}

/// The global flags and the environment.
pub struct Global {
    pub flags: Values,
    pub env: BTreeMap<String, String>,
}

impl Global {
    fn env(&self, k: &str) -> String {
        self.env.get(k).cloned().unwrap_or_default()
    }

    /// `--output`.
    pub fn output(&self) -> String {
        self.flags.string("output")
    }

    /// `contextWithTotalTimeout`: the deadline of one command's requests.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        Some(crate::rt::time::now() + self.flags.duration("total-timeout"))
    }

    /// `getPeersFlagValue`: the first of `--endpoints`, `ETCDCTL_ENDPOINTS`,
    /// `--endpoint`, `ETCDCTL_ENDPOINT`, `--peers`, `ETCDCTL_PEERS` set.
    fn peers(&self) -> Vec<String> {
        let s = [
            self.flags.string("endpoints"),
            self.env("ETCDCTL_ENDPOINTS"),
            self.flags.string("endpoint"),
            self.env("ETCDCTL_ENDPOINT"),
            self.flags.string("peers"),
            self.env("ETCDCTL_PEERS"),
        ]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "http://127.0.0.1:2379,http://127.0.0.1:4001".into());
        s.split(',').map(str::to_string).collect()
    }

    /// `getTransport`'s TLS: the files from the flags or `ETCDCTL_*`.
    fn tls(&self) -> Option<crate::rt::net::ClientTls> {
        let pick = |flag: &str, var: &str| {
            let v = self.flags.string(flag);
            if v.is_empty() {
                self.env(var)
            } else {
                v
            }
        };
        let tls = crate::rt::net::ClientTls {
            ca_file: pick("ca-file", "ETCDCTL_CA_FILE"),
            cert_file: pick("cert-file", "ETCDCTL_CERT_FILE"),
            key_file: pick("key-file", "ETCDCTL_KEY_FILE"),
            ..Default::default()
        };
        (tls != crate::rt::net::ClientTls::default()).then_some(tls)
    }

    /// `handleError`: the error (and a cluster error's details), and the
    /// exit code. etcdctl means to print an etcd error as JSON under `-o
    /// json`, but its check looks for a `*client.Error` and the client
    /// returns a `client.Error`, so it never does.
    pub fn fail(&self, io: &mut Io, code: i32, e: &ClientError) -> i32 {
        io.err(&format!("Error:  {e}\n"));
        if let Some(d) = e.detail() {
            io.err(&format!("{d}\n"));
        }
        code
    }

    /// `handleError` for a plain message.
    pub fn fail_msg(&self, io: &mut Io, code: i32, msg: &str) -> i32 {
        self.fail(io, code, &ClientError::Other(msg.into()))
    }

    /// `newClient`: endpoints, TLS, credentials (prompting for a password
    /// `--username` lacks); its errors end the command with exit 1.
    async fn new_client(&self, io: &mut Io) -> Result<Client, i32> {
        if !self.flags.string("discovery-srv").is_empty()
            || !self.env("ETCDCTL_DISCOVERY_SRV").is_empty()
        {
            io.err("--discovery-srv is not supported by oxcd's etcdctl\n");
            return Err(1);
        }
        let mut eps = Vec::new();
        for p in self.peers() {
            match Url::parse_endpoint(&p) {
                Ok(u) => eps.push(u),
                Err(e) => {
                    io.err(&format!("{e}\n"));
                    return Err(1);
                }
            }
        }
        let tls = self.tls();
        if let Some(t) = &tls {
            if let Err(e) = crate::rt::net::Dialer::new(Some(t)) {
                io.err(&format!("{e}\n"));
                return Err(1);
            }
        }
        let mut user = self.flags.string("username");
        if user.is_empty() {
            user = self.env("ETCDCTL_USERNAME");
        }
        let credentials = if user.is_empty() {
            None
        } else {
            Some(auth::username_password(io, "Password: ", &user))
        };
        // The dial waits up to 30 s, or the total timeout if shorter.
        let total = self.flags.duration("total-timeout");
        let dial = if !total.is_zero() && total < Duration::from_secs(30) {
            total
        } else {
            Duration::from_secs(30)
        };
        Client::new(eps, credentials, tls, self.flags.duration("timeout"), dial).map_err(|e| {
            io.err(&format!("{e}\n"));
            1
        })
    }

    /// `mustNewClient`: a client, synchronised with the cluster's member
    /// list unless `--no-sync`.
    pub async fn client(&self, io: &mut Io) -> Result<Client, i32> {
        let mut c = self.new_client(io).await?;
        let debug = self.flags.bool("debug");
        c.debug = debug;
        if !self.flags.bool("no-sync") {
            if debug {
                io.err(&format!(
                    "start to sync cluster using endpoints({})\n",
                    c.endpoints().join(",")
                ));
            }
            if let Err(e) = c.sync(io, self.deadline()).await {
                if e.to_string() == "client: no endpoints available" {
                    io.err("etcd cluster has no published client endpoints.\n");
                    io.err(&format!(
                        "Try '--no-sync' if you want to access non-published client endpoints({}).\n",
                        c.endpoints().join(",")
                    ));
                    return Err(self.fail(io, EXIT_SERVER_ERROR, &e));
                }
                if e.is_connection_error() {
                    return Err(self.fail(io, EXIT_BAD_CONNECTION, &e));
                }
            }
            if debug {
                io.err(&format!(
                    "got endpoints({}) after sync\n",
                    c.endpoints().join(",")
                ));
            }
        }
        if debug {
            io.err(&format!(
                "Cluster-Endpoints: {}\n",
                c.endpoints().join(", ")
            ));
        }
        Ok(c)
    }

    /// `mustNewClientNoSync`.
    pub async fn client_no_sync(&self, io: &mut Io) -> Result<Client, i32> {
        let mut c = self.new_client(io).await?;
        if self.flags.bool("debug") {
            io.err(&format!(
                "Cluster-Endpoints: {}\n",
                c.endpoints().join(", ")
            ));
            c.debug = true;
        }
        Ok(c)
    }
}

/// A command's context: the globals, its flags and its arguments.
pub struct Ctx<'a> {
    pub g: &'a Global,
    pub flags: Values,
    pub args: Vec<String>,
}

/// Runs etcdctl's v2 mode with `args` (without the program name).
pub fn main(args: Vec<String>, env: &BTreeMap<String, String>) -> i32 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut io = Io;
    match rt.block_on(run(&mut io, args, env)) {
        Ok(()) => 0,
        Err(code) => code,
    }
}

fn app_flags() -> Vec<&'static cli::Flag> {
    let mut f: Vec<&cli::Flag> = APP_FLAGS.iter().collect();
    f.push(&HELP_FLAG);
    f.push(&VERSION_FLAG);
    f
}

/// urfave's `App.Run`.
async fn run(io: &mut Io, args: Vec<String>, env: &BTreeMap<String, String>) -> Res {
    let (flags, rest) = match cli::parse(&args, &app_flags()) {
        Ok(p) => p,
        Err(e) => {
            io.out(&format!("Incorrect Usage. {e}\n\n{}", cli::app_help()));
            io.err(&format!("{e}\n"));
            return Err(1);
        }
    };
    if flags.bool("help") {
        io.out(&cli::app_help());
        return Ok(());
    }
    if flags.bool("version") {
        io.out(&cli::version_text());
        return Ok(());
    }
    let g = Global {
        flags,
        env: env.clone(),
    };
    let Some(name) = rest.first() else {
        io.out(&cli::app_help());
        return Ok(());
    };
    let tail = &rest[1..];
    if name == "help" || name == "h" {
        return help_command(io, tail);
    }
    match COMMANDS.iter().find(|c| c.name() == name) {
        Some(Entry::Leaf(c)) => run_leaf(io, &g, c.name, c, tail).await,
        Some(Entry::Group(grp)) => run_group(io, &g, grp, tail).await,
        None => no_help_topic(io, name),
    }
}

fn no_help_topic(io: &mut Io, name: &str) -> Res {
    io.err(&format!("No help topic for '{name}'\n"));
    Err(3)
}

/// The top app's `help [command]`.
fn help_command(io: &mut Io, args: &[String]) -> Res {
    let (_, rest) =
        cli::parse(&cli::reorder(args, &[&HELP_FLAG]), &[&HELP_FLAG]).unwrap_or_default();
    match rest.first() {
        None => {
            io.out(&cli::app_help());
            Ok(())
        }
        Some(n) => match COMMANDS.iter().find(|c| c.name() == n) {
            Some(Entry::Leaf(c)) => {
                io.out(&cli::command_help(c.name, c));
                Ok(())
            }
            Some(Entry::Group(g)) => {
                io.out(&cli::group_as_command_help(g));
                Ok(())
            }
            None => no_help_topic(io, n),
        },
    }
}

/// urfave's `App.RunAsSubcommand` for `member`, `user`, `role`, `auth`.
async fn run_group(io: &mut Io, g: &Global, grp: &Group, args: &[String]) -> Res {
    let (flags, rest) = match cli::parse(args, &[&HELP_FLAG]) {
        Ok(p) => p,
        Err(e) => {
            io.out(&format!("Incorrect Usage. {e}\n\n{}", cli::group_help(grp)));
            io.err(&format!("{e}\n"));
            return Err(1);
        }
    };
    if flags.bool("help") {
        io.out(&cli::group_help(grp));
        return Ok(());
    }
    let Some(name) = rest.first() else {
        io.out(&cli::group_help(grp));
        return Ok(());
    };
    let tail = &rest[1..];
    if name == "help" || name == "h" {
        let (_, hrest) =
            cli::parse(&cli::reorder(tail, &[&HELP_FLAG]), &[&HELP_FLAG]).unwrap_or_default();
        return match hrest.first() {
            None => {
                io.out(&cli::group_app_help(grp));
                Ok(())
            }
            Some(n) => match grp.subs.iter().find(|c| c.name == n) {
                Some(c) => {
                    io.out(&cli::command_help(&format!("{} {}", grp.name, c.name), c));
                    Ok(())
                }
                None => no_help_topic(io, n),
            },
        };
    }
    match grp.subs.iter().find(|c| c.name == name) {
        Some(c) => run_leaf(io, g, &format!("{} {}", grp.name, c.name), c, tail).await,
        None => no_help_topic(io, name),
    }
}

/// urfave's `Command.Run` for a command without subcommands.
async fn run_leaf(io: &mut Io, g: &Global, path: &str, c: &Cmd, args: &[String]) -> Res {
    let mut flags: Vec<&cli::Flag> = c.flags.iter().collect();
    flags.push(&HELP_FLAG);
    let (v, rest) = match cli::parse(&cli::reorder(args, &flags), &flags) {
        Ok(p) => p,
        Err(e) => {
            io.out(&format!(
                "Incorrect Usage: {e}\n\n{}",
                cli::command_help(path, c)
            ));
            io.err(&format!("{e}\n"));
            return Err(1);
        }
    };
    if v.bool("help") {
        io.out(&cli::command_help(path, c));
        return Ok(());
    }
    let ctx = Ctx {
        g,
        flags: v,
        args: rest,
    };
    dispatch(io, c.run, &ctx).await
}

async fn dispatch(io: &mut Io, run: Run, c: &Ctx<'_>) -> Res {
    match run {
        Run::Backup => backup::backup(io, c).await,
        Run::ClusterHealth => member::cluster_health(io, c).await,
        Run::Mk => keys::mk(io, c).await,
        Run::Mkdir => keys::mkdir(io, c, keys::PrevExist::False).await,
        Run::Setdir => keys::mkdir(io, c, keys::PrevExist::Ignore).await,
        Run::Rm => keys::rm(io, c).await,
        Run::Rmdir => keys::rmdir(io, c).await,
        Run::Get => keys::get(io, c).await,
        Run::Ls => keys::ls(io, c).await,
        Run::Set => keys::set(io, c).await,
        Run::Update => keys::update(io, c).await,
        Run::Updatedir => keys::updatedir(io, c).await,
        Run::Watch => watch::watch(io, c).await,
        Run::ExecWatch => watch::exec_watch(io, c).await,
        Run::MemberList => member::member_list(io, c).await,
        Run::MemberAdd => member::member_add(io, c).await,
        Run::MemberRemove => member::member_remove(io, c).await,
        Run::MemberUpdate => member::member_update(io, c).await,
        Run::UserAdd => auth::user_add(io, c).await,
        Run::UserGet => auth::user_get(io, c).await,
        Run::UserList => auth::user_list(io, c).await,
        Run::UserRemove => auth::user_remove(io, c).await,
        Run::UserGrant => auth::user_grant_revoke(io, c, true).await,
        Run::UserRevoke => auth::user_grant_revoke(io, c, false).await,
        Run::UserPasswd => auth::user_passwd(io, c).await,
        Run::RoleAdd => auth::role_add(io, c).await,
        Run::RoleGet => auth::role_get(io, c).await,
        Run::RoleList => auth::role_list(io, c).await,
        Run::RoleRemove => auth::role_remove(io, c).await,
        Run::RoleGrant => auth::role_grant_revoke(io, c, true).await,
        Run::RoleRevoke => auth::role_grant_revoke(io, c, false).await,
        Run::AuthEnable => auth::auth_enable_disable(io, c, true).await,
        Run::AuthDisable => auth::auth_enable_disable(io, c, false).await,
    }
}
