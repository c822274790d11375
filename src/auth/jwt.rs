//! etcd's JWT tokens (`auth/jwt.go`, `--auth-token
//! jwt,pub-key=…,priv-key=…,sign-method=…,ttl=…`): a token is a signed
//! claim of `username`, the auth `revision` it was issued at and `exp`
//! (Unix seconds). Any member with the key verifies it without state; a
//! token issued before an auth change is refused as old, and clients
//! authenticate again (unlike a simple token, whose revision is always the
//! current one).
//!
//! Real networks only: signing needs the wall clock, which the simulator
//! does not give server code (the simulator runs simple tokens).

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use super::AuthError;

/// etcd's `DefaultTTL` for JWT tokens.
pub const TTL_DEFAULT: Duration = Duration::from_secs(300);

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    username: String,
    revision: u64,
    exp: i64,
}

/// A configured JWT provider.
pub struct JwtTokens {
    alg: Algorithm,
    /// `None`: only a public key was given (etcd's `verifyOnly`).
    sign: Option<EncodingKey>,
    verify: DecodingKey,
    ttl: Duration,
}

impl std::fmt::Debug for JwtTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JwtTokens({:?}, ttl {:?})", self.alg, self.ttl)
    }
}

fn needs_public(alg: Algorithm) -> String {
    format!("auth: oxcd needs pub-key as well as priv-key for sign-method {alg:?}")
}

/// The wall clock in Unix seconds (the seam's: JWT `exp` is wall time).
fn unix_now() -> i64 {
    #[allow(clippy::disallowed_methods)] // a JWT expiry is wall-clock time by definition
    let now = std::time::SystemTime::now();
    now.duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl JwtTokens {
    /// Parses etcd's options (`sign-method` required; `pub-key`,
    /// `priv-key` files; `ttl` a Go duration). Errors are etcd's texts.
    pub fn from_options(opts: &[(String, String)]) -> Result<JwtTokens, String> {
        let get = |k: &str| {
            opts.iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .unwrap_or("")
        };
        let ttl = match get("ttl") {
            "" => TTL_DEFAULT,
            t => crate::config::parse_duration(t)
                .ok_or_else(|| AuthError::InvalidAuthOpts.go_message().to_string())?,
        };
        // A key file is small; reading at most this much keeps a wrong
        // path (a device, a huge file) from hanging start-up.
        const KEY_FILE_MAX: u64 = 1 << 20;
        let read = |k: &str| -> Result<Vec<u8>, String> {
            use std::io::Read;
            let f = get(k);
            if f.is_empty() {
                return Ok(Vec::new());
            }
            let go_error = |e: std::io::Error| {
                let e = e.to_string();
                let e = e.split(" (os error").next().unwrap_or(&e).to_lowercase();
                format!("open {f}: {e}")
            };
            let mut buf = Vec::new();
            std::fs::File::open(f)
                .and_then(|file| file.take(KEY_FILE_MAX).read_to_end(&mut buf))
                .map_err(go_error)?;
            Ok(buf)
        };
        let (public, private) = (read("pub-key")?, read("priv-key")?);
        use Algorithm::*;
        let alg = match get("sign-method") {
            "RS256" => RS256,
            "RS384" => RS384,
            "RS512" => RS512,
            "PS256" => PS256,
            "PS384" => PS384,
            "PS512" => PS512,
            "ES256" => ES256,
            "ES384" => ES384,
            "HS256" => HS256,
            "HS384" => HS384,
            "HS512" => HS512,
            "ES512" => {
                return Err("sign-method ES512 is not built in oxcd (ring has no P-521)".into())
            }
            _ => return Err(AuthError::InvalidAuthMethod.go_message().to_string()),
        };
        let missing = || AuthError::MissingKey.go_message().to_string();
        let bad = |e: jsonwebtoken::errors::Error| format!("{e}");
        let (sign, verify) = match alg {
            HS256 | HS384 | HS512 => {
                if private.is_empty() {
                    return Err(missing());
                }
                (
                    Some(EncodingKey::from_secret(&private)),
                    DecodingKey::from_secret(&private),
                )
            }
            RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => {
                let sign = (!private.is_empty())
                    .then(|| EncodingKey::from_rsa_pem(&private))
                    .transpose()
                    .map_err(bad)?;
                if public.is_empty() {
                    // etcd derives it from the private key; ring cannot.
                    return Err(needs_public(alg));
                }
                (sign, DecodingKey::from_rsa_pem(&public).map_err(bad)?)
            }
            _ => {
                let sign = (!private.is_empty())
                    .then(|| EncodingKey::from_ec_pem(&private))
                    .transpose()
                    .map_err(bad)?;
                if public.is_empty() {
                    return Err(needs_public(alg));
                }
                (sign, DecodingKey::from_ec_pem(&public).map_err(bad)?)
            }
        };
        let t = JwtTokens {
            alg,
            sign,
            verify,
            ttl,
        };
        // etcd's `ErrKeyMismatch`: a private key whose public half is not
        // the given public key signs tokens no member accepts.
        let probe = t.assign("probe", 1);
        if t.sign.is_some() && probe.map(|s| t.info(&s)).ok().flatten().is_none() {
            return Err(AuthError::KeyMismatch.go_message().to_string());
        }
        Ok(t)
    }

    /// A signed token for `username` at auth revision `revision`.
    pub fn assign(&self, username: &str, revision: u64) -> Result<String, AuthError> {
        let key = self.sign.as_ref().ok_or(AuthError::VerifyOnly)?;
        let claims = Claims {
            username: username.to_string(),
            revision,
            exp: unix_now() + self.ttl.as_secs() as i64,
        };
        jsonwebtoken::encode(&Header::new(self.alg), &claims, key)
            .map_err(|_| AuthError::AuthFailed)
    }

    /// `(username, revision)` of a valid, unexpired token of this key and
    /// sign method.
    pub fn info(&self, token: &str) -> Option<(String, u64)> {
        let mut v = Validation::new(self.alg);
        // Expiry is checked below against the seam's clock; etcd's tokens
        // carry no audience or other required claims.
        v.validate_exp = false;
        v.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<Claims>(token, &self.verify, &v).ok()?;
        if data.claims.exp <= unix_now() {
            return None;
        }
        Some((data.claims.username, data.claims.revision))
    }
}
