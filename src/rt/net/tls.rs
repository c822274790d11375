//! TLS on real sockets: rustls with the *ring* provider (not simulated; the
//! simulator speaks plain gRPC).
//!
//! What follows etcd 3.4's `pkg/transport`:
//!
//! * **Server.** TLS 1.2 and 1.3, ALPN `h2` and `http/1.1`. A client
//!   certificate is required and verified when `--client-cert-auth` *or*
//!   `--trusted-ca-file` is set (etcd's `ServerConfig` does the same),
//!   against the trusted CA file, or the system's roots without one.
//!   `--*-crl-file` is read again on every handshake, as etcd's `checkCRL`
//!   does (a missing file refuses every client certificate with the open
//!   error); only the leaf certificate's revocation counts.
//!   `--peer-cert-allowed-cn` / `-hostname` are checked during the handshake
//!   (etcd's `VerifyPeerCertificate`): "client certificate authentication
//!   failed". On the peer port a client certificate's SANs must also match
//!   the connection's remote address (etcd's `checkSAN`), unless
//!   `--experimental-peer-skip-client-san-verification`.
//! * **Handshakes run on their own task** ([`super::accept`]), bounded by
//!   [`HANDSHAKE_TIMEOUT`], so a silent or plain-text client never holds up
//!   the accept loop; a failed one is logged as etcd logs it ("rejected
//!   connection from …") and the socket closed.
//! * **Client.** The dialled host is verified against the server's SANs
//!   (an IP host against IP SANs), with the CA file or the system's roots;
//!   `insecure_skip_verify` (etcdctl's `--insecure-skip-tls-verify`, and a
//!   member dialling peers with `--peer-auto-tls`, as etcd's self-signed
//!   `TLSInfo` does) accepts any certificate.
//! * **Auto TLS** ([`self_cert`]): etcd's `SelfCert`: `cert.pem` and
//!   `key.pem` in `<data-dir>/fixtures/{client,peer}`, kept across restarts,
//!   subject `O=etcd`, the listen URLs' hosts as SANs, a year's validity.
//!   etcd's key is P-521, which *ring* cannot sign with, so ours is P-256.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    CertificateDer, CertificateRevocationListDer, PrivateKeyDer, ServerName, UnixTime,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ParsedCertificate, WebPkiClientVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{ClientTls, TlsInfo};

/// How long a client has to finish its TLS handshake.
pub(super) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Go looks first for the system's roots on Debian and friends.
const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/ssl/cert.pem",
];

/// Go's text for a failed open: `open x.crt: no such file or directory`.
fn go_io(op: &str, path: &str, e: &io::Error) -> String {
    format!("{op} {path}: {}", super::go_text(e))
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| go_io("open", path, &e))
}

fn certs_in(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!(
            "tls: failed to find any PEM data in certificate input ({path})"
        ));
    }
    Ok(certs)
}

fn key_in(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|_| format!("tls: failed to find any PEM data in key input ({path})"))
}

/// The trusted CA file's certificates, or the system's roots without one.
fn roots(ca_file: &str) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    if !ca_file.is_empty() {
        for c in certs_in(ca_file)? {
            store
                .add(c)
                .map_err(|e| format!("{ca_file}: bad CA certificate: {e}"))?;
        }
        return Ok(store);
    }
    let path = std::env::var("SSL_CERT_FILE")
        .ok()
        .or_else(|| {
            SYSTEM_ROOTS
                .iter()
                .find(|p| Path::new(p).exists())
                .map(|p| p.to_string())
        })
        .ok_or("x509: failed to load system roots and no roots provided")?;
    let pem = read(&path)?;
    // A bundle may hold certificates webpki cannot use; skip those, as Go does.
    for c in CertificateDer::pem_slice_iter(&pem).flatten() {
        let _ = store.add(c);
    }
    Ok(store)
}

/// Go's names of TLS 1.2 cipher suites that rustls offers (TLS 1.3 suites
/// are not configurable, in Go either). Go 1.16 added `_SHA256` aliases to
/// the ChaCha suites; both spellings are accepted.
pub(crate) fn rustls_suite_name(go_name: &str) -> Option<&'static str> {
    Some(match go_name {
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256" => "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384" => "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"
        | "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256" => {
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"
        }
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305" | "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256" => {
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"
        }
        _ => return None,
    })
}

