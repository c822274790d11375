//! The v2 store as bytes, to ride in raft snapshots (etcd's `Save` and
//! `Recovery`, which use the store's JSON). Saved: the tree, the index, the
//! event history and the stats, as etcd saves them; not the watchers.
//!
//! Layout (little-endian): `OXV2`, format `u32` (1), the store version,
//! index, 15 counters, the root node, the history, then a CRC-32 of all that
//! came before. Strings are a `u32` length and UTF-8 bytes; options a `0`/`1`
//! byte before the value. A node is its path, created and modified index,
//! expire time, then `0` and its value, or `1`, a `u32` count and its
//! children in name order — so one store has one encoding.

use std::collections::{BTreeMap, BTreeSet};

use super::event::{Action, Event, NodeExtern};
use super::history::{EventHistory, HISTORY_CAPACITY};
use super::node::{split, Kind, Node};
use super::stats::Stats;
use super::store::Store;

const MAGIC: &[u8; 4] = b"OXV2";
const FORMAT: u32 = 1;

/// Why bytes are not a saved store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotError(pub String);

impl std::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v2 store snapshot: {}", self.0)
    }
}

impl std::error::Error for SnapshotError {}

impl Store {
    /// The store's state as bytes (etcd's `Save`).
    pub fn save(&self) -> Vec<u8> {
        let mut w = Vec::with_capacity(4096);
        w.extend_from_slice(MAGIC);
        put_u32(&mut w, FORMAT);
        put_u64(&mut w, self.version);
        put_u64(&mut w, self.current_index);
        for c in self.stats.counts() {
            put_u64(&mut w, *c);
        }
        put_node(&mut w, &self.root);
        let h = &self.hub.history;
        put_u64(&mut w, h.start_index);
        put_u64(&mut w, h.last_index);
        put_u32(&mut w, h.events.len() as u32);
        for e in &h.events {
            put_event(&mut w, e);
        }
        let crc = crc32fast::hash(&w);
        put_u32(&mut w, crc);
        w
    }

    /// Replaces the tree, index, history and stats with saved ones (etcd's
    /// `Recovery`). Watchers stay registered, as in etcd. On error the
    /// store is unchanged.
    pub fn recover(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let body_len = bytes.len().checked_sub(4).ok_or_else(|| err("too short"))?;
        let (body, crc) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err(err("checksum mismatch"));
        }
        let mut r = Reader { b: body };
        if r.take(4)? != MAGIC {
            return Err(err("not a v2 store snapshot"));
        }
        let format = r.u32()?;
        if format != FORMAT {
            return Err(err(&format!("unknown format {format}")));
        }
        let version = r.u64()?;
        let index = r.u64()?;
        let mut counts = [0u64; 15];
        for c in &mut counts {
            *c = r.u64()?;
        }
        let root = r.node()?;
        if root.path != "/" || !root.is_dir() {
            return Err(err("root is not the directory /"));
        }
        let mut history = EventHistory {
            start_index: r.u64()?,
            last_index: r.u64()?,
            ..Default::default()
        };
        let n = r.u32()? as usize;
        if n > HISTORY_CAPACITY {
            return Err(err("history longer than its capacity"));
        }
        for _ in 0..n {
            history.events.push_back(r.event()?);
        }
        if !r.b.is_empty() {
            return Err(err("trailing bytes"));
        }
        let mut ttl_keys = BTreeSet::new();
        root.visit_post_order(&mut |x| {
            if let Some(t) = x.expire_time {
                ttl_keys.insert((t, x.path.clone()));
            }
        });
        self.version = version;
        self.current_index = index;
        self.stats = Stats::from_counts(counts);
        self.root = root;
        self.hub.history = history;
        self.ttl_keys = ttl_keys;
        Ok(())
    }
}

fn err(s: &str) -> SnapshotError {
    SnapshotError(s.to_string())
}

fn put_u32(w: &mut Vec<u8>, v: u32) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_u64(w: &mut Vec<u8>, v: u64) {
    w.extend_from_slice(&v.to_le_bytes());
}

fn put_str(w: &mut Vec<u8>, s: &str) {
    put_u32(w, s.len() as u32);
    w.extend_from_slice(s.as_bytes());
}

fn put_opt_i64(w: &mut Vec<u8>, v: Option<i64>) {
    match v {
        None => w.push(0),
        Some(t) => {
            w.push(1);
            w.extend_from_slice(&t.to_le_bytes());
        }
    }
}

