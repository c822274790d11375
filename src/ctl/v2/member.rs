//! `member list|add|remove|update` and `cluster-health` (etcdctl's
//! `member_commands.go`, `cluster_health.go`) on the members API
//! (`/v2/members`, the Go client's `members.go`).

use serde_json::Value;

use super::client::{Client, ClientError, Request};
use super::url::{join, Url};
use super::{Ctx, Io, Res, EXIT_CLUSTER_NOT_HEALTHY, EXIT_SERVER_ERROR};
use crate::rt::net::http1::{round_trip, HttpCall, HttpReply};

/// `client.Member`.
#[derive(Clone, Debug, Default)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub peer_urls: Vec<String>,
    pub client_urls: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn member_from(v: &Value) -> Member {
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Member {
        id: s("id"),
        name: s("name"),
        peer_urls: strings(v.get("peerURLs")),
        client_urls: strings(v.get("clientURLs")),
    }
}

/// Go's `json.Unmarshal` failure texts for the bodies we cannot read.
fn go_json_error(body: &[u8]) -> ClientError {
    let trimmed = body.iter().position(|b| !b.is_ascii_whitespace());
    ClientError::Other(match trimmed {
        None => "unexpected end of JSON input".into(),
        Some(i) => match serde_json::from_slice::<Value>(body) {
            Ok(_) => "json: cannot unmarshal into Go value".into(),
            Err(e) if e.is_eof() => "unexpected end of JSON input".into(),
            Err(_) => format!(
                "invalid character {} looking for beginning of value",
                go_char(body[i])
            ),
        },
    })
}

fn go_char(b: u8) -> String {
    match b {
        b'\'' => "'\\''".into(),
        b'"' => "'\"'".into(),
        b if b.is_ascii_graphic() || b == b' ' => format!("'{}'", b as char),
        b => format!("'\\x{b:02x}'"),
    }
}

pub fn parse_json(body: &[u8]) -> Result<Value, ClientError> {
    serde_json::from_slice(body).map_err(|_| go_json_error(body))
}

fn members_url(ep: &Url, tail: &str) -> String {
    ep.map_path(|p| join(&[p, "/v2/members", tail])).to_string()
}

fn request(method: &'static str, tail: String, body: Option<Vec<u8>>) -> Request {
    let json = body.is_some();
    Request {
        method,
        url: Box::new(move |ep| members_url(ep, &tail)),
        body,
        content_type: json.then_some("application/json"),
        wait: false,
        one_shot: false,
    }
}

/// `assertStatusCode`.
fn expect(r: &HttpReply, want: &[u16]) -> Result<(), ClientError> {
    if want.contains(&r.status) {
        Ok(())
    } else {
        Err(ClientError::Other(format!(
            "unexpected status code {}",
            r.status
        )))
    }
}

/// `MembersAPI.List`.
pub async fn list(
    c: &mut Client,
    io: &mut Io,
    deadline: Option<tokio::time::Instant>,
) -> Result<Vec<Member>, ClientError> {
    let r = c
        .send(io, &request("GET", String::new(), None), deadline)
        .await?;
    expect(&r, &[200])?;
    let v = parse_json(&r.body)?;
    Ok(v.get("members")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(member_from).collect())
        .unwrap_or_default())
}

async fn leader(
    c: &mut Client,
    io: &mut Io,
    deadline: Option<tokio::time::Instant>,
) -> Result<Member, ClientError> {
    let r = c
        .send(io, &request("GET", "/leader".into(), None), deadline)
        .await?;
    expect(&r, &[200])?;
    Ok(member_from(&parse_json(&r.body)?))
}

/// `membersError` (and the auth API's `authError`): the message of a
/// refused request.
pub fn message_error(body: &[u8]) -> ClientError {
    match parse_json(body) {
        Ok(v) => ClientError::Other(
            v.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        ),
        Err(e) => e,
    }
}

/// etcd's `types.NewURLs`: checked and sorted peer URLs.
fn new_urls(urls: &[&str]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for u in urls {
        let parsed = Url::parse_endpoint(u).map_err(|e| e.to_string())?;
        let has_scheme = u.contains("://");
        if !has_scheme || !["http", "https", "unix", "unixs"].contains(&parsed.scheme.as_str()) {
            return Err(format!(
                "URL scheme must be http, https, unix, or unixs: {u}"
            ));
        }
        if !has_port(&parsed.host) {
            return Err(format!(
                "URL address does not have the form \"host:port\": {u}"
            ));
        }
        if !parsed.path.is_empty() {
            return Err(format!("URL must not contain a path: {u}"));
        }
        out.push(u.to_string());
    }
    out.sort();
    Ok(out)
}

fn has_port(host: &str) -> bool {
    match host.rsplit_once(':') {
        Some((h, _)) => !h.is_empty() || host.starts_with(':'),
        None => false,
    }
}

