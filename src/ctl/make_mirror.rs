//! `etcdctl make-mirror <destination>` (etcdctl's `make_mirror_command.go`
//! and clientv3's `mirror.Syncer`): the keys under `--prefix` as of one
//! revision are copied to the destination, then every change after that
//! revision follows from a watch, one destination txn per source revision.
//! Every 30 s the count of keys mirrored so far is printed. It runs until
//! it fails (or is stopped).

use std::time::Duration;

use tokio::sync::mpsc;
use tonic::transport::Channel;

use crate::pb::etcdserverpb::{
    kv_client::KvClient, request_op, watch_client::WatchClient, watch_request::RequestUnion,
    DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest, WatchCreateRequest,
    WatchRequest,
};
use crate::pb::mvccpb::event::EventType;
use crate::rt::stream::ReceiverStream;

use super::flags::Parsed;
use super::global::{bad_args, call, connect, rpc_failure, Ctx, EXIT_ERROR, NO_DEADLINE};
use super::util::prefix_end;
use super::{CmdResult, Fail, Output};

/// clientv3's mirror syncer reads the base state in pages of this size.
const BATCH_LIMIT: i64 = 1000;
/// How often the count of keys mirrored is printed.
const REPORT_INTERVAL: Duration = Duration::from_secs(30);

/// Where keys go: the destination prefix that replaces the source's.
struct Rename {
    prefix: String,
    dest_prefix: String,
}

impl Rename {
    /// Go's `strings.Replace(key, prefix, destPrefix, 1)`: the first
    /// occurrence anywhere in the key, and an empty prefix matches at the
    /// start.
    fn apply(&self, key: &[u8]) -> Vec<u8> {
        let (from, to) = (self.prefix.as_bytes(), self.dest_prefix.as_bytes());
        if from.is_empty() {
            return [to, key].concat();
        }
        match key.windows(from.len()).position(|w| w == from) {
            Some(at) => [&key[..at], to, &key[at + from.len()..]].concat(),
            None => key.to_vec(),
        }
    }
}

/// The destination's client settings: its one endpoint and the `--dest-*`
/// TLS flags, no credentials (etcdctl gives it none), the timeouts of the
/// command line.
fn destination(ctx: &Ctx, dest: &str) -> Ctx {
    let mut values = ctx.p.values.clone();
    for (to, from) in [
        ("cacert", "dest-cacert"),
        ("cert", "dest-cert"),
        ("key", "dest-key"),
        ("insecure-transport", "dest-insecure-transport"),
    ] {
        values.insert(to.to_string(), ctx.get(from).to_string());
    }
    values.insert("endpoints".to_string(), dest.to_string());
    // clientv3's mirror runs without a deadline.
    values.insert("command-timeout".to_string(), NO_DEADLINE.to_string());
    values.remove("user");
    values.remove("password");
    Ctx::new(
        Parsed {
            values,
            args: Vec::new(),
            dash: None,
        },
        ctx.flags,
        &Default::default(),
    )
}

pub(super) async fn make_mirror(ctx: &Ctx, o: &mut Output) -> CmdResult {
    if ctx.args().len() != 1 {
        return Err(bad_args("make-mirror takes one destination argument"));
    }
    let dest = destination(ctx, &ctx.args()[0]);
    let (dch, dep) = connect(&dest).await?;
    let (ch, ep) = connect(ctx).await?;
    let prefix = ctx.get("prefix").to_string();
    let ctx = &ctx.with_timeout(NO_DEADLINE);

    // The revision the copy is taken at: a read of `foo` (clientv3's
    // mirror asks for it so).
    let probe = RangeRequest {
        key: b"foo".to_vec(),
        ..Default::default()
    };
    let base = call(ctx, &ep, KvClient::new(ch.clone()).range(ctx.req(probe))).await;

    let (no_dest, dest_prefix) = (ctx.bool("no-dest-prefix"), ctx.get("dest-prefix"));
    if no_dest && !dest_prefix.is_empty() {
        return Err(bad_args(
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        ));
    }
    let rename = Rename {
        dest_prefix: if !no_dest && dest_prefix.is_empty() {
            prefix.clone()
        } else {
            dest_prefix.to_string()
        },
        prefix: prefix.clone(),
    };
    let rev = base?.header.map_or(0, |h| h.revision);

    let mut m = Mirror {
        ctx,
        src: ch,
        ep,
        range: mirrored_range(&prefix),
        rev,
        dest: &dest,
        dep,
        kv: KvClient::new(dch),
        rename,
        total: 0,
        next_report: crate::rt::time::now() + REPORT_INTERVAL,
    };
    m.sync_base(o).await?;
    m.sync_updates(o).await
}

/// The keys a prefix names (all keys for none: from `\0` on).
fn mirrored_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    if prefix.is_empty() {
        (vec![0], vec![0])
    } else {
        (prefix.as_bytes().to_vec(), prefix_end(prefix.as_bytes()))
    }
}

