//! `backup` (etcdctl's `backup_command.go`) is not built: it rewrites an
//! etcd data dir offline (the WAL without conf changes and member
//! attributes, new node and cluster ids, the snapshot, and a bbolt
//! database without the member buckets), which needs readers and writers
//! of etcd's WAL, snap and bbolt formats that oxcd does not have (its own
//! data dir is sled and its own WAL). It says so instead of pretending.

use super::{Ctx, Io, Res};

pub async fn backup(io: &mut Io, _c: &Ctx<'_>) -> Res {
    io.err("Error: 'etcdctl backup' is not built in oxcd's etcdctl yet\n");
    Err(1)
}
