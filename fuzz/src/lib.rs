//! oxcd's fuzz targets, one function each. `fuzz_targets/<name>.rs` hands
//! libFuzzer's input to the function of that name; `tests/fuzz_corpus.rs` at
//! the workspace root includes this file and replays every input in
//! `fuzz/corpus/<name>/` on stable, so an input once found stays fixed.
//!
//! A target panics exactly when it found a bug: a parser of untrusted bytes
//! that panics, or a decoded result that breaks the property it states.

use std::collections::BTreeMap;
use std::io::BufRead;

use arbitrary::{Result as AResult, Unstructured};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfState, Entry, EntryType, HardState, Message};

use oxcd::apply::{Answer, Applier, ApplyError, Output, State};
use oxcd::mvcc::key_index::KeyIndex;
use oxcd::mvcc::{MvccError, Revision};
use oxcd::pb::etcdserverpb::{
    compare, internal_raft_request, request_op, CompactionRequest, Compare, DeleteRangeRequest,
    InternalRaftRequest, Member, PutRequest, RangeRequest, RequestHeader, RequestOp, TxnRequest,
};

use oxcd::storage::backend::SnapshotData;
use oxcd::storage::{schema, wal};
use oxcd::v3rpc::validation;
use oxcd_checker::model::{KvError, KvModel, Request, Response};

/// A target: one input in, a panic if it found a bug.
pub type Target = fn(&[u8]);

/// Every target, by name (the corpus directory and the libFuzzer binary).
pub const TARGETS: &[(&str, Target)] = &[
    ("wal", wal),
    ("raft_message", raft_message),
    ("snapshot", snapshot),
    ("kv_apply", kv_apply),
    ("key_index", key_index),
    ("ctl_txn", ctl_txn),
    ("ctl_flags", ctl_flags),
    ("etcd_flags", etcd_flags),
    ("h2_server", h2_server),
];

// ---------------------------------------------------------------- wal

/// One record as the WAL writes it.
#[derive(Clone, Debug)]
enum Rec {
    Entry(Entry),
    HardState(HardState),
    Metadata(u64, u64),
    LogStart(u64, u64),
}

fn pair(a: u64, b: u64) -> Vec<u8> {
    let mut v = a.to_be_bytes().to_vec();
    v.extend_from_slice(&b.to_be_bytes());
    v
}

impl Rec {
    fn encode(&self, buf: &mut Vec<u8>) {
        let (kind, payload) = match self {
            Rec::Entry(e) => (wal::KIND_ENTRY, e.write_to_bytes().expect("encode")),
            Rec::HardState(h) => (wal::KIND_HARD_STATE, h.write_to_bytes().expect("encode")),
            Rec::Metadata(m, c) => (wal::KIND_METADATA, pair(*m, *c)),
            Rec::LogStart(i, t) => (wal::KIND_LOG_START, pair(*i, *t)),
        };
        wal::encode_record(buf, kind, &payload);
    }
}

/// One record. Entries follow raft's rule: an entry's index is at most
/// one past the log's last (a lower one overwrites from there), and the
/// first after a log start follows it.
fn rec(u: &mut Unstructured, next: &mut u64) -> AResult<Rec> {
    Ok(match u.int_in_range(0..=5)? {
        0 => Rec::HardState(HardState {
            term: u.int_in_range(0..=5)?,
            vote: u.int_in_range(0..=3)?,
            commit: u.int_in_range(0..=20)?,
            ..Default::default()
        }),
        1 => Rec::Metadata(u.arbitrary()?, u.arbitrary()?),
        2 => {
            let index = u.int_in_range(0..=20)?;
            *next = index + 1;
            Rec::LogStart(index, u.int_in_range(0..=5)?)
        }
        _ => {
            let len = u.int_in_range(0..=600)?;
            let mut data = vec![0; len];
            u.fill_buffer(&mut data)?;
            let index = u.int_in_range(1..=*next)?;
            *next = index + 1;
            Rec::Entry(Entry {
                term: u.int_in_range(1..=5)?,
                index,
                data: data.into(),
                ..Default::default()
            })
        }
    })
}