/// *ring*'s provider, its TLS 1.2 suites cut to `--cipher-suites` if set.
fn provider(cipher_suites: &[String]) -> Result<Arc<CryptoProvider>, String> {
    // rustls 0.23.48 deprecates *ring*'s provider for its lack of
    // post-quantum key exchange; aws-lc-rs, which has it, needs cmake and a
    // C toolchain to build, and Go 1.x (etcd 3.4) offers none either.
    #[allow(deprecated)]
    let mut p = rustls::crypto::ring::default_provider();
    if !cipher_suites.is_empty() {
        let wanted: Vec<&str> = cipher_suites
            .iter()
            .map(|s| {
                rustls_suite_name(s).ok_or_else(|| format!("unexpected TLS cipher suite {s:?}"))
            })
            .collect::<Result<_, _>>()?;
        p.cipher_suites.retain(|s| match s {
            rustls::SupportedCipherSuite::Tls13(_) => true,
            _ => wanted.contains(&format!("{:?}", s.suite()).as_str()),
        });
    }
    Ok(Arc::new(p))
}

const VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The Subject CN of a certificate, if it has one.
pub(super) fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let cn = cert.subject().iter_common_name().next()?;
    cn.as_str().ok().map(str::to_string)
}

/// A certificate's IP and DNS SANs.
fn sans(der: &[u8]) -> (Vec<IpAddr>, Vec<String>) {
    use x509_parser::extensions::GeneralName;
    let mut ips = Vec::new();
    let mut dns = Vec::new();
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der) else {
        return (ips, dns);
    };
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).expect("4 bytes"))),
                    16 => ips.push(IpAddr::from(<[u8; 16]>::try_from(*b).expect("16 bytes"))),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    (ips, dns)
}

/// A CRL file's bytes and the verifier built on them.
type CrlVerifier = (Vec<u8>, Arc<dyn ClientCertVerifier>);

/// Verifies client certificates as etcd's server `tls.Config` does: the
/// chain to the trusted roots, then the CRL file (re-read per handshake),
/// then `--peer-cert-allowed-cn` / `-hostname`.
struct ClientVerifier {
    /// The roots alone: hints, signatures, and the chain when no CRL is set.
    base: Arc<dyn ClientCertVerifier>,
    roots: Arc<RootCertStore>,
    provider: Arc<CryptoProvider>,
    crl_file: String,
    /// The CRL file's bytes as last read, and the verifier built on them.
    crl: Mutex<Option<CrlVerifier>>,
    allowed_cn: String,
    allowed_hostname: String,
}

impl std::fmt::Debug for ClientVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientVerifier")
            .field("crl_file", &self.crl_file)
            .field("allowed_cn", &self.allowed_cn)
            .field("allowed_hostname", &self.allowed_hostname)
            .finish()
    }
}

fn general(e: impl std::fmt::Display) -> rustls::Error {
    rustls::Error::General(e.to_string())
}

impl ClientVerifier {
    fn new(info: &TlsInfo, provider: Arc<CryptoProvider>) -> Result<ClientVerifier, String> {
        let roots = Arc::new(roots(&info.trusted_ca_file)?);
        let base = WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| format!("client certificate verification: {e}"))?;
        Ok(ClientVerifier {
            base,
            roots,
            provider,
            crl_file: info.crl_file.clone(),
            crl: Mutex::new(None),
            allowed_cn: info.allowed_cn.clone(),
            allowed_hostname: info.allowed_hostname.clone(),
        })
    }

    /// The verifier for the CRL file as it is now.
    fn with_crl(&self) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let bytes = read(&self.crl_file).map_err(general)?;
        let mut cached = self.crl.lock().expect("crl lock");
        if let Some((b, v)) = &*cached {
            if *b == bytes {
                return Ok(v.clone());
            }
        }
        // PEM or DER, as Go's x509.ParseCRL takes either.
        let mut crls: Vec<CertificateRevocationListDer<'static>> =
            CertificateRevocationListDer::pem_slice_iter(&bytes)
                .collect::<Result<_, _>>()
                .map_err(|e| general(format!("{}: {e}", self.crl_file)))?;
        if crls.is_empty() {
            crls.push(CertificateRevocationListDer::from(bytes.clone()));
        }
        let v =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .with_crls(crls)
                .only_check_end_entity_revocation()
                .allow_unknown_revocation_status()
                .build()
                .map_err(|e| general(format!("{}: {e}", self.crl_file)))?;
        *cached = Some((bytes, v.clone()));
        Ok(v)
    }

    fn check_identity(&self, leaf: &CertificateDer<'_>) -> Result<(), rustls::Error> {
        let failed = || general("client certificate authentication failed");
        if !self.allowed_cn.is_empty() {
            return match common_name(leaf) {
                Some(cn) if cn == self.allowed_cn => Ok(()),
                _ => Err(failed()),
            };
        }
        if !self.allowed_hostname.is_empty() {
            let name =
                ServerName::try_from(self.allowed_hostname.as_str()).map_err(|_| failed())?;
            let parsed = ParsedCertificate::try_from(leaf)?;
            return rustls::client::verify_server_name(&parsed, &name).map_err(|_| failed());
        }
        Ok(())
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.base.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let chain = if self.crl_file.is_empty() {
            self.base.clone()
        } else {
            self.with_crl()?
        };
        chain.verify_client_cert(end_entity, intermediates, now)?;
        self.check_identity(end_entity)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.base.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.base.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.base.supported_verify_schemes()
    }
}

