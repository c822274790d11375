//! cobra's shell completion, as etcdctl 3.4.23 (built with a cobra that
//! has it) offers it: `completion bash|fish|powershell|zsh` prints the
//! script (`completion/`), and the script asks `etcdctl __complete <words>`
//! for candidates: one per line (`name\tdescription`), then `:<directive>`;
//! cobra notes the directive on stderr.

use super::commands::{self, Command};
use super::flags::{Flag, FlagKind, GLOBAL_FLAGS, HELP_FLAG};
use super::resolve::{GROUPS, ROOT};
use super::Output;

const BASH: &str = include_str!("completion/etcdctl.bash");
const FISH: &str = include_str!("completion/etcdctl.fish");
const POWERSHELL: &str = include_str!("completion/etcdctl.ps1");
const ZSH: &str = include_str!("completion/etcdctl.zsh");

/// The hidden commands the scripts call.
pub(super) const COMPLETE: &str = "__complete";
pub(super) const COMPLETE_NO_DESC: &str = "__completeNoDesc";

/// cobra's `ShellCompDirective`s that etcdctl's completions end with.
const DIRECTIVE_DEFAULT: u32 = 0;
const DIRECTIVE_NO_FILE_COMP: u32 = 4;

/// `completion <shell>`: the script; `--no-descriptions` makes it call
/// `__completeNoDesc`.
pub(super) fn script(shell: &str, no_descriptions: bool, o: &mut Output) {
    let text = match shell {
        "bash" => BASH,
        "fish" => FISH,
        "powershell" => POWERSHELL,
        "zsh" => ZSH,
        _ => unreachable!("completion has no {shell:?} subcommand"),
    };
    if no_descriptions {
        o.out(text.replacen(" __complete ", &format!(" {COMPLETE_NO_DESC} "), 1));
    } else {
        o.out(text);
    }
}

/// What a word being completed can become: candidates and the directive.
struct Candidates {
    items: Vec<(String, String)>,
    directive: u32,
}

/// `__complete <words…> <to complete>`: what cobra answers.
pub(super) fn complete(args: &[String], descriptions: bool, o: &mut Output) {
    if args.is_empty() {
        // cobra runs `__complete` itself, which asks for its own help.
        o.out(super::flags::usage(
            COMPLETE,
            "Request shell completion choices for the specified command-line",
            "etcdctl __complete [command-line]",
            Some("__complete is a special command that is used by the shell completion logic\nto request completion choices for the specified command-line.\n"),
            &[],
            COMPLETE,
        ));
        let e = "requires at least 1 arg(s), only received 0";
        o.err(format!("Error: {e}\n\nError: {e}\n"));
        o.code = super::global::EXIT_ERROR;
        return;
    }
    let (to_complete, before) = match args.split_last() {
        Some((last, before)) => (last.as_str(), before),
        None => ("", &[][..]),
    };
    let c = candidates(before, to_complete);
    for (name, desc) in &c.items {
        if descriptions && !desc.is_empty() {
            o.out(format!("{name}\t{desc}\n"));
        } else {
            o.out(format!("{name}\n"));
        }
    }
    o.out(format!(":{}\n", c.directive));
    let name = match c.directive {
        DIRECTIVE_NO_FILE_COMP => "ShellCompDirectiveNoFileComp",
        _ => "ShellCompDirectiveDefault",
    };
    o.err(format!("Completion ended with directive: {name}\n"));
}

/// What the words before the one completed say.
struct Walked {
    /// The command they name so far.
    path: Vec<String>,
    /// The last word is a flag still waiting for its value.
    wants_value: bool,
    /// The flags given (long names): cobra does not offer them again.
    set: Vec<&'static Flag>,
}

fn walk(words: &[String]) -> Walked {
    let mut path: Vec<String> = Vec::new();
    let mut set = Vec::new();
    let mut i = 0;
    let mut wants_value = false;
    while i < words.len() {
        let w = &words[i];
        i += 1;
        if w.starts_with('-') && w.len() > 1 {
            let flags = current_flags(&path);
            if let Some(f) = flag_named(w, flags) {
                set.push(f);
            }
            let takes = takes_value(w, flags);
            if takes {
                if i < words.len() {
                    i += 1;
                } else {
                    wants_value = true;
                }
            }
            continue;
        }
        // After `help`, the words name the command asked about.
        let parent = match path.first().map(String::as_str) {
            Some("help") => &path[1..],
            _ => &path[..],
        };
        if let Some(name) = child(parent, w) {
            path.push(name);
        }
    }
    Walked {
        path,
        wants_value,
        set,
    }
}

