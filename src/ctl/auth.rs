//! `etcdctl auth|user|role …` (etcdctl's `auth_command.go`,
//! `user_command.go`, `role_command.go`), and `--user`/`--password`.
//!
//! Their outputs live here rather than in the `printer_*` files: every
//! response is a header plus at most one list, and etcdctl 3.4 prints them
//! in four formats (simple, json, protobuf, and `fields` for some; `table`
//! for none), which fit in one place.

use std::io::BufRead;

use prost::Message;

use crate::pb::authpb::{permission, Permission, UserAddOptions};
use crate::pb::etcdserverpb::{
    auth_client::AuthClient, AuthRoleAddRequest, AuthRoleDeleteRequest, AuthRoleGetRequest,
    AuthRoleGetResponse, AuthRoleGrantPermissionRequest, AuthRoleListRequest,
    AuthRoleRevokePermissionRequest, AuthUserAddRequest, AuthUserChangePasswordRequest,
    AuthUserDeleteRequest, AuthUserGetRequest, AuthUserGrantRoleRequest, AuthUserListRequest,
    AuthUserRevokeRoleRequest, AuthenticateRequest, ResponseHeader,
};

use super::global::{bad_args, call, Ctx, EXIT_BAD_FEATURE};
use super::print::{go_quote, header_json, json_str, Fields, Obj};
use super::util::prefix_end;
use super::{CmdResult, Fail, Output};

/// What speakeasy prints on stderr for each prompt when stdin is no
/// terminal (it runs `stty -echo` and `stty echo` on it).
const STTY_NOT_A_TTY: &str = "stty: 'standard input': Inappropriate ioctl for device\n";

fn stdin_is_tty() -> bool {
    #[cfg(not(madsim))]
    {
        use std::io::IsTerminal;
        std::io::stdin().is_terminal()
    }
    #[cfg(madsim)]
    false
}

/// speakeasy's `Ask`: the prompt, a line read without echo, a newline.
fn ask(o: &mut Output, stdin: &mut dyn BufRead, prompt: &str) -> Result<String, Fail> {
    o.prompt(prompt);
    if !stdin_is_tty() {
        o.err(STTY_NOT_A_TTY);
    }
    let mut line = String::new();
    let _ = stdin.read_line(&mut line);
    if !stdin_is_tty() {
        o.err(STTY_NOT_A_TTY);
    }
    o.prompt("\n");
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// etcdctl's `readPasswordInteractive`: twice, and the same both times.
fn read_password_interactive(
    o: &mut Output,
    stdin: &mut dyn BufRead,
    name: &str,
) -> Result<String, Fail> {
    let p1 = ask(o, stdin, &format!("Password of {name}: "))?;
    if p1.is_empty() {
        return Err(bad_args("empty password"));
    }
    let p2 = ask(
        o,
        stdin,
        &format!("Type password of {name} again for confirmation: "),
    )?;
    if p1 != p2 {
        return Err(bad_args("given passwords are different"));
    }
    Ok(p1)
}

/// Go's `fmt.Scanf("%s")`: the first word of stdin.
fn scan_word(stdin: &mut dyn BufRead) -> String {
    let mut line = String::new();
    let _ = stdin.read_line(&mut line);
    line.split_whitespace().next().unwrap_or("").to_string()
}

/// `--user name[:password]` and `--password`, as etcdctl's `authCfgFromCmd`
/// reads them (prompting when the password is missing); `None` without
/// `--user`.
pub(super) fn credentials(
    ctx: &Ctx,
    o: &mut Output,
    stdin: &mut dyn BufRead,
) -> Result<Option<(String, String)>, Fail> {
    let user = ctx.get("user");
    if user.is_empty() {
        return Ok(None);
    }
    let password = ctx.get("password");
    if !password.is_empty() {
        return Ok(Some((user.to_string(), password.to_string())));
    }
    match user.split_once(':') {
        Some((u, p)) => Ok(Some((u.to_string(), p.to_string()))),
        None => {
            let p = ask(o, stdin, "Password: ")?;
            Ok(Some((user.to_string(), p)))
        }
    }
}

/// Authenticates as clientv3 does when it dials with a user: a token on
/// success; auth not enabled is only warned about (the requests go
/// without a token); any other failure fails the dial (exit 2).
pub(super) async fn authenticate(
    ctx: &Ctx,
    ch: &tonic::transport::Channel,
    ep: &str,
    user: &str,
    password: &str,
) -> Result<Option<String>, Fail> {
    let req = AuthenticateRequest {
        name: user.to_string(),
        password: password.to_string(),
    };
    match call(ctx, ep, AuthClient::new(ch.clone()).authenticate(req)).await {
        Ok(r) => Ok(Some(r.token)),
        Err(f) if f.msg == "etcdserver: authentication is not enabled" => {
            ctx.token.warn(f.warn.unwrap_or_default());
            Ok(None)
        }
        Err(f) => Err(Fail {
            code: super::global::EXIT_BAD_CONNECTION,
            ..f
        }),
    }
}

/// One of the responses these commands print.
enum Resp {
    /// Header only: the simple format prints `line`.
    Done(Option<ResponseHeader>, String),
    UserGet(String, AuthUserGetResponseView),
    Names {
        header: Option<ResponseHeader>,
        field: &'static str,
        names: Vec<String>,
        /// The `fields` format has a layout (role list does; user list not).
        fields: bool,
    },
    RoleGet(String, AuthRoleGetResponse),
}

struct AuthUserGetResponseView {
    header: Option<ResponseHeader>,
    roles: Vec<String>,
}

fn unsupported(format: &str) -> Fail {
    Fail(
        EXIT_BAD_FEATURE,
        format!("{format} not supported as output format"),
    )
}

fn perm_json(p: &Permission) -> String {
    Obj::default()
        .int("permType", i64::from(p.perm_type))
        .bytes("key", &p.key)
        .bytes("range_end", &p.range_end)
        .done()
}

fn list_json(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(","))
}

