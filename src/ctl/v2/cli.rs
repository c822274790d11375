//! The command line as etcdctl's v2 mode reads it: urfave/cli v1 on Go's
//! `flag` package. Global flags come before the command and are parsed
//! without reordering; a command's flags may follow its arguments (urfave
//! moves everything from the first `-…` argument up to a `--` in front);
//! `member`, `user`, `role` and `auth` are apps of their own with a
//! `--help` flag and a `help` command. Help texts are urfave's templates
//! filled in and aligned by Go's `tabwriter` (padding 2).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{parse_bool, parse_duration as parse_go_duration};

use super::commands::{Cmd, Group, APP_FLAGS, COMMANDS, HELP_FLAG, VERSION_FLAG};

/// A flag's type, with its default where urfave shows one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    Str(&'static str),
    Int,
    Duration(&'static str),
    StrSlice,
}

/// A flag: `names` as urfave writes them (`"output, o"`).
pub struct Flag {
    pub names: &'static str,
    pub kind: Kind,
    pub usage: &'static str,
}

impl Flag {
    pub const fn new(names: &'static str, kind: Kind, usage: &'static str) -> Flag {
        Flag { names, kind, usage }
    }

    fn name_list(&self) -> impl Iterator<Item = &'static str> {
        self.names.split(',').map(str::trim)
    }

    fn has_name(&self, n: &str) -> bool {
        self.name_list().any(|x| x == n)
    }

    /// The flag's help line: names and placeholder, a tab, usage and
    /// default (urfave's `stringifyFlag`).
    fn help_line(&self) -> String {
        let (mut placeholder, usage) = unquote_usage(self.usage);
        let default = match self.kind {
            Kind::Bool => None,
            Kind::Str("") | Kind::StrSlice => Some(String::new()),
            Kind::Str(v) => Some(format!(" (default: {v:?})")),
            Kind::Int => Some(" (default: 0)".to_string()),
            Kind::Duration(v) => Some(format!(" (default: {v})")),
        };
        if default.is_some() && placeholder.is_empty() {
            placeholder = "value".to_string();
        }
        let names: Vec<String> = self
            .name_list()
            .map(|n| {
                let dash = if n.len() == 1 { "-" } else { "--" };
                if placeholder.is_empty() {
                    format!("{dash}{n}")
                } else {
                    format!("{dash}{n} {placeholder}")
                }
            })
            .collect();
        let usage = format!("{usage}{}", default.unwrap_or_default());
        format!("{}\t{}", names.join(", "), usage.trim())
    }
}

/// urfave's `unquoteUsage`: the first back-quoted word is the placeholder,
/// and loses its quotes in the usage.
fn unquote_usage(usage: &str) -> (String, String) {
    if let Some(i) = usage.find('`') {
        if let Some(j) = usage[i + 1..].find('`') {
            let j = i + 1 + j;
            let name = &usage[i + 1..j];
            return (
                name.to_string(),
                format!("{}{}{}", &usage[..i], name, &usage[j + 1..]),
            );
        }
    }
    (String::new(), usage.to_string())
}

/// The flags one parse set, by their first name.
#[derive(Debug, Default, Clone)]
pub struct Values {
    set: BTreeMap<&'static str, Vec<String>>,
    defaults: BTreeMap<&'static str, Kind>,
}

