//! etcdctl v2's commands and flags, with urfave's texts (etcd 3.4's
//! `ctlv2/ctl.go` and `ctlv2/command/*.go`), in the order `--help` lists
//! them.

use super::cli::{Flag, Kind};

/// What a leaf command runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    Backup,
    ClusterHealth,
    Mk,
    Mkdir,
    Rm,
    Rmdir,
    Get,
    Ls,
    Set,
    Setdir,
    Update,
    Updatedir,
    Watch,
    ExecWatch,
    MemberList,
    MemberAdd,
    MemberRemove,
    MemberUpdate,
    UserAdd,
    UserGet,
    UserList,
    UserRemove,
    UserGrant,
    UserRevoke,
    UserPasswd,
    RoleAdd,
    RoleGet,
    RoleList,
    RoleRemove,
    RoleGrant,
    RoleRevoke,
    AuthEnable,
    AuthDisable,
}

pub struct Cmd {
    pub name: &'static str,
    pub usage: &'static str,
    pub args_usage: &'static str,
    pub description: &'static str,
    pub flags: &'static [Flag],
    pub run: Run,
}

/// A command with subcommands, run by urfave as an app of its own.
pub struct Group {
    pub name: &'static str,
    pub usage: &'static str,
    pub subs: &'static [Cmd],
}

pub enum Entry {
    Leaf(Cmd),
    Group(Group),
}

impl Entry {
    pub fn name(&self) -> &'static str {
        match self {
            Entry::Leaf(c) => c.name,
            Entry::Group(g) => g.name,
        }
    }
    pub fn usage(&self) -> &'static str {
        match self {
            Entry::Leaf(c) => c.usage,
            Entry::Group(g) => g.usage,
        }
    }
}

pub const HELP_FLAG: Flag = Flag::new("help, h", Kind::Bool, "show help");
pub const VERSION_FLAG: Flag = Flag::new("version, v", Kind::Bool, "print the version");

pub const APP_FLAGS: &[Flag] = &[
    Flag::new("debug", Kind::Bool, "output cURL commands which can be used to reproduce the request"),
    Flag::new("no-sync", Kind::Bool, "don't synchronize cluster information before sending request"),
    Flag::new("output, o", Kind::Str("simple"), "output response in the given format (`simple`, `extended` or `json`)"),
    Flag::new("discovery-srv, D", Kind::Str(""), "domain name to query for SRV records describing cluster endpoints"),
    Flag::new("insecure-discovery", Kind::Bool, "accept insecure SRV records describing cluster endpoints"),
    Flag::new("peers, C", Kind::Str(""), "DEPRECATED - \"--endpoints\" should be used instead"),
    Flag::new("endpoint", Kind::Str(""), "DEPRECATED - \"--endpoints\" should be used instead"),
    Flag::new("endpoints", Kind::Str(""), "a comma-delimited list of machine addresses in the cluster (default: \"http://127.0.0.1:2379,http://127.0.0.1:4001\")"),
    Flag::new("cert-file", Kind::Str(""), "identify HTTPS client using this SSL certificate file"),
    Flag::new("key-file", Kind::Str(""), "identify HTTPS client using this SSL key file"),
    Flag::new("ca-file", Kind::Str(""), "verify certificates of HTTPS-enabled servers using this CA bundle"),
    Flag::new("username, u", Kind::Str(""), "provide username[:password] and prompt if password is not supplied."),
    Flag::new("timeout", Kind::Duration("2s"), "connection timeout per request"),
    Flag::new("total-timeout", Kind::Duration("5s"), "timeout for the command execution (except watch)"),
];

const TTL: Flag = Flag::new("ttl", Kind::Int, "key time-to-live in seconds");
const SORT: Flag = Flag::new("sort", Kind::Bool, "returns result in sorted order");
const QUORUM: Flag = Flag::new("quorum, q", Kind::Bool, "require quorum for get request");
const AFTER_INDEX: Flag = Flag::new("after-index", Kind::Int, "watch after the given index");
const ROLES: Flag = Flag::new("roles", Kind::StrSlice, "List of roles to grant or revoke");

const fn leaf(
    name: &'static str,
    usage: &'static str,
    args_usage: &'static str,
    flags: &'static [Flag],
    run: Run,
) -> Cmd {
    Cmd {
        name,
        usage,
        args_usage,
        description: "",
        flags,
        run,
    }
}

