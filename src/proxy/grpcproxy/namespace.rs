//! `--namespace` (etcd's `clientv3/namespace`): every key going up gets the
//! prefix, every key coming down loses it, and a range end of `\0` (the
//! edge of the key space) becomes the end of the prefix's own space.

use tonic::Status;

use crate::pb::etcdserverpb::{
    request_op, response_op, Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
};
use crate::pb::mvccpb::KeyValue;

/// The prefix; empty when no `--namespace` is given (then nothing changes).
#[derive(Clone, Debug, Default)]
pub struct Namespace(Vec<u8>);

/// clientv3's `ErrEmptyKey`, which the namespaced KV answers itself.
pub fn empty_key() -> Status {
    Status::invalid_argument("etcdserver: key is not provided")
}

impl Namespace {
    pub fn new(prefix: &str) -> Namespace {
        Namespace(prefix.as_bytes().to_vec())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// etcd's `prefixInterval`: `key` and `end` inside the namespace.
    pub fn interval(&self, key: &[u8], end: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let pk = [&self.0[..], key].concat();
        let pe = match end {
            [] => vec![],
            [0] => {
                // The namespace's own end: the prefix plus one.
                let mut e = self.0.clone();
                while let Some(last) = e.pop() {
                    if last < 0xff {
                        e.push(last + 1);
                        return (pk, e);
                    }
                }
                // 0xff..ff: the whole key space's end.
                vec![0]
            }
            e => [&self.0[..], e].concat(),
        };
        (pk, pe)
    }

    fn prefix(&self, key: &mut Vec<u8>, end: &mut Vec<u8>) {
        if self.is_empty() {
            return;
        }
        let (k, e) = self.interval(key, end);
        *key = k;
        *end = e;
    }

    /// The key without the prefix (keys from the cluster always have it).
    pub fn strip(&self, key: &mut Vec<u8>) {
        if key.starts_with(&self.0) {
            key.drain(..self.0.len());
        }
    }

    pub fn strip_kv(&self, kv: &mut KeyValue) {
        self.strip(&mut kv.key);
    }

    /// A top-level request's key, checked as clientv3's namespaced `Do`
    /// checks it (not empty), and prefixed.
    fn checked(&self, key: &mut Vec<u8>, end: &mut Vec<u8>) -> Result<(), Status> {
        if self.is_empty() {
            return Ok(());
        }
        if key.is_empty() {
            return Err(empty_key());
        }
        self.prefix(key, end);
        Ok(())
    }

    pub fn range(&self, r: &mut RangeRequest) -> Result<(), Status> {
        self.checked(&mut r.key, &mut r.range_end)
    }

    pub fn put(&self, r: &mut PutRequest) -> Result<(), Status> {
        // No range end: the prefixed one stays empty.
        self.checked(&mut r.key, &mut Vec::new())
    }

    pub fn delete(&self, r: &mut DeleteRangeRequest) -> Result<(), Status> {
        self.checked(&mut r.key, &mut r.range_end)
    }

    /// A txn's compares and operations, nested txns too (a txn itself has
    /// no key to check, as in clientv3).
    pub fn txn(&self, t: &mut TxnRequest) {
        if self.is_empty() {
            return;
        }
        for c in &mut t.compare {
            self.compare(c);
        }
        for op in t.success.iter_mut().chain(t.failure.iter_mut()) {
            match &mut op.request {
                Some(request_op::Request::RequestRange(r)) => {
                    self.prefix(&mut r.key, &mut r.range_end)
                }
                Some(request_op::Request::RequestPut(r)) => r.key = [&self.0[..], &r.key].concat(),
                Some(request_op::Request::RequestDeleteRange(r)) => {
                    self.prefix(&mut r.key, &mut r.range_end)
                }
                Some(request_op::Request::RequestTxn(t)) => self.txn(t),
                None => {}
            }
        }
    }

    fn compare(&self, c: &mut Compare) {
        let (k, e) = self.interval(&c.key, &c.range_end);
        c.key = k;
        if !c.range_end.is_empty() {
            c.range_end = e;
        }
    }

    pub fn range_response(&self, r: &mut RangeResponse) {
        if self.is_empty() {
            return;
        }
        r.kvs.iter_mut().for_each(|kv| self.strip_kv(kv));
    }

    pub fn put_response(&self, r: &mut PutResponse) {
        if let Some(kv) = &mut r.prev_kv {
            self.strip_kv(kv);
        }
    }

    pub fn delete_response(&self, r: &mut DeleteRangeResponse) {
        if self.is_empty() {
            return;
        }
        r.prev_kvs.iter_mut().for_each(|kv| self.strip_kv(kv));
    }

    pub fn txn_response(&self, t: &mut TxnResponse) {
        if self.is_empty() {
            return;
        }
        for r in &mut t.responses {
            match &mut r.response {
                Some(response_op::Response::ResponseRange(r)) => self.range_response(r),
                Some(response_op::Response::ResponsePut(r)) => self.put_response(r),
                Some(response_op::Response::ResponseDeleteRange(r)) => self.delete_response(r),
                Some(response_op::Response::ResponseTxn(t)) => self.txn_response(t),
                None => {}
            }
        }
    }

    /// A lease's attached keys: only those in the namespace, stripped.
    pub fn lease_keys(&self, keys: &mut Vec<Vec<u8>>) {
        if self.is_empty() {
            return;
        }
        keys.retain(|k| k.starts_with(&self.0));
        keys.iter_mut().for_each(|k| self.strip(k));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_as_etcd() {
        let ns = Namespace::new("p/");
        assert_eq!(ns.interval(b"a", b""), (b"p/a".to_vec(), vec![]));
        assert_eq!(ns.interval(b"a", b"b"), (b"p/a".to_vec(), b"p/b".to_vec()));
        assert_eq!(ns.interval(b"a", b"\0"), (b"p/a".to_vec(), b"p0".to_vec()));
        assert_eq!(ns.interval(b"", b"\0"), (b"p/".to_vec(), b"p0".to_vec()));
        let ff = Namespace(vec![b'a', 0xff]);
        assert_eq!(ff.interval(b"", b"\0").1, b"b".to_vec());
        let all = Namespace(vec![0xff, 0xff]);
        assert_eq!(all.interval(b"", b"\0").1, vec![0]);
        let mut r = RangeRequest::default();
        assert_eq!(
            ns.range(&mut r).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let mut keys = vec![b"p/x".to_vec(), b"q/y".to_vec()];
        ns.lease_keys(&mut keys);
        assert_eq!(keys, [b"x".to_vec()]);
    }
}