impl Values {
    fn first_name(f: &Flag) -> &'static str {
        f.name_list().next().unwrap_or("")
    }
    pub fn is_set(&self, name: &str) -> bool {
        self.set.contains_key(name)
    }
    pub fn string(&self, name: &str) -> String {
        if let Some(v) = self.set.get(name).and_then(|v| v.last()) {
            return v.clone();
        }
        match self.defaults.get(name) {
            Some(Kind::Str(d)) | Some(Kind::Duration(d)) => d.to_string(),
            _ => String::new(),
        }
    }
    pub fn bool(&self, name: &str) -> bool {
        self.set
            .get(name)
            .and_then(|v| v.last())
            .is_some_and(|v| parse_bool(v) == Some(true))
    }
    pub fn int(&self, name: &str) -> i64 {
        self.set
            .get(name)
            .and_then(|v| v.last())
            .and_then(|v| parse_go_int(v))
            .unwrap_or(0)
    }
    pub fn duration(&self, name: &str) -> Duration {
        parse_go_duration(&self.string(name)).unwrap_or_default()
    }
    pub fn slice(&self, name: &str) -> Vec<String> {
        self.set.get(name).cloned().unwrap_or_default()
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` (the `flag` package's int).
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let body = body.replace('_', "");
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d.to_string())
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d.to_string())
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d.to_string())
    } else if body.len() > 1 && body.starts_with('0') {
        (8, body[1..].to_string())
    } else {
        (10, body)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

/// Parses `args` as Go's `FlagSet.Parse` does: flags until the first
/// argument that is not one (or `--`, which is dropped); the rest are
/// arguments. Errors are Go's texts.
pub fn parse(args: &[String], flags: &[&Flag]) -> Result<(Values, Vec<String>), String> {
    let mut v = Values::default();
    for f in flags {
        v.defaults.insert(Values::first_name(f), f.kind);
    }
    let mut i = 0;
    while i < args.len() {
        let s = &args[i];
        if s.len() < 2 || !s.starts_with('-') {
            break;
        }
        let mut minuses = 1;
        if s.as_bytes()[1] == b'-' {
            minuses = 2;
            if s.len() == 2 {
                i += 1;
                break;
            }
        }
        let name = &s[minuses..];
        if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
            return Err(format!("bad flag syntax: {s}"));
        }
        i += 1;
        let (name, value) = match name.split_once('=') {
            Some((n, val)) => (n, Some(val.to_string())),
            None => (name, None),
        };
        let Some(f) = flags.iter().find(|f| f.has_name(name)) else {
            return Err(format!("flag provided but not defined: -{name}"));
        };
        let value = if f.kind == Kind::Bool {
            let val = value.unwrap_or_else(|| "true".into());
            if parse_bool(&val).is_none() {
                return Err(format!(
                    "invalid boolean value {val:?} for -{name}: parse error"
                ));
            }
            val
        } else {
            let val = match value {
                Some(val) => val,
                None if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                None => return Err(format!("flag needs an argument: -{name}")),
            };
            let ok = match f.kind {
                Kind::Int => parse_go_int(&val).is_some(),
                Kind::Duration(_) => parse_go_duration(&val).is_some(),
                _ => true,
            };
            if !ok {
                return Err(format!(
                    "invalid value {val:?} for flag -{name}: parse error"
                ));
            }
            val
        };
        v.set.entry(Values::first_name(f)).or_default().push(value);
    }
    Ok((v, args[i..].to_vec()))
}

/// urfave's `argIsFlag`: `arg` names one of `flags` (`-x`, `--x`,
/// `--x=v`).
fn arg_is_flag(flags: &[&Flag], arg: &str) -> bool {
    if arg == "-" || arg == "--" || !arg.starts_with('-') {
        return false;
    }
    // Go's `strings.Replace(arg, "-", "", 2)`, then one more.
    let name = arg.strip_prefix("--").unwrap_or(arg);
    let name = name.strip_prefix('-').unwrap_or(name);
    let name = name.split('=').next().unwrap_or("");
    flags.iter().any(|f| f.has_name(name))
}

/// urfave's argument reordering for a leaf command (v1.22, as etcd 3.4's
/// builds have it): the command's own flags, each with the argument after
/// it, go first; a `--` ends the reordering and is put in front of the
/// rest, so Go's parser drops it (`set /k -- -v` sets `-v`; `exec-watch
/// /k -- cmd` watches the command's last word). Anything else that looks
/// like a flag stays where it is.
pub fn reorder(args: &[String], flags: &[&Flag]) -> Vec<String> {
    let mut flags_first: Vec<String> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut may_be_value = false;
    for (i, arg) in args.iter().enumerate() {
        if may_be_value && !arg_is_flag(flags, arg) {
            may_be_value = false;
            flags_first.push(arg.clone());
        } else if arg == "--" {
            rest.insert(0, "--".to_string());
            rest.extend_from_slice(&args[i + 1..]);
            break;
        } else if arg_is_flag(flags, arg) {
            flags_first.push(arg.clone());
            may_be_value = !arg.contains('=');
        } else {
            rest.push(arg.clone());
        }
    }
    flags_first.extend(rest);
    flags_first
}

/// Go's `tabwriter` as urfave sets it up (min width 1, padding 2), for
/// texts whose lines hold at most one tab: consecutive lines with a tab
/// align their first cells.
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].contains('\t') {
            out.push(lines[i].to_string());
            i += 1;
            continue;
        }
        let end = (i..lines.len())
            .find(|&j| !lines[j].contains('\t'))
            .unwrap_or(lines.len());
        let width = lines[i..end]
            .iter()
            .map(|l| l.split('\t').next().unwrap_or("").chars().count())
            .max()
            .unwrap_or(0)
            + 2;
        for l in &lines[i..end] {
            let (cell, rest) = l.split_once('\t').unwrap_or((l, ""));
            let pad = width - cell.chars().count();
            out.push(format!("{cell}{}{rest}", " ".repeat(pad)));
        }
        i = end;
    }
    out.join("\n")
}

