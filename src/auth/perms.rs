//! Key permissions as intervals, as etcd's `range_perm_cache.go` and
//! `pkg/adt` see them.
//!
//! A permission with an empty `range_end` is the one key, which etcd
//! represents as the interval `[key, key + "\0")`; a `range_end` of `"\0"`
//! is open-ended (`[key, ∞)`); otherwise `[key, range_end)`. A request is
//! permitted when the union of the user's permissions of the needed kind
//! covers it: a single key must lie in one of them, a range must be
//! covered without a gap (etcd's `IntervalTree.Contains`).

use std::cmp::Ordering;

use crate::pb::authpb::{permission, Permission};

/// One end of an interval: a key, or past every key.
#[derive(Clone, Debug, PartialEq, Eq)]
enum End {
    Key(Vec<u8>),
    Infinite,
}

impl PartialOrd for End {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for End {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (End::Infinite, End::Infinite) => Ordering::Equal,
            (End::Infinite, _) => Ordering::Greater,
            (_, End::Infinite) => Ordering::Less,
            (End::Key(a), End::Key(b)) => a.cmp(b),
        }
    }
}

fn is_open_ended(range_end: &[u8]) -> bool {
    range_end == [0]
}

/// The interval a permission grants.
fn interval(p: &Permission) -> (Vec<u8>, End) {
    let end = if p.range_end.is_empty() {
        let mut e = p.key.clone();
        e.push(0);
        End::Key(e)
    } else if is_open_ended(&p.range_end) {
        End::Infinite
    } else {
        End::Key(p.range_end.clone())
    };
    (p.key.clone(), end)
}

/// Whether `p` grants writing (`write`) or reading.
pub fn grants(p: &Permission, write: bool) -> bool {
    // A type etcd does not know grants nothing (its merge skips it).
    match permission::Type::try_from(p.perm_type) {
        Ok(permission::Type::Readwrite) => true,
        Ok(permission::Type::Read) => !write,
        Ok(permission::Type::Write) => write,
        Err(_) => false,
    }
}

/// Whether the permissions cover `key` (when `range_end` is empty) or the
/// range `[key, range_end)` (`"\0"`: every key from `key` on).
pub fn covers<'a>(
    perms: impl Iterator<Item = &'a Permission>,
    key: &[u8],
    range_end: &[u8],
) -> bool {
    let mut ivls: Vec<(Vec<u8>, End)> = perms.map(interval).collect();
    if range_end.is_empty() {
        let k = End::Key(key.to_vec());
        return ivls.iter().any(|(b, e)| b.as_slice() <= key && k < *e);
    }
    let want_end = if is_open_ended(range_end) {
        End::Infinite
    } else {
        End::Key(range_end.to_vec())
    };
    // The intervals that meet [key, want_end), in order of their start.
    ivls.retain(|(b, e)| End::Key(b.clone()) < want_end && End::Key(key.to_vec()) < *e);
    ivls.sort();
    let mut it = ivls.into_iter();
    let Some((first_begin, mut reach)) = it.next() else {
        return false;
    };
    if first_begin.as_slice() > key {
        return false;
    }
    for (b, e) in it {
        if reach < End::Key(b) {
            return false; // a gap
        }
        reach = reach.max(e);
    }
    reach >= want_end
}

/// etcd's `isValidPermissionRange`: a key, and a range end after it (or
/// none, or open-ended).
pub fn is_valid_range(key: &[u8], range_end: &[u8]) -> bool {
    if key.is_empty() {
        return false;
    }
    range_end.is_empty() || key < range_end || is_open_ended(range_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(key: &str, end: &str) -> Permission {
        Permission {
            perm_type: permission::Type::Readwrite as i32,
            key: key.as_bytes().to_vec(),
            range_end: end.as_bytes().to_vec(),
        }
    }

    #[test]
    fn keys_and_ranges() {
        let perms = [p("a", ""), p("b", "d"), p("d", "f"), p("x", "\0")];
        let c = |k: &str, e: &str| covers(perms.iter(), k.as_bytes(), e.as_bytes());
        assert!(c("a", ""));
        assert!(!c("a0", ""));
        assert!(c("a", "a\0")); // the point as a range
        assert!(!c("a", "b")); // a gap after "a\0"
        assert!(c("b", "f")); // two ranges without a gap
        assert!(c("c", "e"));
        assert!(!c("b", "g"));
        assert!(c("x", "\0"));
        assert!(c("zzz", "\0"));
        assert!(!c("w", "\0"));
        assert!(c("e", ""));
        assert!(!c("f", ""));
        assert!(!covers([].iter(), b"a", b""));
    }

    #[test]
    fn kinds() {
        let mut r = p("a", "");
        r.perm_type = permission::Type::Read as i32;
        assert!(grants(&r, false) && !grants(&r, true));
        r.perm_type = permission::Type::Write as i32;
        assert!(!grants(&r, false) && grants(&r, true));
    }

    #[test]
    fn valid_ranges() {
        assert!(is_valid_range(b"a", b""));
        assert!(is_valid_range(b"a", b"b"));
        assert!(is_valid_range(b"a", b"\0"));
        assert!(!is_valid_range(b"b", b"a"));
        assert!(!is_valid_range(b"", b""));
    }
}
