//! etcd's `watcherHub`, without channels: each watcher has a bounded mailbox
//! in the hub, and the store's caller drains the mailboxes of the watchers
//! [`WatcherHub::take_ready`] names after each change.
//!
//! A watcher waits on one key (and, when recursive, everything below it)
//! for the first event at or after its `since` index. A plain watcher is
//! done after one event; a stream watcher stays until its caller removes it
//! — or until its mailbox of [`WATCHER_QUEUE_CAPACITY`] events is full when
//! another one comes, when the hub drops it as etcd drops a watcher whose
//! channel is full (etcd then stops sending to it; here its mailbox reports
//! it finished, so the caller ends the response instead of hanging).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::event::Event;
use super::history::EventHistory;
use super::node::{clean, join};

/// etcd's watcher channel size.
pub const WATCHER_QUEUE_CAPACITY: usize = 100;

/// A watcher's handle, unique for the store's lifetime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WatcherId(pub u64);

/// What a watch request starts: its handle, and the store's index when it
/// began (etcd's `StartIndex`, the watch response's `X-Etcd-Index`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchStart {
    pub id: WatcherId,
    pub start_index: u64,
}

/// A drained mailbox.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchPoll {
    pub events: Vec<Event>,
    /// The watcher will get nothing more: it fired (not a stream), or was
    /// dropped, or removed. The hub has forgotten it.
    pub finished: bool,
}

#[derive(Debug)]
struct Watcher {
    recursive: bool,
    stream: bool,
    since_index: u64,
    /// Registered under its key: may still be notified.
    in_hub: bool,
    queue: VecDeque<Event>,
}

#[derive(Debug, Default)]
pub(crate) struct WatcherHub {
    /// Watchers by the key they watch, in the order they came.
    by_key: BTreeMap<String, Vec<WatcherId>>,
    watchers: BTreeMap<WatcherId, Watcher>,
    /// Watchers with something new for their caller.
    ready: BTreeSet<WatcherId>,
    next_id: u64,
    /// Registered watchers (etcd's `count`, the stats' `watchers`).
    count: u64,
    pub history: EventHistory,
}

impl WatcherHub {
    /// etcd's `watch`: answers from the history at once when it holds an
    /// event at or after `since_index`, else registers the watcher.
    pub fn watch(
        &mut self,
        key: &str,
        recursive: bool,
        stream: bool,
        since_index: u64,
        store_index: u64,
    ) -> Result<WatchStart, super::V2Error> {
        let found = self
            .history
            .scan(key, recursive, since_index)
            .map_err(|mut e| {
                e.index = store_index;
                e
            })?;
        let id = WatcherId(self.next_id);
        self.next_id += 1;
        let mut w = Watcher {
            recursive,
            stream,
            since_index,
            in_hub: false,
            queue: VecDeque::new(),
        };
        if let Some(e) = found {
            let mut e = e.clone();
            e.etcd_index = store_index;
            w.queue.push_back(e);
            self.ready.insert(id);
        } else {
            w.in_hub = true;
            self.by_key.entry(key.to_string()).or_default().push(id);
            self.count += 1;
        }
        self.watchers.insert(id, w);
        Ok(WatchStart {
            id,
            start_index: store_index,
        })
    }

    /// Records an event in the history without telling anyone (a refresh).
    pub fn add(&mut self, e: Event) {
        self.history.add(e)
    }

    /// Records `e` and notifies the watchers of its key and of every
    /// directory above it.
    pub fn notify(&mut self, e: Event) {
        let key = e.key().to_string();
        self.history.add(e);
        let e = self.history.events.back().expect("just added").clone();
        let mut curr = "/".to_string();
        for segment in key.split('/') {
            curr = join(&curr, segment);
            self.notify_watchers(&e, &curr, false);
        }
    }

    /// Notifies the watchers of `path` of `e` (etcd's `notifyWatchers`);
    /// `deleted` when `path` itself went away with a directory above it.
    pub fn notify_watchers(&mut self, e: &Event, path: &str, deleted: bool) {
        let Some(ids) = self.by_key.get(path) else {
            return;
        };
        let original_path = e.key() == path;
        if !original_path && is_hidden(path, e.key()) {
            return;
        }
        let mut keep = Vec::with_capacity(ids.len());
        for &id in ids {
            let w = self.watchers.get_mut(&id).expect("a listed watcher exists");
            debug_assert!(w.in_hub);
            let interested =
                (w.recursive || original_path || deleted) && e.index() >= w.since_index;
            if !interested {
                keep.push(id);
                continue;
            }
            self.ready.insert(id);
            if w.queue.len() >= WATCHER_QUEUE_CAPACITY {
                // Its caller is too slow: drop it rather than hold the store.
                w.in_hub = false;
                self.count -= 1;
                continue;
            }
            w.queue.push_back(e.clone());
            if w.stream {
                keep.push(id);
            } else {
                w.in_hub = false;
                self.count -= 1;
            }
        }
        if keep.is_empty() {
            self.by_key.remove(path);
        } else {
            self.by_key.insert(path.to_string(), keep);
        }
    }