fn put_node(w: &mut Vec<u8>, n: &Node) {
    put_str(w, &n.path);
    put_u64(w, n.created_index);
    put_u64(w, n.modified_index);
    put_opt_i64(w, n.expire_time);
    match &n.kind {
        Kind::File(v) => {
            w.push(0);
            put_str(w, v);
        }
        Kind::Dir(children) => {
            w.push(1);
            put_u32(w, children.len() as u32);
            for c in children.values() {
                put_node(w, c);
            }
        }
    }
}

fn put_extern(w: &mut Vec<u8>, n: Option<&NodeExtern>) {
    let Some(n) = n else {
        w.push(0);
        return;
    };
    w.push(1);
    put_str(w, &n.key);
    match &n.value {
        None => w.push(0),
        Some(v) => {
            w.push(1);
            put_str(w, v);
        }
    }
    w.push(n.dir as u8);
    put_opt_i64(w, n.expiration);
    w.extend_from_slice(&n.ttl.to_le_bytes());
    put_u64(w, n.modified_index);
    put_u64(w, n.created_index);
    put_u32(w, n.nodes.len() as u32);
    for c in &n.nodes {
        put_extern(w, Some(c));
    }
}

fn put_event(w: &mut Vec<u8>, e: &Event) {
    w.push(e.action.code());
    put_extern(w, e.node.as_ref());
    put_extern(w, e.prev_node.as_ref());
    put_u64(w, e.etcd_index);
    w.push(e.refresh as u8);
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        if self.b.len() < n {
            return Err(err("truncated"));
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn bool(&mut self) -> Result<bool, SnapshotError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(err("bad flag")),
        }
    }

    fn u32(&mut self) -> Result<u32, SnapshotError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn i64(&mut self) -> Result<i64, SnapshotError> {
        Ok(self.u64()? as i64)
    }

    fn str(&mut self) -> Result<String, SnapshotError> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| err("string is not UTF-8"))
    }

    fn opt_i64(&mut self) -> Result<Option<i64>, SnapshotError> {
        Ok(if self.bool()? {
            Some(self.i64()?)
        } else {
            None
        })
    }

    fn node(&mut self) -> Result<Node, SnapshotError> {
        let path = self.str()?;
        let created_index = self.u64()?;
        let modified_index = self.u64()?;
        let expire_time = self.opt_i64()?;
        let kind = if self.bool()? {
            let n = self.u32()?;
            let mut children = BTreeMap::new();
            for _ in 0..n {
                let c = self.node()?;
                let (parent, name) = split(&c.path);
                if name.is_empty() || super::node::clean_abs(parent) != path {
                    return Err(err("child path is not under its directory"));
                }
                if children.insert(name.to_string(), c).is_some() {
                    return Err(err("duplicate child"));
                }
            }
            Kind::Dir(children)
        } else {
            Kind::File(self.str()?)
        };
        Ok(Node {
            path,
            created_index,
            modified_index,
            expire_time,
            kind,
        })
    }

    fn node_extern(&mut self) -> Result<Option<NodeExtern>, SnapshotError> {
        if !self.bool()? {
            return Ok(None);
        }
        let key = self.str()?;
        let value = if self.bool()? {
            Some(self.str()?)
        } else {
            None
        };
        let dir = self.bool()?;
        let expiration = self.opt_i64()?;
        let ttl = self.i64()?;
        let modified_index = self.u64()?;
        let created_index = self.u64()?;
        let n = self.u32()?;
        let mut nodes = Vec::new();
        for _ in 0..n {
            nodes.push(
                self.node_extern()?
                    .ok_or_else(|| err("missing listed node"))?,
            );
        }
        Ok(Some(NodeExtern {
            key,
            value,
            dir,
            expiration,
            ttl,
            nodes,
            modified_index,
            created_index,
        }))
    }

    fn event(&mut self) -> Result<Event, SnapshotError> {
        let action = Action::from_code(self.u8()?).ok_or_else(|| err("unknown action"))?;
        let node = self.node_extern()?;
        let prev_node = self.node_extern()?;
        let etcd_index = self.u64()?;
        let refresh = self.bool()?;
        Ok(Event {
            action,
            node,
            prev_node,
            etcd_index,
            refresh,
        })
    }
}
