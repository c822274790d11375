//! `etcdctl migrate` (etcdctl's `migrate_command.go`): the keys of a
//! member's v2 store written into its v3 key space, offline.
//!
//! etcd's semantics: every v2 key under `/1` (hidden ones aside) becomes
//! the v3 key of the same path (`/dir/a`), its value the v2 value, its
//! create and mod revisions the v2 created and modified indexes, its
//! version 1; directories are not written; a TTL key is written without a
//! lease (`--no-ttl` leaves TTL keys out). `--transformer` names a program
//! that reads the v2 nodes as JSON on its stdin and writes the v3 pairs on
//! its stdout (each a little-endian u64 length and a `mvccpb.KeyValue`).
//!
//! In oxcd the v2 store is saved whole in the backend (`v2/store`) with
//! the consistent index it belongs to, so it is read from there, not by
//! replaying the WAL as etcd does. Two refusals etcd does not have, where
//! it would lose or skip data silently:
//! * the WAL holds committed entries the backend has not applied (the
//!   member stopped before it applied them): their v2 changes are not in
//!   the saved store; start the member and stop it cleanly first;
//! * a v2 index equals the revision of a v3 change already in the backend
//!   (etcd overwrites that revision).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use prost::Message;

use crate::mvcc::Revision;
use crate::pb::mvccpb::KeyValue;
use crate::storage::backend::Backend;
use crate::storage::schema::{BackendOp, Loaded};
use crate::v2store::{NodeExtern, Store, STORE_KEYS_PREFIX};

use super::global::{Ctx, EXIT_ERROR};
use super::{CmdResult, Fail, Output};

fn fail(msg: impl Into<String>) -> Fail {
    Fail(EXIT_ERROR, msg.into())
}

/// Go's `filepath.Join` of the data dir and `member/…` (an empty data dir
/// joins to a relative path).
fn member_path(data_dir: &str, leaf: &str) -> PathBuf {
    if data_dir.is_empty() {
        Path::new("member").join(leaf)
    } else {
        Path::new(data_dir).join("member").join(leaf)
    }
}

fn no_such(path: &Path) -> Fail {
    fail(format!(
        "open {}: no such file or directory",
        path.display()
    ))
}

pub(super) fn migrate(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let transformer = ctx.get("transformer").to_string();
    if transformer.is_empty() {
        o.live(b"using default transformer\n");
    }
    let data_dir = ctx.get("data-dir");
    let snap_dir = member_path(data_dir, "snap");
    if !snap_dir.is_dir() {
        return Err(no_such(&snap_dir));
    }
    let wal_dir = match ctx.get("wal-dir") {
        "" => member_path(data_dir, "wal"),
        d => PathBuf::from(d),
    };
    let backend = open_backend(&snap_dir.join("db"), o)?;
    let loaded = backend.load().map_err(|e| fail(e.to_string()))?;
    check_wal_applied(&wal_dir, &loaded)?;

    let mut store = Store::new_etcd();
    if let Some(saved) = &loaded.v2_store {
        store
            .recover(saved)
            .map_err(|e| fail(format!("v2 store: {e}")))?;
    }
    let now = crate::rt::time::unix_nanos();
    let root = match store.get(STORE_KEYS_PREFIX, true, true, now) {
        Ok(e) => e.node.expect("a get answers its node"),
        Err(_) => {
            o.out("no v2 keys to migrate\n");
            return Ok(());
        }
    };
    let mut nodes = Vec::new();
    flatten(root, ctx.bool("no-ttl"), &mut nodes);

    let (kvs, transformed) = if transformer.is_empty() {
        (nodes.iter().filter_map(transform).collect(), Ok(()))
    } else {
        run_transformer(&transformer, &nodes)?
    };
    write_kvs(&*backend, &loaded, kvs)?;
    if let Err(e) = transformed {
        o.out("failed to transform keys\n");
        return Err(fail(e));
    }
    o.out("finished transforming keys\n");
    Ok(())
}