/// etcdctl's simple `RoleGet`.
fn role_simple(role: &str, perms: &[Permission]) -> String {
    let mut s = format!("Role {role}\nKV Read:\n");
    let line = |p: &Permission| {
        let key = String::from_utf8_lossy(&p.key);
        if p.range_end.is_empty() {
            return format!("\t{key}\n");
        }
        let end = String::from_utf8_lossy(&p.range_end);
        let mut l = if p.range_end != [0] {
            format!("\t[{key}, {end})")
        } else {
            format!("\t[{key}, <open ended>")
        };
        if prefix_end(&p.key) == p.range_end {
            l.push_str(&format!(" (prefix {key})"));
        }
        l.push('\n');
        l
    };
    let is = |p: &Permission, t: permission::Type| {
        p.perm_type == t as i32 || p.perm_type == permission::Type::Readwrite as i32
    };
    for p in perms.iter().filter(|p| is(p, permission::Type::Read)) {
        s.push_str(&line(p));
    }
    s.push_str("KV Write:\n");
    for p in perms.iter().filter(|p| is(p, permission::Type::Write)) {
        s.push_str(&line(p));
    }
    s
}

fn print(ctx: &Ctx, o: &mut Output, r: Resp) -> CmdResult {
    let format = ctx.format();
    let header = |h: &Option<ResponseHeader>| Obj::default().opt("header", header_json(h));
    match format {
        "simple" => {
            o.out(match r {
                Resp::Done(_, line) => line,
                Resp::UserGet(name, u) => {
                    let roles: String = u.roles.iter().map(|r| format!(" {r}")).collect();
                    format!("User: {name}\nRoles:{roles}\n")
                }
                Resp::Names { names, .. } => names.iter().map(|n| format!("{n}\n")).collect(),
                Resp::RoleGet(role, g) => role_simple(&role, &g.perm),
            });
            Ok(())
        }
        "json" => {
            let json = match r {
                Resp::Done(h, _) => header(&h).done(),
                Resp::UserGet(_, u) => {
                    let mut obj = header(&u.header);
                    if !u.roles.is_empty() {
                        obj = obj.raw("roles", list_json(u.roles.iter().map(|r| json_str(r))));
                    }
                    obj.done()
                }
                Resp::Names {
                    header: h,
                    field,
                    names,
                    ..
                } => {
                    let mut obj = header(&h);
                    if !names.is_empty() {
                        obj = obj.raw(field, list_json(names.iter().map(|n| json_str(n))));
                    }
                    obj.done()
                }
                Resp::RoleGet(_, g) => {
                    let mut obj = header(&g.header);
                    if !g.perm.is_empty() {
                        obj = obj.raw("perm", list_json(g.perm.iter().map(perm_json)));
                    }
                    obj.done()
                }
            };
            o.out(format!("{json}\n"));
            Ok(())
        }
        "fields" => {
            let mut f = Fields(String::new());
            match r {
                Resp::Done(h, _) => f.header(&h),
                Resp::UserGet(..) => return Err(unsupported(format)),
                Resp::Names {
                    header: h,
                    names,
                    fields: true,
                    ..
                } => {
                    f.header(&h);
                    let quoted: String = names
                        .iter()
                        .map(|n| format!(" {}", go_quote(n.as_bytes())))
                        .collect();
                    f.0.push_str(&format!("\"Roles\" :{quoted}\n"));
                }
                Resp::Names { .. } => return Err(unsupported(format)),
                Resp::RoleGet(_, g) => {
                    f.header(&g.header);
                    for p in &g.perm {
                        f.0.push_str(&format!(
                            "\"PermType\" :  {}\n\"Key\" : {}\n\"RangeEnd\" : {}\n",
                            crate::auth::perm_type_name(p.perm_type),
                            go_quote(&p.key),
                            go_quote(&p.range_end),
                        ));
                    }
                }
            }
            o.out(f.0);
            Ok(())
        }
        "protobuf" => {
            let bytes = match r {
                Resp::Done(h, _) => {
                    crate::pb::etcdserverpb::AuthUserAddResponse { header: h }.encode_to_vec()
                }
                Resp::UserGet(_, u) => crate::pb::etcdserverpb::AuthUserGetResponse {
                    header: u.header,
                    roles: u.roles,
                }
                .encode_to_vec(),
                Resp::Names {
                    header,
                    names,
                    field: "users",
                    ..
                } => crate::pb::etcdserverpb::AuthUserListResponse {
                    header,
                    users: names,
                }
                .encode_to_vec(),
                Resp::Names { header, names, .. } => {
                    crate::pb::etcdserverpb::AuthRoleListResponse {
                        header,
                        roles: names,
                    }
                    .encode_to_vec()
                }
                Resp::RoleGet(_, g) => g.encode_to_vec(),
            };
            o.out(bytes);
            Ok(())
        }
        _ => Err(unsupported(format)),
    }
}

