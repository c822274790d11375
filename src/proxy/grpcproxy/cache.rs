//! The range cache (etcd's `proxy/grpcproxy/cache/store.go`): answers to
//! ranges, keyed by the encoded request, in a bounded LRU.
//!
//! A request at the latest revision (`revision == 0`) is remembered with
//! its key interval so that a write through the proxy that touches the
//! interval drops it ([`Cache::invalidate`]); a request pinned to a
//! revision never changes and is only dropped by a compaction past that
//! revision ([`Cache::compact`]) or by the LRU. Writes that reach the
//! cluster some other way are not seen: that is the proxy's contract (only
//! serializable reads are answered from here; etcd's proxy is the same).
//!
//! Worked example: `get a` (serializable) misses and is added with interval
//! `[a, a\0)`; `get a --prefix` adds `[a, b)`; `put ab` invalidates `[ab,
//! ab\0)`, which meets `[a, b)` but not `[a, a\0)`: the prefix answer goes,
//! the point answer stays.

use std::collections::{BTreeMap, HashMap};

use prost::Message;

use crate::pb::etcdserverpb::{RangeRequest, RangeResponse};

/// etcd's `DefaultMaxEntries`.
pub const MAX_ENTRIES: usize = 2048;

/// Why [`Cache::get`] has no answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// Not cached: ask the cluster.
    Absent,
    /// The request's revision is below a compaction the proxy forwarded:
    /// answered with etcd's `ErrCompacted` without asking (a hit, as etcd
    /// counts it).
    Compacted,
}

/// A key interval `[key, end)`; `end == None` is the open end (`\0`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Interval {
    key: Vec<u8>,
    end: Option<Vec<u8>>,
}

impl Interval {
    /// The keys a request with `key` and `range_end` covers (etcd's rule:
    /// no range end is the one key, `\0` everything from `key` on).
    fn of(key: &[u8], range_end: &[u8]) -> Interval {
        let end = match range_end {
            [] => {
                let mut k = key.to_vec();
                k.push(0);
                Some(k)
            }
            [0] => None,
            e => Some(e.to_vec()),
        };
        Interval {
            key: key.to_vec(),
            end,
        }
    }

    fn meets(&self, o: &Interval) -> bool {
        let below = |k: &[u8], end: &Option<Vec<u8>>| end.as_deref().is_none_or(|e| k < e);
        below(&self.key, &o.end) && below(&o.key, &self.end)
    }
}

struct Entry {
    resp: RangeResponse,
    /// `None` for a request pinned to a revision (never invalidated).
    interval: Option<Interval>,
    revision: i64,
    /// Its place in `order` (larger is more recently used).
    used: u64,
}

/// The bounded cache. Not thread-safe by itself; the KV proxy holds it
/// under a lock and does no I/O while holding it.
pub struct Cache {
    max_entries: usize,
    entries: HashMap<Vec<u8>, Entry>,
    /// Least recently used first.
    order: BTreeMap<u64, Vec<u8>>,
    clock: u64,
    /// The highest revision compacted through the proxy; -1 before any.
    compacted: i64,
}

/// The cache key of a request: its encoding, as serializable (etcd's
/// proxy caches linearizable answers as serializable ones).
fn key_of(req: &RangeRequest) -> Vec<u8> {
    RangeRequest {
        serializable: true,
        ..req.clone()
    }
    .encode_to_vec()
}

