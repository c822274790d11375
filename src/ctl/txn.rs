//! `etcdctl txn` (etcdctl's `txn_command.go`): a transaction read from
//! stdin in three sections (compares, success requests, failure requests),
//! each ended by a blank line.

use std::io::BufRead;

use crate::pb::etcdserverpb::{
    compare, kv_client::KvClient, request_op, Compare, RequestOp, TxnRequest,
};

use super::commands::{DEL_FLAGS, GET_FLAGS, PUT_FLAGS};
use super::del::del_op;
use super::flags::{self, Flag};
use super::get::get_op;
use super::global::{bad_args, call, check_send_size, connect, Ctx, EXIT_INVALID_INPUT};
use super::print::new_printer;
use super::put::put_op;
use super::util::argify;
use super::{CmdResult, Fail, Output};

pub(super) async fn txn(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args("txn command does not accept argument"));
    }
    let display = new_printer(ctx)?;
    let interactive = ctx.bool("interactive");
    let req = read_txn(stdin, |p| {
        if interactive {
            o.prompt(p);
        }
    })?;
    let (ch, ep) = connect(ctx).await?;
    check_send_size(&ep, &req)?;
    let resp = call(ctx, &ep, KvClient::new(ch).txn(ctx.req(req))).await?;
    display.txn(o, &resp)
}

/// Reads the three sections, calling `prompt` before each.
fn read_txn(stdin: &mut dyn BufRead, mut prompt: impl FnMut(&str)) -> Result<TxnRequest, Fail> {
    let mut req = TxnRequest::default();
    prompt("compares:\n");
    for l in read_section(stdin)? {
        req.compare.push(parse_compare(&l)?);
    }
    prompt("success requests (get, put, del):\n");
    for l in read_section(stdin)? {
        req.success.push(parse_request(&l)?);
    }
    prompt("failure requests (get, put, del):\n");
    for l in read_section(stdin)? {
        req.failure.push(parse_request(&l)?);
    }
    Ok(req)
}

/// `etcdctl txn`'s parser alone, on what would come on stdin: the request,
/// or etcdctl's error message (for the fuzz target).
pub fn parse_txn(stdin: &mut dyn BufRead) -> Result<TxnRequest, String> {
    read_txn(stdin, |_| {}).map_err(|f| f.msg)
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
    let ctx = Ctx {
        p,
        flags,
        env: Default::default(),
        token: Default::default(),
    };
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