/// What replaying `recs` must give, written from the format's rules (see
/// `src/storage/wal.rs`), not from its code.
fn wal_model(recs: &[Rec]) -> wal::WalState {
    let mut st = wal::WalState::default();
    for r in recs {
        match r {
            Rec::Entry(e) => {
                // An entry replaces every entry at its index or later.
                st.entries.retain(|x| x.index < e.index);
                st.entries.push(e.clone());
            }
            Rec::HardState(h) => st.hard_state = Some(h.clone()),
            Rec::Metadata(m, c) => st.metadata = Some((*m, *c)),
            Rec::LogStart(i, t) => {
                st.entries.clear();
                st.log_start = Some((*i, *t));
            }
        }
    }
    st
}

fn same_wal(a: &wal::WalState, b: &wal::WalState) -> bool {
    a.hard_state == b.hard_state
        && a.conf_state == b.conf_state
        && a.metadata == b.metadata
        && a.log_start == b.log_start
        && a.entries == b.entries
}

/// WAL replay. Raw mode: any bytes replay without a panic. Written mode:
/// records are encoded as the WAL writes them, then the file is cut short
/// (a torn write) or one burst of up to 32 bits in it is flipped (a bad
/// sector). A cut, or a burst inside one record's checksummed bytes (kind
/// and payload: CRC-32 detects every burst of up to 32 bits there), must
/// replay exactly the records before the damage and report that prefix's
/// length. A burst in a record's length or checksum can, if chosen to,
/// forge a record (the format checksums neither: a limit of the format,
/// which etcd's WAL shares); then only the records before it must survive.
pub fn wal(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = wal::replay(rest);
        return;
    }
    let _ = wal_written(&mut Unstructured::new(rest));
}

fn wal_written(u: &mut Unstructured) -> AResult<()> {
    let n = u.int_in_range(0..=12)?;
    let mut recs = Vec::with_capacity(n);
    let mut next = 1;
    for _ in 0..n {
        recs.push(rec(u, &mut next)?);
    }
    let mut file = Vec::new();
    let mut ends = Vec::with_capacity(n);
    for r in &recs {
        r.encode(&mut file);
        ends.push(file.len());
    }
    let (clean, clean_len) = wal::replay(&file).expect("a log we wrote replays");
    assert_eq!(clean_len, file.len(), "every written record is valid");
    assert!(
        same_wal(&clean, &wal_model(&recs)),
        "replay disagrees with the format"
    );
    // The damage starts at byte `at`.
    let at = if file.is_empty() {
        0
    } else {
        u.int_in_range(0..=file.len() - 1)?
    };
    let cut = u.arbitrary::<bool>()?;
    // Where the damage ends (exclusive), for a burst.
    let mut until = at;
    if cut {
        file.truncate(at);
    } else if !file.is_empty() {
        // The burst's first byte is a changed one, so the damage starts at `at`.
        let mut burst: [u8; 4] = u.arbitrary()?;
        burst[0] |= 1 << (burst[0] % 8);
        for (i, b) in burst.iter().enumerate() {
            if let Some(x) = file.get_mut(at + i) {
                *x ^= b;
                if *b != 0 {
                    until = at + i + 1;
                }
            }
        }
    }
    let intact = ends.iter().take_while(|&&e| e <= at).count();
    let want = wal_model(&recs[..intact]);
    let want_len = if intact == 0 { 0 } else { ends[intact - 1] };
    // The checksummed bytes of the damaged record: after its length and CRC.
    let checked_from = want_len + 8;
    let exact = cut || (at >= checked_from && ends.get(intact).is_some_and(|&e| until <= e));
    match wal::replay(&file) {
        Ok((got, got_len)) if exact => {
            assert!(
                same_wal(&got, &want),
                "damaged at {at} (record ends {ends:?}): replayed {got:?}, want {want:?}"
            );
            assert_eq!(got_len, want_len, "valid prefix");
        }
        Ok((_, got_len)) => assert!(got_len >= want_len, "an intact record was lost"),
        Err(e) if exact => panic!("damaged record passed its checksum: {e}"),
        // A forged header whose payload does not decode: refused, as it
        // should be.
        Err(_) => {}
    }
    Ok(())
}

// ---------------------------------------------------------------- raft