fn urls_body(urls: &[String]) -> Vec<u8> {
    let items: Vec<String> = urls
        .iter()
        .map(|u| crate::ctl::print::json_str(u))
        .collect();
    format!("{{\"peerURLs\":[{}]}}", items.join(",")).into_bytes()
}

pub async fn member_list(io: &mut Io, c: &Ctx<'_>) -> Res {
    if !c.args.is_empty() {
        io.err("No arguments accepted\n");
        return Err(1);
    }
    let mut cl = c.g.client(io).await?;
    let deadline = c.g.deadline();
    let members = list(&mut cl, io, deadline).await.map_err(|e| {
        io.err(&format!("{e}\n"));
        1
    })?;
    let lead = leader(&mut cl, io, deadline).await.map_err(|e| {
        io.err(&format!("Failed to get leader:  {e}\n"));
        1
    })?;
    let mut s = String::new();
    for m in members {
        if m.name.is_empty() {
            s.push_str(&format!(
                "{}[unstarted]: peerURLs={}\n",
                m.id,
                m.peer_urls.join(",")
            ));
        } else {
            s.push_str(&format!(
                "{}: name={} peerURLs={} clientURLs={} isLeader={}\n",
                m.id,
                m.name,
                m.peer_urls.join(","),
                m.client_urls.join(","),
                m.id == lead.id
            ));
        }
    }
    io.out(&s);
    Ok(())
}

pub async fn member_add(io: &mut Io, c: &Ctx<'_>) -> Res {
    if c.args.len() != 2 {
        io.err("Provide a name and a single member peerURL\n");
        return Err(1);
    }
    let mut cl = c.g.client(io).await?;
    let (name, url) = (&c.args[0], &c.args[1]);
    let deadline = c.g.deadline();
    let fail = |io: &mut Io, e: &dyn std::fmt::Display| {
        io.err(&format!("{e}\n"));
        1
    };
    let urls = new_urls(&[url]).map_err(|e| fail(io, &e))?;
    let r = cl
        .send(
            io,
            &request("POST", String::new(), Some(urls_body(&urls))),
            deadline,
        )
        .await
        .map_err(|e| fail(io, &e))?;
    expect(&r, &[201, 409]).map_err(|e| fail(io, &e))?;
    if r.status != 201 {
        return Err(fail(io, &message_error(&r.body)));
    }
    let new = member_from(&parse_json(&r.body).map_err(|e| fail(io, &e))?);
    let mut s = format!("Added member named {name} with ID {} to cluster\n", new.id);
    let members = list(&mut cl, io, deadline)
        .await
        .map_err(|e| fail(io, &e))?;
    let mut conf = Vec::new();
    for m in members {
        for u in &m.peer_urls {
            let n = if m.id == new.id { name } else { &m.name };
            conf.push(format!("{n}={u}"));
        }
    }
    s.push_str(&format!(
        "\nETCD_NAME={}\nETCD_INITIAL_CLUSTER={}\nETCD_INITIAL_CLUSTER_STATE=\"existing\"\n",
        crate::ctl::util::go_quote(name.as_bytes()),
        crate::ctl::util::go_quote(conf.join(",").as_bytes())
    ));
    io.out(&s);
    Ok(())
}

pub async fn member_remove(io: &mut Io, c: &Ctx<'_>) -> Res {
    if c.args.len() != 1 {
        io.err("Provide a single member ID\n");
        return Err(1);
    }
    let id = &c.args[0];
    let mut cl = c.g.client(io).await?;
    let deadline = c.g.deadline();
    let members = list(&mut cl, io, deadline).await.map_err(|e| {
        io.err(&format!(
            "Error while verifying ID against known members: {e}\n"
        ));
        1
    })?;
    let mut found = false;
    for m in &members {
        if &m.id == id {
            found = true;
        }
        if &m.name == id {
            io.err(&format!(
                "Found a member named {}; if this is correct, please use its ID, eg:\n\tetcdctl member remove {}\n",
                m.name, m.id
            ));
            io.err("For more details, read the documentation at https://github.com/etcd-io/etcd/blob/master/Documentation/runtime-configuration.md#remove-a-member\n\n");
        }
    }
    if !found {
        io.err(&format!(
            "Couldn't find a member in the cluster with an ID of {id}.\n"
        ));
        return Err(1);
    }
    let r = cl
        .send(io, &request("DELETE", format!("/{id}"), None), deadline)
        .await
        .and_then(|r| expect(&r, &[204, 410]));
    if let Err(e) = r {
        io.err(&format!(
            "Received an error trying to remove member {id}: {e}"
        ));
        return Err(1);
    }
    io.out(&format!("Removed member {id} from cluster\n"));
    Ok(())
}

