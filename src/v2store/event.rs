//! What the v2 store answers: an [`Event`] (etcd's `Event`) carrying
//! [`NodeExtern`]s, the external view of nodes, and its JSON.

use super::json;

/// The action of an event; its JSON name is etcd's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Get,
    Create,
    Set,
    Update,
    Delete,
    CompareAndSwap,
    CompareAndDelete,
    Expire,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::Create => "create",
            Action::Set => "set",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::CompareAndSwap => "compareAndSwap",
            Action::CompareAndDelete => "compareAndDelete",
            Action::Expire => "expire",
        }
    }

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(c: u8) -> Option<Action> {
        const ALL: [Action; 8] = [
            Action::Get,
            Action::Create,
            Action::Set,
            Action::Update,
            Action::Delete,
            Action::CompareAndSwap,
            Action::CompareAndDelete,
            Action::Expire,
        ];
        ALL.get(c as usize).copied()
    }
}

/// A node as answers show it (etcd's `NodeExtern`). Every field is omitted
/// from the JSON when empty, as etcd's `omitempty`, except that `value` is
/// shown whenever it is `Some`, even `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeExtern {
    pub key: String,
    pub value: Option<String>,
    pub dir: bool,
    /// Unix nanoseconds.
    pub expiration: Option<i64>,
    /// Seconds left, rounded up, as of the answer's `now`.
    pub ttl: i64,
    pub nodes: Vec<NodeExtern>,
    pub modified_index: u64,
    pub created_index: u64,
}

impl NodeExtern {
    pub(crate) fn new(key: &str, modified_index: u64, created_index: u64) -> Self {
        NodeExtern {
            key: key.to_string(),
            modified_index,
            created_index,
            ..Default::default()
        }
    }

    /// Removes `prefix` from this key and every listed key (etcd's
    /// `trimNodeExternPrefix`: the HTTP API hides the `/1` namespace).
    pub fn trim_prefix(&mut self, prefix: &str) {
        if let Some(rest) = self.key.strip_prefix(prefix) {
            self.key = rest.to_string();
        }
        for n in &mut self.nodes {
            n.trim_prefix(prefix);
        }
    }

    /// Go's `json.Marshal` of the node (what etcdctl's `migrate` hands
    /// its transformer).
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.push_json(&mut out);
        out
    }

    fn push_json(&self, out: &mut String) {
        out.push('{');
        let mut first = true;
        let mut field = |out: &mut String, key: &str| {
            if !first {
                out.push(',');
            }
            first = false;
            json::push_key(out, key);
        };
        if !self.key.is_empty() {
            field(out, "key");
            json::push_str(out, &self.key);
        }
        if let Some(v) = &self.value {
            field(out, "value");
            json::push_str(out, v);
        }
        if self.dir {
            field(out, "dir");
            out.push_str("true");
        }
        if let Some(t) = self.expiration {
            field(out, "expiration");
            out.push('"');
            out.push_str(&json::rfc3339_nano(t));
            out.push('"');
        }
        if self.ttl != 0 {
            field(out, "ttl");
            out.push_str(&self.ttl.to_string());
        }
        if !self.nodes.is_empty() {
            field(out, "nodes");
            out.push('[');
            for (i, n) in self.nodes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                n.push_json(out);
            }
            out.push(']');
        }
        if self.modified_index != 0 {
            field(out, "modifiedIndex");
            out.push_str(&self.modified_index.to_string());
        }
        if self.created_index != 0 {
            field(out, "createdIndex");
            out.push_str(&self.created_index.to_string());
        }
        out.push('}');
    }
}

/// One change (or read) of the store, as etcd's `Event`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub action: Action,
    /// `None` only after `noValueOnSuccess` stripped it.
    pub node: Option<NodeExtern>,
    pub prev_node: Option<NodeExtern>,
    /// The store's index when the event was answered (`X-Etcd-Index`); not
    /// part of the JSON.
    pub etcd_index: u64,
    /// A TTL refresh: kept in the history for its index but never shown to
    /// watchers. Not part of the JSON either: etcd's `Event.Clone`, which
    /// every answer goes through, drops it.
    pub refresh: bool,
}

impl Event {
    pub(crate) fn new(action: Action, key: &str, modified_index: u64, created_index: u64) -> Self {
        Event {
            action,
            node: Some(NodeExtern::new(key, modified_index, created_index)),
            prev_node: None,
            etcd_index: 0,
            refresh: false,
        }
    }

    /// The event's index: its node's modified index.
    pub fn index(&self) -> u64 {
        self.node.as_ref().map_or(0, |n| n.modified_index)
    }

    pub(crate) fn key(&self) -> &str {
        self.node.as_ref().map_or("", |n| &n.key)
    }

    /// Whether the event made a new node (HTTP 201): a create, or a set
    /// where nothing was before.
    pub fn is_created(&self) -> bool {
        self.action == Action::Create || (self.action == Action::Set && self.prev_node.is_none())
    }

    /// The event as the HTTP API shows it: keys without `prefix`.
    pub fn trimmed(&self, prefix: &str) -> Event {
        let mut e = self.clone();
        e.refresh = false;
        if let Some(n) = &mut e.node {
            n.trim_prefix(prefix);
        }
        if let Some(n) = &mut e.prev_node {
            n.trim_prefix(prefix);
        }
        e
    }

    /// The JSON body, without etcd's trailing newline.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push('{');
        json::push_key(&mut out, "action");
        json::push_str(&mut out, self.action.as_str());
        if let Some(n) = &self.node {
            out.push(',');
            json::push_key(&mut out, "node");
            n.push_json(&mut out);
        }
        if let Some(n) = &self.prev_node {
            out.push(',');
            json::push_key(&mut out, "prevNode");
            n.push_json(&mut out);
        }
        out.push('}');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_as_etcd() {
        let mut e = Event::new(Action::Update, "/testkey", 5, 4);
        e.node.as_mut().unwrap().value = Some("world".into());
        let mut prev = NodeExtern::new("/testkey", 4, 4);
        prev.value = Some("hello".into());
        e.prev_node = Some(prev);
        assert_eq!(
            e.to_json(),
            r#"{"action":"update","node":{"key":"/testkey","value":"world","modifiedIndex":5,"createdIndex":4},"prevNode":{"key":"/testkey","value":"hello","modifiedIndex":4,"createdIndex":4}}"#
        );
        assert!(!e.is_created());
    }

    #[test]
    fn root_listing_has_no_key_and_no_indexes() {
        // GET /v2/keys/ on etcd: the `/1` namespace trimmed to "".
        let mut e = Event::new(Action::Get, "/1", 0, 0);
        let n = e.node.as_mut().unwrap();
        n.dir = true;
        let mut q = NodeExtern::new("/1/queue", 13, 13);
        q.dir = true;
        n.nodes.push(q);
        assert_eq!(
            e.trimmed("/1").to_json(),
            r#"{"action":"get","node":{"dir":true,"nodes":[{"key":"/queue","dir":true,"modifiedIndex":13,"createdIndex":13}]}}"#
        );
    }

    #[test]
    fn action_codes_round_trip() {
        for c in 0..8 {
            assert_eq!(Action::from_code(c).unwrap().code(), c);
        }
        assert!(Action::from_code(8).is_none());
    }
}