/// A raft message from a peer (the peer transport's `Message::parse_from_bytes`)
/// and what the member later decodes from it: entries' requests and conf
/// changes, a snapshot's backend pairs. Nothing panics, and a request that
/// decodes re-encodes to one that decodes the same (rust-protobuf's own
/// round trip is not ours to check: it keeps unknown fields its own way).
pub fn raft_message(data: &[u8]) {
    let Ok(m) = Message::parse_from_bytes(data) else {
        return;
    };
    for e in m.get_entries() {
        decode_entry(e);
    }
    if m.has_snapshot() {
        snapshot(&m.get_snapshot().data);
    }
}

fn decode_entry(e: &Entry) {
    match e.get_entry_type() {
        EntryType::EntryNormal => {
            if let Ok(r) = InternalRaftRequest::decode(&e.data[..]) {
                let again = InternalRaftRequest::decode(&r.encode_to_vec()[..]).expect("decode");
                assert_eq!(r, again, "request round trip");
            }
        }
        EntryType::EntryConfChange => {
            if let Ok(cc) = ConfChange::parse_from_bytes(&e.data) {
                let _ = Member::decode(&cc.context[..]);
            }
        }
        EntryType::EntryConfChangeV2 => {}
    }
}

/// A raft snapshot's payload as a follower installs it: the pairs go into
/// the backend (which keeps them in key order, the last of equal keys),
/// are decoded by the schema, then the state is rebuilt from them.
pub fn snapshot(data: &[u8]) {
    let Ok(snap) = SnapshotData::decode(data) else {
        return;
    };
    let backend: BTreeMap<&[u8], &[u8]> = snap
        .pairs
        .iter()
        .map(|p| (&p.key[..], &p.value[..]))
        .collect();
    if let Ok(loaded) = schema::decode_all(backend.into_iter()) {
        let _ = State::recover(loaded, Default::default(), &Default::default());
    }
}

// ---------------------------------------------------------------- kv

const KEYS: &[&[u8]] = &[b"", b"a", b"b", b"c", b"d", b"\0"];
const ENDS: &[&[u8]] = &[b"", b"", b"\0", b"b", b"c", b"e", b"a"];

fn key(u: &mut Unstructured) -> AResult<Vec<u8>> {
    Ok(u.choose(KEYS)?.to_vec())
}

fn end(u: &mut Unstructured) -> AResult<Vec<u8>> {
    Ok(u.choose(ENDS)?.to_vec())
}

fn range_req(u: &mut Unstructured, rev: i64) -> AResult<RangeRequest> {
    Ok(RangeRequest {
        key: key(u)?,
        range_end: end(u)?,
        limit: u.int_in_range(-1..=3)?,
        revision: u.int_in_range(-1..=rev + 2)?,
        sort_order: u.int_in_range(0..=3)?,
        sort_target: u.int_in_range(0..=5)?,
        serializable: u.arbitrary()?,
        keys_only: u.arbitrary()?,
        count_only: u.arbitrary()?,
        min_mod_revision: u.int_in_range(0..=rev + 1)?,
        max_mod_revision: u.int_in_range(0..=rev + 1)?,
        min_create_revision: u.int_in_range(0..=rev + 1)?,
        max_create_revision: u.int_in_range(0..=rev + 1)?,
    })
}

fn put_req(u: &mut Unstructured) -> AResult<PutRequest> {
    Ok(PutRequest {
        key: key(u)?,
        value: u.choose(&[&b""[..], b"x", b"yy"])?.to_vec(),
        // Lease 7 is never granted: the write fails as etcd's does.
        lease: *u.choose(&[0, 0, 0, 7])?,
        prev_kv: u.arbitrary()?,
        ignore_value: u.ratio(1, 5)?,
        ignore_lease: u.ratio(1, 5)?,
    })
}

fn delete_req(u: &mut Unstructured) -> AResult<DeleteRangeRequest> {
    Ok(DeleteRangeRequest {
        key: key(u)?,
        range_end: end(u)?,
        prev_kv: u.arbitrary()?,
    })
}

