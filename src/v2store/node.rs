//! The v2 store's tree (etcd's `node`): a directory holds children by name,
//! a file holds a value; either may expire.
//!
//! etcd's nodes point at their parent and at the store; here the tree owns
//! its children and the store walks to a node by its path. Children are kept
//! in name order, so listings come out sorted whether or not `sorted` was
//! asked (Go's map order is random; sorted is one of its orders).

use std::collections::BTreeMap;

use super::event::NodeExtern;
use super::json::NANOS_PER_SEC;

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File(String),
    Dir(BTreeMap<String, Node>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub path: String,
    pub created_index: u64,
    pub modified_index: u64,
    /// Unix nanoseconds; `None` is permanent (etcd's zero `time.Time`).
    pub expire_time: Option<i64>,
    pub kind: Kind,
}

/// Which half of a compare-and-swap/delete failed (etcd's `Compare…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compare {
    Match,
    IndexNotMatch,
    ValueNotMatch,
    NotMatch,
}

impl Node {
    pub fn file(path: &str, value: &str, created_index: u64, expire_time: Option<i64>) -> Node {
        Node {
            path: path.to_string(),
            created_index,
            modified_index: created_index,
            expire_time,
            kind: Kind::File(value.to_string()),
        }
    }

    pub fn dir(path: &str, created_index: u64, expire_time: Option<i64>) -> Node {
        Node {
            path: path.to_string(),
            created_index,
            modified_index: created_index,
            expire_time,
            kind: Kind::Dir(BTreeMap::new()),
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir(_))
    }

    /// A node whose name starts with `_` is left out of its directory's
    /// listing (it can still be read by its own path).
    pub fn is_hidden(&self) -> bool {
        let (_, name) = split(&self.path);
        name.starts_with('_')
    }

    /// The value of a file; `""` for a directory.
    pub fn value(&self) -> &str {
        match &self.kind {
            Kind::File(v) => v,
            Kind::Dir(_) => "",
        }
    }

    pub fn children(&self) -> Option<&BTreeMap<String, Node>> {
        match &self.kind {
            Kind::Dir(c) => Some(c),
            Kind::File(_) => None,
        }
    }

    pub fn children_mut(&mut self) -> Option<&mut BTreeMap<String, Node>> {
        match &mut self.kind {
            Kind::Dir(c) => Some(c),
            Kind::File(_) => None,
        }
    }

    /// etcd's `expirationAndTTL`: the TTL is `ceil((expire - now) / 1s)`,
    /// which is 1..n while the node lives, and 0 or negative (truncated
    /// toward zero) once it is past its time but not yet expired by a SYNC.
    pub fn expiration_and_ttl(&self, now: i64) -> (Option<i64>, i64) {
        match self.expire_time {
            None => (None, 0),
            Some(t) => {
                let left = t.saturating_sub(now);
                let mut ttl = left / NANOS_PER_SEC;
                if left % NANOS_PER_SEC > 0 {
                    ttl += 1;
                }
                (Some(t), ttl)
            }
        }
    }

    /// etcd's `Repr`: this node alone, or with its visible descendants.
    pub fn repr(&self, recursive: bool, now: i64) -> NodeExtern {
        let mut n = NodeExtern::new(&self.path, self.modified_index, self.created_index);
        (n.expiration, n.ttl) = self.expiration_and_ttl(now);
        match &self.kind {
            Kind::File(v) => n.value = Some(v.clone()),
            Kind::Dir(children) => {
                n.dir = true;
                if recursive {
                    n.nodes = visible(children).map(|c| c.repr(true, now)).collect();
                }
            }
        }
        n
    }

    /// etcd's `loadInternalNode`, what a get answers: a directory lists its
    /// visible children (recursively when asked), a file shows its value.
    pub fn load(&self, recursive: bool, now: i64) -> NodeExtern {
        let mut n = self.repr(false, now);
        if let Kind::Dir(children) = &self.kind {
            n.nodes = visible(children).map(|c| c.repr(recursive, now)).collect();
        }
        n
    }

    pub fn compare(&self, prev_value: &str, prev_index: u64) -> Compare {
        let index_match = prev_index == 0 || self.modified_index == prev_index;
        let value_match = prev_value.is_empty() || self.value() == prev_value;
        match (value_match, index_match) {
            (true, true) => Compare::Match,
            (false, true) => Compare::ValueNotMatch,
            (true, false) => Compare::IndexNotMatch,
            (false, false) => Compare::NotMatch,
        }
    }

    /// Visits this subtree children first, then the node itself, as etcd's
    /// `Remove` calls its callback.
    pub fn visit_post_order(&self, f: &mut impl FnMut(&Node)) {
        if let Kind::Dir(children) = &self.kind {
            for c in children.values() {
                c.visit_post_order(f);
            }
        }
        f(self)
    }
}

fn visible(children: &BTreeMap<String, Node>) -> impl Iterator<Item = &Node> {
    children.values().filter(|c| !c.is_hidden())
}

/// Go's `path.Clean`: the shortest equivalent path (no `.`, `..`, `//`, no
/// trailing slash except for `/`).
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `path.Clean(path.Join("/", p))`: how the store names every key.
pub fn clean_abs(p: &str) -> String {
    clean(&format!("/{p}"))
}

/// Go's `path.Split`: everything up to and including the last `/`, and the rest.
pub fn split(p: &str) -> (&str, &str) {
    match p.rfind('/') {
        Some(i) => (&p[..=i], &p[i + 1..]),
        None => ("", p),
    }
}

/// Go's `path.Join` of two elements.
pub fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(b),
        (false, true) => clean(a),
        (false, false) => clean(&format!("{a}/{b}")),
    }
}

/// The names etcd's `walk` visits in `p`: the components after the leading
/// `/`, up to the first empty one (`"/a/b/"` is `a`, `b`).
pub fn components(p: &str) -> impl Iterator<Item = &str> {
    p.split('/').skip(1).take_while(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_as_go() {
        for (p, want) in [
            ("", "."),
            ("/", "/"),
            ("/a/../b", "/b"),
            ("//a//b/", "/a/b"),
            ("/..", "/"),
            ("a/../..", ".."),
            ("/1/./x/", "/1/x"),
        ] {
            assert_eq!(clean(p), want, "{p:?}");
        }
        assert_eq!(clean_abs(""), "/");
        assert_eq!(clean_abs("foo"), "/foo");
        assert_eq!(split("/a/b"), ("/a/", "b"));
        assert_eq!(split("/"), ("/", ""));
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/1", "/x/"), "/1/x");
        assert_eq!(components("/a/b/").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(components("/").count(), 0);
    }

    #[test]
    fn ttl_rounds_up_while_alive_and_truncates_after() {
        let s = NANOS_PER_SEC;
        let n = Node::file("/k", "v", 1, Some(10 * s));
        assert_eq!(n.expiration_and_ttl(5 * s), (Some(10 * s), 5));
        assert_eq!(n.expiration_and_ttl(5 * s + 1), (Some(10 * s), 5));
        assert_eq!(n.expiration_and_ttl(10 * s - 1), (Some(10 * s), 1));
        assert_eq!(n.expiration_and_ttl(10 * s), (Some(10 * s), 0));
        assert_eq!(n.expiration_and_ttl(11 * s + s / 2), (Some(10 * s), -1));
        assert_eq!(
            Node::file("/k", "v", 1, None).expiration_and_ttl(0),
            (None, 0)
        );
    }
}
