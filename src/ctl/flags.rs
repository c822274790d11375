//! Command-line parsing in the style of cobra/pflag as etcdctl 3.4 uses it:
//! `--flag=v`, `--flag v`, `-w v`, booleans with an optional `=value`,
//! flags anywhere among the arguments, `--` ends flags. Also renders
//! etcdctl's help text (its template, aligned like Go's tabwriter).

use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FlagKind {
    Bool,
    Str,
    Int,
    Duration,
    StringSlice,
}

/// One flag: long name, shorthand, kind, default, help text.
#[derive(Clone, Debug)]
pub struct Flag {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: FlagKind,
    pub default: &'static str,
    pub usage: &'static str,
}

pub const fn flag(
    name: &'static str,
    short: Option<char>,
    kind: FlagKind,
    default: &'static str,
    usage: &'static str,
) -> Flag {
    Flag {
        name,
        short,
        kind,
        default,
        usage,
    }
}

/// etcdctl's global flags.
pub const GLOBAL_FLAGS: &[Flag] = &[
    flag("cacert", None, FlagKind::Str, "", "verify certificates of TLS-enabled secure servers using this CA bundle"),
    flag("cert", None, FlagKind::Str, "", "identify secure client using this TLS certificate file"),
    flag("command-timeout", None, FlagKind::Duration, "5s", "timeout for short running command (excluding dial timeout)"),
    flag("debug", None, FlagKind::Bool, "false", "enable client-side debug logging"),
    flag("dial-timeout", None, FlagKind::Duration, "2s", "dial timeout for client connections"),
    flag("discovery-srv", Some('d'), FlagKind::Str, "", "domain name to query for SRV records describing cluster endpoints"),
    flag("discovery-srv-name", None, FlagKind::Str, "", "service name to query when using DNS discovery"),
    flag("endpoints", None, FlagKind::StringSlice, "[127.0.0.1:2379]", "gRPC endpoints"),
    flag("hex", None, FlagKind::Bool, "false", "print byte strings as hex encoded strings"),
    flag("insecure-discovery", None, FlagKind::Bool, "true", "accept insecure SRV records describing cluster endpoints"),
    flag("insecure-skip-tls-verify", None, FlagKind::Bool, "false", "skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)"),
    flag("insecure-transport", None, FlagKind::Bool, "true", "disable transport security for client connections"),
    flag("keepalive-time", None, FlagKind::Duration, "2s", "keepalive time for client connections"),
    flag("keepalive-timeout", None, FlagKind::Duration, "6s", "keepalive timeout for client connections"),
    flag("key", None, FlagKind::Str, "", "identify secure client using this TLS key file"),
    flag("password", None, FlagKind::Str, "", "password for authentication (if this option is used, --user option shouldn't include password)"),
    flag("user", None, FlagKind::Str, "", "username[:password] for authentication (prompt if password is not supplied)"),
    flag("write-out", Some('w'), FlagKind::Str, "simple", "set the output format (fields, json, protobuf, simple, table)"),
];

/// cobra's own `-h, --help` (its text says which command it is for).
pub const HELP_FLAG: Flag = flag("help", Some('h'), FlagKind::Bool, "false", "");

/// Parsed flag values (by long name) and positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    pub values: BTreeMap<String, String>,
    pub args: Vec<String>,
    /// How many of `args` came before a `--`, if there was one.
    pub dash: Option<usize>,
}

impl Parsed {
    pub fn get<'a>(&'a self, name: &str, flags: &'a [Flag]) -> &'a str {
        self.values
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| {
                flags
                    .iter()
                    .chain(GLOBAL_FLAGS)
                    .find(|f| f.name == name)
                    .map(|f| f.default)
                    .unwrap_or("")
            })
    }

    pub fn is_set(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    pub fn bool(&self, name: &str, flags: &[Flag]) -> bool {
        self.get(name, flags) == "true"
    }
}

/// Why parsing stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    /// cobra's text, e.g. `unknown flag: --bogus`.
    Flag(String),
    Help,
}

fn parse_bool(v: &str) -> Option<&'static str> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some("true"),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some("false"),
        _ => None,
    }
}