    /// The watchers with new events (or newly finished) since the last call.
    pub fn take_ready(&mut self) -> Vec<WatcherId> {
        std::mem::take(&mut self.ready).into_iter().collect()
    }

    /// Drains `id`'s mailbox; an unknown id is a finished watcher.
    pub fn poll(&mut self, id: WatcherId) -> WatchPoll {
        let Some(w) = self.watchers.get_mut(&id) else {
            return WatchPoll {
                events: Vec::new(),
                finished: true,
            };
        };
        let events: Vec<Event> = w.queue.drain(..).collect();
        let finished = !w.in_hub;
        if finished {
            self.watchers.remove(&id);
        }
        WatchPoll { events, finished }
    }

    /// Forgets `id` (etcd's `Watcher.Remove`: the client went away).
    pub fn remove(&mut self, id: WatcherId) {
        let Some(w) = self.watchers.remove(&id) else {
            return;
        };
        self.ready.remove(&id);
        if !w.in_hub {
            return;
        }
        self.count -= 1;
        self.by_key.retain(|_, ids| {
            ids.retain(|x| *x != id);
            !ids.is_empty()
        });
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// The history alone (etcd's `clone`: watchers are not copied).
    pub fn clone_history(&self) -> WatcherHub {
        WatcherHub {
            history: self.history.clone(),
            ..Default::default()
        }
    }
}

/// Whether `key_path` is hidden from a watcher of `watch_path`: a component
/// below the watched path starts with `_`.
fn is_hidden(watch_path: &str, key_path: &str) -> bool {
    // A directory's deletion reaches watchers deeper than its key.
    if watch_path.len() > key_path.len() {
        return false;
    }
    let after = clean(&format!(
        "/{}",
        key_path.get(watch_path.len()..).unwrap_or("")
    ));
    after.contains("/_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v2store::event::Action;

    fn set(key: &str, index: u64) -> Event {
        Event::new(Action::Set, key, index, index)
    }

    #[test]
    fn hidden_as_etcd() {
        assert!(is_hidden("/w", "/w/_h"));
        assert!(!is_hidden("/w/_h", "/w/_h"));
        assert!(is_hidden("/", "/_a/b"));
        assert!(!is_hidden("/a/b/c", "/a"));
    }

    #[test]
    fn a_plain_watcher_fires_once_a_stream_stays() {
        let mut hub = WatcherHub::default();
        let plain = hub.watch("/w", true, false, 1, 0).unwrap();
        let stream = hub.watch("/w", true, true, 1, 0).unwrap();
        let hidden = hub.watch("/w/_h", false, false, 1, 0).unwrap();
        assert_eq!(hub.count(), 3);
        hub.notify(set("/w/_h", 1));
        assert_eq!(hub.take_ready(), vec![hidden.id]);
        hub.notify(set("/w/x", 2));
        assert_eq!(hub.take_ready(), vec![plain.id, stream.id]);
        assert_eq!(hub.count(), 1);
        let p = hub.poll(plain.id);
        assert_eq!((p.events.len(), p.finished), (1, true));
        let p = hub.poll(stream.id);
        assert_eq!((p.events[0].index(), p.finished), (2, false));
        hub.remove(stream.id);
        assert_eq!(hub.count(), 0);
        assert!(hub.poll(stream.id).finished);
    }

    #[test]
    fn a_full_stream_watcher_is_dropped() {
        let mut hub = WatcherHub::default();
        let w = hub.watch("/k", false, true, 1, 0).unwrap();
        for i in 1..=WATCHER_QUEUE_CAPACITY as u64 + 1 {
            hub.notify(set("/k", i));
        }
        assert_eq!(hub.count(), 0);
        let p = hub.poll(w.id);
        assert_eq!(p.events.len(), WATCHER_QUEUE_CAPACITY);
        assert!(p.finished);
    }
}