/// A listener's TLS: the rustls acceptor and etcd's checks after it.
pub(super) struct ServerTls {
    acceptor: tokio_rustls::TlsAcceptor,
    /// Whether client certificates are verified (and so their CN exposed).
    client_auth: bool,
    /// etcd's `checkSAN` (the peer port).
    check_client_san: bool,
}

/// A finished server handshake: the stream and the verified client
/// certificate's Subject CN.
pub(super) struct Accepted<IO> {
    pub stream: tokio_rustls::server::TlsStream<IO>,
    pub client_cn: Option<String>,
}

impl ServerTls {
    pub(super) fn new(info: &TlsInfo) -> Result<ServerTls, String> {
        if !info.allowed_cn.is_empty() && !info.allowed_hostname.is_empty() {
            return Err(format!(
                "AllowedCN and AllowedHostname are mutually exclusive (cn={:?}, hostname={:?})",
                info.allowed_cn, info.allowed_hostname
            ));
        }
        let provider = provider(&info.cipher_suites)?;
        let certs = certs_in(&info.cert_file)?;
        let key = key_in(&info.key_file)?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(VERSIONS)
            .map_err(|e| e.to_string())?;
        let client_auth = info.client_cert_auth || !info.trusted_ca_file.is_empty();
        let builder = if client_auth {
            builder.with_client_cert_verifier(Arc::new(ClientVerifier::new(info, provider)?))
        } else {
            builder.with_no_client_auth()
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| format!("tls: {e} ({}, {})", info.cert_file, info.key_file))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            client_auth,
            check_client_san: info.check_client_san,
        })
    }

    /// The handshake and etcd's post-handshake checks (the caller bounds
    /// them by [`HANDSHAKE_TIMEOUT`]). The error is the text for the log.
    pub(super) async fn accept<IO>(
        &self,
        io: IO,
        remote: Option<SocketAddr>,
    ) -> Result<Accepted<IO>, String>
    where
        IO: AsyncRead + AsyncWrite + Unpin,
    {
        {
            let stream = self.acceptor.accept(io).await.map_err(|e| {
                // rustls's errors come wrapped in io::Error.
                e.into_inner()
                    .map_or_else(|| "EOF".to_string(), |e| e.to_string())
            })?;
            let leaf = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| c.as_ref().to_vec());
            if let (true, Some(leaf), Some(remote)) = (self.check_client_san, &leaf, remote) {
                check_san(leaf, remote.ip()).await?;
            }
            let client_cn = if self.client_auth {
                leaf.as_deref().and_then(common_name)
            } else {
                None
            };
            Ok(Accepted { stream, client_cn })
        }
    }
}

/// etcd's `checkSAN`: a peer's client certificate with SANs must name the
/// address it connects from, by IP or by a DNS name resolving to it.
async fn check_san(leaf: &[u8], remote: IpAddr) -> Result<(), String> {
    let (ips, dns) = sans(leaf);
    if ips.is_empty() && dns.is_empty() {
        return Ok(());
    }
    if !ips.is_empty() {
        if ips.contains(&remote) {
            return Ok(());
        }
        if dns.is_empty() {
            let valid: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
            return Err(format!(
                "x509: certificate is valid for {}, not {remote}",
                valid.join(", ")
            ));
        }
    }
    for name in &dns {
        let Ok(Ok(addrs)) = tokio::time::timeout(
            Duration::from_secs(5),
            tokio::net::lookup_host((name.as_str(), 0)),
        )
        .await
        else {
            continue;
        };
        if addrs.map(|a| a.ip()).any(|ip| ip == remote) {
            return Ok(());
        }
    }
    Err(format!(
        "tls: {:?} does not match any of DNSNames {dns:?}",
        remote.to_string()
    ))
}