/// The flag `arg` (`--name`, `--name=v`, `-x`) names, if any.
fn flag_named(arg: &str, flags: &'static [Flag]) -> Option<&'static Flag> {
    let name = arg.trim_start_matches('-');
    let name = name.split('=').next().unwrap_or(name);
    let long = arg.starts_with("--");
    flags.iter().chain(GLOBAL_FLAGS).find(|f| {
        if long {
            f.name == name
        } else {
            name.chars().next() == f.short
        }
    })
}

/// Whether candidate `n` (`--name` or `-x`) is flag `f`, given already
/// (a string slice may be given again).
fn flag_is(n: &str, f: &Flag) -> bool {
    f.kind != FlagKind::StringSlice
        && (n == format!("--{}", f.name) || f.short.is_some_and(|c| n == format!("-{c}")))
}

/// Whether flag argument `arg` (without `=value`) is a flag that takes the
/// next word as its value.
fn takes_value(arg: &str, flags: &[Flag]) -> bool {
    let name = arg.trim_start_matches('-');
    if name.contains('=') {
        return false;
    }
    let long = arg.starts_with("--");
    flags.iter().chain(GLOBAL_FLAGS).any(|f| {
        let hit = if long {
            f.name == name
        } else {
            name.len() == 1 && f.short == name.chars().next()
        };
        hit && f.kind != FlagKind::Bool
    })
}

/// The flags of the command at `path` (none for a group or the root).
fn current_flags(path: &[String]) -> &'static [Flag] {
    commands::find(&path.join(" ")).map_or(&[], |c| c.flags)
}

/// The child of `path` that `word` names (exactly, or as its only prefix,
/// as etcdctl's cobra matches prefixes).
fn child(path: &[String], word: &str) -> Option<String> {
    let names = children(path);
    if names.iter().any(|(n, _)| n == word) {
        return Some(word.to_string());
    }
    let mut hits = names.iter().filter(|(n, _)| n.starts_with(word));
    match (hits.next(), hits.next()) {
        (Some((n, _)), None) if !word.is_empty() => Some(n.clone()),
        _ => None,
    }
}

/// The subcommands of `path` (the root's commands, or a group's), sorted,
/// with their one-line descriptions. A command oxcd's etcdctl does not
/// have is not offered.
fn children(path: &[String]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = match path {
        [] => ROOT
            .iter()
            .filter_map(|name| {
                let short = match GROUPS.iter().find(|(g, _, _)| g == name) {
                    Some((_, short, _)) => *short,
                    None => commands::find(name)?.short(),
                };
                Some((name.to_string(), short.to_string()))
            })
            .collect(),
        [group] => match GROUPS.iter().find(|(g, _, _)| g == group) {
            Some((_, _, subs)) => subs
                .iter()
                .filter_map(|s| {
                    let c: &Command = commands::find(&format!("{group} {s}"))?;
                    Some((s.to_string(), c.short().to_string()))
                })
                .collect(),
            None => Vec::new(),
        },
        _ => Vec::new(),
    };
    out.sort();
    out
}

fn candidates(before: &[String], to_complete: &str) -> Candidates {
    let Walked {
        path,
        wants_value,
        set,
    } = walk(before);
    if wants_value {
        // A flag's value: cobra leaves it to the shell's files.
        return Candidates {
            items: Vec::new(),
            directive: DIRECTIVE_DEFAULT,
        };
    }
    let leaf = commands::find(&path.join(" "));
    if to_complete.starts_with('-') {
        return Candidates {
            items: flag_candidates(&path, leaf.map_or(&[], |c| c.flags), to_complete)
                .into_iter()
                .filter(|(n, _)| !set.iter().any(|f| flag_is(n, f)))
                .collect(),
            directive: DIRECTIVE_NO_FILE_COMP,
        };
    }
    // `help` completes the command path it is asked about.
    if path.first().is_some_and(|w| w == "help") {
        let topic = &path[1..];
        let listed = topic.is_empty() || GROUPS.iter().any(|(g, _, _)| [*g] == topic[..]);
        let items = if listed {
            children(topic)
                .into_iter()
                .filter(|(n, _)| n.starts_with(to_complete))
                .collect()
        } else {
            Vec::new()
        };
        return Candidates {
            items,
            directive: DIRECTIVE_NO_FILE_COMP,
        };
    }
    let is_group = path.is_empty() || GROUPS.iter().any(|(g, _, _)| [*g] == path[..]);
    if is_group {
        let items = children(&path)
            .into_iter()
            .filter(|(n, _)| n.starts_with(to_complete))
            .collect();
        return Candidates {
            items,
            directive: DIRECTIVE_NO_FILE_COMP,
        };
    }
    // A command's own arguments: cobra has nothing to offer but files.
    Candidates {
        items: Vec::new(),
        directive: DIRECTIVE_DEFAULT,
    }
}

