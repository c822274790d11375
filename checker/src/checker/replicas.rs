//! Replica agreement: every member holds the same key-value history.
//!
//! Raft's State Machine Safety (Raft paper §5.4.3): if a server has applied a
//! log entry at an index, no other server applies a different entry at that
//! index. So members that have applied up to the same revision have identical
//! MVCC histories, which etcd checks with `HashKV(revision)` (its corruption
//! check compares exactly this across members).

/// One member's answer to `HashKV(revision)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemberHash {
    pub member: usize,
    pub hash: u32,
    pub compact_revision: i64,
}

/// All members that answered must agree.
pub fn check(hashes: &[MemberHash]) -> Result<(), (MemberHash, MemberHash)> {
    for w in hashes.windows(2) {
        if (w[0].hash, w[0].compact_revision) != (w[1].hash, w[1].compact_revision) {
            return Err((w[0], w[1]));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn divergent_replicas_are_caught() {
        let h = |member, hash| MemberHash {
            member,
            hash,
            compact_revision: -1,
        };
        assert!(check(&[h(0, 7), h(1, 7), h(2, 7)]).is_ok());
        assert!(check(&[h(0, 7), h(1, 8)]).is_err());
    }
}