fn compare_req(u: &mut Unstructured, rev: i64) -> AResult<Compare> {
    use compare::TargetUnion as T;
    let target = u.int_in_range(0..=4)?;
    let n = u.int_in_range(0..=rev + 1)?;
    Ok(Compare {
        result: u.int_in_range(0..=3)?,
        target,
        key: key(u)?,
        range_end: end(u)?,
        target_union: Some(match target {
            0 => T::Version(u.int_in_range(0..=3)?),
            1 => T::CreateRevision(n),
            2 => T::ModRevision(n),
            3 => T::Value(u.choose(&[&b""[..], b"x", b"yy"])?.to_vec()),
            _ => T::Lease(*u.choose(&[0, 7])?),
        }),
    })
}

fn ops(u: &mut Unstructured, rev: i64, depth: u32) -> AResult<Vec<RequestOp>> {
    let n = u.int_in_range(0..=3)?;
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        let top = if depth == 0 { 3 } else { 2 };
        let request = match u.int_in_range(0..=top)? {
            0 => request_op::Request::RequestRange(range_req(u, rev)?),
            1 => request_op::Request::RequestPut(put_req(u)?),
            2 => request_op::Request::RequestDeleteRange(delete_req(u)?),
            _ => request_op::Request::RequestTxn(txn_req(u, rev, depth + 1)?),
        };
        v.push(RequestOp {
            request: Some(request),
        });
    }
    Ok(v)
}

fn txn_req(u: &mut Unstructured, rev: i64, depth: u32) -> AResult<TxnRequest> {
    let n = u.int_in_range(0..=2)?;
    let mut compare = Vec::with_capacity(n);
    for _ in 0..n {
        compare.push(compare_req(u, rev)?);
    }
    Ok(TxnRequest {
        compare,
        success: ops(u, rev, depth)?,
        failure: ops(u, rev, depth)?,
    })
}

fn kv_error(e: &ApplyError) -> KvError {
    match e {
        ApplyError::Mvcc(MvccError::Compacted) => KvError::Compacted,
        ApplyError::Mvcc(MvccError::FutureRev) => KvError::FutureRev,
        ApplyError::Mvcc(MvccError::KeyNotFound) => KvError::KeyNotFound,
        ApplyError::Mvcc(MvccError::LeaseNotFound) | ApplyError::Lease(_) => KvError::LeaseNotFound,
        ApplyError::Member(m) => panic!("a KV request failed with a member error: {m:?}"),
        ApplyError::Auth(a) => panic!("a KV request failed an auth check with auth off: {a:?}"),
        ApplyError::NoSpace | ApplyError::Corrupt => {
            panic!("a KV request met an alarm none raised: {e:?}")
        }
    }
}

/// The KV path of a member: each request is checked as the gRPC service
/// checks it (`v3rpc::validation`), and a valid one is read from the store
/// or encoded as a raft entry and applied by the applier, as a committed
/// entry is. Every answer must equal the reference model's (`oxcd-checker`'s
/// `model`, written from etcd's documentation, not from oxcd's code).
pub fn kv_apply(data: &[u8]) {
    let _ = kv_apply_inner(&mut Unstructured::new(data));
}