/// The flags whose `--name` starts with `to_complete`, in cobra's order:
/// the inherited (global) ones, then the command's own with `--help`,
/// each sorted; at the root they are all its own. A lone `-` also offers
/// the shorthands.
fn flag_candidates(path: &[String], own: &[Flag], to_complete: &str) -> Vec<(String, String)> {
    let help_for = path.last().map_or("etcdctl", String::as_str);
    let help_usage = format!("help for {help_for}");
    let help = HELP_FLAG;
    let mut global: Vec<&Flag> = GLOBAL_FLAGS.iter().collect();
    let mut local: Vec<&Flag> = own.iter().chain([&help]).collect();
    if path.is_empty() {
        local.append(&mut global);
    }
    global.sort_by_key(|f| f.name);
    local.sort_by_key(|f| f.name);
    let mut out = Vec::new();
    for f in global.into_iter().chain(local) {
        let usage = if f.name == "help" {
            help_usage.clone()
        } else {
            f.usage.to_string()
        };
        let long = format!("--{}", f.name);
        if long.starts_with(to_complete) {
            out.push((long, usage.clone()));
        }
        if let (Some(c), 1) = (f.short, to_complete.len()) {
            out.push((format!("-{c}"), usage));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> String {
        let mut o = Output::default();
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        complete(&args, true, &mut o);
        String::from_utf8(o.stdout).unwrap()
    }

    #[test]
    fn commands_subcommands_and_flags_as_cobra() {
        let root = run(&[""]);
        assert!(
            root.starts_with("alarm\tAlarm related commands\nauth\t"),
            "{root}"
        );
        assert!(root.contains("\nmake-mirror\tMakes a mirror at the destination etcd cluster\n"));
        assert!(root.ends_with("watch\tWatches events stream on keys or prefixes\n:4\n"));
        assert_eq!(
            run(&["mem", ""]),
            "add\tAdds a member into the cluster\nlist\tLists all members in the cluster\npromote\tPromotes a non-voting member in the cluster\nremove\tRemoves a member from the cluster\nupdate\tUpdates a member in the cluster\n:4\n"
        );
        assert_eq!(
            run(&["get", "--pre"]),
            "--prefix\tGet keys with matching prefix\n:4\n"
        );
        assert!(run(&["get", "-"]).ends_with("-w\tset the output format (fields, json, protobuf, simple, table)\n--consistency\tLinearizable(l) or Serializable(s)\n--from-key\tGet keys that are greater than or equal to the given key using byte compare\n--help\thelp for get\n-h\thelp for get\n--keys-only\tGet only the keys\n--limit\tMaximum number of results\n--order\tOrder of results; ASCEND or DESCEND (ASCEND by default)\n--prefix\tGet keys with matching prefix\n--print-value-only\tOnly write values when using the \"simple\" output format\n--rev\tSpecify the kv revision\n--sort-by\tSort target; CREATE, KEY, MODIFY, VALUE, or VERSION\n:4\n"));
        assert!(run(&["help", "mem", ""]).starts_with("add\tAdds a member"));
        assert_eq!(run(&["get", ""]), ":0\n");
        assert_eq!(run(&["--end"]), "--endpoints\tgRPC endpoints\n:4\n");
        assert_eq!(run(&["-w", ""]), ":0\n");
        assert_eq!(run(&["al"]), "alarm\tAlarm related commands\n:4\n");
    }
}
