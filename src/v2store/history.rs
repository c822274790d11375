//! The last [`HISTORY_CAPACITY`] events (etcd's `EventHistory`), so a watch
//! may start at an index already past: a client that reconnects with
//! `waitIndex` misses nothing as long as the history still holds it.

use std::collections::VecDeque;

use super::error::{V2Error, ECODE_EVENT_INDEX_CLEARED};
use super::event::{Action, Event};

/// How many events etcd keeps (its `newWatchHub(1000)`).
pub const HISTORY_CAPACITY: usize = 1000;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EventHistory {
    /// Oldest first; every event's index is one more than the one before
    /// (each index the store hands out is one event).
    pub events: VecDeque<Event>,
    pub start_index: u64,
    pub last_index: u64,
}

impl EventHistory {
    pub fn add(&mut self, e: Event) {
        if self.events.len() == HISTORY_CAPACITY {
            self.events.pop_front();
        }
        self.last_index = e.index();
        self.events.push_back(e);
        self.start_index = self.events.front().map_or(0, Event::index);
        debug_assert!(self.events.len() <= HISTORY_CAPACITY);
    }

    /// The first event at or after `index` that a watcher of `key` would
    /// see; `Ok(None)` when there is none yet; 401 when `index` is older
    /// than the history (the error's index is the caller's to set).
    pub fn scan(&self, key: &str, recursive: bool, index: u64) -> Result<Option<&Event>, V2Error> {
        if index < self.start_index {
            let cause = format!(
                "the requested history has been cleared [{}/{index}]",
                self.start_index
            );
            return Err(V2Error::new(ECODE_EVENT_INDEX_CLEARED, cause, 0));
        }
        if index > self.last_index {
            return Ok(None);
        }
        // A recursive watcher sees everything below `key/`.
        let dir_prefix = {
            let k = super::node::clean(key);
            if k.ends_with('/') {
                k
            } else {
                k + "/"
            }
        };
        let offset = (index - self.start_index) as usize;
        let found = self.events.iter().skip(offset).find(|e| {
            if e.refresh {
                return false;
            }
            let k = e.key();
            let mut ok = k == key || (recursive && k.starts_with(&dir_prefix));
            // Deleting or expiring a directory ends everything under it.
            if matches!(e.action, Action::Delete | Action::Expire) {
                if let Some(prev) = e.prev_node.as_ref().filter(|p| p.dir) {
                    ok = ok || key.starts_with(&prev.key);
                }
            }
            ok
        });
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(key: &str, index: u64) -> Event {
        Event::new(Action::Set, key, index, index)
    }

    #[test]
    fn keeps_the_last_thousand() {
        let mut h = EventHistory::default();
        for i in 1..=1036 {
            h.add(set("/1/loop", i));
        }
        assert_eq!((h.start_index, h.last_index), (37, 1036));
        // What etcd answered for waitIndex=5 after 1036 events.
        let err = h.scan("/1/loop", false, 5).unwrap_err();
        assert_eq!(err.cause, "the requested history has been cleared [37/5]");
        assert_eq!(err.code, ECODE_EVENT_INDEX_CLEARED);
        assert_eq!(h.scan("/1/loop", false, 40).unwrap().unwrap().index(), 40);
        assert!(h.scan("/1/loop", false, 1037).unwrap().is_none());
    }

    #[test]
    fn matches_key_prefix_and_deleted_dirs() {
        let mut h = EventHistory::default();
        h.add(set("/1/a/b", 1));
        h.add(set("/1/ab", 2));
        let mut del = Event::new(Action::Delete, "/1/a", 3, 1);
        let mut prev = super::super::event::NodeExtern::new("/1/a", 1, 1);
        prev.dir = true;
        del.prev_node = Some(prev);
        h.add(del);
        assert_eq!(h.scan("/1/a", true, 1).unwrap().unwrap().index(), 1);
        assert_eq!(h.scan("/1/a", false, 1).unwrap().unwrap().index(), 3);
        assert_eq!(h.scan("/1/a/b/c", false, 1).unwrap().unwrap().index(), 3);
        assert_eq!(h.scan("/1/ab", false, 1).unwrap().unwrap().index(), 2);
        let mut refresh = set("/1/r", 4);
        refresh.refresh = true;
        h.add(refresh);
        assert!(h.scan("/1/r", false, 1).unwrap().is_none());
    }
}