/// Opens the backend; while a running server holds it, says so (as etcd
/// does after a second) and waits.
fn open_backend(db: &Path, o: &mut Output) -> Result<Arc<dyn Backend>, Fail> {
    let mut waiting = || {
        o.live_err(format!(
            "waiting for etcd to close and release its lock on {}\n",
            super::util::go_quote(db.display().to_string().as_bytes())
        ))
    };
    match super::defrag::open_offline(db, &mut waiting) {
        Ok(b) => Ok(Arc::new(b)),
        Err(e) => Err(fail(e.to_string())),
    }
}

/// Refuses a data dir whose WAL has committed entries the backend has not
/// applied: their v2 changes are missing from the saved store.
fn check_wal_applied(wal_dir: &Path, loaded: &Loaded) -> CmdResult {
    if !wal_dir.is_dir() {
        return Err(no_such(wal_dir));
    }
    let path = wal_dir.join(crate::storage::wal::WAL_FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(fail(format!("open {}: {e}", path.display()))),
    };
    let (st, _) = crate::storage::wal::replay(&data).map_err(|e| fail(e.to_string()))?;
    let commit = st.hard_state.as_ref().map_or(0, |h| h.commit);
    let applied = loaded.consistent_index;
    if commit > applied && st.entries.iter().any(|e| e.index > applied) {
        return Err(fail(format!(
            "the WAL holds committed entries up to index {commit} that the backend has not applied (it is at {applied}): start the member and stop it cleanly, then migrate"
        )));
    }
    Ok(())
}

/// etcd's `writeKeys`: the tree in pre-order, each node's key without the
/// `/1` namespace (the root becomes `/`), directories without their
/// children, TTL nodes left out with `--no-ttl`.
fn flatten(mut n: NodeExtern, no_ttl: bool, out: &mut Vec<NodeExtern>) {
    let children = std::mem::take(&mut n.nodes);
    n.key = match n.key.get(STORE_KEYS_PREFIX.len()..) {
        Some("") | None => "/".to_string(),
        Some(k) => k.to_string(),
    };
    if !no_ttl || n.ttl == 0 {
        out.push(n);
    }
    for c in children {
        flatten(c, no_ttl, out);
    }
}

/// The default transformer: a file becomes a pair at its indexes.
fn transform(n: &NodeExtern) -> Option<KeyValue> {
    if n.dir {
        return None;
    }
    Some(KeyValue {
        key: n.key.clone().into_bytes(),
        value: n.value.clone().unwrap_or_default().into_bytes(),
        create_revision: n.created_index as i64,
        mod_revision: n.modified_index as i64,
        version: 1,
        lease: 0,
    })
}

/// Runs `--transformer`: the nodes as JSON on its stdin, pairs read from
/// its stdout until it closes it; then its exit (Go's `exit status N`).
fn run_transformer(
    program: &str,
    nodes: &[NodeExtern],
) -> Result<(Vec<KeyValue>, Result<(), String>), Fail> {
    let mut child = std::process::Command::new(program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "exec: {}: {}",
                super::util::go_quote(program.as_bytes()),
                go_error(&e)
            ))
        })?;
    let mut stdin = child.stdin.take().expect("piped");
    let json: String = nodes.iter().map(NodeExtern::to_json).collect();
    // The program's stdin is fed while its stdout is read, or a pipe fills
    // and both wait: a thread of its own, in an offline command.
    #[allow(clippy::disallowed_methods)]
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(json.as_bytes());
    });
    let mut stdout = child.stdout.take().expect("piped");
    let mut kvs = Vec::new();
    let read = read_kvs(&mut stdout, &mut kvs);
    let _ = writer.join();
    drop(stdout);
    let status = child.wait().map_err(|e| fail(e.to_string()))?;
    read.map_err(fail)?;
    let exited = match status.code() {
        Some(0) => Ok(()),
        Some(c) => Err(format!("exit status {c}")),
        None => Err(format!("{status}")),
    };
    Ok((kvs, exited))
}

fn go_error(e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        "executable file not found in $PATH".into()
    } else {
        crate::rt::net::http1::go_errno(e)
    }
}

