//! etcdctl's command table: every command's path, help text and flags (as
//! each etcdctl `*_command.go` declares them to cobra), and the help
//! texts rendered from it.

use super::flags::{self, flag, Flag, FlagKind, GLOBAL_FLAGS};
use super::resolve;
use super::CTL_VERSION;

/// One etcdctl command as cobra knows it: where it is, its help, its flags.
/// Which handler runs a command (one variant per etcdctl command built).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Run {
    Get,
    Put,
    Del,
    Txn,
    Compaction,
    Version,
    MoveLeader,
    Watch,
    LeaseGrant,
    LeaseRevoke,
    LeaseTimeToLive,
    LeaseList,
    LeaseKeepAlive,
    Lock,
    Elect,
    MemberAdd,
    MemberRemove,
    MemberUpdate,
    MemberPromote,
    MemberList,
    EndpointHealth,
    EndpointHashKv,
    EndpointStatus,
    AuthEnable,
    AuthDisable,
    UserAdd,
    UserDelete,
    UserGet,
    UserList,
    UserPasswd,
    UserGrantRole,
    UserRevokeRole,
    RoleAdd,
    RoleDelete,
    RoleGet,
    RoleList,
    RoleGrantPermission,
    RoleRevokePermission,
    SnapshotSave,
    SnapshotStatus,
    SnapshotRestore,
    AlarmDisarm,
    AlarmList,
    Defrag,
    CheckPerf,
    CheckDatascale,
    MakeMirror,
    Migrate,
    Completion,
    Help,
}

pub(super) struct Command {
    /// Its handler.
    pub(super) run: Run,
    /// The words that name it: `get`, `member list`.
    pub(super) path: &'static str,
    short: &'static str,
    use_line: &'static str,
    description: Option<&'static str>,
    pub(super) flags: &'static [Flag],
    /// The name the `--help` flag's own line mentions.
    help_for: &'static str,
}