/// Records flag `f`'s value `v` (as given: `shown` names the flag in
/// pflag's error): booleans and integers must parse, a string slice given
/// again grows.
fn set(p: &mut Parsed, f: &Flag, v: String, shown: &str) -> Result<(), ParseError> {
    let v = match f.kind {
        FlagKind::Bool => parse_bool(&v)
            .ok_or_else(|| {
                ParseError::Flag(format!(
                    "invalid argument {v:?} for {shown:?} flag: strconv.ParseBool: parsing {v:?}: invalid syntax"
                ))
            })?
            .to_string(),
        FlagKind::Int => {
            v.parse::<i64>().map_err(|_| {
                ParseError::Flag(format!(
                    "invalid argument {v:?} for {shown:?} flag: strconv.ParseInt: parsing {v:?}: invalid syntax"
                ))
            })?;
            v
        }
        _ => v,
    };
    if f.kind == FlagKind::StringSlice && p.values.contains_key(f.name) {
        let prev = p.values.remove(f.name).expect("present");
        p.values.insert(f.name.to_string(), format!("{prev},{v}"));
    } else {
        p.values.insert(f.name.to_string(), v);
    }
    Ok(())
}

/// Parses `args` against the command's `flags` plus the global ones.
pub fn parse(args: &[String], flags: &[Flag]) -> Result<Parsed, ParseError> {
    parse_among(args, flags.iter().chain(GLOBAL_FLAGS).collect())
}

/// Parses `args` against `flags` alone (a flag set of its own, as `watch
/// -i` parses each line).
pub fn parse_only(args: &[String], flags: &[Flag]) -> Result<Parsed, ParseError> {
    parse_among(args, flags.iter().collect())
}

fn parse_among(args: &[String], all: Vec<&Flag>) -> Result<Parsed, ParseError> {
    let mut p = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            p.dash = Some(p.args.len());
            p.args.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            if name == "help" {
                return Err(ParseError::Help);
            }
            let Some(f) = all.iter().find(|f| f.name == name) else {
                return Err(ParseError::Flag(format!("unknown flag: --{name}")));
            };
            let v = match (inline, f.kind) {
                (Some(v), _) => v,
                (None, FlagKind::Bool) => "true".to_string(),
                (None, _) => {
                    if i >= args.len() {
                        return Err(ParseError::Flag(format!(
                            "flag needs an argument: --{name}"
                        )));
                    }
                    i += 1;
                    args[i - 1].clone()
                }
            };
            set(&mut p, f, v, &format!("--{name}"))?;
        } else if a.len() > 1 && a.starts_with('-') {
            let c = a[1..].chars().next().expect("non-empty");
            if c == 'h' {
                return Err(ParseError::Help);
            }
            let Some(f) = all.iter().find(|f| f.short == Some(c)) else {
                return Err(ParseError::Flag(format!(
                    "unknown shorthand flag: '{c}' in {a}"
                )));
            };
            let rest = &a[1 + c.len_utf8()..];
            let shown = format!("-{c}, --{}", f.name);
            let v = if let Some(v) = rest.strip_prefix('=') {
                v.to_string()
            } else if !rest.is_empty() {
                rest.to_string()
            } else if f.kind == FlagKind::Bool {
                "true".to_string()
            } else {
                if i >= args.len() {
                    return Err(ParseError::Flag(format!(
                        "flag needs an argument: '{c}' in -{c}"
                    )));
                }
                i += 1;
                args[i - 1].clone()
            };
            set(&mut p, f, v, &shown)?;
        } else {
            p.args.push(a.clone());
        }
    }
    Ok(p)
}

/// A flag's line in a help text (`      --prefix[=false]\tusage`).
pub fn flag_line(f: &Flag) -> String {
    let mut s = match f.short {
        Some(c) => format!("  -{c}, --{}", f.name),
        None => format!("      --{}", f.name),
    };
    let quoted = matches!(f.kind, FlagKind::Str);
    let value = if quoted {
        format!("{:?}", f.default)
    } else {
        f.default.to_string()
    };
    if f.kind == FlagKind::Bool {
        s.push_str(&format!("[={value}]"));
    } else {
        s.push_str(&format!("={value}"));
    }
    format!("{s}\t{}", f.usage)
}