/// Accepts any server certificate (`--insecure-skip-tls-verify`, and
/// peers' self-signed certificates under `--peer-auto-tls`); handshake
/// signatures are still checked.
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A client's TLS configuration, ALPN `h2` (gRPC).
pub(super) fn client_config(tls: &ClientTls) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = provider(&[])?;
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(VERSIONS)
        .map_err(|e| e.to_string())?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
    } else {
        builder.with_root_certificates(roots(&tls.ca_file)?)
    };
    let mut config = match (tls.cert_file.is_empty(), tls.key_file.is_empty()) {
        (true, true) => builder.with_no_client_auth(),
        (false, false) => builder
            .with_client_auth_cert(certs_in(&tls.cert_file)?, key_in(&tls.key_file)?)
            .map_err(|e| format!("tls: {e} ({}, {})", tls.cert_file, tls.key_file))?,
        _ => {
            return Err(format!(
                "KeyFile and CertFile must both be present[key: {}, cert: {}]",
                tls.key_file, tls.cert_file
            ))
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// The client configuration for `https://` URLs dialled without one: the
/// system's roots.
pub(super) fn default_client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static DEFAULT: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| client_config(&ClientTls::default()))
        .clone()
}

/// Connects to `host:port` and does the client handshake, verifying
/// `server_name` (the URL's host unless the configuration names another).
pub(super) async fn connect(
    config: Arc<rustls::ClientConfig>,
    host: &str,
    port: u16,
    server_name: &str,
) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let name = if server_name.is_empty() {
        host
    } else {
        server_name
    };
    let name = ServerName::try_from(name.trim_start_matches('[').trim_end_matches(']'))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{name}: {e}")))?
        .to_owned();
    let tcp =
        tokio::net::TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await?;
    let _ = tcp.set_nodelay(true);
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
}

/// etcd's `SelfCert`: the certificate and key in `dir`, generated if either
/// is missing. `hosts` are `host:port` pairs (their hosts become SANs);
/// `peer` adds the client-auth usage peers need to dial each other.
pub(super) fn self_cert(dir: &Path, hosts: &[String], peer: bool) -> Result<TlsInfo, String> {
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    let info = TlsInfo {
        cert_file: cert_path.display().to_string(),
        key_file: key_path.display().to_string(),
        self_cert: true,
        ..TlsInfo::default()
    };
    if cert_path.exists() && key_path.exists() {
        return Ok(info);
    }
    use rcgen::{
        CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
    };
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::OrganizationName, "etcd");
    // A certificate's validity is wall-clock time by definition.
    #[allow(clippy::disallowed_methods)]
    let now = std::time::SystemTime::now();
    let now = time::OffsetDateTime::from(now);
    params.not_before = now;
    params.not_after = now + time::Duration::days(365);
    params.key_usages = vec![
        KeyUsagePurpose::KeyEncipherment,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if peer {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    for h in hosts {
        let host = h.rsplit_once(':').map_or(h.as_str(), |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let san = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.to_string()
                    .try_into()
                    .map_err(|e| format!("cannot generate cert: {e}"))?,
            ),
        };
        if !params.subject_alt_names.contains(&san) {
            params.subject_alt_names.push(san);
        }
    }
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| format!("cannot generate cert: {e}"))?;
    let cert = params
        .self_signed(&key)
        .map_err(|e| format!("cannot generate cert: {e}"))?;
    write_private(dir, &key_path, key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, cert.pem()).map_err(|e| go_io("open", &info.cert_file, &e))?;
    Ok(info)
}

