//! MVCC revisions.
//!
//! Every change to the key space happens at a *main* revision: one per write
//! transaction (a put, a delete-range or a whole txn). Within one main
//! revision, each individual change gets a *sub* revision, counted from 0.
//! A `Range` at revision `r` sees every change with `main <= r`.

/// A point in the store's history: `{main, sub}`, ordered lexicographically.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

/// Length of an encoded revision: 8 bytes main, `_`, 8 bytes sub (etcd's layout).
pub const REV_BYTES_LEN: usize = 17;

impl Revision {
    pub fn new(main: i64, sub: i64) -> Self {
        Revision { main, sub }
    }

    /// Big-endian encoding that sorts like the revision; a tombstone gets a
    /// trailing `t`, as in etcd's backend.
    pub fn to_bytes(self, tombstone: bool) -> Vec<u8> {
        let mut b = Vec::with_capacity(REV_BYTES_LEN + 1);
        b.extend_from_slice(&self.main.to_be_bytes());
        b.push(b'_');
        b.extend_from_slice(&self.sub.to_be_bytes());
        if tombstone {
            b.push(b't');
        }
        b
    }

    /// Decodes [`Revision::to_bytes`]; returns the revision and the tombstone mark.
    pub fn from_bytes(b: &[u8]) -> Option<(Revision, bool)> {
        if b.len() != REV_BYTES_LEN && b.len() != REV_BYTES_LEN + 1 {
            return None;
        }
        let main = i64::from_be_bytes(b[0..8].try_into().ok()?);
        let sub = i64::from_be_bytes(b[9..17].try_into().ok()?);
        let tombstone = b.len() == REV_BYTES_LEN + 1 && b[17] == b't';
        Some((Revision { main, sub }, tombstone))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_sorts_like_revisions() {
        let revs = [
            Revision::new(1, 0),
            Revision::new(1, 1),
            Revision::new(2, 0),
            Revision::new(256, 3),
        ];
        for w in revs.windows(2) {
            assert!(w[0].to_bytes(false) < w[1].to_bytes(false));
        }
        for r in revs {
            assert_eq!(Revision::from_bytes(&r.to_bytes(true)), Some((r, true)));
            assert_eq!(Revision::from_bytes(&r.to_bytes(false)), Some((r, false)));
        }
    }
}