/// The version lines (`--version`).
pub fn version_text() -> String {
    format!(
        "etcdctl version: {}\nAPI version: 2\n",
        crate::ctl::CTL_VERSION
    )
}

fn flag_lines(flags: &[&Flag]) -> Vec<String> {
    flags.iter().map(|f| f.help_line()).collect()
}

/// `etcdctl --help`: the app template.
pub fn app_help() -> String {
    let mut s = format!(
        "NAME:\n   etcdctl - A simple command line client for etcd.\n\n\
         USAGE:\n   etcdctl [global options] command [command options] [arguments...]\n\n\
         VERSION:\n   {}\n\nCOMMANDS:\n",
        crate::ctl::CTL_VERSION
    );
    for c in COMMANDS {
        s.push_str(&format!("   {}\t{}\n", c.name(), c.usage()));
    }
    s.push_str("   help, h\tShows a list of commands or help for one command\n\nGLOBAL OPTIONS:\n");
    let mut flags: Vec<&Flag> = APP_FLAGS.iter().collect();
    flags.push(&HELP_FLAG);
    flags.push(&VERSION_FLAG);
    for l in flag_lines(&flags) {
        s.push_str(&format!("   {l}\n"));
    }
    tabwrite(&s)
}

/// A group's own app help (`etcdctl member help`).
pub fn group_app_help(g: &Group) -> String {
    let mut s = format!(
        "NAME:\n   etcdctl {} - {}\n\n\
         USAGE:\n   etcdctl {} [global options] command [command options] [arguments...]\n\n\
         VERSION:\n   {}\n\nCOMMANDS:\n",
        g.name,
        g.usage,
        g.name,
        crate::ctl::CTL_VERSION
    );
    for c in g.subs {
        s.push_str(&format!("   {}\t{}\n", c.name, c.usage));
    }
    s.push_str(&format!(
        "\nGLOBAL OPTIONS:\n   {}\n",
        HELP_FLAG.help_line()
    ));
    tabwrite(&s)
}

/// A group's subcommand help (`etcdctl member`, `etcdctl member --help`).
pub fn group_help(g: &Group) -> String {
    let mut s = format!(
        "NAME:\n   etcdctl {} - {}\n\n\
         USAGE:\n   etcdctl {} command [command options] [arguments...]\n\nCOMMANDS:\n",
        g.name, g.usage, g.name
    );
    for c in g.subs {
        s.push_str(&format!("   {}\t{}\n", c.name, c.usage));
    }
    s.push_str(&format!("\nOPTIONS:\n   {}\n   \n", HELP_FLAG.help_line()));
    tabwrite(&s)
}