impl Cache {
    pub fn new(max_entries: usize) -> Cache {
        assert!(max_entries > 0, "a cache holds at least one entry");
        Cache {
            max_entries,
            entries: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
            compacted: -1,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn touch(&mut self, key: &[u8]) {
        self.clock += 1;
        let e = self.entries.get_mut(key).expect("touching a present entry");
        self.order.remove(&e.used);
        e.used = self.clock;
        self.order.insert(self.clock, key.to_vec());
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(e) = self.entries.remove(key) {
            self.order.remove(&e.used);
        }
    }

    /// The cached answer to `req`, or why there is none.
    pub fn get(&mut self, req: &RangeRequest) -> Result<RangeResponse, Miss> {
        let key = key_of(req);
        if req.revision > 0 && req.revision < self.compacted {
            self.remove(&key);
            return Err(Miss::Compacted);
        }
        if !self.entries.contains_key(&key) {
            return Err(Miss::Absent);
        }
        self.touch(&key);
        Ok(self.entries[&key].resp.clone())
    }

    /// Remembers `resp` as the answer to `req`, evicting the least
    /// recently used entry beyond the bound. A request pinned below the
    /// compacted revision is not kept (its answer may no longer exist).
    pub fn add(&mut self, req: &RangeRequest, resp: &RangeResponse) {
        if req.revision != 0 && req.revision < self.compacted {
            return;
        }
        let key = key_of(req);
        let interval = (req.revision == 0).then(|| Interval::of(&req.key, &req.range_end));
        self.remove(&key);
        self.entries.insert(
            key.clone(),
            Entry {
                resp: resp.clone(),
                interval,
                revision: req.revision,
                used: 0,
            },
        );
        self.touch(&key);
        while self.entries.len() > self.max_entries {
            let (_, oldest) = self.order.pop_first().expect("entries are ordered");
            self.entries.remove(&oldest);
        }
    }

    /// Drops every latest-revision answer whose interval meets `[key,
    /// range_end)` (the same rules for an empty or `\0` end as a range).
    /// O(entries): at most [`MAX_ENTRIES`].
    pub fn invalidate(&mut self, key: &[u8], range_end: &[u8]) {
        let written = Interval::of(key, range_end);
        let stale: Vec<Vec<u8>> = self
            .entries
            .iter()
            .filter(|(_, e)| e.interval.as_ref().is_some_and(|i| i.meets(&written)))
            .map(|(k, _)| k.clone())
            .collect();
        for k in stale {
            self.remove(&k);
        }
    }

    /// A compaction at `revision` succeeded: answers pinned below it go
    /// (etcd drops them lazily on access; dropping them now frees them).
    pub fn compact(&mut self, revision: i64) {
        self.compacted = self.compacted.max(revision);
        let gone: Vec<Vec<u8>> = self
            .entries
            .iter()
            .filter(|(_, e)| e.revision > 0 && e.revision < self.compacted)
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::mvccpb::KeyValue;

    fn req(key: &str, end: &str, revision: i64) -> RangeRequest {
        RangeRequest {
            key: key.into(),
            range_end: end.into(),
            revision,
            serializable: true,
            ..Default::default()
        }
    }

    fn resp(value: &str) -> RangeResponse {
        RangeResponse {
            kvs: vec![KeyValue {
                value: value.into(),
                ..Default::default()
            }],
            count: 1,
            ..Default::default()
        }
    }

    #[test]
    fn invalidation_by_interval() {
        let mut c = Cache::new(MAX_ENTRIES);
        c.add(&req("a", "", 0), &resp("point"));
        c.add(&req("a", "b", 0), &resp("prefix"));
        c.add(&req("a", "\0", 0), &resp("from-key"));
        c.add(&req("a", "", 3), &resp("pinned"));
        assert_eq!(c.len(), 4);
        // A linearizable request finds the answer cached as serializable.
        let linearizable = RangeRequest {
            serializable: false,
            ..req("a", "", 0)
        };
        assert_eq!(c.get(&linearizable).unwrap(), resp("point"));
        c.invalidate(b"ab", b"");
        assert_eq!(c.get(&req("a", "", 0)).unwrap(), resp("point"));
        assert_eq!(c.get(&req("a", "b", 0)), Err(Miss::Absent));
        assert_eq!(c.get(&req("a", "\0", 0)), Err(Miss::Absent));
        c.invalidate(b"", b"\0");
        assert_eq!(c.get(&req("a", "", 0)), Err(Miss::Absent));
        // A pinned answer cannot change: writes leave it.
        assert_eq!(c.get(&req("a", "", 3)).unwrap(), resp("pinned"));
        // Open ends meet everything after them.
        c.add(&req("z", "", 0), &resp("z"));
        c.invalidate(b"y", b"\0");
        assert_eq!(c.get(&req("z", "", 0)), Err(Miss::Absent));
    }

    #[test]
    fn compaction_drops_pinned_answers_below_it() {
        let mut c = Cache::new(MAX_ENTRIES);
        c.add(&req("a", "", 3), &resp("at 3"));
        c.add(&req("a", "", 5), &resp("at 5"));
        c.add(&req("a", "", 0), &resp("latest"));
        c.compact(5);
        assert_eq!(c.len(), 2);
        assert_eq!(c.get(&req("a", "", 3)), Err(Miss::Compacted));
        assert_eq!(c.get(&req("a", "", 5)).unwrap(), resp("at 5"));
        // Latest-revision answers are still cached after a compaction.
        c.add(&req("b", "", 0), &resp("b"));
        assert_eq!(c.get(&req("b", "", 0)).unwrap(), resp("b"));
        c.add(&req("a", "", 4), &resp("too old"));
        assert_eq!(c.get(&req("a", "", 4)), Err(Miss::Compacted));
    }

    #[test]
    fn bounded_least_recently_used_first() {
        let mut c = Cache::new(3);
        for k in ["a", "b", "c"] {
            c.add(&req(k, "", 0), &resp(k));
        }
        assert!(c.get(&req("a", "", 0)).is_ok());
        c.add(&req("d", "", 0), &resp("d"));
        assert_eq!(c.len(), 3);
        assert_eq!(c.get(&req("b", "", 0)), Err(Miss::Absent));
        for k in ["a", "c", "d"] {
            assert!(c.get(&req(k, "", 0)).is_ok(), "{k} kept");
        }
    }
}
