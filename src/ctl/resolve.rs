//! How etcdctl 3.4 (cobra, with prefix matching on) finds the command in
//! its arguments: an exact name or a unique prefix at each level; an
//! unknown or ambiguous top-level word is an error with cobra's
//! suggestions; an unknown or missing subcommand of a group prints the
//! group's help and succeeds.

use super::flags::{FlagKind, GLOBAL_FLAGS};

/// etcdctl 3.4's top-level commands in the order it registers them (cobra
/// lists suggestions in this order), with cobra's own `help` and
/// `completion` last.
pub const ROOT: &[&str] = &[
    "get",
    "put",
    "del",
    "txn",
    "compaction",
    "alarm",
    "defrag",
    "endpoint",
    "move-leader",
    "watch",
    "version",
    "lease",
    "member",
    "snapshot",
    "make-mirror",
    "migrate",
    "lock",
    "elect",
    "auth",
    "user",
    "role",
    "check",
    "help",
    "completion",
];

/// Groups whose subcommands oxcd's etcdctl has, with their one-line
/// descriptions and subcommands (alphabetical, as cobra lists them).
pub const GROUPS: &[(&str, &str, &[&str])] = &[
    ("alarm", "Alarm related commands", &["disarm", "list"]),
    (
        "check",
        "commands for checking properties of the etcd cluster",
        &["datascale", "perf"],
    ),
    (
        "completion",
        "Generate the autocompletion script for the specified shell",
        &["bash", "fish", "powershell", "zsh"],
    ),
    (
        "auth",
        "Enable or disable authentication",
        &["disable", "enable"],
    ),
    (
        "role",
        "Role related commands",
        &[
            "add",
            "delete",
            "get",
            "grant-permission",
            "list",
            "revoke-permission",
        ],
    ),
    (
        "user",
        "User related commands",
        &[
            "add",
            "delete",
            "get",
            "grant-role",
            "list",
            "passwd",
            "revoke-role",
        ],
    ),
    (
        "endpoint",
        "Endpoint related commands",
        &["hashkv", "health", "status"],
    ),
    (
        "lease",
        "Lease related commands",
        &["grant", "keep-alive", "list", "revoke", "timetolive"],
    ),
    (
        "member",
        "Membership related commands",
        &["add", "list", "promote", "remove", "update"],
    ),
    (
        "snapshot",
        "Manages etcd node snapshots",
        &["restore", "save", "status"],
    ),
];

/// What the arguments ask for.
#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A command path (`get`, `member list`) and the arguments left.
    Command(String, Vec<String>),
    /// No command word at all: the root help.
    RootHelp,
    /// A group without a (known) subcommand: its help.
    GroupHelp(&'static str),
    /// An unknown or ambiguous top-level word: cobra's error text.
    Unknown(String),
}

/// cobra's `findNext`: the exact name, else the only name with this prefix.
fn find<'a>(word: &str, names: &[&'a str]) -> Option<&'a str> {
    if let Some(n) = names.iter().find(|n| **n == word) {
        return Some(n);
    }
    let mut matches = names.iter().filter(|n| n.starts_with(word));
    match (matches.next(), matches.next()) {
        (Some(n), None) if !word.is_empty() => Some(n),
        _ => None,
    }
}

/// Levenshtein distance, ignoring case (cobra's `ld(s, t, true)`).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_lowercase().chars().collect();
    let b: Vec<char> = b.to_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// cobra's "unknown command" message with its suggestions (names within
/// two edits, or starting with the word).
fn unknown(word: &str) -> String {
    let suggestions: Vec<&str> = ROOT
        .iter()
        .copied()
        .filter(|n| *n != "help" && (distance(word, n) <= 2 || n.starts_with(&word.to_lowercase())))
        .collect();
    let mut msg = format!("unknown command {word:?} for \"etcdctl\"");
    if !suggestions.is_empty() {
        msg.push_str("\n\nDid you mean this?\n");
        for s in suggestions {
            msg.push_str(&format!("\t{s}\n"));
        }
    }
    msg
}

