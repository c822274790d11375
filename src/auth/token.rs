//! etcd's simple tokens (`auth/simple_token.go`): 16 random letters, a dot
//! and the raft index of the `Authenticate` entry that assigned it. Every
//! member applies that entry, so a token works on any member; each member
//! expires it `--auth-token-ttl` after its last use, on its own node clock,
//! and a restart forgets it.
//!
//! Bounded: a token lives at most one TTL past its last use, and expired
//! tokens are swept as new ones are assigned, so logging in in a loop
//! cannot grow the map beyond the tokens assigned within one TTL.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// etcd's `--auth-token-ttl` default.
pub const TTL_DEFAULT: Duration = Duration::from_secs(300);
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const PREFIX_LEN: usize = 16;

struct Entry {
    user: String,
    expires: Duration,
}

/// The tokens this member knows (see the module docs).
pub struct SimpleTokens {
    ttl: Duration,
    enabled: bool,
    /// Behind a lock of its own: a lookup renews the token, and lookups
    /// happen under the shared state's read lock.
    tokens: Mutex<HashMap<String, Entry>>,
    /// The map's size after the last sweep; the next one comes at twice it.
    swept_at: usize,
}

impl Default for SimpleTokens {
    fn default() -> Self {
        SimpleTokens::new(TTL_DEFAULT)
    }
}

impl SimpleTokens {
    pub fn new(ttl: Duration) -> SimpleTokens {
        SimpleTokens {
            ttl,
            enabled: false,
            tokens: Mutex::new(HashMap::new()),
            swept_at: 0,
        }
    }

    /// Auth turned on or off; turning it off forgets every token.
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.map().clear();
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A fresh token prefix, drawn by the member that takes the request.
    pub fn gen_prefix() -> String {
        (0..PREFIX_LEN)
            .map(|_| LETTERS[crate::rt::rand::gen_range(0..LETTERS.len() as u64) as usize] as char)
            .collect()
    }

    /// Assigns `prefix.index` to `user` (applying `Authenticate`).
    pub fn assign(&mut self, prefix: &str, index: u64, user: &str, now: Duration) -> String {
        let token = format!("{prefix}.{index}");
        let ttl = self.ttl;
        let mut map = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(
            token.clone(),
            Entry {
                user: user.to_string(),
                expires: now + ttl,
            },
        );
        if map.len() >= (2 * self.swept_at).max(64) {
            map.retain(|_, e| e.expires > now);
            self.swept_at = map.len();
        }
        token
    }

    /// The user of a live token, whose life starts again from `now`.
    pub fn user(&self, token: &str, now: Duration) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let mut map = self.map();
        let e = map.get_mut(token)?;
        if e.expires <= now {
            map.remove(token);
            return None;
        }
        e.expires = now + self.ttl;
        Some(e.user.clone())
    }

    /// Forgets every token of `user` (deleted, or its password changed).
    pub fn invalidate_user(&mut self, user: &str) {
        self.map().retain(|_, e| e.user != user);
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_expire_after_their_last_use_and_are_swept() {
        let mut t = SimpleTokens::new(Duration::from_secs(10));
        t.set_enabled(true);
        let s = Duration::from_secs;
        let tok = t.assign("abc", 7, "alice", s(0));
        assert_eq!(tok, "abc.7");
        assert_eq!(t.user(&tok, s(9)).as_deref(), Some("alice"));
        assert_eq!(t.user(&tok, s(18)).as_deref(), Some("alice")); // renewed at 9
        assert_eq!(t.user(&tok, s(29)), None);
        assert_eq!(t.user("nope", s(29)), None);
        for i in 0..1000 {
            t.assign("x", i, "bob", s(i));
        }
        // Only the tokens of the last TTL (and those since the last sweep) stay.
        assert!(t.len() < 200, "{}", t.len());
        t.invalidate_user("bob");
        assert!(t.is_empty());
        let tok = t.assign("y", 1, "carol", s(0));
        t.set_enabled(false);
        assert_eq!(t.user(&tok, s(0)), None);
    }

    #[test]
    fn prefixes_are_letters() {
        let p = SimpleTokens::gen_prefix();
        assert_eq!(p.len(), 16);
        assert!(p.bytes().all(|b| b.is_ascii_alphabetic()));
    }
}
