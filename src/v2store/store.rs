//! etcd's v2 `store`: the tree, its index, the TTL keys, the watcher hub and
//! the stats, changed only by the calls below (applied in raft order on
//! every member, so every member's store is the same).
//!
//! Every change takes the index one up and makes exactly one event, which
//! goes into the history (and to the watchers) — so the history's events
//! have consecutive indexes. Times are unix nanoseconds: `expire_time` is
//! when a node expires, `now` is only used to show TTLs in the answers.
//!
//! Stats are counted where etcd counts them, including its quirks: some
//! refusals count as successes (etcd returns them without setting the
//! variable its deferred counter looks at): `compare_and_swap` and `delete`
//! of a read-only path, `update` of a directory with a value, and
//! `compare_and_delete` of a directory or with a failed comparison; a
//! `create` with a file in its path counts a `setsFail` too.

use std::collections::BTreeSet;

use super::error::*;
use super::event::{Action, Event};
use super::node::{clean_abs, components, join, split, Compare, Node};
use super::stats::{Counter, Stats};
use super::watcher_hub::{WatchPoll, WatchStart, WatcherHub, WatcherId};

/// etcd's `defaultVersion` of the store.
pub const STORE_VERSION: u64 = 2;

/// An expiration before 2000-01-01T00:00:00Z is taken as none by `create`
/// and `set` (etcd's `minExpireTime`: a zero time that went through JSON).
pub const MIN_EXPIRE_TIME: i64 = 946_684_800 * super::json::NANOS_PER_SEC;

/// When a node expires, and whether the write only refreshes its TTL (keeps
/// its value and tells no watcher).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TtlOptions {
    /// Unix nanoseconds; `None` is permanent.
    pub expire_time: Option<i64>,
    pub refresh: bool,
}

/// The v2 store. See the module doc.
#[derive(Debug)]
pub struct Store {
    pub(crate) root: Node,
    pub(crate) hub: WatcherHub,
    pub(crate) current_index: u64,
    pub(crate) stats: Stats,
    pub(crate) version: u64,
    /// (expire time, path) of every node with a TTL, soonest first (etcd's
    /// `ttlKeyHeap`; ties go by path, where etcd's heap order is arbitrary).
    pub(crate) ttl_keys: BTreeSet<(i64, String)>,
    /// Paths no write may touch: `/` and the namespaces.
    readonly: BTreeSet<String>,
}

impl Clone for Store {
    /// etcd's `Clone`: the tree, index, history and stats — not the
    /// watchers (a clone has none). What a snapshot or a consistent read
    /// is taken from.
    fn clone(&self) -> Store {
        Store {
            root: self.root.clone(),
            hub: self.hub.clone_history(),
            current_index: self.current_index,
            stats: self.stats.clone(),
            version: self.version,
            ttl_keys: self.ttl_keys.clone(),
            readonly: self.readonly.clone(),
        }
    }
}