pub const COMMANDS: &[Entry] = &[
    Entry::Leaf(leaf("backup", "backup an etcd directory", " ", &[
        Flag::new("data-dir", Kind::Str(""), "Path to the etcd data dir"),
        Flag::new("wal-dir", Kind::Str(""), "Path to the etcd wal dir"),
        Flag::new("backup-dir", Kind::Str(""), "Path to the backup dir"),
        Flag::new("backup-wal-dir", Kind::Str(""), "Path to the backup wal dir"),
        Flag::new("with-v3", Kind::Bool, "Backup v3 backend data"),
    ], Run::Backup)),
    Entry::Leaf(leaf("cluster-health", "check the health of the etcd cluster", " ", &[
        Flag::new("forever, f", Kind::Bool, "forever check the health every 10 second until CTRL+C"),
    ], Run::ClusterHealth)),
    Entry::Leaf(leaf("mk", "make a new key with a given value", "<key> <value>", &[
        Flag::new("in-order", Kind::Bool, "create in-order key under directory <key>"),
        TTL,
    ], Run::Mk)),
    Entry::Leaf(leaf("mkdir", "make a new directory", "<key>", &[TTL], Run::Mkdir)),
    Entry::Leaf(leaf("rm", "remove a key or a directory", "<key>", &[
        Flag::new("dir", Kind::Bool, "removes the key if it is an empty directory or a key-value pair"),
        Flag::new("recursive, r", Kind::Bool, "removes the key and all child keys(if it is a directory)"),
        Flag::new("with-value", Kind::Str(""), "previous value"),
        Flag::new("with-index", Kind::Int, "previous index"),
    ], Run::Rm)),
    Entry::Leaf(leaf("rmdir", "removes the key if it is an empty directory or a key-value pair", "<key>", &[], Run::Rmdir)),
    Entry::Leaf(leaf("get", "retrieve the value of a key", "<key>", &[SORT, QUORUM], Run::Get)),
    Entry::Leaf(leaf("ls", "retrieve a directory", "[key]", &[
        SORT,
        Flag::new("recursive, r", Kind::Bool, "returns all key names recursively for the given path"),
        Flag::new("p", Kind::Bool, "append slash (/) to directories"),
        QUORUM,
    ], Run::Ls)),
    Entry::Leaf(Cmd {
        name: "set",
        usage: "set the value of a key",
        args_usage: "<key> <value>",
        description: "Set sets the value of a key.\n\n   When <value> begins with '-', <value> is interpreted as a flag.\n   Insert '--' for workaround:\n\n   $ set -- <key> <value>",
        flags: &[
            TTL,
            Flag::new("swap-with-value", Kind::Str(""), "previous value"),
            Flag::new("swap-with-index", Kind::Int, "previous index"),
        ],
        run: Run::Set,
    }),
    Entry::Leaf(leaf("setdir", "create a new directory or update an existing directory TTL", "<key>", &[TTL], Run::Setdir)),
    Entry::Leaf(leaf("update", "update an existing key with a given value", "<key> <value>", &[TTL], Run::Update)),
    Entry::Leaf(leaf("updatedir", "update an existing directory", "<key> <value>", &[TTL], Run::Updatedir)),
    Entry::Leaf(leaf("watch", "watch a key for changes", "<key>", &[
        Flag::new("forever, f", Kind::Bool, "forever watch a key until CTRL+C"),
        AFTER_INDEX,
        Flag::new("recursive, r", Kind::Bool, "returns all values for key and child keys"),
    ], Run::Watch)),
    Entry::Leaf(leaf("exec-watch", "watch a key for changes and exec an executable", "<key> <command> [args...]", &[
        AFTER_INDEX,
        Flag::new("recursive, r", Kind::Bool, "watch all values for key and child keys"),
    ], Run::ExecWatch)),
    Entry::Group(Group {
        name: "member",
        usage: "member add, remove and list subcommands",
        subs: &[
            leaf("list", "enumerate existing cluster members", " ", &[], Run::MemberList),
            leaf("add", "add a new member to the etcd cluster", "<name> <peerURL>", &[], Run::MemberAdd),
            leaf("remove", "remove an existing member from the etcd cluster", "<memberID>", &[], Run::MemberRemove),
            leaf("update", "update an existing member in the etcd cluster", "<memberID> <peerURLs>", &[], Run::MemberUpdate),
        ],
    }),
    Entry::Group(Group {
        name: "user",
        usage: "user add, grant and revoke subcommands",
        subs: &[
            leaf("add", "add a new user for the etcd cluster", "<user>", &[], Run::UserAdd),
            leaf("get", "get details for a user", "<user>", &[], Run::UserGet),
            leaf("list", "list all current users", "<user>", &[], Run::UserList),
            leaf("remove", "remove a user for the etcd cluster", "<user>", &[], Run::UserRemove),
            leaf("grant", "grant roles to an etcd user", "<user>", &[ROLES], Run::UserGrant),
            leaf("revoke", "revoke roles for an etcd user", "<user>", &[ROLES], Run::UserRevoke),
            leaf("passwd", "change password for a user", "<user>", &[], Run::UserPasswd),
        ],
    }),
    Entry::Group(Group {
        name: "role",
        usage: "role add, grant and revoke subcommands",
        subs: &[
            leaf("add", "add a new role for the etcd cluster", "<role> ", &[], Run::RoleAdd),
            leaf("get", "get details for a role", "<role>", &[], Run::RoleGet),
            leaf("list", "list all roles", " ", &[], Run::RoleList),
            leaf("remove", "remove a role from the etcd cluster", "<role>", &[], Run::RoleRemove),
            leaf("grant", "grant path matches to an etcd role", "<role>", &[
                Flag::new("path", Kind::Str(""), "Path granted for the role to access"),
                Flag::new("read", Kind::Bool, "Grant read-only access"),
                Flag::new("write", Kind::Bool, "Grant write-only access"),
                Flag::new("readwrite, rw", Kind::Bool, "Grant read-write access"),
            ], Run::RoleGrant),
            leaf("revoke", "revoke path matches for an etcd role", "<role>", &[
                Flag::new("path", Kind::Str(""), "Path revoked for the role to access"),
                Flag::new("read", Kind::Bool, "Revoke read access"),
                Flag::new("write", Kind::Bool, "Revoke write access"),
                Flag::new("readwrite, rw", Kind::Bool, "Revoke read-write access"),
            ], Run::RoleRevoke),
        ],
    }),
    Entry::Group(Group {
        name: "auth",
        usage: "overall auth controls",
        subs: &[
            leaf("enable", "enable auth access controls", " ", &[], Run::AuthEnable),
            leaf("disable", "disable auth access controls", " ", &[], Run::AuthDisable),
        ],
    }),
];
