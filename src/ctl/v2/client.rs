//! etcd's v2 Go client (`client/client.go`) as etcdctl uses it: a list of
//! endpoints (shuffled; replaced by the members' client URLs after a
//! sync), a request tried on each endpoint in turn from the pinned one
//! (a create or delete only on one: etcd's "one-shot" requests), 3xx
//! redirects followed up to 10 times, 5xx answers counted as a member
//! without a leader, a header timeout per request (`--timeout`, not for
//! watches) inside the command's total timeout (`--total-timeout`).

use std::time::Duration;

use crate::rt::net::http1::{round_trip, HttpCall, HttpError, HttpReply};
use crate::rt::net::ClientTls;

use super::url::Url;
use super::Io;

/// The client's errors, printed as Go prints them.
#[derive(Clone, Debug)]
pub enum ClientError {
    /// An etcd error answer of the keys API (`client.Error`).
    Etcd {
        code: i64,
        message: String,
        cause: String,
        index: u64,
    },
    /// Every endpoint failed (`client.ClusterError`).
    Cluster(Vec<HttpError>),
    /// The total timeout ran out (`context deadline exceeded`).
    Deadline,
    /// Anything else, as its text.
    Other(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Etcd {
                code,
                message,
                cause,
                index,
            } => write!(f, "{code}: {message} ({cause}) [{index}]"),
            ClientError::Cluster(errs) => {
                f.write_str("client: etcd cluster is unavailable or misconfigured")?;
                for (i, e) in errs.iter().enumerate() {
                    writeln!(f, "; error #{i}: {e}")?;
                }
                Ok(())
            }
            ClientError::Deadline => f.write_str("context deadline exceeded"),
            ClientError::Other(s) => f.write_str(s),
        }
    }
}

