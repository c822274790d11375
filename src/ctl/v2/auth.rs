//! `user …`, `role …` and `auth enable|disable` (etcdctl's
//! `user_commands.go`, `role_commands.go`, `auth_commands.go`) on etcd's
//! v2 auth API (`/v2/auth/users`, `/v2/auth/roles`, `/v2/auth/enable`;
//! the Go client's `auth_user.go`, `auth_role.go`), and the password
//! prompt `--username` without a password asks.

use std::io::BufRead;

use serde_json::Value;

use super::client::{Client, ClientError, Request};
use super::member::{message_error, parse_json as parse};
use super::url::{canonical_url_path, join, Url};
use super::{Ctx, Io, Res};
use crate::ctl::print::json_str;

/// What speakeasy prints on stderr for each prompt when stdin is no
/// terminal (it runs `stty -echo` and `stty echo` on it).
const STTY_NOT_A_TTY: &str = "stty: 'standard input': Inappropriate ioctl for device\n";

fn stdin_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdin().is_terminal()
}

/// speakeasy's `Ask`: the prompt, a line read without echo, a newline.
pub fn ask(io: &mut Io, prompt: &str) -> String {
    io.out(prompt);
    let tty = stdin_is_tty();
    if !tty {
        io.err(STTY_NOT_A_TTY);
    }
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    if !tty {
        io.err(STTY_NOT_A_TTY);
    }
    io.out("\n");
    line.trim_end_matches(['\n', '\r']).to_string()
}

/// `getUsernamePassword`: `name:password`, or the name and a prompted
/// password.
pub fn username_password(io: &mut Io, prompt: &str, flag: &str) -> (String, String) {
    match flag.split_once(':') {
        Some((u, p)) => (u.to_string(), p.to_string()),
        None => (flag.to_string(), ask(io, prompt)),
    }
}

fn auth_url(ep: &Url, action: &str, name: &str) -> String {
    ep.map_path(|p| join(&[p, "/v2/auth", action, name]))
        .to_string()
}

fn request(
    method: &'static str,
    action: &'static str,
    name: &str,
    body: Option<String>,
) -> Request {
    let name = name.to_string();
    let json = body.is_some();
    Request {
        method,
        url: Box::new(move |ep| auth_url(ep, action, &name)),
        body: body.map(String::into_bytes),
        content_type: json.then_some("application/json"),
        wait: false,
        one_shot: false,
    }
}

/// Sends `req`; an answer other than `ok` is the server's message.
async fn call(
    cl: &mut Client,
    io: &mut Io,
    req: Request,
    ok: &[u16],
    deadline: Option<tokio::time::Instant>,
) -> Result<Vec<u8>, ClientError> {
    let r = cl.send(io, &req, deadline).await?;
    if ok.contains(&r.status) {
        Ok(r.body)
    } else {
        Err(message_error(&r.body))
    }
}

fn strings_json(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| json_str(s)).collect();
    format!("[{}]", items.join(","))
}

fn opt_list_json(v: &Option<Vec<String>>) -> String {
    v.as_ref()
        .map_or_else(|| "null".into(), |v| strings_json(v))
}

/// `client.User` as the Go client sends it (`roles` always, the rest
/// when set).
fn user_json(user: &str, password: &str, grant: &[String], revoke: &[String]) -> String {
    let mut s = format!("{{\"user\":{}", json_str(user));
    if !password.is_empty() {
        s.push_str(&format!(",\"password\":{}", json_str(password)));
    }
    s.push_str(",\"roles\":null");
    if !grant.is_empty() {
        s.push_str(&format!(",\"grant\":{}", strings_json(grant)));
    }
    if !revoke.is_empty() {
        s.push_str(&format!(",\"revoke\":{}", strings_json(revoke)));
    }
    s.push('}');
    s
}

/// A role's key permissions (`nil` and empty lists differ, as in Go).
#[derive(Clone, Debug, Default, PartialEq)]
struct Kv {
    read: Option<Vec<String>>,
    write: Option<Vec<String>>,
}

/// `client.Role`.
#[derive(Clone, Debug, Default, PartialEq)]
struct Role {
    role: String,
    permissions: Kv,
    grant: Option<Kv>,
    revoke: Option<Kv>,
}