fn client(ch: tonic::transport::Channel) -> AuthClient<tonic::transport::Channel> {
    AuthClient::new(ch)
}

/// `auth enable`: as etcdctl, it makes the root role and grants it to root
/// when only that is missing.
pub(super) async fn auth_enable(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args(
            "auth enable command does not accept any arguments",
        ));
    }
    let (ch, ep) = super::global::connect(ctx).await?;
    loop {
        let r = call(
            ctx,
            &ep,
            client(ch.clone()).auth_enable(ctx.req(Default::default())),
        )
        .await;
        match r {
            Ok(_) => break,
            Err(f) if f.msg == "etcdserver: root user does not have root role" => {
                o.err(f.warn.unwrap_or_default());
                let add = AuthRoleAddRequest {
                    name: "root".into(),
                };
                call(ctx, &ep, client(ch.clone()).role_add(ctx.req(add))).await?;
                let grant = AuthUserGrantRoleRequest {
                    user: "root".into(),
                    role: "root".into(),
                };
                call(ctx, &ep, client(ch.clone()).user_grant_role(ctx.req(grant))).await?;
            }
            Err(f) => return Err(f),
        }
    }
    o.out("Authentication Enabled\n");
    Ok(())
}

pub(super) async fn auth_disable(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args(
            "auth disable command does not accept any arguments",
        ));
    }
    let (ch, ep) = super::global::connect(ctx).await?;
    call(
        ctx,
        &ep,
        client(ch).auth_disable(ctx.req(Default::default())),
    )
    .await?;
    o.out("Authentication Disabled\n");
    Ok(())
}