fn kv_apply_inner(u: &mut Unstructured) -> AResult<()> {
    let mut st = State::default();
    let mut applier = Applier::new(1, ConfState::default(), 0);
    let mut model = KvModel::default();
    let mut index = 0;
    let mut done = Vec::new();
    for _ in 0..u.int_in_range(1..=24)? {
        let rev = model.rev();
        let req = match u.int_in_range(0..=9)? {
            0..=2 => Request::Range(range_req(u, rev)?),
            3..=5 => Request::Put(put_req(u)?),
            6 => Request::DeleteRange(delete_req(u)?),
            7 | 8 => Request::Txn(txn_req(u, rev, 0)?),
            _ => Request::Compact(CompactionRequest {
                revision: u.int_in_range(0..=rev + 1)?,
                physical: u.arbitrary()?,
            }),
        };
        let valid = match &req {
            Request::Range(r) => validation::check_range(r),
            Request::Put(r) => validation::check_put(r),
            Request::DeleteRange(r) => validation::check_delete(r),
            Request::Txn(r) => validation::check_txn_request(r, 128),
            Request::Compact(_) => Ok(()),
        };
        if valid.is_err() {
            continue;
        }
        let got: Result<Response, KvError> = match &req {
            Request::Range(r) => st
                .kv
                .range(r)
                .map(Response::Range)
                .map_err(|e| kv_error(&ApplyError::Mvcc(e))),
            write => {
                index += 1;
                let request = match write.clone() {
                    Request::Put(r) => internal_raft_request::Request::Put(r),
                    Request::DeleteRange(r) => internal_raft_request::Request::DeleteRange(r),
                    Request::Txn(r) => internal_raft_request::Request::Txn(r),
                    Request::Compact(r) => internal_raft_request::Request::Compaction(r),
                    Request::Range(_) => unreachable!("reads are not proposed"),
                };
                let ir = InternalRaftRequest {
                    header: Some(RequestHeader {
                        id: index,
                        ..Default::default()
                    }),
                    request: Some(request),
                    ..Default::default()
                };
                let e = Entry {
                    index,
                    term: 1,
                    data: ir.encode_to_vec().into(),
                    ..Default::default()
                };
                let mut out = Output::default();
                applier.apply(&mut st, &e, &mut out);
                let (id, answer) = out.answers.pop().expect("a request is answered");
                assert_eq!(id, index, "answered under its proposal id");
                match answer {
                    Answer::Put(r) => r.map(Response::Put).map_err(|e| kv_error(&e)),
                    Answer::DeleteRange(r) => {
                        r.map(Response::DeleteRange).map_err(|e| kv_error(&e))
                    }
                    Answer::Txn(r) => r.map(Response::Txn).map_err(|e| kv_error(&e)),
                    Answer::Compaction(r) => r
                        .map(|c| Response::Compact(c.header.map_or(0, |h| h.revision)))
                        .map_err(|e| kv_error(&e)),
                    other => panic!("a KV request answered {other:?}"),
                }
            }
        };
        let want = model.apply(&req);
        let agree = match (&want, &got) {
            (Ok(w), Ok(g)) => oxcd_checker::checker::kv::same(&req, w, g),
            (Err(w), Err(g)) => w == g,
            _ => false,
        };
        assert!(
            agree,
            "after {done:?}\n{req:?}\nmodel: {want:?}\noxcd:  {got:?}"
        );
        assert_eq!(st.kv.rev(), model.rev(), "store revision after {req:?}");
        done.push(req);
    }
    Ok(())
}

// ---------------------------------------------------------------- key index

/// A key's index under random puts, deletes, compactions and reads, against
/// its history kept whole: a read at or after the compaction point answers
/// what the history says, and compaction drops only revisions no such read
/// can see.
pub fn key_index(data: &[u8]) {
    let _ = key_index_inner(&mut Unstructured::new(data));
}

fn key_index_inner(u: &mut Unstructured) -> AResult<()> {
    let mut ki = KeyIndex::default();
    // Every change: (revision, deleted).
    let mut history: Vec<(Revision, bool)> = Vec::new();
    let mut main = 0;
    let mut compacted = 0;
    let mut kept: Vec<Revision> = Vec::new();
    for _ in 0..u.int_in_range(1..=40)? {
        let live = history.last().is_some_and(|&(_, deleted)| !deleted);
        match u.int_in_range(0..=4)? {
            0 | 1 => {
                main += u.int_in_range(1..=3)?;
                let r = Revision::new(main, u.int_in_range(0..=2)?);
                ki.put(r);
                history.push((r, false));
                kept.push(r);
            }
            2 if live => {
                main += 1;
                let r = Revision::new(main, 0);
                ki.tombstone(r);
                history.push((r, true));
                kept.push(r);
            }
            3 => {
                let at = u.int_in_range(compacted..=main + 1)?;
                let mut dropped = Vec::new();
                ki.compact(at, &mut dropped);
                compacted = at;
                for d in &dropped {
                    let i = kept.iter().position(|k| k == d);
                    assert!(i.is_some(), "compaction dropped {d:?}, never kept");
                    kept.remove(i.expect("checked"));
                }
            }
            _ => {}
        }
        let at = u.int_in_range(compacted..=main + 1)?;
        assert_eq!(
            ki.get(at).map(|k| (k.modified, k.created, k.version)),
            read_history(&history, at),
            "get({at}) after {history:?}, compacted at {compacted}"
        );
    }
    // What every read at or after the compaction point needs is still kept.
    for at in compacted..=main + 1 {
        if let Some((modified, _, _)) = read_history(&history, at) {
            assert!(kept.contains(&modified), "{modified:?} needed at {at}");
        }
    }
    Ok(())
}