/// Aligns tab-separated cells like Go's `tabwriter` with tab padding
/// (min width 0, tab width 8, padding 1): each run of lines that have a tab
/// forms a block; in it every column but a line's last cell is padded with
/// tabs to a common stop (the widest cell plus one, rounded up to eight).
pub fn tabwrite(text: &str) -> String {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::new();
    let mut i = 0;
    while i < lines.len() {
        if !lines[i].contains('\t') {
            out.push_str(lines[i]);
            if i + 1 < lines.len() {
                out.push('\n');
            }
            i += 1;
            continue;
        }
        let start = i;
        while i < lines.len() && lines[i].contains('\t') {
            i += 1;
        }
        let block: Vec<Vec<&str>> = lines[start..i]
            .iter()
            .map(|l| l.split('\t').collect())
            .collect();
        let columns = block.iter().map(|cells| cells.len() - 1).max().unwrap_or(0);
        let stops: Vec<usize> = (0..columns)
            .map(|c| {
                let width = block
                    .iter()
                    .filter(|cells| cells.len() > c + 1)
                    .map(|cells| cells[c].chars().count())
                    .max()
                    .unwrap_or(0);
                (width + 1).div_ceil(8) * 8
            })
            .collect();
        for (j, cells) in block.iter().enumerate() {
            for (c, cell) in cells.iter().enumerate() {
                out.push_str(cell);
                if c + 1 < cells.len() {
                    let n = stops[c] - cell.chars().count();
                    out.push_str(&"\t".repeat(n.div_ceil(8).max(1)));
                }
            }
            if start + j + 1 < lines.len() {
                out.push('\n');
            }
        }
    }
    out
}

/// etcdctl's usage text for a command.
pub fn usage(
    name: &str,
    short: &str,
    use_line: &str,
    description: Option<&str>,
    flags: &[Flag],
    help_for: &str,
) -> String {
    let help = HELP_FLAG;
    let mut local: Vec<(&str, String)> = flags.iter().map(|f| (f.name, flag_line(f))).collect();
    local.push(("help", format!("{}help for {help_for}", flag_line(&help))));
    local.sort();
    let local: Vec<String> = local.into_iter().map(|(_, l)| l).collect();
    let global: Vec<String> = GLOBAL_FLAGS.iter().map(flag_line).collect();
    let mut s = format!("NAME:\n\t{name} - {short}\n\nUSAGE:\n\t{use_line}\n\n");
    if let Some(d) = description {
        s.push_str("DESCRIPTION:\n");
        for l in d.lines() {
            s.push_str(&format!("\t{l}\n"));
        }
        s.push('\n');
    }
    s.push_str("OPTIONS:\n");
    for l in local {
        s.push_str(&l);
        s.push('\n');
    }
    s.push_str("\nGLOBAL OPTIONS:\n");
    for l in global {
        s.push_str(&l);
        s.push('\n');
    }
    s.push('\n');
    tabwrite(&s)
}

/// The help of a command group (`etcdctl member`): its subcommands and
/// its own flags.
pub fn group_usage(
    name: &str,
    short: &str,
    use_line: &str,
    description: Option<&str>,
    commands: &[(&str, &str)],
    flags: &[Flag],
) -> String {
    let mut s = format!(
        "NAME:\n\t{name} - {short}\n\nUSAGE:\n\t{use_line}\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n"
    );
    for (sub, short) in commands {
        s.push_str(&format!("\t{sub}\t{short}\n"));
    }
    s.push('\n');
    let body = usage(name, short, "", description, flags, name);
    // The description (if any) and the options follow; only the two column
    // blocks share the tab alignment of the options.
    let from = body
        .find("DESCRIPTION:")
        .or_else(|| body.find("OPTIONS:"))
        .expect("usage has options");
    tabwrite(&s) + &body[from..]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pflag_syntax() {
        let flags = [
            flag("prefix", None, FlagKind::Bool, "false", ""),
            flag("limit", None, FlagKind::Int, "0", ""),
        ];
        let p = parse(
            &a(&["--prefix", "foo", "--limit=2", "-w", "json", "bar"]),
            &flags,
        )
        .unwrap();
        assert_eq!(p.args, a(&["foo", "bar"]));
        assert!(p.bool("prefix", &flags));
        assert_eq!(p.get("limit", &flags), "2");
        assert_eq!(p.get("write-out", &flags), "json");
        let p = parse(&a(&["k", "--", "-v"]), &flags).unwrap();
        assert_eq!(p.args, a(&["k", "-v"]));
        assert_eq!(
            parse(&a(&["--bogus"]), &flags).unwrap_err(),
            ParseError::Flag("unknown flag: --bogus".into())
        );
    }

    #[test]
    fn tabwriter_alignment() {
        // Longest first cell 32 → stop at 40; a 23-wide cell needs 3 tabs.
        let t = tabwrite("      --print-value-only[=false]\tx\n      --consistency=\"l\"\ty\n");
        assert_eq!(
            t,
            "      --print-value-only[=false]\tx\n      --consistency=\"l\"\t\t\ty\n"
        );
    }
}
