//! The in-memory index from a user key to the revisions that changed it.
//!
//! A key's life is split into *generations*. A generation starts with the put
//! that creates the key and ends with the delete (tombstone) that removes it;
//! the next put starts a new generation. The last generation is open: it is
//! empty right after a tombstone.
//!
//! Worked example (after etcd's `key_index.go`): key `foo` is put at 1.0,
//! 2.0 and 3.0, deleted at 4.0, put again at 5.0 and 6.0:
//!
//! ```text
//! generations:
//!   {empty}                       <- open generation (none yet)
//!   {5.0, 6.0}          ver 2     <- after the second put of the new life
//!   {1.0, 2.0, 3.0, 4.0(t)} ver 4 <- closed by the tombstone 4.0
//! ```
//!
//! `get(3)` finds the first generation and answers `modified 3.0, created 1.0,
//! version 3`; `get(4)` and `get(4.5)` see the tombstone and answer "not
//! found"; `get(6)` answers `modified 6.0, created 5.0, version 2`.
//!
//! Compacting at 5 drops the whole first generation (its tombstone is at or
//! below 5) and, in the second, keeps only 5.0 — the newest revision at or
//! below 5, still visible to `get(5)` — giving `{5.0, 6.0}`. Compacting at 4
//! instead would keep the tombstone generation away entirely too, since a read
//! at 4 or later does not see the key.

use super::revision::Revision;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Generation {
    /// Number of puts in this generation, including those compacted away.
    pub ver: i64,
    /// Revision of the put that created the key in this generation.
    pub created: Revision,
    /// Revisions of this generation, ascending; a closed generation ends in its tombstone.
    pub revs: Vec<Revision>,
}

impl Generation {
    fn is_empty(&self) -> bool {
        self.revs.is_empty()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyIndex {
    pub modified: Revision,
    pub generations: Vec<Generation>,
}

/// What a key looked like at some revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyAt {
    pub modified: Revision,
    pub created: Revision,
    pub version: i64,
}

impl KeyIndex {
    /// Records a put at `rev`.
    pub fn put(&mut self, rev: Revision) {
        assert!(
            rev > self.modified,
            "put {rev:?} not after {:?}",
            self.modified
        );
        if self.generations.is_empty() {
            self.generations.push(Generation::default());
        }
        let g = self.generations.last_mut().expect("non-empty");
        if g.is_empty() {
            g.created = rev;
        }
        g.revs.push(rev);
        g.ver += 1;
        self.modified = rev;
    }

    /// Restores a key from the backend: its oldest surviving revision `modified`
    /// was written in a generation created at `created`, as version `ver`.
    pub fn restore(&mut self, created: Revision, modified: Revision, ver: i64) {
        assert!(self.generations.is_empty(), "restore into a used index");
        self.generations.push(Generation {
            ver,
            created,
            revs: vec![modified],
        });
        self.modified = modified;
    }

    /// Records a delete at `rev`, closing the current generation.
    pub fn tombstone(&mut self, rev: Revision) {
        let live = self.generations.last().is_some_and(|g| !g.is_empty());
        assert!(live, "tombstone on a key that is not live");
        self.put(rev);
        let mut next = Generation::default();
        if crate::bugs::active(crate::bugs::Bug::VersionNotReset) {
            next.ver = self.generations.last().map_or(0, |g| g.ver);
        }
        self.generations.push(next);
    }

    /// True when the key has no revisions left (fully compacted).
    pub fn is_empty(&self) -> bool {
        self.generations.iter().all(Generation::is_empty)
    }

    /// The key as seen by a read at main revision `at`, or `None` if it did
    /// not exist then.
    pub fn get(&self, at: i64) -> Option<KeyAt> {
        let last = self.generations.len().checked_sub(1)?;
        for (i, g) in self.generations.iter().enumerate().rev() {
            let Some(first) = g.revs.first() else {
                continue;
            };
            if first.main > at {
                continue;
            }
            let closed = i != last;
            if closed && g.revs.last().expect("non-empty").main <= at {
                // Deleted at or before `at`.
                return None;
            }
            let n = g.revs.partition_point(|r| r.main <= at) - 1;
            let after = (g.revs.len() - n - 1) as i64;
            return Some(KeyAt {
                modified: g.revs[n],
                created: g.created,
                version: g.ver - after,
            });
        }
        None
    }

    /// Compacts at main revision `at`: drops every revision no read at `at`
    /// or later can see, pushing the dropped ones into `dropped`.
    pub fn compact(&mut self, at: i64, dropped: &mut Vec<Revision>) {
        let last = self.generations.len().saturating_sub(1);
        let mut kept = Vec::with_capacity(self.generations.len());
        for (i, mut g) in std::mem::take(&mut self.generations)
            .into_iter()
            .enumerate()
        {
            if g.is_empty() {
                kept.push(g);
                continue;
            }
            let closed = i != last;
            if closed && g.revs.last().expect("non-empty").main <= at {
                dropped.extend(g.revs.iter().copied());
                continue;
            }
            let visible = g.revs.partition_point(|r| r.main <= at);
            // The newest revision at or below `at` stays: reads at `at` see it.
            let keep = if crate::bugs::active(crate::bugs::Bug::CompactionRemovesLiveVersion) {
                0
            } else {
                1
            };
            if visible > keep {
                dropped.extend(g.revs.drain(..visible - keep));
            }
            kept.push(g);
        }
        // Drop leading empty generations that are not the open one.
        while kept.len() > 1 && kept[0].is_empty() {
            kept.remove(0);
        }
        self.generations = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(main: i64) -> Revision {
        Revision::new(main, 0)
    }

    fn example() -> KeyIndex {
        let mut ki = KeyIndex::default();
        ki.put(r(1));
        ki.put(r(2));
        ki.put(r(3));
        ki.tombstone(r(4));
        ki.put(r(5));
        ki.put(r(6));
        ki
    }

    #[test]
    fn get_follows_generations() {
        let ki = example();
        assert_eq!(ki.get(0), None);
        assert_eq!(
            ki.get(3),
            Some(KeyAt {
                modified: r(3),
                created: r(1),
                version: 3
            })
        );
        assert_eq!(ki.get(4), None);
        assert_eq!(
            ki.get(6),
            Some(KeyAt {
                modified: r(6),
                created: r(5),
                version: 2
            })
        );
        assert_eq!(ki.get(100).map(|k| k.modified), Some(r(6)));
    }

    #[test]
    fn compact_keeps_what_reads_can_see() {
        let mut ki = example();
        let mut dropped = vec![];
        ki.compact(2, &mut dropped);
        assert_eq!(dropped, vec![r(1)]);
        assert_eq!(ki.get(2).map(|k| (k.modified, k.version)), Some((r(2), 2)));
        dropped.clear();
        ki.compact(5, &mut dropped);
        assert_eq!(dropped, vec![r(2), r(3), r(4)]);
        assert_eq!(ki.get(5).map(|k| (k.modified, k.version)), Some((r(5), 1)));
        assert_eq!(ki.get(6).map(|k| k.version), Some(2));
        assert!(!ki.is_empty());
    }

    #[test]
    fn compact_past_tombstone_empties_the_key() {
        let mut ki = KeyIndex::default();
        ki.put(r(1));
        ki.tombstone(r(2));
        let mut dropped = vec![];
        ki.compact(2, &mut dropped);
        assert_eq!(dropped, vec![r(1), r(2)]);
        assert!(ki.is_empty());
    }
}