/// Whether `arg` is a global flag that takes the next argument as its value.
fn takes_value(arg: &str) -> bool {
    let name = arg.trim_start_matches('-');
    !name.contains('=')
        && GLOBAL_FLAGS.iter().any(|f| {
            (f.name == name || (name.len() == 1 && f.short == name.chars().next()))
                && f.kind != FlagKind::Bool
        })
}

/// Where the words that are not flags (or flags' values) are, up to `--`.
fn word_positions(args: &[String]) -> Vec<usize> {
    let mut words = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--" {
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            i += if takes_value(a) { 2 } else { 1 };
            continue;
        }
        words.push(i);
        i += 1;
    }
    words
}

/// Where the first word that is not a flag (or a flag's value) is.
pub fn first_word(args: &[String]) -> Option<usize> {
    word_positions(args).first().copied()
}

/// Finds the command in `args` (flags may come before it).
pub fn resolve(args: &[String]) -> Resolved {
    let words = word_positions(args);
    let Some(&first) = words.first() else {
        return Resolved::RootHelp;
    };
    let Some(top) = find(&args[first], ROOT) else {
        return Resolved::Unknown(unknown(&args[first]));
    };
    let mut used = vec![first];
    let mut path = top.to_string();
    if let Some((group, _, subs)) = GROUPS.iter().find(|(g, _, _)| *g == top) {
        let sub = words.get(1).and_then(|&w| Some((w, find(&args[w], subs)?)));
        let Some((w, sub)) = sub else {
            return Resolved::GroupHelp(group);
        };
        used.push(w);
        path = format!("{top} {sub}");
    }
    let rest = args
        .iter()
        .enumerate()
        .filter(|(i, _)| !used.contains(i))
        .map(|(_, a)| a.clone())
        .collect();
    Resolved::Command(path, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(args: &[&str]) -> Resolved {
        resolve(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    fn cmd(path: &str, rest: &[&str]) -> Resolved {
        Resolved::Command(path.into(), rest.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn prefixes_as_cobra() {
        assert_eq!(r(&["compact", "2"]), cmd("compaction", &["2"]));
        assert_eq!(r(&["mem", "l"]), cmd("member list", &[]));
        assert_eq!(
            r(&["--endpoints", "x", "endp", "health", "-w", "json"]),
            cmd("endpoint health", &["--endpoints", "x", "-w", "json"])
        );
        assert_eq!(r(&["endp", "h"]), Resolved::GroupHelp("endpoint"));
        assert_eq!(r(&["member", "foo"]), Resolved::GroupHelp("member"));
        assert_eq!(r(&["member"]), Resolved::GroupHelp("member"));
        assert_eq!(r(&[]), Resolved::RootHelp);
        assert_eq!(r(&["put", "k", "v"]), cmd("put", &["k", "v"]));
    }

    #[test]
    fn unknown_words_get_cobras_suggestions() {
        let Resolved::Unknown(m) = r(&["comp", "2"]) else {
            panic!()
        };
        assert_eq!(
            m,
            "unknown command \"comp\" for \"etcdctl\"\n\nDid you mean this?\n\tcompaction\n\tcompletion\n"
        );
        let Resolved::Unknown(m) = r(&["m", "list"]) else {
            panic!()
        };
        assert!(
            m.ends_with("\tmove-leader\n\tmember\n\tmake-mirror\n\tmigrate\n"),
            "{m}"
        );
        let Resolved::Unknown(m) = r(&["e", "health"]) else {
            panic!()
        };
        assert!(m.ends_with("\tget\n\tdel\n\tendpoint\n\telect\n"), "{m}");
        assert_eq!(
            r(&["foo"]),
            Resolved::Unknown("unknown command \"foo\" for \"etcdctl\"".into())
        );
    }
}