fn opt_strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|s| s.as_str().unwrap_or("").to_string())
            .collect()
    })
}

fn kv_from(v: Option<&Value>) -> Option<Kv> {
    let kv = v?.get("kv")?;
    Some(Kv {
        read: opt_strings(kv.get("read")),
        write: opt_strings(kv.get("write")),
    })
}

fn role_from(v: &Value) -> Role {
    Role {
        role: v.get("role").and_then(Value::as_str).unwrap_or("").into(),
        permissions: kv_from(v.get("permissions")).unwrap_or_default(),
        grant: v
            .get("grant")
            .filter(|g| !g.is_null())
            .map(|g| kv_from(Some(g)).unwrap_or_default()),
        revoke: v
            .get("revoke")
            .filter(|g| !g.is_null())
            .map(|g| kv_from(Some(g)).unwrap_or_default()),
    }
}

fn kv_json(kv: &Kv) -> String {
    format!(
        "{{\"kv\":{{\"read\":{},\"write\":{}}}}}",
        opt_list_json(&kv.read),
        opt_list_json(&kv.write)
    )
}

fn role_json(r: &Role) -> String {
    let mut s = format!(
        "{{\"role\":{},\"permissions\":{}",
        json_str(&r.role),
        kv_json(&r.permissions)
    );
    if let Some(g) = &r.grant {
        s.push_str(&format!(",\"grant\":{}", kv_json(g)));
    }
    if let Some(g) = &r.revoke {
        s.push_str(&format!(",\"revoke\":{}", kv_json(g)));
    }
    s.push('}');
    s
}

/// Prints `e` and ends with exit 1, as every auth command fails.
fn fail(io: &mut Io, e: &dyn std::fmt::Display) -> i32 {
    io.err(&format!("{e}\n"));
    1
}

/// `mustNewAuth*API`: the client; `--debug` shows the endpoints again.
async fn api(io: &mut Io, c: &Ctx<'_>) -> Result<Client, i32> {
    let cl = c.g.client(io).await?;
    if c.g.flags.bool("debug") {
        io.err(&format!(
            "Cluster-Endpoints: {}\n",
            cl.endpoints().join(", ")
        ));
    }
    Ok(cl)
}

/// `mustUserAPIAndName` / `mustRoleAPIAndName`.
async fn api_and_name(io: &mut Io, c: &Ctx<'_>, what: &str) -> Result<(Client, String), i32> {
    if c.args.len() != 1 {
        io.err(&format!("Please provide a {what}\n"));
        return Err(1);
    }
    Ok((api(io, c).await?, c.args[0].clone()))
}

fn no_arguments(io: &mut Io, c: &Ctx<'_>) -> Res {
    if c.args.is_empty() {
        Ok(())
    } else {
        io.err("No arguments accepted\n");
        Err(1)
    }
}

pub async fn user_list(io: &mut Io, c: &Ctx<'_>) -> Res {
    no_arguments(io, c)?;
    let mut cl = api(io, c).await?;
    let body = call(
        &mut cl,
        io,
        request("GET", "users", "", None),
        &[200],
        c.g.deadline(),
    )
    .await
    .map_err(|e| fail(io, &e))?;
    print_names(io, &body, "users", "user")
}

/// The `name` of each object in the `list` of a listing.
fn print_names(io: &mut Io, body: &[u8], list: &str, name: &str) -> Res {
    let v = parse(body).map_err(|e| fail(io, &e))?;
    let items = v.get(list).and_then(Value::as_array);
    let mut s = String::new();
    for item in items.into_iter().flatten() {
        let n = item.get(name).and_then(Value::as_str).unwrap_or("");
        s.push_str(&format!("{n}\n"));
    }
    io.out(&s);
    Ok(())
}

pub async fn user_add(io: &mut Io, c: &Ctx<'_>) -> Res {
    let (mut cl, arg) = api_and_name(io, c, "username").await?;
    let user = arg.split(':').next().unwrap_or("").to_string();
    let (_, pass) = username_password(io, "New password: ", &arg);
    let body = user_json(&user, &pass, &[], &[]);
    call(
        &mut cl,
        io,
        request("PUT", "users", &user, Some(body)),
        &[200, 201],
        c.g.deadline(),
    )
    .await
    .map_err(|e| fail(io, &e))?;
    io.out(&format!("User {user} created\n"));
    Ok(())
}