pub async fn member_update(io: &mut Io, c: &Ctx<'_>) -> Res {
    if c.args.len() != 2 {
        io.err("Provide an ID and a list of comma separated peerURL (0xabcd http://example.com,http://example1.com)\n");
        return Err(1);
    }
    let mut cl = c.g.client(io).await?;
    let (id, urls) = (&c.args[0], &c.args[1]);
    let fail = |io: &mut Io, e: &dyn std::fmt::Display| {
        io.err(&format!("{e}\n"));
        1
    };
    let list: Vec<&str> = urls.split(',').collect();
    let urls = new_urls(&list).map_err(|e| fail(io, &e))?;
    let r = cl
        .send(
            io,
            &request("PUT", format!("/{id}"), Some(urls_body(&urls))),
            c.g.deadline(),
        )
        .await
        .map_err(|e| fail(io, &e))?;
    expect(&r, &[204, 404, 409]).map_err(|e| fail(io, &e))?;
    if r.status != 204 {
        return Err(fail(io, &message_error(&r.body)));
    }
    io.out(&format!("Updated member with ID {id} in cluster\n"));
    Ok(())
}

/// One member's `/health`, as `http.Client.Get` fetches it (following
/// redirects).
async fn health(c: &Ctx<'_>, url: &str) -> Result<HttpReply, String> {
    let mut target = format!("{url}/health");
    let tls = c.g.tls();
    for _ in 0..10 {
        let call = HttpCall {
            method: "GET".into(),
            url: target.clone(),
            ..HttpCall::default()
        };
        let r = round_trip(&call, tls.as_ref(), std::time::Duration::from_secs(30))
            .await
            .map_err(|e| format!("Get {target:?}: {e}"))?;
        if r.status / 100 == 3 && !r.header("Location").is_empty() {
            target = r.header("Location").to_string();
            continue;
        }
        return Ok(r);
    }
    Err(format!("Get {target:?}: stopped after 10 redirects"))
}

/// The health a body reports: `{"health":"true"}` or `{"health":true}`.
fn healthy(body: &[u8]) -> Result<bool, String> {
    let v = parse_json(body).map_err(|e| e.to_string())?;
    let h = v
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("health")))
        .map(|(_, v)| v.clone());
    Ok(match h {
        Some(Value::String(s)) => s == "true",
        Some(Value::Bool(b)) => b,
        _ => false,
    })
}

pub async fn cluster_health(io: &mut Io, c: &Ctx<'_>) -> Res {
    let forever = c.flags.bool("forever");
    let mut cl = c.g.client_no_sync(io).await?;
    let ms = match list(&mut cl, io, None).await {
        Ok(ms) => ms,
        Err(e) => {
            io.out("cluster may be unhealthy: failed to list members\n");
            return Err(c.g.fail(io, EXIT_SERVER_ERROR, &e));
        }
    };
    let check = async {
        loop {
            let mut healthy_members = 0;
            for m in &ms {
                if m.client_urls.is_empty() {
                    io.out(&format!(
                        "member {} is unreachable: no available published client urls\n",
                        m.id
                    ));
                    continue;
                }
                let mut checked = false;
                for url in &m.client_urls {
                    let verdict = match health(c, url).await {
                        Ok(r) => healthy(&r.body),
                        Err(e) => Err(e),
                    };
                    match verdict {
                        Err(e) => io.out(&format!(
                            "failed to check the health of member {} on {url}: {e}\n",
                            m.id
                        )),
                        Ok(true) => {
                            checked = true;
                            healthy_members += 1;
                            io.out(&format!(
                                "member {} is healthy: got healthy result from {url}\n",
                                m.id
                            ));
                            break;
                        }
                        Ok(false) => {
                            checked = true;
                            io.out(&format!(
                                "member {} is unhealthy: got unhealthy result from {url}\n",
                                m.id
                            ));
                            break;
                        }
                    }
                }
                if !checked {
                    io.out(&format!(
                        "member {} is unreachable: [{}] are all unreachable\n",
                        m.id,
                        m.client_urls.join(" ")
                    ));
                }
            }
            io.out(if healthy_members == ms.len() {
                "cluster is healthy\n"
            } else if healthy_members == 0 {
                "cluster is unavailable\n"
            } else {
                "cluster is degraded\n"
            });
            if !forever {
                return if healthy_members == ms.len() {
                    Ok(())
                } else {
                    Err(EXIT_CLUSTER_NOT_HEALTHY)
                };
            }
            io.out("\nnext check after 10 second...\n\n");
            tokio::time::sleep(std::time::Duration::from_secs(10)).await;
        }
    };
    if !forever {
        return check.await;
    }
    tokio::select! {
        r = check => r,
        () = crate::rt::signal::ctrl_c() => Ok(()),
    }
}
