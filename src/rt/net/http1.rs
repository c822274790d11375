//! One HTTP/1.1 request on a connection of its own, over plain TCP or TLS:
//! what etcdctl's v2 mode (`ctl::v2`) needs to speak etcd's v2 HTTP API
//! as Go's `net/http` transport does (one exchange, no connection reuse:
//! every etcdctl v2 command sends a handful of requests).
//!
//! Errors are Go's texts for the same failures (`dial tcp 127.0.0.1:1:
//! connect: connection refused`), because etcdctl prints them.

use std::time::Duration;

use super::ClientTls;

/// A request: `url` is absolute (`http://host:port/path?query`).
#[derive(Clone, Debug, Default)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// A response, its body read to the end.
#[derive(Clone, Debug, Default)]
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    /// The first value of header `name` (case-insensitive), or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }
}

/// Why a request failed; `Dial` is a connection that never opened (the v2
/// client counts those as connection errors and tries the next endpoint).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpError {
    Dial(String),
    Other(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::Dial(s) | HttpError::Other(s) => f.write_str(s),
        }
    }
}

/// Go's text for a socket error (`connection refused`, not Rust's
/// `Connection refused (os error 111)`).
pub fn go_errno(e: &std::io::Error) -> String {
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Sends `call` and reads the whole response. `tls` is used for
/// `https://` URLs (`None`: the system's roots); `dial_timeout` bounds the
/// connect and the TLS handshake, the caller bounds the rest. Real
/// networks only: the simulator has no HTTP/1 sockets.
pub async fn round_trip(
    call: &HttpCall,
    tls: Option<&ClientTls>,
    dial_timeout: Duration,
) -> Result<HttpReply, HttpError> {
    #[cfg(not(madsim))]
    return real::round_trip(call, tls, dial_timeout).await;
    #[cfg(madsim)]
    {
        let _ = (call, tls, dial_timeout);
        Err(HttpError::Dial("HTTP/1 clients are not simulated".into()))
    }
}

#[cfg(not(madsim))]
mod real {
    use std::io;
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::TokioIo;

    use super::{go_errno, ClientTls, HttpCall, HttpError, HttpReply};

    /// The parts of an absolute URL the connection needs.
    pub(super) struct Target {
        https: bool,
        host: String,
        port: u16,
        authority: String,
        path_and_query: String,
    }

    pub(super) fn target(url: &str) -> Result<Target, HttpError> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            let scheme = url.split("://").next().unwrap_or("");
            return Err(HttpError::Other(format!(
                "unsupported protocol scheme \"{scheme}\""
            )));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
                Ok(p) => (h.to_string(), p),
                Err(_) => {
                    return Err(HttpError::Dial(format!(
                        "dial tcp: address {authority}: invalid port"
                    )))
                }
            },
            _ => (authority.to_string(), if https { 443 } else { 80 }),
        };
        Ok(Target {
            https,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            authority: authority.to_string(),
            path_and_query: path.to_string(),
        })
    }

    /// Go's text for a failed TLS handshake (what `crypto/tls` and
    /// `crypto/x509` say for the same failure).
    pub(super) fn go_tls_error(e: &io::Error) -> String {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        let Some(t) = e.get_ref().and_then(|i| i.downcast_ref::<E>()) else {
            return go_errno(e);
        };
        match t {
            E::AlertReceived(a) => format!(
                "remote error: tls: {}",
                match a {
                    A::BadCertificate => "bad certificate".to_string(),
                    A::CertificateRequired => "certificate required".to_string(),
                    A::UnknownCA => "unknown certificate authority".to_string(),
                    A::HandshakeFailure => "handshake failure".to_string(),
                    A::ProtocolVersion => "protocol version not supported".to_string(),
                    other => format!("{other:?}").to_lowercase(),
                }
            ),
            E::InvalidCertificate(C::UnknownIssuer) => {
                "x509: certificate signed by unknown authority".into()
            }
            E::InvalidCertificate(C::Expired | C::NotValidYet) => {
                "x509: certificate has expired or is not yet valid".into()
            }
            E::InvalidCertificate(C::NotValidForName) => {
                "x509: certificate is not valid for the requested name".into()
            }
            other => format!("tls: {other}"),
        }
    }

    /// Opens a TCP connection as Go's dialer does, with its error texts.
    async fn dial(t: &Target, timeout: Duration) -> Result<tokio::net::TcpStream, HttpError> {
        let addrs: Vec<std::net::SocketAddr> =
            match tokio::net::lookup_host((t.host.as_str(), t.port)).await {
                Ok(a) => a.collect(),
                Err(e) => {
                    return Err(HttpError::Dial(format!(
                        "dial tcp: lookup {}: {}",
                        t.host,
                        go_errno(&e)
                    )))
                }
            };
        let mut last = HttpError::Dial(format!("dial tcp: lookup {}: no such host", t.host));
        for a in addrs {
            let start = crate::rt::time::now();
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(a)).await {
                // Go's dialer fails a connect that outlived its deadline even
                // when it completed (a 1 ns timeout never connects).
                Ok(Ok(_)) if start.elapsed() > timeout => {
                    last = HttpError::Dial(format!("dial tcp {a}: i/o timeout"));
                }
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    return Ok(s);
                }
                Ok(Err(e)) => {
                    last = HttpError::Dial(format!("dial tcp {a}: connect: {}", go_errno(&e)))
                }
                Err(_) => last = HttpError::Dial(format!("dial tcp {a}: i/o timeout")),
            }
        }
        Err(last)
    }

    /// Sends `call` and reads the whole response. `tls` is used for
    /// `https://` URLs (`None`: the system's roots); `dial_timeout` bounds the
    /// connect and the TLS handshake, the caller bounds the rest.
    pub(super) async fn round_trip(
        call: &HttpCall,
        tls: Option<&ClientTls>,
        dial_timeout: Duration,
    ) -> Result<HttpReply, HttpError> {
        let t = target(&call.url)?;
        let tcp = dial(&t, dial_timeout).await?;
        if t.https {
            let config = match tls {
                Some(c) => super::super::tls::client_config(c),
                None => super::super::tls::default_client_config(),
            }
            .map_err(HttpError::Other)?;
            // etcd's port speaks h2 to who asks for it; this client speaks 1.1.
            let mut config = (*config).clone();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            let name = tls
                .map(|c| c.server_name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| t.host.clone());
            let name = rustls_pki_types::ServerName::try_from(name.clone())
                .map_err(|e| HttpError::Other(format!("{name}: {e}")))?;
            let hs = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp);
            let stream = match tokio::time::timeout(dial_timeout, hs).await {
                Ok(Ok(s)) => s,
                // Not a dial error to Go either: the v2 client does not
                // count it as a connection failure.
                Ok(Err(e)) => return Err(HttpError::Other(go_tls_error(&e))),
                Err(_) => return Err(HttpError::Other("net/http: TLS handshake timeout".into())),
            };
            exchange(stream, &t, call).await
        } else {
            exchange(tcp, &t, call).await
        }
    }

    async fn exchange<S>(stream: S, t: &Target, call: &HttpCall) -> Result<HttpReply, HttpError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let other = |e: &dyn std::fmt::Display| HttpError::Other(e.to_string());
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| other(&e))?;
        // The connection task ends when the exchange does (the sender is
        // dropped with this function's future).
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(call.method.as_str())
            .uri(t.path_and_query.as_str())
            .header("Host", t.authority.as_str())
            .header("User-Agent", "Go-http-client/1.1");
        for (k, v) in &call.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let req = req
            .body(Full::new(Bytes::from(call.body.clone())))
            .map_err(|e| other(&e))?;
        let resp = sender.send_request(req).await.map_err(|e| {
            HttpError::Other(if e.is_incomplete_message() {
                "EOF".into()
            } else {
                // A TLS 1.3 server refuses a client certificate after the
                // handshake: its alert comes with the first read.
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    if let Some(io) = s.downcast_ref::<io::Error>() {
                        return HttpError::Other(go_tls_error(io));
                    }
                    src = s.source();
                }
                e.to_string()
            })
        })?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| other(&e))?
            .to_bytes()
            .to_vec();
        Ok(HttpReply {
            status,
            headers,
            body,
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use std::io;

        #[test]
        fn targets() {
            let t = target("http://127.0.0.1:2379/v2/keys/a?x=1").unwrap();
            assert_eq!(
                (t.https, t.host.as_str(), t.port),
                (false, "127.0.0.1", 2379)
            );
            assert_eq!(t.path_and_query, "/v2/keys/a?x=1");
            let t = target("https://[::1]:2379").unwrap();
            assert_eq!(
                (t.host.as_str(), t.port, t.path_and_query.as_str()),
                ("::1", 2379, "/")
            );
            assert_eq!(target("http://example.com").unwrap().port, 80);
        }

        #[test]
        fn go_error_texts() {
            let e = io::Error::from_raw_os_error(111);
            assert_eq!(go_errno(&e), "connection refused");
        }
    }
}