pub async fn user_remove(io: &mut Io, c: &Ctx<'_>) -> Res {
    remove(io, c, "username", "users", "User").await
}

/// `user remove` and `role remove`: `DELETE /v2/auth/<kind>/<name>`.
async fn remove(io: &mut Io, c: &Ctx<'_>, what: &str, kind: &'static str, label: &str) -> Res {
    let (mut cl, name) = api_and_name(io, c, what).await?;
    let req = request("DELETE", kind, &name, None);
    call(&mut cl, io, req, &[200, 201], c.g.deadline())
        .await
        .map_err(|e| fail(io, &e))?;
    io.out(&format!("{label} {name} removed\n"));
    Ok(())
}

/// The Go client's `modUser`: a change of a user, answered 200.
async fn mod_user(cl: &mut Client, io: &mut Io, c: &Ctx<'_>, user: &str, body: String) -> Res {
    let req = request("PUT", "users", user, Some(body));
    call(cl, io, req, &[200], c.g.deadline())
        .await
        .map(drop)
        .map_err(|e| fail(io, &e))
}

pub async fn user_passwd(io: &mut Io, c: &Ctx<'_>) -> Res {
    let (mut cl, user) = api_and_name(io, c, "username").await?;
    let pass = ask(io, "New password: ");
    let body = user_json(&user, &pass, &[], &[]);
    mod_user(&mut cl, io, c, &user, body).await?;
    io.out("Password updated\n");
    Ok(())
}

pub async fn user_grant_revoke(io: &mut Io, c: &Ctx<'_>, grant: bool) -> Res {
    let roles = c.flags.slice("roles");
    if roles.is_empty() {
        io.err("No roles specified; please use `--roles`\n");
        return Err(1);
    }
    let (mut cl, user) = api_and_name(io, c, "username").await?;
    let body = if grant {
        user_json(&user, "", &roles, &[])
    } else {
        user_json(&user, "", &[], &roles)
    };
    mod_user(&mut cl, io, c, &user, body).await?;
    io.out(&format!("User {user} updated\n"));
    Ok(())
}

/// The roles of a user as the Go client reads them: role names, or role
/// objects, which Go first fails to read as names (leaving one empty
/// name each) and then appends by name.
fn user_roles(v: &Value) -> Vec<String> {
    let Some(roles) = v.get("roles").and_then(Value::as_array) else {
        return Vec::new();
    };
    if roles.iter().all(Value::is_string) {
        return roles
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
    }
    let mut out = vec![String::new(); roles.len()];
    out.extend(roles.iter().map(|r| {
        r.get("role")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }));
    out
}

pub async fn user_get(io: &mut Io, c: &Ctx<'_>) -> Res {
    let (mut cl, name) = api_and_name(io, c, "username").await?;
    let body = call(
        &mut cl,
        io,
        request("GET", "users", &name, None),
        &[200],
        c.g.deadline(),
    )
    .await
    .map_err(|e| fail(io, &e))?;
    let v = parse(&body).map_err(|e| fail(io, &e))?;
    io.out(&format!(
        "User: {}\nRoles: {}\n",
        v.get("user").and_then(Value::as_str).unwrap_or(""),
        user_roles(&v).join(" ")
    ));
    Ok(())
}

pub async fn role_list(io: &mut Io, c: &Ctx<'_>) -> Res {
    no_arguments(io, c)?;
    let mut cl = api(io, c).await?;
    let r = cl
        .send(io, &request("GET", "roles", "", None), c.g.deadline())
        .await
        .map_err(|e| fail(io, &e))?;
    if r.status != 200 {
        return Err(fail(io, &format!("unexpected status code {}", r.status)));
    }
    print_names(io, &r.body, "roles", "role")
}

async fn get_role(
    cl: &mut Client,
    io: &mut Io,
    name: &str,
    deadline: Option<tokio::time::Instant>,
) -> Result<Role, ClientError> {
    let body = call(
        cl,
        io,
        request("GET", "roles", name, None),
        &[200],
        deadline,
    )
    .await?;
    Ok(role_from(&parse(&body)?))
}