pub(super) const GET_FLAGS: &[Flag] = &[
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
pub(super) const PUT_FLAGS: &[Flag] = &[
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
pub(super) const DEL_FLAGS: &[Flag] = &[
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

pub(super) const WATCH_FLAGS: &[Flag] = &[
    flag(
        "interactive",
        Some('i'),
        FlagKind::Bool,
        "false",
        "Interactive mode",
    ),
    flag(
        "prefix",
        None,
        FlagKind::Bool,
        "false",
        "Watch on a prefix if prefix is set",
    ),
    flag(
        "prev-kv",
        None,
        FlagKind::Bool,
        "false",
        "get the previous key-value pair before the event happens",
    ),
    flag(
        "rev",
        None,
        FlagKind::Int,
        "0",
        "Revision to start watching",
    ),
];

const LOCK_FLAGS: &[Flag] = &[flag(
    "ttl",
    None,
    FlagKind::Int,
    "10",
    "timeout for session",
)];

const ELECT_FLAGS: &[Flag] = &[flag(
    "listen",
    Some('l'),
    FlagKind::Bool,
    "false",
    "observation mode",
)];

const LEASE_TIME_TO_LIVE_FLAGS: &[Flag] = &[flag(
    "keys",
    None,
    FlagKind::Bool,
    "false",
    "Get keys attached to this lease",
)];

const LEASE_KEEP_ALIVE_FLAGS: &[Flag] = &[flag(
    "once",
    None,
    FlagKind::Bool,
    "false",
    "Resets the keep-alive time to its original value and exits immediately",
)];

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

const USER_ADD_FLAGS: &[Flag] = &[
    flag(
        "interactive",
        None,
        FlagKind::Bool,
        "true",
        "Read password from stdin instead of interactive terminal",
    ),
    flag(
        "new-user-password",
        None,
        FlagKind::Str,
        "",
        "Supply password from the command line flag",
    ),
    flag(
        "no-password",
        None,
        FlagKind::Bool,
        "false",
        "Create a user without password (CN based auth only)",
    ),
];
const USER_GET_FLAGS: &[Flag] = &[flag(
    "detail",
    None,
    FlagKind::Bool,
    "false",
    "Show permissions of roles granted to the user",
)];
const USER_PASSWD_FLAGS: &[Flag] = &[flag(
    "interactive",
    None,
    FlagKind::Bool,
    "true",
    "If true, read password from stdin instead of interactive terminal",
)];
const ROLE_GRANT_FLAGS: &[Flag] = &[
    flag("from-key", None, FlagKind::Bool, "false", "grant a permission of keys that are greater than or equal to the given key using byte compare"),
    flag("prefix", None, FlagKind::Bool, "false", "grant a prefix permission"),
];
const ROLE_REVOKE_FLAGS: &[Flag] = &[
    flag("from-key", None, FlagKind::Bool, "false", "revoke a permission of keys that are greater than or equal to the given key using byte compare"),
    flag("prefix", None, FlagKind::Bool, "false", "revoke a prefix permission"),
];

const SNAPSHOT_RESTORE_FLAGS: &[Flag] = &[
    flag(
        "data-dir",
        None,
        FlagKind::Str,
        "",
        "Path to the data directory",
    ),
    flag(
        "initial-advertise-peer-urls",
        None,
        FlagKind::Str,
        "http://localhost:2380",
        "List of this member's peer URLs to advertise to the rest of the cluster",
    ),
    flag(
        "initial-cluster",
        None,
        FlagKind::Str,
        "default=http://localhost:2380",
        "Initial cluster configuration for restore bootstrap",
    ),
    flag(
        "initial-cluster-token",
        None,
        FlagKind::Str,
        "etcd-cluster",
        "Initial cluster token for the etcd cluster during restore bootstrap",
    ),
    flag(
        "name",
        None,
        FlagKind::Str,
        "default",
        "Human-readable name for this member",
    ),
    flag(
        "skip-hash-check",
        None,
        FlagKind::Bool,
        "false",
        "Ignore snapshot integrity hash value (required if copied from data directory)",
    ),
    flag(
        "wal-dir",
        None,
        FlagKind::Str,
        "",
        "Path to the WAL directory (use --data-dir if none given)",
    ),
];

const DEFRAG_FLAGS: &[Flag] = &[
    CLUSTER_FLAG,
    flag(
        "data-dir",
        None,
        FlagKind::Str,
        "",
        "Optional. If present, defragments a data directory not in use by etcd.",
    ),
];

const AUTO_COMPACT_FLAG: Flag = flag(
    "auto-compact",
    None,
    FlagKind::Bool,
    "false",
    "Compact storage with last revision after test is finished.",
);
const AUTO_DEFRAG_FLAG: Flag = flag(
    "auto-defrag",
    None,
    FlagKind::Bool,
    "false",
    "Defragment storage after test is finished.",
);
const CHECK_PERF_FLAGS: &[Flag] = &[
    AUTO_COMPACT_FLAG,
    AUTO_DEFRAG_FLAG,
    flag("load", None, FlagKind::Str, "s", "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
    flag("prefix", None, FlagKind::Str, "/etcdctl-check-perf/", "The prefix for writing the performance check's keys."),
];
const CHECK_DATASCALE_FLAGS: &[Flag] = &[
    AUTO_COMPACT_FLAG,
    AUTO_DEFRAG_FLAG,
    flag("load", None, FlagKind::Str, "s", "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)"),
    flag("prefix", None, FlagKind::Str, "/etcdctl-check-datascale/", "The prefix for writing the datascale check's keys."),
];

const MAKE_MIRROR_FLAGS: &[Flag] = &[
    flag(
        "dest-cacert",
        None,
        FlagKind::Str,
        "",
        "Verify certificates of TLS enabled secure servers using this CA bundle",
    ),
    flag(
        "dest-cert",
        None,
        FlagKind::Str,
        "",
        "Identify secure client using this TLS certificate file for the destination cluster",
    ),
    flag(
        "dest-insecure-transport",
        None,
        FlagKind::Bool,
        "true",
        "Disable transport security for client connections",
    ),
    flag(
        "dest-key",
        None,
        FlagKind::Str,
        "",
        "Identify secure client using this TLS key file",
    ),
    flag(
        "dest-prefix",
        None,
        FlagKind::Str,
        "",
        "destination prefix to mirror a prefix to a different prefix in the destination cluster",
    ),
    flag(
        "no-dest-prefix",
        None,
        FlagKind::Bool,
        "false",
        "mirror key-values to the root of the destination cluster",
    ),
    flag(
        "prefix",
        None,
        FlagKind::Str,
        "",
        "Key-value prefix to mirror",
    ),
];

const MIGRATE_FLAGS: &[Flag] = &[
    flag(
        "data-dir",
        None,
        FlagKind::Str,
        "",
        "Path to the data directory",
    ),
    flag(
        "no-ttl",
        None,
        FlagKind::Bool,
        "false",
        "Do not convert TTL keys",
    ),
    flag(
        "transformer",
        None,
        FlagKind::Str,
        "",
        "Path to the user-provided transformer program",
    ),
    flag(
        "wal-dir",
        None,
        FlagKind::Str,
        "",
        "Path to the WAL directory",
    ),
];

const COMPLETION_FLAGS: &[Flag] = &[flag(
    "no-descriptions",
    None,
    FlagKind::Bool,
    "false",
    "disable completion descriptions",
)];

const CHECK_DATASCALE_DESCRIPTION: &str = "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.\n";

const HELP_DESCRIPTION: &str = "Help provides help for any command in the application.
Simply type etcdctl help [path to command] for full details.
";

const COMPLETION_BASH_DESCRIPTION: &str = "Generate the autocompletion script for the bash shell.

This script depends on the 'bash-completion' package.
If it is not installed already, you can install it via your OS's package manager.

To load completions in your current shell session:

\tsource <(etcdctl completion bash)

To load completions for every new session, execute once:

#### Linux:

\tetcdctl completion bash > /etc/bash_completion.d/etcdctl

#### macOS:

\tetcdctl completion bash > $(brew --prefix)/etc/bash_completion.d/etcdctl

You will need to start a new shell for this setup to take effect.
";

const COMPLETION_ZSH_DESCRIPTION: &str = "Generate the autocompletion script for the zsh shell.

If shell completion is not already enabled in your environment you will need
to enable it.  You can execute the following once:

\techo \"autoload -U compinit; compinit\" >> ~/.zshrc

To load completions in your current shell session:

\tsource <(etcdctl completion zsh); compdef _etcdctl etcdctl

To load completions for every new session, execute once:

#### Linux:

\tetcdctl completion zsh > \"${fpath[1]}/_etcdctl\"

#### macOS:

\tetcdctl completion zsh > $(brew --prefix)/share/zsh/site-functions/_etcdctl

You will need to start a new shell for this setup to take effect.
";

const COMPLETION_FISH_DESCRIPTION: &str = "Generate the autocompletion script for the fish shell.

To load completions in your current shell session:

\tetcdctl completion fish | source

To load completions for every new session, execute once:

\tetcdctl completion fish > ~/.config/fish/completions/etcdctl.fish

You will need to start a new shell for this setup to take effect.
";

const COMPLETION_POWERSHELL_DESCRIPTION: &str = "Generate the autocompletion script for powershell.

To load completions in your current shell session:

\tetcdctl completion powershell | Out-String | Invoke-Expression

To load completions for every new session, add the output of the above command
to your powershell profile.
";

/// The commands oxcd's etcdctl has, in the order etcdctl 3.4 lists them.
const COMMANDS: &[Command] = &[
    Command { run: Run::Get, path: "get", short: "Gets the key or a range of keys", use_line: "etcdctl get [options] <key> [range_end] [flags]", description: None, flags: GET_FLAGS, help_for: "get" },
    Command { run: Run::Put, path: "put", short: "Puts the given key into the store", use_line: "etcdctl put [options] <key> <value> (<value> can also be given from stdin) [flags]", description: Some(PUT_DESCRIPTION), flags: PUT_FLAGS, help_for: "put" },
    Command { run: Run::Del, path: "del", short: "Removes the specified key or range of keys [key, range_end)", use_line: "etcdctl del [options] <key> [range_end] [flags]", description: None, flags: DEL_FLAGS, help_for: "del" },
    Command { run: Run::Txn, path: "txn", short: "Txn processes all the requests in one transaction", use_line: "etcdctl txn [options] [flags]", description: None, flags: TXN_FLAGS, help_for: "txn" },
    Command { run: Run::Compaction, path: "compaction", short: "Compacts the event history in etcd", use_line: "etcdctl compaction [options] <revision> [flags]", description: None, flags: COMPACTION_FLAGS, help_for: "compaction" },
    Command { run: Run::Version, path: "version", short: "Prints the version of etcdctl", use_line: "etcdctl version [flags]", description: None, flags: &[], help_for: "version" },
    Command { run: Run::MoveLeader, path: "move-leader", short: "Transfers leadership to another etcd cluster member.", use_line: "etcdctl move-leader <transferee-member-id> [flags]", description: None, flags: &[], help_for: "move-leader" },
    Command { run: Run::Watch, path: "watch", short: "Watches events stream on keys or prefixes", use_line: "etcdctl watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...] [flags]", description: None, flags: WATCH_FLAGS, help_for: "watch" },
    Command { run: Run::LeaseGrant, path: "lease grant", short: "Creates leases", use_line: "etcdctl lease grant <ttl> [flags]", description: None, flags: &[], help_for: "grant" },
    Command { run: Run::LeaseRevoke, path: "lease revoke", short: "Revokes leases", use_line: "etcdctl lease revoke <leaseID> [flags]", description: None, flags: &[], help_for: "revoke" },
    Command { run: Run::LeaseTimeToLive, path: "lease timetolive", short: "Get lease information", use_line: "etcdctl lease timetolive <leaseID> [options] [flags]", description: None, flags: LEASE_TIME_TO_LIVE_FLAGS, help_for: "timetolive" },
    Command { run: Run::LeaseList, path: "lease list", short: "List all active leases", use_line: "etcdctl lease list [flags]", description: None, flags: &[], help_for: "list" },
    Command { run: Run::LeaseKeepAlive, path: "lease keep-alive", short: "Keeps leases alive (renew)", use_line: "etcdctl lease keep-alive [options] <leaseID> [flags]", description: None, flags: LEASE_KEEP_ALIVE_FLAGS, help_for: "keep-alive" },
    Command { run: Run::Lock, path: "lock", short: "Acquires a named lock", use_line: "etcdctl lock <lockname> [exec-command arg1 arg2 ...] [flags]", description: None, flags: LOCK_FLAGS, help_for: "lock" },
    Command { run: Run::Elect, path: "elect", short: "Observes and participates in leader election", use_line: "etcdctl elect <election-name> [proposal] [flags]", description: None, flags: ELECT_FLAGS, help_for: "elect" },
    Command { run: Run::MemberAdd, path: "member add", short: "Adds a member into the cluster", use_line: "etcdctl member add <memberName> [options] [flags]", description: None, flags: MEMBER_ADD_FLAGS, help_for: "add" },
    Command { run: Run::MemberRemove, path: "member remove", short: "Removes a member from the cluster", use_line: "etcdctl member remove <memberID> [flags]", description: None, flags: &[], help_for: "remove" },
    Command { run: Run::MemberUpdate, path: "member update", short: "Updates a member in the cluster", use_line: "etcdctl member update <memberID> [options] [flags]", description: None, flags: MEMBER_UPDATE_FLAGS, help_for: "update" },
    Command { run: Run::MemberPromote, path: "member promote", short: "Promotes a non-voting member in the cluster", use_line: "etcdctl member promote <memberID> [flags]", description: Some("Promotes a non-voting learner member to a voting one in the cluster.\n"), flags: &[], help_for: "promote" },
    Command { run: Run::MemberList, path: "member list", short: "Lists all members in the cluster", use_line: "etcdctl member list [flags]", description: Some("When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.\nThe items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.\n"), flags: &[], help_for: "list" },
    Command { run: Run::EndpointHealth, path: "endpoint health", short: "Checks the healthiness of endpoints specified in `--endpoints` flag", use_line: "etcdctl endpoint health [flags]", description: None, flags: ENDPOINT_FLAGS, help_for: "health" },
    Command { run: Run::EndpointHashKv, path: "endpoint hashkv", short: "Prints the KV history hash for each endpoint in --endpoints", use_line: "etcdctl endpoint hashkv [flags]", description: None, flags: HASHKV_FLAGS, help_for: "hashkv" },
    Command { run: Run::AuthDisable, path: "auth disable", short: "Disables authentication", use_line: "etcdctl auth disable [flags]", description: None, flags: &[], help_for: "disable" },
    Command { run: Run::AuthEnable, path: "auth enable", short: "Enables authentication", use_line: "etcdctl auth enable [flags]", description: None, flags: &[], help_for: "enable" },
    Command { run: Run::RoleAdd, path: "role add", short: "Adds a new role", use_line: "etcdctl role add <role name> [flags]", description: None, flags: &[], help_for: "add" },
    Command { run: Run::RoleDelete, path: "role delete", short: "Deletes a role", use_line: "etcdctl role delete <role name> [flags]", description: None, flags: &[], help_for: "delete" },
    Command { run: Run::RoleGet, path: "role get", short: "Gets detailed information of a role", use_line: "etcdctl role get <role name> [flags]", description: None, flags: &[], help_for: "get" },
    Command { run: Run::RoleGrantPermission, path: "role grant-permission", short: "Grants a key to a role", use_line: "etcdctl role grant-permission [options] <role name> <permission type> <key> [endkey] [flags]", description: None, flags: ROLE_GRANT_FLAGS, help_for: "grant-permission" },
    Command { run: Run::RoleList, path: "role list", short: "Lists all roles", use_line: "etcdctl role list [flags]", description: None, flags: &[], help_for: "list" },
    Command { run: Run::RoleRevokePermission, path: "role revoke-permission", short: "Revokes a key from a role", use_line: "etcdctl role revoke-permission <role name> <key> [endkey] [flags]", description: None, flags: ROLE_REVOKE_FLAGS, help_for: "revoke-permission" },
    Command { run: Run::UserAdd, path: "user add", short: "Adds a new user", use_line: "etcdctl user add <user name or user:password> [options] [flags]", description: None, flags: USER_ADD_FLAGS, help_for: "add" },
    Command { run: Run::UserDelete, path: "user delete", short: "Deletes a user", use_line: "etcdctl user delete <user name> [flags]", description: None, flags: &[], help_for: "delete" },
    Command { run: Run::UserGet, path: "user get", short: "Gets detailed information of a user", use_line: "etcdctl user get <user name> [options] [flags]", description: None, flags: USER_GET_FLAGS, help_for: "get" },
    Command { run: Run::UserGrantRole, path: "user grant-role", short: "Grants a role to a user", use_line: "etcdctl user grant-role <user name> <role name> [flags]", description: None, flags: &[], help_for: "grant-role" },
    Command { run: Run::UserList, path: "user list", short: "Lists all users", use_line: "etcdctl user list [flags]", description: None, flags: &[], help_for: "list" },
    Command { run: Run::UserPasswd, path: "user passwd", short: "Changes password of user", use_line: "etcdctl user passwd <user name> [options] [flags]", description: None, flags: USER_PASSWD_FLAGS, help_for: "passwd" },
    Command { run: Run::UserRevokeRole, path: "user revoke-role", short: "Revokes a role from a user", use_line: "etcdctl user revoke-role <user name> <role name> [flags]", description: None, flags: &[], help_for: "revoke-role" },
    Command { run: Run::SnapshotRestore, path: "snapshot restore", short: "Restores an etcd member snapshot to an etcd directory", use_line: "etcdctl snapshot restore <filename> [options] [flags]", description: None, flags: SNAPSHOT_RESTORE_FLAGS, help_for: "restore" },
    Command { run: Run::SnapshotSave, path: "snapshot save", short: "Stores an etcd node backend snapshot to a given file", use_line: "etcdctl snapshot save <filename> [flags]", description: None, flags: &[], help_for: "save" },
    Command { run: Run::SnapshotStatus, path: "snapshot status", short: "Gets backend snapshot status of a given file", use_line: "etcdctl snapshot status <filename> [flags]", description: Some("When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are hash, revision, total keys, total size.\n"), flags: &[], help_for: "status" },
    Command { run: Run::AlarmDisarm, path: "alarm disarm", short: "Disarms all alarms", use_line: "etcdctl alarm disarm [flags]", description: None, flags: &[], help_for: "disarm" },
    Command { run: Run::AlarmList, path: "alarm list", short: "Lists all alarms", use_line: "etcdctl alarm list [flags]", description: None, flags: &[], help_for: "list" },
    Command { run: Run::Defrag, path: "defrag", short: "Defragments the storage of the etcd members with given endpoints", use_line: "etcdctl defrag [flags]", description: None, flags: DEFRAG_FLAGS, help_for: "defrag" },
    Command { run: Run::CheckDatascale, path: "check datascale", short: "Check the memory usage of holding data for different workloads on a given server endpoint.", use_line: "etcdctl check datascale [options] [flags]", description: Some(CHECK_DATASCALE_DESCRIPTION), flags: CHECK_DATASCALE_FLAGS, help_for: "datascale" },
    Command { run: Run::CheckPerf, path: "check perf", short: "Check the performance of the etcd cluster", use_line: "etcdctl check perf [options] [flags]", description: None, flags: CHECK_PERF_FLAGS, help_for: "perf" },
    Command { run: Run::MakeMirror, path: "make-mirror", short: "Makes a mirror at the destination etcd cluster", use_line: "etcdctl make-mirror [options] <destination> [flags]", description: None, flags: MAKE_MIRROR_FLAGS, help_for: "make-mirror" },
    Command { run: Run::Migrate, path: "migrate", short: "Migrates keys in a v2 store to a mvcc store", use_line: "etcdctl migrate [flags]", description: None, flags: MIGRATE_FLAGS, help_for: "migrate" },
    // cobra's own commands: its completion scripts (whose `bash` declares
    // no `[flags]` in its use line) and `help`.
    Command { run: Run::Completion, path: "completion bash", short: "Generate the autocompletion script for bash", use_line: "etcdctl completion bash", description: Some(COMPLETION_BASH_DESCRIPTION), flags: COMPLETION_FLAGS, help_for: "bash" },
    Command { run: Run::Completion, path: "completion fish", short: "Generate the autocompletion script for fish", use_line: "etcdctl completion fish [flags]", description: Some(COMPLETION_FISH_DESCRIPTION), flags: COMPLETION_FLAGS, help_for: "fish" },
    Command { run: Run::Completion, path: "completion powershell", short: "Generate the autocompletion script for powershell", use_line: "etcdctl completion powershell [flags]", description: Some(COMPLETION_POWERSHELL_DESCRIPTION), flags: COMPLETION_FLAGS, help_for: "powershell" },
    Command { run: Run::Completion, path: "completion zsh", short: "Generate the autocompletion script for zsh", use_line: "etcdctl completion zsh [flags]", description: Some(COMPLETION_ZSH_DESCRIPTION), flags: COMPLETION_FLAGS, help_for: "zsh" },
    Command { run: Run::Help, path: "help", short: "Help about any command", use_line: "etcdctl help [command] [flags]", description: Some(HELP_DESCRIPTION), flags: &[], help_for: "help" },
    Command { run: Run::EndpointStatus, path: "endpoint status", short: "Prints out the status of endpoints specified in `--endpoints` flag", use_line: "etcdctl endpoint status [flags]", description: Some("When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.\nThe items in the lists are endpoint, ID, version, db size, is leader, is learner, raft term, raft index, raft applied index, errors.\n"), flags: ENDPOINT_FLAGS, help_for: "status" },
];

impl Command {
    /// The command's `--help` text.
    /// Its one-line description.
    pub(super) fn short(&self) -> &'static str {
        self.short
    }
    pub(super) fn usage(&self) -> String {
        flags::usage(
            self.path,
            self.short,
            self.use_line,
            self.description,
            self.flags,
            self.help_for,
        )
    }
}

/// Every command's path and flags (the flag-parsing fuzz target tries each).
pub fn flag_sets() -> impl Iterator<Item = (&'static str, &'static [Flag])> {
    COMMANDS.iter().map(|c| (c.path, c.flags))
}

/// The command at `path` (`member list`), if oxcd's etcdctl has it.
pub(super) fn find(path: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.path == path)
}

/// `etcdctl` alone, or `etcdctl help`: every command, sorted by its path
/// as cobra walks its sorted command tree. `help_flag`: whether cobra has
/// added its `--help` flag yet (not when `help` prints the root's usage
/// for a topic it does not know).
pub(super) fn root_help(help_flag: bool) -> String {
    let mut s = format!("NAME:\n\tetcdctl - A simple command line client for etcd3.\n\nUSAGE:\n\tetcdctl [flags]\n\nVERSION:\n\t{CTL_VERSION}\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n");
    let mut commands: Vec<(&str, &str)> = COMMANDS.iter().map(|c| (c.path, c.short)).collect();
    commands.sort();
    for (path, short) in commands {
        s.push_str(&format!("\t{path}\t{short}\n"));
    }
    s.push_str("\nOPTIONS:\n");
    let help = flag(
        "help",
        Some('h'),
        FlagKind::Bool,
        "false",
        "help for etcdctl",
    );
    let mut options: Vec<&Flag> = GLOBAL_FLAGS.iter().collect();
    if help_flag {
        options.push(&help);
    }
    options.sort_by_key(|f| f.name);
    for f in options {
        s.push_str(&flags::flag_line(f));
        s.push('\n');
    }
    s.push('\n');
    flags::tabwrite(&s)
}

/// A command group's help (`etcdctl member`), as cobra renders it.
pub(super) fn group_help(group: &str) -> String {
    let (_, short, subs) = resolve::GROUPS
        .iter()
        .find(|(g, _, _)| *g == group)
        .expect("a listed group");
    let commands: Vec<(&str, &str)> = subs
        .iter()
        .map(|s| {
            let c = find(&format!("{group} {s}")).expect("every listed subcommand is built");
            (*s, c.short)
        })
        .collect();
    // The group's own flags are those all its subcommands share.
    let own = match group {
        "endpoint" => ENDPOINT_FLAGS,
        _ => &[],
    };
    // cobra's `completion` runs nothing itself: it has no `<subcommand>` in
    // its use line, and a description.
    let (use_line, description) = match group {
        "completion" => (
            "etcdctl completion [flags]".to_string(),
            Some("Generate the autocompletion script for etcdctl for the specified shell.\nSee each sub-command's help for details on how to use the generated script.\n"),
        ),
        _ => (format!("etcdctl {group} <subcommand> [flags]"), None),
    };
    flags::group_usage(group, short, &use_line, description, &commands, own)
}