/// `(modified, created, version)` of the key at main revision `at`.
fn read_history(history: &[(Revision, bool)], at: i64) -> Option<(Revision, Revision, i64)> {
    let n = history.partition_point(|(r, _)| r.main <= at);
    let (modified, deleted) = *history.get(n.checked_sub(1)?)?;
    if deleted {
        return None;
    }
    let life_start = history[..n]
        .iter()
        .rposition(|&(_, d)| d)
        .map_or(0, |i| i + 1);
    Some((modified, history[life_start].0, (n - life_start) as i64))
}

// ---------------------------------------------------------------- etcdctl

/// `etcdctl txn`'s parser on arbitrary stdin: an answer or an error, never
/// a panic; what it parses is a request the KV service can judge.
pub fn ctl_txn(data: &[u8]) {
    let mut input: &[u8] = data;
    let stdin: &mut dyn BufRead = &mut input;
    if let Ok(req) = oxcd::ctl::parse_txn(stdin) {
        let _ = validation::check_txn_request(&req, 128);
    }
}

/// Splits fuzz bytes into arguments at NUL bytes (lossy UTF-8, as a shell
/// would hand them over).
fn args_of(data: &[u8]) -> Vec<String> {
    data.split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// etcdctl's flag parser, against every command's flag set.
pub fn ctl_flags(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let sets: Vec<_> = oxcd::ctl::flag_sets().collect();
    let (_, flags) = sets[which as usize % sets.len()];
    let _ = oxcd::ctl::flags::parse(&args_of(rest), flags);
}

/// etcd's flags, `ETCD_*` variables and config file. The input is the
/// arguments, then after a `\x01` byte the environment (`K=V` at NUL
/// bytes), then after another the text of a config file, whose settings
/// go through the flag path again. `--config-file` itself is left out: it
/// would read a file.
pub fn etcd_flags(data: &[u8]) {
    let mut parts = data.splitn(3, |&b| b == 1);
    let args: Vec<String> = args_of(parts.next().unwrap_or_default())
        .into_iter()
        .filter(|a| !a.contains("config-file"))
        .collect();
    let env: BTreeMap<String, String> = args_of(parts.next().unwrap_or_default())
        .into_iter()
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
        })
        .filter(|(k, _)| !k.contains("CONFIG_FILE"))
        .collect();
    let _ = oxcd::config::parse(&args, &env);
    let text = String::from_utf8_lossy(parts.next().unwrap_or_default());
    if let Ok(set) = oxcd::config::parse_config_file(&text) {
        let args: Vec<String> = set
            .iter()
            .filter(|(k, _)| !k.contains("config-file"))
            .map(|(k, v)| format!("--{k}={v}"))
            .collect();
        let _ = oxcd::config::parse(&args, &BTreeMap::new());
    }
}

// ---------------------------------------------------------------- HTTP/2

/// The HTTP/2 server every client connection meets (h2 with oxcd's patches,
/// third_party/h2: a whole URL as `:authority`, keepalive enforcement):
/// the input is what a client sends after the connection preface. The
/// server answers every request it accepts; nothing may panic, and the
/// connection ends by itself once the input is used up.
pub fn h2_server(data: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        input.extend_from_slice(data);
        let feed = async move {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            // Drain the server's frames so its writes never block.
            let mut sink = tokio::io::sink();
            let _ = tokio::io::copy(&mut client, &mut sink).await;
        };
        let serve = async move {
            let Ok(mut conn) = h2::server::handshake(server).await else {
                return;
            };
            while let Some(Ok((req, mut respond))) = conn.accept().await {
                let _ = req.uri().authority();
                let resp = http::Response::builder()
                    .status(200)
                    .body(())
                    .expect("response");
                let _ = respond.send_response(resp, true);
            }
        };
        // A bound: a stuck connection is a finding too.
        let both = async { tokio::join!(feed, serve) };
        tokio::time::timeout(std::time::Duration::from_secs(5), both)
            .await
            .expect("the connection ended within 5 s of its input");
    });
}
