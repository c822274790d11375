//! The key commands (etcdctl's `set_command.go`, `get_command.go`,
//! `mk_command.go`, `mkdir_command.go`, `set_dir_command.go`,
//! `update_command.go`, `update_dir_command.go`, `rm_command.go`,
//! `rmdir_command.go`, `ls_command.go`) and the keys API requests they
//! send (the Go client's `keys.go`).

use std::io::Read;

use super::client::{Client, ClientError, Request};
use super::format::{keys_response, print_response_key, Node, Response};
use super::url::{canonical_url_path, encode_query, Url};
use super::{Ctx, Io, Res, EXIT_BAD_ARGS, EXIT_SERVER_ERROR};

const FORM: &str = "application/x-www-form-urlencoded";

/// `client.PrevExistType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrevExist {
    Ignore,
    True,
    False,
}

/// `client.SetOptions`.
#[derive(Default)]
pub struct SetOptions {
    pub prev_value: String,
    pub prev_index: u64,
    pub prev_exist: Option<bool>,
    pub ttl: u64,
    pub dir: bool,
}

/// `v2KeysURL`: the endpoint's path, `/v2/keys` and the key, cleaned.
fn keys_url(ep: &Url, key: &str, query: &str) -> String {
    let key = if key.is_empty() || key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    };
    ep.map_path(|p| canonical_url_path(&format!("{p}/v2/keys{key}")))
        .with_query(query)
}

fn form(fields: &[(&str, String)]) -> Vec<u8> {
    encode_query(fields).into_bytes()
}

/// Sends a keys request and decodes the answer (an empty body is
/// `ErrEmptyBody`).
async fn keys_call(
    c: &mut Client,
    io: &mut Io,
    req: Request,
    deadline: Option<tokio::time::Instant>,
) -> Result<Response, ClientError> {
    let reply = c.send(io, &req, deadline).await?;
    keys_response(&reply)?
        .ok_or_else(|| ClientError::Other("client: response body is empty".into()))
}

/// `KeysAPI.Set`.
pub async fn set_key(
    c: &mut Client,
    io: &mut Io,
    key: &str,
    value: &str,
    o: SetOptions,
    deadline: Option<tokio::time::Instant>,
) -> Result<Response, ClientError> {
    let mut params: Vec<(&str, String)> = Vec::new();
    let mut body: Vec<(&str, String)> = Vec::new();
    if o.dir {
        params.push(("dir", "true".into()));
    } else {
        if !o.prev_value.is_empty() {
            params.push(("prevValue", o.prev_value.clone()));
        }
        body.push(("value", value.to_string()));
    }
    if o.prev_index != 0 {
        params.push(("prevIndex", o.prev_index.to_string()));
    }
    if let Some(e) = o.prev_exist {
        params.push(("prevExist", e.to_string()));
    }
    if o.ttl > 0 {
        body.push(("ttl", o.ttl.to_string()));
    }
    let query = encode_query(&params);
    let key = key.to_string();
    let req = Request {
        method: "PUT",
        url: Box::new(move |ep| keys_url(ep, &key, &query)),
        body: Some(form(&body)),
        content_type: Some(FORM),
        wait: false,
        one_shot: o.prev_exist == Some(false),
    };
    keys_call(c, io, req, deadline).await
}

/// `KeysAPI.Get`.
pub async fn get_key(
    c: &mut Client,
    io: &mut Io,
    key: &str,
    recursive: bool,
    sorted: bool,
    quorum: bool,
    deadline: Option<tokio::time::Instant>,
) -> Result<Response, ClientError> {
    let query = encode_query(&[
        ("recursive", recursive.to_string()),
        ("sorted", sorted.to_string()),
        ("quorum", quorum.to_string()),
    ]);
    let key = key.to_string();
    let req = Request {
        method: "GET",
        url: Box::new(move |ep| keys_url(ep, &key, &query)),
        body: None,
        content_type: None,
        wait: false,
        one_shot: false,
    };
    keys_call(c, io, req, deadline).await
}