/// etcd's `readKeys`: length-prefixed pairs until the end of the stream.
fn read_kvs(r: &mut impl Read, out: &mut Vec<KeyValue>) -> Result<(), String> {
    /// A pair larger than this is not a pair (etcd's requests are capped
    /// far lower).
    const PAIR_BYTES_MAX: u64 = 64 << 20;
    loop {
        let mut len = [0u8; 8];
        match r.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e.to_string()),
        }
        let n = u64::from_le_bytes(len);
        if n > PAIR_BYTES_MAX {
            return Err(format!("a transformed pair of {n} bytes"));
        }
        let mut buf = vec![0u8; n as usize];
        r.read_exact(&mut buf)
            .map_err(|_| "unexpected EOF".to_string())?;
        out.push(KeyValue::decode(&buf[..]).map_err(|e| e.to_string())?);
    }
}

/// etcd's `mvcc.WriteKV` for each pair: stored at revision `{mod, 0}`,
/// in one batch at the backend's own consistent index.
fn write_kvs(backend: &dyn Backend, loaded: &Loaded, kvs: Vec<KeyValue>) -> CmdResult {
    let taken: std::collections::HashSet<i64> =
        loaded.revs.iter().map(|(r, _, _)| r.main).collect();
    if let Some(kv) = kvs.iter().find(|kv| taken.contains(&kv.mod_revision)) {
        return Err(fail(format!(
            "v2 key {} has index {}, a revision the v3 key space already holds: migrating it would overwrite that change",
            String::from_utf8_lossy(&kv.key),
            kv.mod_revision
        )));
    }
    if let Some(kv) = kvs.iter().find(|kv| kv.mod_revision <= 0) {
        return Err(fail(format!(
            "v2 key {} has no index to become its revision",
            String::from_utf8_lossy(&kv.key)
        )));
    }
    let ops: Vec<BackendOp> = kvs
        .into_iter()
        .map(|kv| BackendOp::PutRev {
            rev: Revision::new(kv.mod_revision, 0),
            tombstone: false,
            kv,
        })
        .collect();
    backend
        .commit(&ops, loaded.consistent_index)
        .and_then(|()| backend.flush())
        .map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(key: &str, value: Option<&str>, ttl: i64, nodes: Vec<NodeExtern>) -> NodeExtern {
        NodeExtern {
            key: key.into(),
            value: value.map(str::to_string),
            dir: value.is_none(),
            ttl,
            nodes,
            modified_index: 4,
            created_index: 3,
            ..Default::default()
        }
    }

    #[test]
    fn nodes_flatten_and_transform_as_etcds() {
        let tree = node(
            "/1",
            None,
            0,
            vec![
                node(
                    "/1/dir",
                    None,
                    0,
                    vec![node("/1/dir/a", Some("1"), 0, vec![])],
                ),
                node("/1/t", Some("x"), 30, vec![]),
            ],
        );
        let mut all = Vec::new();
        flatten(tree.clone(), false, &mut all);
        let keys: Vec<&str> = all.iter().map(|n| n.key.as_str()).collect();
        assert_eq!(keys, ["/", "/dir", "/dir/a", "/t"]);
        assert!(all.iter().all(|n| n.nodes.is_empty()));
        let mut no_ttl = Vec::new();
        flatten(tree, true, &mut no_ttl);
        assert_eq!(no_ttl.len(), 3);
        let kvs: Vec<KeyValue> = all.iter().filter_map(transform).collect();
        assert_eq!(kvs.len(), 2);
        assert_eq!(kvs[0].key, b"/dir/a");
        assert_eq!(
            (kvs[0].create_revision, kvs[0].mod_revision, kvs[0].version),
            (3, 4, 1)
        );
        assert_eq!(kvs[1].lease, 0);
    }

    #[test]
    fn transformed_pairs_are_length_prefixed() {
        let kv = KeyValue {
            key: b"k".to_vec(),
            mod_revision: 9,
            ..Default::default()
        };
        let body = kv.encode_to_vec();
        let mut stream = (body.len() as u64).to_le_bytes().to_vec();
        stream.extend(&body);
        let mut out = Vec::new();
        read_kvs(&mut &stream[..], &mut out).unwrap();
        assert_eq!(out, [kv]);
        stream.truncate(stream.len() - 1);
        assert!(read_kvs(&mut &stream[..], &mut Vec::new()).is_err());
    }
}