/// A group as a command of the top app (`etcdctl help member`).
pub fn group_as_command_help(g: &Group) -> String {
    format!(
        "NAME:\n   etcdctl {} - {}\n\nUSAGE:\n   etcdctl {} [arguments...]\n",
        g.name, g.usage, g.name
    )
}

/// A leaf command's help; `path` is its name with its group's
/// (`member list`).
pub fn command_help(path: &str, c: &Cmd) -> String {
    let opts = if c.flags.is_empty() {
        ""
    } else {
        " [command options]"
    };
    let args = if c.args_usage.is_empty() {
        "[arguments...]"
    } else {
        c.args_usage
    };
    let mut s = format!(
        "NAME:\n   etcdctl {path} - {}\n\nUSAGE:\n   etcdctl {path}{opts} {args}",
        c.usage
    );
    if !c.description.is_empty() {
        s.push_str(&format!("\n\nDESCRIPTION:\n   {}", c.description));
    }
    if !c.flags.is_empty() {
        s.push_str("\n\nOPTIONS:\n");
        let flags: Vec<&Flag> = c.flags.iter().collect();
        for l in flag_lines(&flags) {
            s.push_str(&format!("   {l}\n"));
        }
        s.push_str("   ");
    }
    s.push('\n');
    tabwrite(&s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn go_flag_parsing() {
        let ttl = Flag::new("ttl", Kind::Int, "");
        let r = Flag::new("recursive, r", Kind::Bool, "");
        let flags = [&ttl, &r];
        let (v, rest) = parse(&strs(&["--ttl", "5", "-r", "k", "-x"]), &flags).unwrap();
        assert_eq!((v.int("ttl"), v.bool("recursive")), (5, true));
        assert_eq!(rest, strs(&["k", "-x"]));
        let (_, rest) = parse(&strs(&["--", "-k"]), &flags).unwrap();
        assert_eq!(rest, strs(&["-k"]));
        assert_eq!(
            parse(&strs(&["--bogus"]), &flags).unwrap_err(),
            "flag provided but not defined: -bogus"
        );
        assert_eq!(
            parse(&strs(&["-ttl", "x"]), &flags).unwrap_err(),
            "invalid value \"x\" for flag -ttl: parse error"
        );
        assert_eq!(
            parse(&strs(&["--ttl"]), &flags).unwrap_err(),
            "flag needs an argument: -ttl"
        );
        assert_eq!(parse_go_int("0x10"), Some(16));
        assert_eq!(parse_go_int("010"), Some(8));
    }

    #[test]
    fn urfave_reorders_flags_first() {
        let ttl = Flag::new("ttl", Kind::Int, "");
        let r = Flag::new("recursive, r", Kind::Bool, "");
        let f = [&ttl, &r];
        assert_eq!(
            reorder(&strs(&["k", "v", "--ttl", "5"]), &f),
            strs(&["--ttl", "5", "k", "v"])
        );
        assert_eq!(
            reorder(&strs(&["k", "--", "-v"]), &f),
            strs(&["--", "k", "-v"])
        );
        assert_eq!(reorder(&strs(&["k", "-v"]), &f), strs(&["k", "-v"]));
        assert_eq!(
            reorder(&strs(&["/k", "--", "sh", "-c", "x"]), &f),
            strs(&["--", "/k", "sh", "-c", "x"])
        );
    }

    #[test]
    fn flag_help_lines() {
        let o = Flag::new(
            "output, o",
            Kind::Str("simple"),
            "output response in the given format (`simple`, `extended` or `json`)",
        );
        assert_eq!(
            o.help_line(),
            "--output simple, -o simple\toutput response in the given format (simple, `extended` or `json`) (default: \"simple\")"
        );
        let rw = Flag::new("readwrite, rw", Kind::Bool, "Grant read-write access");
        assert_eq!(rw.help_line(), "--readwrite, --rw\tGrant read-write access");
    }
}