/// A watch request (`waitAction`) for events after `wait_index - 1`.
pub fn wait_request(key: &str, wait_index: u64, recursive: bool) -> Request {
    let query = encode_query(&[
        ("wait", "true".into()),
        ("waitIndex", wait_index.to_string()),
        ("recursive", recursive.to_string()),
    ]);
    let key = key.to_string();
    Request {
        method: "GET",
        url: Box::new(move |ep| keys_url(ep, &key, &query)),
        body: None,
        content_type: None,
        wait: true,
        one_shot: false,
    }
}

/// `httpWatcher.Next`: the next event (an empty answer is asked again).
pub async fn next_event(
    c: &mut Client,
    io: &mut Io,
    key: &str,
    wait_index: &mut u64,
    recursive: bool,
) -> Result<Response, ClientError> {
    loop {
        let reply = c
            .send(io, &wait_request(key, *wait_index, recursive), None)
            .await?;
        if let Some(r) = keys_response(&reply)? {
            *wait_index = r.node.as_ref().map_or(0, |n| n.modified_index) + 1;
            return Ok(r);
        }
    }
}

/// `argOrStdin`: argument `i`, or all of stdin.
fn arg_or_stdin(args: &[String], i: usize) -> Option<String> {
    if let Some(a) = args.get(i) {
        return Some(a.clone());
    }
    let mut buf = Vec::new();
    match std::io::stdin().read_to_end(&mut buf) {
        Ok(_) if !buf.is_empty() => Some(String::from_utf8_lossy(&buf).into_owned()),
        _ => None,
    }
}

/// The key, or "key required".
fn key_arg(io: &mut Io, c: &Ctx<'_>) -> Result<String, i32> {
    c.args
        .first()
        .cloned()
        .ok_or_else(|| c.g.fail_msg(io, EXIT_BAD_ARGS, "key required"))
}

fn value_arg(io: &mut Io, c: &Ctx<'_>) -> Result<String, i32> {
    arg_or_stdin(&c.args, 1).ok_or_else(|| c.g.fail_msg(io, EXIT_BAD_ARGS, "value required"))
}

fn ttl(c: &Ctx<'_>) -> u64 {
    // Go converts the int to a Duration and back: a negative TTL is none.
    u64::try_from(c.flags.int("ttl")).unwrap_or(0)
}

/// Prints the response, or fails with the error (exit 4).
fn finish(io: &mut Io, c: &Ctx<'_>, r: Result<Response, ClientError>, print: bool) -> Res {
    match r {
        Ok(r) => {
            if print {
                print_response_key(io, &r, &c.g.output());
            }
            Ok(())
        }
        Err(e) => Err(c.g.fail(io, EXIT_SERVER_ERROR, &e)),
    }
}

pub async fn set(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let value = value_arg(io, c)?;
    let o = SetOptions {
        prev_value: c.flags.string("swap-with-value"),
        prev_index: c.flags.int("swap-with-index") as u64,
        ttl: ttl(c),
        ..SetOptions::default()
    };
    let r = set_key(&mut cl, io, &key, &value, o, c.g.deadline()).await;
    finish(io, c, r, true)
}

pub async fn update(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let value = value_arg(io, c)?;
    let o = SetOptions {
        prev_exist: Some(true),
        ttl: ttl(c),
        ..SetOptions::default()
    };
    let r = set_key(&mut cl, io, &key, &value, o, c.g.deadline()).await;
    finish(io, c, r, true)
}

pub async fn mk(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let value = value_arg(io, c)?;
    let deadline = c.g.deadline();
    let r = if c.flags.bool("in-order") {
        let mut body = vec![("value", value)];
        if ttl(c) > 0 {
            body.push(("ttl", ttl(c).to_string()));
        }
        let req = Request {
            method: "POST",
            url: Box::new(move |ep| keys_url(ep, &key, "")),
            body: Some(form(&body)),
            content_type: Some(FORM),
            wait: false,
            one_shot: false,
        };
        keys_call(&mut cl, io, req, deadline).await
    } else {
        let o = SetOptions {
            prev_exist: Some(false),
            ttl: ttl(c),
            ..SetOptions::default()
        };
        set_key(&mut cl, io, &key, &value, o, deadline).await
    };
    finish(io, c, r, true)
}