impl Store {
    /// A store with `namespaces` (such as `/0` and `/1`) as permanent,
    /// read-only directories made at index 0.
    pub fn new(namespaces: &[&str]) -> Store {
        let mut root = Node::dir("/", 0, None);
        let children = root.children_mut().expect("root is a directory");
        for ns in namespaces {
            let (_, name) = split(ns);
            assert!(
                !name.is_empty() && ns.starts_with('/'),
                "namespace {ns:?} must be /name"
            );
            children.insert(name.to_string(), Node::dir(ns, 0, None));
        }
        let mut readonly: BTreeSet<String> = namespaces.iter().map(|s| s.to_string()).collect();
        readonly.insert("/".to_string());
        Store {
            root,
            hub: WatcherHub::default(),
            current_index: 0,
            stats: Stats::default(),
            version: STORE_VERSION,
            ttl_keys: BTreeSet::new(),
            readonly,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// The index of the last change.
    pub fn index(&self) -> u64 {
        self.current_index
    }

    pub fn has_ttl_keys(&self) -> bool {
        !self.ttl_keys.is_empty()
    }

    /// The `/v2/stats/store` body.
    pub fn json_stats(&self) -> String {
        self.stats.to_json(self.hub.count())
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Reads `node_path`, listing a directory's visible children (all the
    /// way down when `recursive`). Children are always in key order, so
    /// `sorted` changes nothing (etcd's unsorted order is random).
    pub fn get(
        &mut self,
        node_path: &str,
        recursive: bool,
        _sorted: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        let n = match self.internal_get(node_path) {
            Ok(n) => n,
            Err(e) => {
                self.stats.inc(Counter::GetFail);
                return Err(e);
            }
        };
        let mut e = Event::new(Action::Get, node_path, n.modified_index, n.created_index);
        let mut shown = n.load(recursive, now);
        shown.key = node_path.to_string();
        e.node = Some(shown);
        e.etcd_index = self.current_index;
        self.stats.inc(Counter::GetSuccess);
        Ok(e)
    }

    /// Makes `node_path` (and the directories above it); fails if it
    /// exists. `unique` appends the new index, zero-padded to 20 digits, as
    /// the name of a new child of `node_path` (POST, in-order keys).
    pub fn create(
        &mut self,
        node_path: &str,
        dir: bool,
        value: &str,
        unique: bool,
        opts: TtlOptions,
        now: i64,
    ) -> Result<Event, V2Error> {
        let r = self.internal_create(
            node_path,
            dir,
            value,
            unique,
            false,
            opts.expire_time,
            Action::Create,
            now,
        );
        match r {
            Ok(mut e) => {
                e.etcd_index = self.current_index;
                self.hub.notify(e.clone());
                self.stats.inc(Counter::CreateSuccess);
                Ok(e)
            }
            Err(e) => {
                self.stats.inc(Counter::CreateFail);
                Err(e)
            }
        }
    }

    /// Makes or replaces `node_path` (a directory cannot be replaced). With
    /// `refresh`, the node must exist and keeps its value; the event goes
    /// to the history only.
    pub fn set(
        &mut self,
        node_path: &str,
        dir: bool,
        value: &str,
        opts: TtlOptions,
        now: i64,
    ) -> Result<Event, V2Error> {
        let r = self.set_inner(node_path, dir, value, opts, now);
        self.stats.inc(if r.is_ok() {
            Counter::SetSuccess
        } else {
            Counter::SetFail
        });
        r
    }

    fn set_inner(
        &mut self,
        node_path: &str,
        dir: bool,
        value: &str,
        opts: TtlOptions,
        now: i64,
    ) -> Result<Event, V2Error> {
        let prev = match self.internal_get(node_path) {
            Ok(n) => {
                // What a get of the old node would answer, keyed as asked.
                let mut p = n.load(false, now);
                p.key = node_path.to_string();
                Some((p, n.value().to_string()))
            }
            Err(e) if e.code == ECODE_KEY_NOT_FOUND && !opts.refresh => None,
            Err(e) => return Err(e),
        };
        let value = match (&prev, opts.refresh) {
            (Some((_, old)), true) => old.clone(),
            _ => value.to_string(),
        };
        let mut e = self.internal_create(
            node_path,
            dir,
            &value,
            false,
            true,
            opts.expire_time,
            Action::Set,
            now,
        )?;
        e.etcd_index = self.current_index;
        e.prev_node = prev.map(|(p, _)| p);
        self.publish(&mut e, opts.refresh);
        Ok(e)
    }

    /// Changes the value and TTL of an existing node (of a directory, only
    /// the TTL; its modified index stays, as etcd's).
    pub fn update(
        &mut self,
        node_path: &str,
        new_value: &str,
        opts: TtlOptions,
        now: i64,
    ) -> Result<Event, V2Error> {
        let p = clean_abs(node_path);
        self.refuse_read_only(&p, Counter::UpdateSuccess)?;
        let n = match self.internal_get(&p) {
            Ok(n) => n,
            Err(e) => {
                self.stats.inc(Counter::UpdateFail);
                return Err(e);
            }
        };
        if n.is_dir() && !new_value.is_empty() {
            self.stats.inc(Counter::UpdateSuccess);
            return Err(V2Error::new(ECODE_NOT_FILE, p, self.current_index));
        }
        let next = self.current_index + 1;
        let new_value = if opts.refresh {
            n.value().to_string()
        } else {
            new_value.to_string()
        };
        let mut e = Event::new(Action::Update, &p, next, n.created_index);
        e.etcd_index = next;
        e.prev_node = Some(n.repr(false, now));
        let n = self.write(&p, &new_value, next, opts.expire_time);
        let shown = e.node.as_mut().expect("new events have a node");
        if n.is_dir() {
            shown.dir = true;
        } else {
            shown.value = Some(new_value);
        }
        (shown.expiration, shown.ttl) = n.expiration_and_ttl(now);
        self.publish(&mut e, opts.refresh);
        self.current_index = next;
        self.stats.inc(Counter::UpdateSuccess);
        Ok(e)
    }

    /// Replaces a file's value if it still has `prev_value` and/or
    /// `prev_index` (an empty/zero one is not compared).
    pub fn compare_and_swap(
        &mut self,
        node_path: &str,
        prev_value: &str,
        prev_index: u64,
        value: &str,
        opts: TtlOptions,
        now: i64,
    ) -> Result<Event, V2Error> {
        let p = clean_abs(node_path);
        self.refuse_read_only(&p, Counter::CompareAndSwapSuccess)?;
        let n = match self.compared_file(&p, prev_value, prev_index) {
            Ok(n) => n,
            Err(e) => {
                self.stats.inc(Counter::CompareAndSwapFail);
                return Err(e);
            }
        };
        let value = if opts.refresh {
            n.value().to_string()
        } else {
            value.to_string()
        };
        let index = self.current_index + 1;
        let mut e = Event::new(Action::CompareAndSwap, &p, index, n.created_index);
        e.etcd_index = index;
        e.prev_node = Some(n.repr(false, now));
        self.current_index = index;
        let n = self.write(&p, &value, index, opts.expire_time);
        let shown = e.node.as_mut().expect("new events have a node");
        (shown.expiration, shown.ttl) = n.expiration_and_ttl(now);
        shown.value = Some(value);
        self.publish(&mut e, opts.refresh);
        self.stats.inc(Counter::CompareAndSwapSuccess);
        Ok(e)
    }

    /// Deletes a file, or a directory when `dir` (empty) or `recursive`
    /// (with everything in it).
    pub fn delete(
        &mut self,
        node_path: &str,
        dir: bool,
        recursive: bool,
        now: i64,
    ) -> Result<Event, V2Error> {
        let p = clean_abs(node_path);
        self.refuse_read_only(&p, Counter::DeleteSuccess)?;
        let dir = dir || recursive;
        let checked = self.internal_get(&p).and_then(|n| {
            let next = self.current_index + 1;
            let mut e = Event::new(Action::Delete, &p, next, n.created_index);
            e.etcd_index = next;
            e.prev_node = Some(n.repr(false, now));
            if let Some(children) = n.children() {
                e.node.as_mut().expect("new events have a node").dir = true;
                if !dir {
                    return Err(V2Error::new(ECODE_NOT_FILE, &n.path, self.current_index));
                }
                if !children.is_empty() && !recursive {
                    return Err(V2Error::new(
                        ECODE_DIR_NOT_EMPTY,
                        &n.path,
                        self.current_index,
                    ));
                }
            }
            Ok(e)
        });
        let e = match checked {
            Ok(e) => e,
            Err(e) => {
                self.stats.inc(Counter::DeleteFail);
                return Err(e);
            }
        };
        self.remove(&p, &e);
        self.current_index += 1;
        self.hub.notify(e.clone());
        self.stats.inc(Counter::DeleteSuccess);
        Ok(e)
    }

    /// Deletes a file if it still has `prev_value` and/or `prev_index`.
    pub fn compare_and_delete(
        &mut self,
        node_path: &str,
        prev_value: &str,
        prev_index: u64,
        now: i64,
    ) -> Result<Event, V2Error> {
        let p = clean_abs(node_path);
        let n = match self.compared_file(&p, prev_value, prev_index) {
            Ok(n) => n,
            Err(e) => {
                // Only a missing node counts as a failure in etcd.
                let c = match e.code {
                    ECODE_NOT_FILE | ECODE_TEST_FAILED => Counter::CompareAndDeleteSuccess,
                    _ => Counter::CompareAndDeleteFail,
                };
                self.stats.inc(c);
                return Err(e);
            }
        };
        let index = self.current_index + 1;
        let mut e = Event::new(Action::CompareAndDelete, &p, index, n.created_index);
        e.etcd_index = index;
        e.prev_node = Some(n.repr(false, now));
        self.current_index = index;
        self.remove(&p, &e);
        self.hub.notify(e.clone());
        self.stats.inc(Counter::CompareAndDeleteSuccess);
        Ok(e)
    }

    /// Expires every node whose time is at or before `cutoff`, soonest
    /// first, each with an `expire` event (a SYNC request).
    pub fn delete_expired_keys(&mut self, cutoff: i64, now: i64) -> Vec<Event> {
        let mut expired = Vec::new();
        while let Some((t, path)) = self.ttl_keys.first().cloned() {
            if t > cutoff {
                break;
            }
            let n = self.internal_get(&path).expect("a TTL key is in the tree");
            let index = self.current_index + 1;
            let mut e = Event::new(Action::Expire, &path, index, n.created_index);
            e.etcd_index = index;
            e.prev_node = Some(n.repr(false, now));
            e.node.as_mut().expect("new events have a node").dir = n.is_dir();
            self.current_index = index;
            self.remove(&path, &e);
            self.stats.inc(Counter::ExpireCount);
            self.hub.notify(e.clone());
            expired.push(e);
        }
        expired
    }

    /// Watches `key` (and below it when `recursive`) from `since_index`
    /// (0: the next change). The event may already be in the watcher's
    /// mailbox, from the history.
    pub fn watch(
        &mut self,
        key: &str,
        recursive: bool,
        stream: bool,
        since_index: u64,
    ) -> Result<WatchStart, V2Error> {
        let key = clean_abs(key);
        let since = if since_index == 0 {
            self.current_index + 1
        } else {
            since_index
        };
        self.hub
            .watch(&key, recursive, stream, since, self.current_index)
    }

    /// The watchers with something new in their mailbox since the last call.
    pub fn take_ready_watchers(&mut self) -> Vec<WatcherId> {
        self.hub.take_ready()
    }

    /// Drains a watcher's mailbox.
    pub fn poll_watcher(&mut self, id: WatcherId) -> WatchPoll {
        self.hub.poll(id)
    }

    /// Forgets a watcher whose client went away.
    pub fn remove_watcher(&mut self, id: WatcherId) {
        self.hub.remove(id)
    }

    /// 107 for a read-only path, counted as `counter` (a success, as etcd
    /// counts it).
    fn refuse_read_only(&mut self, p: &str, counter: Counter) -> Result<(), V2Error> {
        if !self.readonly.contains(p) {
            return Ok(());
        }
        self.stats.inc(counter);
        Err(V2Error::new(ECODE_ROOT_RONLY, "/", self.current_index))
    }

    /// etcd's `internalGet`: the node at `node_path`.
    fn internal_get(&self, node_path: &str) -> Result<&Node, V2Error> {
        let p = clean_abs(node_path);
        let mut curr = &self.root;
        for name in components(&p) {
            let Some(children) = curr.children() else {
                return Err(V2Error::new(ECODE_NOT_DIR, &curr.path, self.current_index));
            };
            match children.get(name) {
                Some(c) => curr = c,
                None => {
                    return Err(V2Error::new(
                        ECODE_KEY_NOT_FOUND,
                        join(&curr.path, name),
                        self.current_index,
                    ))
                }
            }
        }
        Ok(curr)
    }

    /// The file at clean path `p` if it passes the comparison.
    fn compared_file(&self, p: &str, prev_value: &str, prev_index: u64) -> Result<&Node, V2Error> {
        let n = self.internal_get(p)?;
        if n.is_dir() {
            return Err(V2Error::new(ECODE_NOT_FILE, p, self.current_index));
        }
        let cause = match n.compare(prev_value, prev_index) {
            Compare::Match => return Ok(n),
            Compare::IndexNotMatch => format!("[{prev_index} != {}]", n.modified_index),
            Compare::ValueNotMatch => format!("[{prev_value} != {}]", n.value()),
            Compare::NotMatch => {
                format!(
                    "[{prev_value} != {}] [{prev_index} != {}]",
                    n.value(),
                    n.modified_index
                )
            }
        };
        Err(V2Error::new(ECODE_TEST_FAILED, cause, self.current_index))
    }

    /// The node at clean path `p`, which exists.
    fn node_mut(&mut self, p: &str) -> &mut Node {
        let mut curr = &mut self.root;
        for name in components(p) {
            curr = curr
                .children_mut()
                .and_then(|c| c.get_mut(name))
                .expect("the node exists");
        }
        curr
    }

    /// etcd's `Write` then `UpdateTTL` on the existing node at `p`: a file
    /// takes the value and index, a directory neither.
    fn write(&mut self, p: &str, value: &str, index: u64, expire_time: Option<i64>) -> &Node {
        let n = self.node_mut(p);
        if let super::node::Kind::File(v) = &mut n.kind {
            *v = value.to_string();
            n.modified_index = index;
        }
        let old = std::mem::replace(&mut n.expire_time, expire_time);
        if let Some(t) = old {
            self.ttl_keys.remove(&(t, p.to_string()));
        }
        if let Some(t) = expire_time {
            self.ttl_keys.insert((t, p.to_string()));
        }
        self.node_mut(p)
    }

    /// Takes the node at clean path `p` out of the tree with everything in
    /// it, telling each removed path's watchers (children first) about `e`.
    fn remove(&mut self, p: &str, e: &Event) {
        let (dir_name, name) = split(p);
        let parent = self.node_mut(&clean_abs(dir_name));
        let n = parent
            .children_mut()
            .and_then(|c| c.remove(name))
            .expect("the node exists");
        n.visit_post_order(&mut |x| {
            if let Some(t) = x.expire_time {
                self.ttl_keys.remove(&(t, x.path.clone()));
            }
            self.hub.notify_watchers(e, &x.path, true);
        });
    }

    /// Tells the watchers about `e`, or, for a refresh, only records it.
    fn publish(&mut self, e: &mut Event, refresh: bool) {
        if refresh {
            e.refresh = true;
            self.hub.add(e.clone());
        } else {
            self.hub.notify(e.clone());
        }
    }

    /// etcd's `internalCreate`, shared by create and set.
    #[allow(clippy::too_many_arguments)]
    fn internal_create(
        &mut self,
        node_path: &str,
        dir: bool,
        value: &str,
        unique: bool,
        replace: bool,
        expire_time: Option<i64>,
        action: Action,
        now: i64,
    ) -> Result<Event, V2Error> {
        let curr_index = self.current_index;
        let next = curr_index + 1;
        let p = if unique {
            clean_abs(&format!("{node_path}/{next:020}"))
        } else {
            clean_abs(node_path)
        };
        if self.readonly.contains(&p) {
            return Err(V2Error::new(ECODE_ROOT_RONLY, "/", curr_index));
        }
        let expire_time = expire_time.filter(|t| *t >= MIN_EXPIRE_TIME);
        let (dir_name, name) = split(&p);
        let d = match walk_creating_dirs(&mut self.root, dir_name, next) {
            Ok(d) => d,
            Err(path) => {
                self.stats.inc(Counter::SetFail);
                return Err(V2Error::new(ECODE_NOT_DIR, path, curr_index));
            }
        };
        let children = d.children_mut().expect("walk ends at a directory");
        let mut e = Event::new(action, &p, next, next);
        if let Some(old) = children.get(name) {
            if !replace {
                return Err(V2Error::new(ECODE_NODE_EXIST, &p, curr_index));
            }
            if old.is_dir() {
                return Err(V2Error::new(ECODE_NOT_FILE, &p, curr_index));
            }
            e.prev_node = Some(old.repr(false, now));
            if let Some(t) = old.expire_time {
                self.ttl_keys.remove(&(t, p.clone()));
            }
        }
        let n = if dir {
            Node::dir(&p, next, expire_time)
        } else {
            Node::file(&p, value, next, expire_time)
        };
        let shown = e.node.as_mut().expect("new events have a node");
        if dir {
            shown.dir = true;
        } else {
            shown.value = Some(value.to_string());
        }
        if let Some(t) = expire_time {
            self.ttl_keys.insert((t, p.clone()));
            (shown.expiration, shown.ttl) = n.expiration_and_ttl(now);
        }
        children.insert(name.to_string(), n);
        self.current_index = next;
        Ok(e)
    }
}

/// etcd's `walk` with `checkDir`: descends `dir_path` from `root`, making
/// the missing directories (at `new_index`); `Err` names a file in the way.
fn walk_creating_dirs<'a>(
    root: &'a mut Node,
    dir_path: &str,
    new_index: u64,
) -> Result<&'a mut Node, String> {
    let mut curr = root;
    for name in components(dir_path) {
        let parent_path = curr.path.clone();
        let children = curr
            .children_mut()
            .expect("only directories are descended into");
        let child = children
            .entry(name.to_string())
            .or_insert_with(|| Node::dir(&join(&parent_path, name), new_index, None));
        if !child.is_dir() {
            return Err(child.path.clone());
        }
        curr = child;
    }
    Ok(curr)
}
