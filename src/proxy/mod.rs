//! etcd's proxies: `etcd gateway` (a TCP proxy, `tcpproxy`) and `etcd
//! grpc-proxy` (`grpcproxy`: the gRPC services, with a range cache and
//! watch coalescing).

pub mod gateway;
pub mod grpcproxy;
pub mod tcpproxy;

use crate::ctl::flags::{self, Flag, ParseError, Parsed};

/// What a proxy's command line asks for: a text to print and an exit
/// code, or the proxy `S` to start.
#[derive(Debug, PartialEq, Eq)]
pub enum Command<S> {
    Print {
        stdout: String,
        stderr: String,
        code: i32,
    },
    Start(S),
}

pub(crate) fn print<S>(stdout: &str, stderr: &str, code: i32) -> Command<S> {
    Command::Print {
        stdout: stdout.into(),
        stderr: stderr.into(),
        code,
    }
}

/// cobra's texts for `etcd <group> start`: the group's help, and the
/// start command's one-line description and usage.
pub(crate) struct StartTexts {
    pub group_help: &'static str,
    pub short: &'static str,
    pub usage: &'static str,
}

/// Parses the arguments after `etcd <group>` as cobra and etcd's main do:
/// anything but `start` prints the group's help; `-h` the start command's;
/// a bad flag cobra's error and usage, then etcd's main the error again.
pub(crate) fn parse_start<S>(
    args: &[String],
    flags: &[Flag],
    texts: &StartTexts,
) -> Result<Parsed, Command<S>> {
    if args.first().map(String::as_str) != Some("start") {
        return Err(print(texts.group_help, "", 0));
    }
    flags::parse_only(&args[1..], flags).map_err(|e| match e {
        ParseError::Help => print(&format!("{}\n\n{}", texts.short, texts.usage), "", 0),
        ParseError::Flag(e) => print("", &flag_error(&e, texts.usage), 1),
    })
}

/// A flag value cobra refused: its error, its usage, the error again.
pub(crate) fn flag_error(e: &str, usage: &str) -> String {
    format!("Error: {e}\n{usage}\n{e}")
}