/// `mkdir` (`prev`: must not exist) and `setdir` (either way).
pub async fn mkdir(io: &mut Io, c: &Ctx<'_>, prev: PrevExist) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let o = SetOptions {
        dir: true,
        prev_exist: match prev {
            PrevExist::Ignore => None,
            PrevExist::True => Some(true),
            PrevExist::False => Some(false),
        },
        ttl: ttl(c),
        ..SetOptions::default()
    };
    let r = set_key(&mut cl, io, &key, "", o, c.g.deadline()).await;
    finish(io, c, r, c.g.output() != "simple")
}

pub async fn updatedir(io: &mut Io, c: &Ctx<'_>) -> Res {
    mkdir(io, c, PrevExist::True).await
}

/// `KeysAPI.Delete` (always tried on one endpoint only).
async fn delete_key(
    cl: &mut Client,
    io: &mut Io,
    key: String,
    params: Vec<(&str, String)>,
    deadline: Option<tokio::time::Instant>,
) -> Result<Response, ClientError> {
    let query = encode_query(&params);
    let req = Request {
        method: "DELETE",
        url: Box::new(move |ep| keys_url(ep, &key, &query)),
        body: None,
        content_type: Some(FORM),
        wait: false,
        one_shot: true,
    };
    keys_call(cl, io, req, deadline).await
}

/// `rm` and `rmdir` print a deleted directory only outside `simple`.
fn print_deleted(io: &mut Io, c: &Ctx<'_>, r: Result<Response, ClientError>) -> Res {
    let dir = r
        .as_ref()
        .ok()
        .and_then(|r| r.node.as_ref())
        .is_some_and(|n| n.dir);
    finish(io, c, r, !dir || c.g.output() != "simple")
}

pub async fn rm(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let mut params: Vec<(&str, String)> = Vec::new();
    let prev_value = c.flags.string("with-value");
    if !prev_value.is_empty() {
        params.push(("prevValue", prev_value));
    }
    let prev_index = c.flags.int("with-index") as u64;
    if prev_index != 0 {
        params.push(("prevIndex", prev_index.to_string()));
    }
    if c.flags.bool("dir") {
        params.push(("dir", "true".into()));
    }
    if c.flags.bool("recursive") {
        params.push(("recursive", "true".into()));
    }
    let r = delete_key(&mut cl, io, key, params, c.g.deadline()).await;
    print_deleted(io, c, r)
}

pub async fn rmdir(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let r = delete_key(
        &mut cl,
        io,
        key,
        vec![("dir", "true".into())],
        c.g.deadline(),
    )
    .await;
    print_deleted(io, c, r)
}

pub async fn get(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = key_arg(io, c)?;
    let r = get_key(
        &mut cl,
        io,
        &key,
        false,
        c.flags.bool("sort"),
        c.flags.bool("quorum"),
        c.g.deadline(),
    )
    .await;
    if let Ok(Response { node: Some(n), .. }) = &r {
        if n.dir {
            io.err(&format!("{}: is a directory\n", n.key));
            return Err(1);
        }
    }
    finish(io, c, r, true)
}

pub async fn ls(io: &mut Io, c: &Ctx<'_>) -> Res {
    let mut cl = c.g.client(io).await?;
    let key = c.args.first().cloned().unwrap_or_else(|| "/".into());
    let r = get_key(
        &mut cl,
        io,
        &key,
        c.flags.bool("recursive"),
        c.flags.bool("sort"),
        c.flags.bool("quorum"),
        c.g.deadline(),
    )
    .await;
    let r = match r {
        Ok(r) => r,
        Err(e) => return Err(c.g.fail(io, EXIT_SERVER_ERROR, &e)),
    };
    if c.g.output() != "simple" {
        print_response_key(io, &r, &c.g.output());
        return Ok(());
    }
    let node = r.node.unwrap_or_default();
    let mut s = String::new();
    if !node.dir {
        s.push_str(&format!("{}\n", node.key));
    }
    let slash = c.flags.bool("p");
    for n in node.nodes.iter().flatten() {
        list_node(&mut s, n, slash);
    }
    io.out(&s);
    Ok(())
}

/// `rPrint`: a node and, depth first, its children.
fn list_node(s: &mut String, n: &Node, slash: bool) {
    if n.dir && slash {
        s.push_str(&format!("{}/\n", n.key));
    } else {
        s.push_str(&format!("{}\n", n.key));
    }
    for child in n.nodes.iter().flatten() {
        list_node(s, child, slash);
    }
}