/// Creates `dir` (0700) and writes `path` readable by its owner alone, as
/// etcd does for its generated key.
fn write_private(dir: &Path, path: &Path, data: &[u8]) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| go_io("mkdir", &dir.display().to_string(), &e))?;
    let shown = path.display().to_string();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| go_io("open", &shown, &e))?;
    f.write_all(data).map_err(|e| go_io("write", &shown, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };

    /// Writes a CA, a server certificate for 127.0.0.1 and a client
    /// certificate with CN `cn` into a fresh directory.
    fn pki(cn: &str) -> std::path::PathBuf {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "oxcd-tls-unit-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca = CertificateParams::default();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_key = KeyPair::generate().unwrap();
        std::fs::write(dir.join("ca.crt"), ca.self_signed(&ca_key).unwrap().pem()).unwrap();
        let issuer = Issuer::from_params(&ca, &ca_key);
        for (file, name) in [("server", "server"), ("client", cn)] {
            let mut p = CertificateParams::default();
            p.distinguished_name = rcgen::DistinguishedName::new();
            p.distinguished_name.push(DnType::CommonName, name);
            p.subject_alt_names = vec![SanType::IpAddress([127, 0, 0, 1].into())];
            p.extended_key_usages = vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ];
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, &issuer).unwrap();
            std::fs::write(dir.join(format!("{file}.crt")), cert.pem()).unwrap();
            std::fs::write(dir.join(format!("{file}.key")), key.serialize_pem()).unwrap();
        }
        dir
    }

    fn path(dir: &Path, f: &str) -> String {
        dir.join(f).display().to_string()
    }

    /// One handshake over an in-memory pipe: what the server accepted.
    fn handshake(server: TlsInfo, client: ClientTls) -> Result<Option<String>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let tls = ServerTls::new(&server)?;
            let config = client_config(&client)?;
            let (a, b) = tokio::io::duplex(64 << 10);
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let connecting = tokio_rustls::TlsConnector::from(config).connect(name, b);
            let client = async {
                // TLS 1.3: the client finishes first; a refused certificate
                // shows when it reads the server's alert.
                let mut s = connecting.await.map_err(|e| e.to_string())?;
                use tokio::io::AsyncReadExt;
                let mut byte = [0u8; 1];
                let _ = s.read(&mut byte).await;
                Ok::<_, String>(())
            };
            let server = async {
                let accepted = tls.accept(a, None).await;
                // Closing our end ends the client's read.
                accepted.map(|acc| acc.client_cn)
            };
            let (c, s) = tokio::join!(client, server);
            c?;
            s
        })
    }

    #[test]
    fn verified_client_cn_is_exposed() {
        let dir = pki("alice");
        let server = TlsInfo {
            cert_file: path(&dir, "server.crt"),
            key_file: path(&dir, "server.key"),
            trusted_ca_file: path(&dir, "ca.crt"),
            client_cert_auth: true,
            ..TlsInfo::default()
        };
        let client = ClientTls {
            ca_file: path(&dir, "ca.crt"),
            cert_file: path(&dir, "client.crt"),
            key_file: path(&dir, "client.key"),
            ..ClientTls::default()
        };
        assert_eq!(
            handshake(server.clone(), client.clone()),
            Ok(Some("alice".to_string()))
        );
        // Without client-cert auth no certificate is asked for, so none is
        // exposed (etcd's AuthInfoFromTLS sees no verified chain either).
        let plain = TlsInfo {
            trusted_ca_file: String::new(),
            client_cert_auth: false,
            ..server.clone()
        };
        assert_eq!(handshake(plain, client.clone()), Ok(None));
        // --peer-cert-allowed-cn refuses another CN during the handshake.
        let bob_only = TlsInfo {
            allowed_cn: "bob".to_string(),
            ..server.clone()
        };
        let e = handshake(bob_only, client.clone()).unwrap_err();
        assert!(
            e.contains("client certificate authentication failed"),
            "{e}"
        );
        // The allowed hostname is matched against the certificate's SANs.
        let by_host = TlsInfo {
            allowed_hostname: "127.0.0.1".to_string(),
            ..server.clone()
        };
        assert_eq!(
            handshake(by_host, client.clone()),
            Ok(Some("alice".to_string()))
        );
        // A CRL file that cannot be read refuses every certificate, as etcd's
        // per-connection checkCRL does.
        let missing_crl = TlsInfo {
            crl_file: path(&dir, "missing.crl"),
            ..server
        };
        let e = handshake(missing_crl, client).unwrap_err();
        assert!(e.contains("no such file or directory"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn cn_reader_takes_the_connection_info() {
        let mut req = tonic::Request::new(());
        assert_eq!(super::super::client_cert_cn(&req), None);
        req.extensions_mut().insert(super::super::ConnInfo {
            client_cn: Some("alice".to_string()),
            ..Default::default()
        });
        assert_eq!(super::super::client_cert_cn(&req), Some("alice"));
    }

    #[test]
    fn cipher_suite_names() {
        let p = provider(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()]).unwrap();
        // The three TLS 1.3 suites stay (Go cannot configure them either).
        assert_eq!(p.cipher_suites.len(), 4);
        for name in super::super::CIPHER_SUITES {
            assert!(rustls_suite_name(name).is_some(), "{name}");
        }
        assert_eq!(
            provider(&["FOO".to_string()]).unwrap_err(),
            "unexpected TLS cipher suite \"FOO\""
        );
    }
}