pub(super) async fn user_add(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    let [arg] = ctx.args() else {
        return Err(bad_args(
            "user add command requires user name as its argument",
        ));
    };
    let no_password = ctx.bool("no-password");
    let (user, password) = if no_password {
        (arg.clone(), String::new())
    } else if !ctx.get("new-user-password").is_empty() {
        (arg.clone(), ctx.get("new-user-password").to_string())
    } else {
        match arg.split_once(':') {
            Some(("", _)) => return Err(bad_args("empty user name is not allowed")),
            Some((u, p)) => (u.to_string(), p.to_string()),
            None if !ctx.bool("interactive") => (arg.clone(), scan_word(stdin)),
            None => (arg.clone(), read_password_interactive(o, stdin, arg)?),
        }
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthUserAddRequest {
        name: user.clone(),
        password,
        options: Some(UserAddOptions { no_password }),
        hashed_password: String::new(),
    };
    let r = call(ctx, &ep, client(ch).user_add(ctx.req(req))).await?;
    print(
        ctx,
        o,
        Resp::Done(r.header, format!("User {user} created\n")),
    )
}

pub(super) async fn user_delete(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [name] = ctx.args() else {
        return Err(bad_args(
            "user delete command requires user name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthUserDeleteRequest { name: name.clone() };
    let r = call(ctx, &ep, client(ch).user_delete(ctx.req(req))).await?;
    print(
        ctx,
        o,
        Resp::Done(r.header, format!("User {name} deleted\n")),
    )
}

pub(super) async fn user_get(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [name] = ctx.args() else {
        return Err(bad_args(
            "user get command requires user name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthUserGetRequest { name: name.clone() };
    let r = call(ctx, &ep, client(ch.clone()).user_get(ctx.req(req))).await?;
    if !ctx.bool("detail") {
        let view = AuthUserGetResponseView {
            header: r.header,
            roles: r.roles,
        };
        return print(ctx, o, Resp::UserGet(name.clone(), view));
    }
    o.out(format!("User: {name}\n"));
    for role in r.roles {
        o.out("\n");
        let req = AuthRoleGetRequest { role: role.clone() };
        let g = call(ctx, &ep, client(ch.clone()).role_get(ctx.req(req))).await?;
        print(ctx, o, Resp::RoleGet(role, g))?;
    }
    Ok(())
}

pub(super) async fn user_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args("user list command requires no arguments"));
    }
    let (ch, ep) = super::global::connect(ctx).await?;
    let r = call(
        ctx,
        &ep,
        client(ch).user_list(ctx.req(AuthUserListRequest {})),
    )
    .await?;
    let resp = Resp::Names {
        header: r.header,
        field: "users",
        names: r.users,
        fields: false,
    };
    print(ctx, o, resp)
}

pub(super) async fn user_passwd(ctx: &Ctx, o: &mut Output, stdin: &mut dyn BufRead) -> CmdResult {
    let [name] = ctx.args() else {
        return Err(bad_args(
            "user passwd command requires user name as its argument",
        ));
    };
    let password = if ctx.bool("interactive") {
        read_password_interactive(o, stdin, name)?
    } else {
        scan_word(stdin)
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthUserChangePasswordRequest {
        name: name.clone(),
        password,
        hashed_password: String::new(),
    };
    let r = call(ctx, &ep, client(ch).user_change_password(ctx.req(req))).await?;
    print(ctx, o, Resp::Done(r.header, "Password updated\n".into()))
}

pub(super) async fn user_grant_role(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [user, role] = ctx.args() else {
        return Err(bad_args(
            "user grant command requires user name and role name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthUserGrantRoleRequest {
        user: user.clone(),
        role: role.clone(),
    };
    let r = call(ctx, &ep, client(ch).user_grant_role(ctx.req(req))).await?;
    let line = format!("Role {role} is granted to user {user}\n");
    print(ctx, o, Resp::Done(r.header, line))
}

pub(super) async fn user_revoke_role(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [user, role] = ctx.args() else {
        return Err(bad_args(
            "user revoke-role requires user name and role name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthUserRevokeRoleRequest {
        name: user.clone(),
        role: role.clone(),
    };
    let r = call(ctx, &ep, client(ch).user_revoke_role(ctx.req(req))).await?;
    let line = format!("Role {role} is revoked from user {user}\n");
    print(ctx, o, Resp::Done(r.header, line))
}

pub(super) async fn role_add(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [name] = ctx.args() else {
        return Err(bad_args(
            "role add command requires role name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthRoleAddRequest { name: name.clone() };
    let r = call(ctx, &ep, client(ch).role_add(ctx.req(req))).await?;
    print(
        ctx,
        o,
        Resp::Done(r.header, format!("Role {name} created\n")),
    )
}

pub(super) async fn role_delete(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [name] = ctx.args() else {
        return Err(bad_args(
            "role delete command requires role name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthRoleDeleteRequest { role: name.clone() };
    let r = call(ctx, &ep, client(ch).role_delete(ctx.req(req))).await?;
    print(
        ctx,
        o,
        Resp::Done(r.header, format!("Role {name} deleted\n")),
    )
}

pub(super) async fn role_get(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [name] = ctx.args() else {
        return Err(bad_args(
            "role get command requires role name as its argument",
        ));
    };
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthRoleGetRequest { role: name.clone() };
    let r = call(ctx, &ep, client(ch).role_get(ctx.req(req))).await?;
    print(ctx, o, Resp::RoleGet(name.clone(), r))
}

pub(super) async fn role_list(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if !ctx.args().is_empty() {
        return Err(bad_args("role list command requires no arguments"));
    }
    let (ch, ep) = super::global::connect(ctx).await?;
    let r = call(
        ctx,
        &ep,
        client(ch).role_list(ctx.req(AuthRoleListRequest {})),
    )
    .await?;
    let resp = Resp::Names {
        header: r.header,
        field: "roles",
        names: r.roles,
        fields: true,
    };
    print(ctx, o, resp)
}

/// etcdctl's `permRange`: the key and range end `--prefix`/`--from-key`
/// and an optional end key give.
fn perm_range(ctx: &Ctx, args: &[String]) -> Result<(Vec<u8>, Vec<u8>), Fail> {
    let (prefix, from_key) = (ctx.bool("prefix"), ctx.bool("from-key"));
    let exclusive = || bad_args("--from-key and --prefix flags are mutually exclusive");
    let key = args[0].as_bytes().to_vec();
    if key.is_empty() {
        if prefix && from_key {
            return Err(exclusive());
        }
        // The empty prefix is every key: ["\0", "\0") on the server.
        let end = if prefix || from_key { vec![0] } else { vec![] };
        return Ok((vec![0], end));
    }
    let end = match (args.len(), prefix, from_key) {
        (1, true, true) => return Err(exclusive()),
        (1, true, false) => prefix_end(&key),
        (1, false, true) => vec![0],
        (1, false, false) => vec![],
        (_, true, _) => return Err(bad_args("unexpected endkey argument with --prefix flag")),
        (_, _, true) => return Err(bad_args("unexpected endkey argument with --from-key flag")),
        _ => args[1].as_bytes().to_vec(),
    };
    Ok((key, end))
}

pub(super) async fn role_grant_permission(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let args = ctx.args();
    if args.len() < 3 {
        return Err(bad_args("role grant command requires role name, permission type, and key [endkey] as its argument"));
    }
    // clientv3's `StrToPermissionType`: case-insensitive.
    let perm_type = match args[1].to_ascii_uppercase().as_str() {
        "READ" => permission::Type::Read,
        "WRITE" => permission::Type::Write,
        "READWRITE" => permission::Type::Readwrite,
        _ => return Err(bad_args(format!("invalid permission type: {}", args[1]))),
    };
    let (key, range_end) = perm_range(ctx, &args[2..])?;
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthRoleGrantPermissionRequest {
        name: args[0].clone(),
        perm: Some(Permission {
            perm_type: perm_type as i32,
            key,
            range_end,
        }),
    };
    let r = call(ctx, &ep, client(ch).role_grant_permission(ctx.req(req))).await?;
    print(
        ctx,
        o,
        Resp::Done(r.header, format!("Role {} updated\n", args[0])),
    )
}

pub(super) async fn role_revoke_permission(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let args = ctx.args();
    if args.len() < 2 {
        return Err(bad_args(
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = perm_range(ctx, &args[1..])?;
    let (ch, ep) = super::global::connect(ctx).await?;
    let req = AuthRoleRevokePermissionRequest {
        role: args[0].clone(),
        key,
        range_end: range_end.clone(),
    };
    let r = call(ctx, &ep, client(ch).role_revoke_permission(ctx.req(req))).await?;
    let (role, key) = (&args[0], &args[1]);
    let end = String::from_utf8_lossy(&range_end);
    let line = if range_end.is_empty() {
        format!("Permission of key {key} is revoked from role {role}\n")
    } else if range_end != [0] {
        format!("Permission of range [{key}, {end}) is revoked from role {role}\n")
    } else {
        format!("Permission of range [{key}, <open ended> is revoked from role {role}\n")
    };
    print(ctx, o, Resp::Done(r.header, line))
}
