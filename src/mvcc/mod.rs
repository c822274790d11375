//! Multi-version concurrency control: the key space and its history.
//!
//! Sans-IO: [`store::KvStore`] is a plain state machine. Writes produce
//! [`crate::storage::schema::BackendOp`]s that the caller persists (together with the raft
//! index that caused them); nothing here touches a disk or a clock.

mod crc32c;
pub(crate) use crc32c::Crc32c;
pub mod key_index;
pub mod revision;
pub mod store;
pub mod watchable_store;

pub use revision::Revision;
pub use store::{no_leases, KvStore, LeaseExists, MvccError};

/// clientv3's `GetPrefixRangeEnd`: `[key, key+1)` covers a prefix; `\0`
/// ("to the end") when no such end exists.
pub fn prefix_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    while let Some(&last) = end.last() {
        if last < 0xff {
            *end.last_mut().expect("non-empty") += 1;
            return end;
        }
        end.pop();
    }
    vec![0]
}