pub async fn role_add(io: &mut Io, c: &Ctx<'_>) -> Res {
    let (mut cl, role) = api_and_name(io, c, "role name").await?;
    let deadline = c.g.deadline();
    if get_role(&mut cl, io, &role, deadline).await.is_ok() {
        io.err(&format!("Role {role} already exists\n"));
        return Err(1);
    }
    let body = role_json(&Role {
        role: role.clone(),
        ..Role::default()
    });
    call(
        &mut cl,
        io,
        request("PUT", "roles", &role, Some(body)),
        &[200, 201],
        deadline,
    )
    .await
    .map_err(|e| fail(io, &e))?;
    io.out(&format!("Role {role} created\n"));
    Ok(())
}

pub async fn role_remove(io: &mut Io, c: &Ctx<'_>) -> Res {
    remove(io, c, "role name", "roles", "Role").await
}

pub async fn role_get(io: &mut Io, c: &Ctx<'_>) -> Res {
    let (mut cl, name) = api_and_name(io, c, "role name").await?;
    let r = get_role(&mut cl, io, &name, c.g.deadline())
        .await
        .map_err(|e| fail(io, &e))?;
    let mut s = format!("Role: {}\nKV Read:\n", r.role);
    for p in r.permissions.read.iter().flatten() {
        s.push_str(&format!("\t{p}\n"));
    }
    s.push_str("KV Write:\n");
    for p in r.permissions.write.iter().flatten() {
        s.push_str(&format!("\t{p}\n"));
    }
    io.out(&s);
    Ok(())
}

pub async fn role_grant_revoke(io: &mut Io, c: &Ctx<'_>, grant: bool) -> Res {
    let path = c.flags.string("path");
    if path.is_empty() {
        io.err("No path specified; please use `--path`\n");
        return Err(1);
    }
    let canonical = canonical_url_path(&path);
    if canonical != path {
        io.err(&format!(
            "Not canonical path; please use `--path={canonical}`\n"
        ));
        return Err(1);
    }
    let (read, write, rw) = (
        c.flags.bool("read"),
        c.flags.bool("write"),
        c.flags.bool("readwrite"),
    );
    if [read, write, rw].iter().filter(|b| **b).count() != 1 {
        io.err("Please specify exactly one of --read, --write or --readwrite\n");
        return Err(1);
    }
    let paths = Some(vec![path]);
    let kv = Kv {
        read: (read || rw).then(|| paths.clone()).flatten(),
        write: (write || rw).then(|| paths.clone()).flatten(),
    };
    let (mut cl, role) = api_and_name(io, c, "role name").await?;
    let deadline = c.g.deadline();
    let current = get_role(&mut cl, io, &role, deadline)
        .await
        .map_err(|e| fail(io, &e))?;
    let change = Role {
        role: role.clone(),
        grant: grant.then(|| kv.clone()),
        revoke: (!grant).then_some(kv),
        ..Role::default()
    };
    let body = call(
        &mut cl,
        io,
        request("PUT", "roles", &role, Some(role_json(&change))),
        &[200],
        deadline,
    )
    .await
    .map_err(|e| fail(io, &e))?;
    let new = role_from(&parse(&body).map_err(|e| fail(io, &e))?);
    if new == current {
        io.out(if grant {
            "Role unchanged; already granted"
        } else {
            "Role unchanged; already revoked"
        });
    }
    io.out(&format!("Role {role} updated\n"));
    Ok(())
}

pub async fn auth_enable_disable(io: &mut Io, c: &Ctx<'_>, enable: bool) -> Res {
    no_arguments(io, c)?;
    let mut cl = api(io, c).await?;
    let method = if enable { "PUT" } else { "DELETE" };
    call(
        &mut cl,
        io,
        request(method, "enable", "", None),
        &[200, 201],
        c.g.deadline(),
    )
    .await
    .map_err(|e| fail(io, &e))?;
    io.out(if enable {
        "Authentication Enabled\n"
    } else {
        "Authentication Disabled\n"
    });
    Ok(())
}