impl ClientError {
    /// `ClusterError.Detail()`.
    pub fn detail(&self) -> Option<String> {
        match self {
            ClientError::Cluster(errs) => Some(
                errs.iter()
                    .enumerate()
                    .map(|(i, e)| format!("error #{i}: {e}\n"))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// etcdctl's `isConnectionError`: every endpoint failed to connect,
    /// or time ran out (Go's `context.DeadlineExceeded` is a `net.Error`
    /// that timed out).
    pub fn is_connection_error(&self) -> bool {
        match self {
            ClientError::Deadline => true,
            ClientError::Cluster(errs) => errs.iter().all(|e| matches!(e, HttpError::Dial(_))),
            _ => false,
        }
    }
}

/// One request, built for whichever endpoint it goes to.
pub struct Request {
    pub method: &'static str,
    /// The URL for an endpoint.
    pub url: Box<dyn Fn(&Url) -> String + Send + Sync>,
    pub body: Option<Vec<u8>>,
    pub content_type: Option<&'static str>,
    /// A watch (`wait=true`): no header timeout.
    pub wait: bool,
    /// Tried on one endpoint only (etcd's one-shot: create and delete).
    pub one_shot: bool,
}

pub struct Client {
    endpoints: Vec<Url>,
    pinned: usize,
    credentials: Option<(String, String)>,
    tls: Option<ClientTls>,
    header_timeout: Duration,
    dial_timeout: Duration,
    /// `--debug`: print each request as a curl command.
    pub debug: bool,
}

/// Go's `http.StatusText` for the 5xx codes a member may answer.
fn status_text(code: u16) -> &'static str {
    match code {
        501 => "Not Implemented",
        502 => "Bad Gateway",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => "",
    }
}

/// Standard base64, for the basic authorization header.
fn base64(b: &[u8]) -> String {
    crate::ctl::print::base64(b)
}

/// A uniformly random permutation as Go's client draws it
/// (`shuffleEndpoints`).
fn shuffle(eps: Vec<Url>) -> Vec<Url> {
    let n = eps.len();
    let mut p = vec![0usize; n];
    for i in 0..n {
        let j = crate::rt::rand::gen_range(0..(i as u64 + 1)) as usize;
        p[i] = p[j];
        p[j] = i;
    }
    p.into_iter().map(|k| eps[k].clone()).collect()
}

impl Client {
    pub fn new(
        endpoints: Vec<Url>,
        credentials: Option<(String, String)>,
        tls: Option<ClientTls>,
        header_timeout: Duration,
        dial_timeout: Duration,
    ) -> Result<Client, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::Other("client: no endpoints available".into()));
        }
        Ok(Client {
            endpoints: shuffle(endpoints),
            pinned: 0,
            credentials,
            tls,
            header_timeout,
            dial_timeout,
            debug: false,
        })
    }

    pub fn endpoints(&self) -> Vec<String> {
        self.endpoints.iter().map(Url::to_string).collect()
    }

    /// `httpClusterClient.Do`: `req` on each endpoint from the pinned one
    /// until one answers below 500, within `deadline`.
    pub async fn send(
        &mut self,
        io: &mut Io,
        req: &Request,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<HttpReply, ClientError> {
        let n = self.endpoints.len();
        let mut errs: Vec<HttpError> = Vec::new();
        for i in self.pinned..self.pinned + n {
            let k = i % n;
            let ep = self.endpoints[k].clone();
            let res = self.redirecting(io, &ep, req, deadline).await;
            let failed = match res {
                Err(ClientError::Deadline) => return Err(ClientError::Deadline),
                Err(ClientError::Cluster(mut e)) => {
                    errs.append(&mut e);
                    true
                }
                Err(other) => return Err(other),
                Ok(resp) if resp.status / 100 == 5 => {
                    errs.push(HttpError::Other(match resp.status {
                        500 | 503 => format!("client: etcd member {ep} has no leader"),
                        s => format!(
                            "client: etcd member {ep} returns server error [{}]",
                            status_text(s)
                        ),
                    }));
                    true
                }
                Ok(resp) => {
                    self.pinned = k;
                    return Ok(resp);
                }
            };
            if failed && req.one_shot {
                self.pinned = (k + 1) % n;
                return Err(ClientError::Other(errs[0].to_string()));
            }
        }
        Err(ClientError::Cluster(errs))
    }

    /// `redirectFollowingHTTPClient.Do` on one endpoint: a transport
    /// failure comes back as a one-error `Cluster`.
    async fn redirecting(
        &self,
        io: &mut Io,
        ep: &Url,
        req: &Request,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<HttpReply, ClientError> {
        let mut url = (req.url)(ep);
        // The first request and 10 redirects (`DefaultCheckRedirect`).
        for _ in 0..=10 {
            let resp = self.simple(io, ep, &url, req, deadline).await?;
            if resp.status / 100 != 3 {
                return Ok(resp);
            }
            let loc = resp.header("Location");
            if loc.is_empty() {
                return Err(ClientError::Other("location header not set".into()));
            }
            url = loc.to_string();
        }
        Err(ClientError::Other("client: too many redirects".into()))
    }

    /// `simpleHTTPClient.Do`: one exchange.
    async fn simple(
        &self,
        io: &mut Io,
        ep: &Url,
        url: &str,
        req: &Request,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<HttpReply, ClientError> {
        if self.debug {
            let mut cmd = format!("curl -X {} {url}", req.method);
            if let Some(b) = &req.body {
                cmd.push_str(&format!(" -d {}", crate::ctl::util::go_quote(b)));
            }
            io.err(&format!("cURL Command: {cmd}\n"));
        }
        let mut headers = Vec::new();
        if let Some(ct) = req.content_type {
            headers.push(("Content-Type".to_string(), ct.to_string()));
        }
        if let Some((u, p)) = &self.credentials {
            headers.push((
                "Authorization".to_string(),
                format!("Basic {}", base64(format!("{u}:{p}").as_bytes())),
            ));
        }
        let call = HttpCall {
            method: req.method.to_string(),
            url: url.to_string(),
            headers,
            body: req.body.clone().unwrap_or_default(),
        };
        let exchange = round_trip(&call, self.tls.as_ref(), self.dial_timeout);
        let header_limit = (!req.wait && !self.header_timeout.is_zero())
            .then(|| crate::rt::time::now() + self.header_timeout);
        let limit = match (deadline, header_limit) {
            (Some(d), Some(h)) => Some(d.min(h)),
            (d, h) => d.or(h),
        };
        // A limit already past fails before anything is sent, as Go's
        // expired context does (a local exchange may beat the timer).
        let expired = |at: tokio::time::Instant| {
            if deadline.is_some_and(|d| d <= at) {
                ClientError::Deadline
            } else {
                ClientError::Cluster(vec![HttpError::Other(format!(
                    "client: endpoint {ep} exceeded header timeout"
                ))])
            }
        };
        let res = match limit {
            Some(at) if at <= crate::rt::time::now() => return Err(expired(at)),
            Some(at) => {
                match tokio::time::timeout(
                    at.saturating_duration_since(crate::rt::time::now()),
                    exchange,
                )
                .await
                {
                    Ok(r) => r,
                    Err(_) => return Err(expired(at)),
                }
            }
            None => exchange.await,
        };
        res.map_err(|e| ClientError::Cluster(vec![e]))
    }

    /// `Sync`: the members' client URLs become the endpoints (shuffled,
    /// unless they are the same set).
    pub async fn sync(
        &mut self,
        io: &mut Io,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<(), ClientError> {
        let members = super::member::list(self, io, deadline).await?;
        let eps: Vec<String> = members.into_iter().flat_map(|m| m.client_urls).collect();
        if eps.is_empty() {
            return Err(ClientError::Other("client: no endpoints available".into()));
        }
        let mut neps = Vec::with_capacity(eps.len());
        for e in &eps {
            neps.push(Url::parse_endpoint(e).map_err(ClientError::Other)?);
        }
        let mut a: Vec<String> = self.endpoints();
        let mut b: Vec<String> = neps.iter().map(Url::to_string).collect();
        a.sort();
        b.sort();
        if a == b {
            return Ok(());
        }
        self.endpoints = shuffle(neps);
        self.pinned = 0;
        Ok(())
    }
}