/// A running mirror: the destination client and the count of keys mirrored.
struct Mirror<'a> {
    ctx: &'a Ctx,
    /// The source: its connection, endpoint, the keys mirrored, and the
    /// revision of the copy.
    src: Channel,
    ep: String,
    range: (Vec<u8>, Vec<u8>),
    rev: i64,
    dest: &'a Ctx,
    dep: String,
    kv: KvClient<Channel>,
    rename: Rename,
    total: u64,
    /// When the count is printed next.
    next_report: tokio::time::Instant,
}

impl Mirror<'_> {
    /// Prints the count if the 30 s ticker has fired.
    fn maybe_report(&mut self, o: &mut Output) {
        while crate::rt::time::now() >= self.next_report {
            o.live(format!("{}\n", self.total).as_bytes());
            self.next_report += REPORT_INTERVAL;
        }
    }

    /// Copies every key under the prefix as of `rev`, a page at a time,
    /// one put each.
    async fn sync_base(&mut self, o: &mut Output) -> CmdResult {
        let (mut key, range_end) = self.range.clone();
        let mut src = KvClient::new(self.src.clone());
        loop {
            let req = RangeRequest {
                key: key.clone(),
                range_end: range_end.clone(),
                limit: BATCH_LIMIT,
                revision: self.rev,
                ..Default::default()
            };
            let page = call(self.ctx, &self.ep, src.range(self.ctx.req(req))).await?;
            for kv in &page.kvs {
                let put = PutRequest {
                    key: self.rename.apply(&kv.key),
                    value: kv.value.clone(),
                    ..Default::default()
                };
                call(self.dest, &self.dep, self.kv.put(put)).await?;
                self.total += 1;
                self.maybe_report(o);
            }
            match (page.more, page.kvs.last()) {
                (true, Some(last)) => key = [&last.key[..], &[0]].concat(),
                _ => return Ok(()),
            }
        }
    }

    /// Follows the source's changes after `rev`: the events of one
    /// revision go to the destination as one txn.
    async fn sync_updates(&mut self, o: &mut Output) -> CmdResult {
        let (key, range_end) = self.range.clone();
        let create = WatchCreateRequest {
            key,
            range_end,
            start_revision: self.rev + 1,
            ..Default::default()
        };
        let (tx, rx) = mpsc::channel::<WatchRequest>(1);
        let _ = tx
            .send(WatchRequest {
                request_union: Some(RequestUnion::CreateRequest(create)),
            })
            .await;
        let ep = self.ep.clone();
        let lost = |st: tonic::Status| rpc_failure(&ep, &st);
        let mut resps = WatchClient::new(self.src.clone())
            .watch(self.ctx.req(ReceiverStream(rx)))
            .await
            .map_err(lost)?
            .into_inner();
        loop {
            let next = tokio::select! {
                r = resps.message() => r.map_err(lost)?,
                _ = tokio::time::sleep_until(self.next_report) => {
                    self.maybe_report(o);
                    continue;
                }
            };
            let Some(wr) = next else {
                // The stream ended: clientv3 closes the watch channel, and
                // etcdctl exits with the nil error it then returns.
                return Err(Fail(EXIT_ERROR, "<nil>".into()));
            };
            if wr.compact_revision != 0 {
                return Err(Fail(
                    EXIT_ERROR,
                    "etcdserver: mvcc: required revision has been compacted".into(),
                ));
            }
            let mut last_rev = 0;
            let mut ops: Vec<RequestOp> = Vec::new();
            for ev in &wr.events {
                let Some(kv) = &ev.kv else { continue };
                if last_rev != 0 && kv.mod_revision > last_rev {
                    self.txn(std::mem::take(&mut ops)).await?;
                }
                last_rev = kv.mod_revision;
                let key = self.rename.apply(&kv.key);
                let op = if ev.r#type == EventType::Delete as i32 {
                    request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                        key,
                        ..Default::default()
                    })
                } else {
                    request_op::Request::RequestPut(PutRequest {
                        key,
                        value: kv.value.clone(),
                        ..Default::default()
                    })
                };
                ops.push(RequestOp { request: Some(op) });
                self.total += 1;
            }
            if !ops.is_empty() {
                self.txn(ops).await?;
            }
        }
    }

    async fn txn(&mut self, ops: Vec<RequestOp>) -> CmdResult {
        let req = TxnRequest {
            success: ops,
            ..Default::default()
        };
        call(self.dest, &self.dep, self.kv.txn(req)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_replaced_as_go_replaces_them() {
        let r = |prefix: &str, dest: &str, key: &str| {
            let r = Rename {
                prefix: prefix.into(),
                dest_prefix: dest.into(),
            };
            String::from_utf8(r.apply(key.as_bytes())).unwrap()
        };
        assert_eq!(r("a/", "b/", "a/x"), "b/x");
        assert_eq!(r("", "d/", "x"), "d/x");
        assert_eq!(r("a/", "", "a/x"), "x");
        // The first occurrence, wherever it is (etcdctl's own quirk).
        assert_eq!(r("a/", "b/", "za/a/"), "zb/a/");
    }
}
