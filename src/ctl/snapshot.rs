//! `snapshot save | status | restore` (etcdctl 3.4's
//! `snapshot_command.go` on `clientv3/snapshot`): the files are etcd's
//! (`crate::snapshot`), a restore writes an oxcd data dir. Files are read
//! and written directly: this is the command line's shell, not the server.
//!
//! etcdctl logs these commands with zap's production logger (JSON lines,
//! Unix-seconds timestamps) and clientv3's (ISO timestamps); the lines are
//! etcd's, with their callers.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::membership::{compute_cluster_id, compute_member_id};
use crate::pb::etcdserverpb::maintenance_client::MaintenanceClient;
use crate::pb::etcdserverpb::{Member, SnapshotRequest};
use crate::rt::net::http1::go_errno;
use crate::snapshot::{self, Status};
use crate::storage::backend::{Backend, SledBackend};
use crate::storage::wal::Wal;

use super::global::{bad_args, connect, deadline_exceeded, status_text, zap_line, Ctx, EXIT_ERROR};
use super::print::{humanize_bytes, new_printer};
use super::printer_json::json_str;
use super::util::{create_dir_all, go_quote, path_error};
use super::{CmdResult, Fail, Output};

/// etcdctl's `ExitInterrupted`: what a failed `snapshot save` exits with.
const EXIT_INTERRUPTED: i32 = 5;

/// A zap production log line (`ts` in Unix seconds), as etcdctl's
/// `zap.NewProduction()` writes it.
fn zap_info(caller: &str, msg: &str, fields: &[(&str, String)]) -> String {
    #[allow(clippy::disallowed_methods)] // client-side log timestamp, not server logic
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    zap_line("info", &now.as_secs_f64().to_string(), caller, msg, fields)
}

fn js(s: impl AsRef<str>) -> String {
    json_str(s.as_ref())
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

/// `[a b]`: a string slice as Go's `%v` prints it.
fn go_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// `snapshot save <filename>`: streams `Maintenance.Snapshot` from the one
/// endpoint into `<filename>.part`, checks that it ends with its digest
/// (and, beyond etcdctl 3.4, that the digest is right), syncs it and
/// renames it. On a terminal, a progress line on stderr.
pub(super) async fn snapshot_save(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [path] = ctx.args() else {
        return Err(bad_args("snapshot save expects one argument"));
    };
    let endpoints = ctx.endpoints();
    if endpoints.len() != 1 {
        return Err(Fail(
            EXIT_INTERRUPTED,
            format!(
                "snapshot must be requested to one selected node, not multiple {}",
                go_list(&endpoints)
            ),
        ));
    }
    let part = PathBuf::from(format!("{path}.part"));
    let res = save(ctx, o, &endpoints[0], Path::new(path), &part).await;
    // etcd's `defer os.RemoveAll(partpath)`.
    let _ = fs::remove_file(&part);
    res.map_err(|f| Fail(EXIT_INTERRUPTED, f.msg))?;
    o.out(format!("Snapshot saved at {path}\n"));
    Ok(())
}

async fn save(ctx: &Ctx, o: &mut Output, ep: &str, path: &Path, part: &Path) -> CmdResult {
    let mut f = open_private(part).map_err(|e| {
        Fail(
            EXIT_ERROR,
            format!(
                "could not open {} ({})",
                part.display(),
                path_error("open", part, &e)
            ),
        )
    })?;
    o.err(zap_info(
        "snapshot/v3_snapshot.go:119",
        "created temporary db file",
        &[("path", js(path_str(part)))],
    ));
    #[allow(clippy::disallowed_methods)] // etcdctl's timing of the download, client side
    let started = std::time::Instant::now();
    let fetch = async {
        let (ch, _) = connect(ctx).await?;
        let mut stream = MaintenanceClient::new(ch)
            .max_decoding_message_size(usize::MAX)
            .snapshot(ctx.req(SnapshotRequest {}))
            .await
            .map_err(|st| Fail(EXIT_ERROR, status_text(&st)))?
            .into_inner();
        o.err(zap_line(
            "info",
            &js(super::global::now_rfc3339_ms()),
            "clientv3/maintenance.go:200",
            "opened snapshot stream; downloading",
            &[],
        ));
        o.err(zap_info(
            "snapshot/v3_snapshot.go:127",
            "fetching snapshot",
            &[("endpoint", js(ep))],
        ));
        let mut progress = Progress::new(o.live && std::io::stderr().is_terminal());
        let mut digest = snapshot::TrailerCheck::default();
        while let Some(r) = stream
            .message()
            .await
            .map_err(|st| Fail(EXIT_ERROR, status_text(&st)))?
        {
            f.write_all(&r.blob)
                .map_err(|e| Fail(EXIT_ERROR, path_error("write", part, &e)))?;
            digest.update(&r.blob);
            progress.show(digest.size(), r.remaining_bytes);
        }
        progress.done();
        o.err(zap_line(
            "info",
            &js(super::global::now_rfc3339_ms()),
            "clientv3/maintenance.go:208",
            "completed snapshot read; closing",
            &[],
        ));
        Ok::<_, Fail>(digest)
    };
    // Without --command-timeout, as in etcdctl, the download has no limit.
    let digest = if ctx.p.is_set("command-timeout") {
        let limit = ctx.timeout("command-timeout");
        tokio::time::timeout(limit, fetch)
            .await
            .map_err(|_| deadline_exceeded())??
    } else {
        fetch.await?
    };
    let size = digest.size();
    if !snapshot::has_checksum(size) {
        return Err(Fail(
            EXIT_ERROR,
            format!("sha256 checksum not found [bytes: {size}]"),
        ));
    }
    digest.verify().map_err(|m| Fail(EXIT_ERROR, m))?;
    f.sync_all()
        .map_err(|e| Fail(EXIT_ERROR, path_error("sync", part, &e)))?;
    drop(f);
    o.err(zap_info(
        "snapshot/v3_snapshot.go:142",
        "fetched snapshot",
        &[
            ("endpoint", js(ep)),
            ("size", js(humanize_bytes(size))),
            ("took", started.elapsed().as_secs_f64().to_string()),
        ],
    ));
    fs::rename(part, path).map_err(|e| {
        let (from, to) = (part.display(), path.display());
        let why = go_errno(&e);
        Fail(
            EXIT_ERROR,
            format!("could not rename {from} to {to} (rename {from} {to}: {why})"),
        )
    })?;
    o.err(zap_info(
        "snapshot/v3_snapshot.go:152",
        "saved",
        &[("path", js(path_str(path)))],
    ));
    Ok(())
}

/// `fileutil.PrivateFileMode` (0600), truncated.
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// The download's progress on a terminal's stderr: one line, rewritten
/// when the percentage changes. Nothing when stderr is not a terminal, so
/// what a script sees is etcdctl's output alone.
struct Progress {
    on: bool,
    shown: Option<u64>,
}

impl Progress {
    fn new(on: bool) -> Progress {
        Progress { on, shown: None }
    }

    fn show(&mut self, got: u64, remaining: u64) {
        let total = got + remaining;
        let pct = (got * 100).checked_div(total).unwrap_or(100);
        if !self.on || self.shown == Some(pct) {
            return;
        }
        self.shown = Some(pct);
        let filled = (pct / 4) as usize;
        let mut err = std::io::stderr();
        let _ = write!(
            err,
            "\r[{}{}] {pct:>3}% {} / {}",
            "#".repeat(filled),
            "-".repeat(25 - filled),
            humanize_bytes(got),
            humanize_bytes(total)
        );
        let _ = err.flush();
    }

    /// Clears the line.
    fn done(&self) {
        if self.on && self.shown.is_some() {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }
}

/// `snapshot status <filename>`: the file's hash, revision, keys and size
/// in the `--write-out` format.
pub(super) fn snapshot_status(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [path] = ctx.args() else {
        return Err(bad_args("snapshot status requires exactly one argument"));
    };
    let display = new_printer(ctx)?;
    let st = file_status(Path::new(path)).map_err(|m| Fail(EXIT_ERROR, m))?;
    display.db_status(o, &st)
}

/// etcd's `snapshot.Status` of a file, with Go's errors for a file that
/// is missing, or empty (bbolt tries to initialise it, read only).
fn file_status(path: &Path) -> Result<Status, String> {
    fs::metadata(path).map_err(|e| path_error("stat", path, &e))?;
    let bytes = fs::read(path).map_err(|e| path_error("open", path, &e))?;
    if bytes.is_empty() {
        return Err(format!("write {}: bad file descriptor", path.display()));
    }
    snapshot::status(&bytes)
}

/// One member of `--initial-cluster`: its name and peer URLs.
type NamedUrls = (String, Vec<String>);

/// etcd's `types.NewURLs`: every URL valid, at least one.
fn urls(list: &[String]) -> Result<Vec<String>, String> {
    if list.is_empty() {
        return Err("no valid URLs given".into());
    }
    let mut out = Vec::with_capacity(list.len());
    for u in list {
        let u = u.trim();
        crate::config::goflag::check_url(u)?;
        out.push(u.to_string());
    }
    out.sort();
    Ok(out)
}

/// etcd's `types.NewURLsMap`: `name=url,...`, a name given twice collects
/// its URLs; names in order.
fn urls_map(s: &str) -> Result<Vec<NamedUrls>, String> {
    let mut m: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (name, url) = part.split_once('=').unwrap_or((part, ""));
        m.entry(name.to_string()).or_default().push(url.to_string());
    }
    m.into_iter().map(|(n, us)| Ok((n, urls(&us)?))).collect()
}

/// `name=url1,name=url2` as etcd's `URLsMap.String` writes it.
fn urls_map_string(m: &[NamedUrls]) -> String {
    let mut pairs: Vec<String> = m
        .iter()
        .flat_map(|(n, us)| us.iter().map(move |u| format!("{n}={u}")))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// etcd's `ServerConfig.VerifyBootstrap` for a restore: this member is in
/// the initial cluster with exactly its advertised peer URLs, and no URL
/// is listed twice.
fn verify_bootstrap(name: &str, peer_urls: &[String], cluster: &[NamedUrls]) -> Result<(), String> {
    let Some((_, mine)) = cluster.iter().find(|(n, _)| n == name) else {
        return Err(format!(
            "couldn't find local name {} in the initial cluster configuration",
            go_quote(name.as_bytes())
        ));
    };
    if mine != peer_urls {
        let missing: Vec<String> = mine
            .iter()
            .filter(|u| !peer_urls.contains(u))
            .map(|u| format!("{name}={u}"))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "--initial-cluster has {} but missing from --initial-advertise-peer-urls={} (resolved urls: {} != {})",
                missing.join(","),
                peer_urls.join(","),
                go_quote(peer_urls.join(",").as_bytes()),
                go_quote(mine.join(",").as_bytes()),
            ));
        }
        let extra: Vec<&str> = peer_urls
            .iter()
            .filter(|u| !mine.contains(u))
            .map(String::as_str)
            .collect();
        return Err(format!(
            "--initial-advertise-peer-urls has {} but missing from --initial-cluster={}",
            extra.join(","),
            urls_map_string(&[(name.to_string(), peer_urls.to_vec())])
        ));
    }
    let mut all: Vec<&String> = cluster.iter().flat_map(|(_, us)| us).collect();
    all.sort();
    if all.windows(2).any(|w| w[0] == w[1]) {
        return Err(format!(
            "initial cluster {} has duplicate url",
            urls_map_string(cluster)
        ));
    }
    Ok(())
}

/// `snapshot restore <filename>`: a new member's data dir (oxcd's layout)
/// holding the snapshot's data as a new cluster of `--initial-cluster`.
pub(super) fn snapshot_restore(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let [file] = ctx.args() else {
        return Err(bad_args("snapshot restore requires exactly one argument"));
    };
    let name = ctx.get("name");
    let data_dir = match ctx.get("data-dir") {
        "" => format!("{name}.etcd"),
        d => d.to_string(),
    };
    let wal_dir = match ctx.get("wal-dir") {
        "" => Path::new(&data_dir).join("member").join("wal"),
        w => PathBuf::from(w),
    };
    let fail = |m: String| Fail(EXIT_ERROR, m);
    let peer_urls: Vec<String> = ctx
        .get("initial-advertise-peer-urls")
        .split(',')
        .map(str::to_string)
        .collect();
    let peer_urls = urls(&peer_urls).map_err(fail)?;
    let cluster = urls_map(ctx.get("initial-cluster")).map_err(fail)?;
    verify_bootstrap(name, &peer_urls, &cluster).map_err(fail)?;
    let token = ctx.get("initial-cluster-token");
    let mut members: Vec<(Member, &str)> = cluster
        .iter()
        .map(|(n, us)| {
            let m = Member {
                id: compute_member_id(us, token),
                peer_ur_ls: us.clone(),
                ..Member::default()
            };
            (m, n.as_str())
        })
        .collect();
    members.sort_by_key(|(m, _)| m.id);
    if let Some(w) = members.windows(2).find(|w| w[0].0.id == w[1].0.id) {
        return Err(fail(format!(
            "member exists with identical ID {:x}",
            w[0].0.id
        )));
    }
    let ids: Vec<u64> = members.iter().map(|(m, _)| m.id).collect();
    let cluster_id = compute_cluster_id(&ids);
    let me = members
        .iter()
        .find(|(_, n)| *n == name)
        .expect("verify_bootstrap found this member")
        .0
        .id;
    let data = Path::new(&data_dir);
    if data.exists() {
        return Err(fail(format!(
            "data-dir {} exists",
            go_quote(data_dir.as_bytes())
        )));
    }
    if wal_dir.exists() {
        return Err(fail(format!(
            "wal-dir {} exists",
            go_quote(path_str(&wal_dir).as_bytes())
        )));
    }
    let snap_dir = data.join("member").join("snap");
    let where_fields = || {
        vec![
            ("path", js(file)),
            ("wal-dir", js(path_str(&wal_dir))),
            ("data-dir", js(&data_dir)),
            ("snap-dir", js(path_str(&snap_dir))),
        ]
    };
    o.err(zap_info(
        "snapshot/v3_snapshot.go:296",
        "restoring snapshot",
        &where_fields(),
    ));
    let bytes = fs::read(file).map_err(|e| fail(path_error("open", Path::new(file), &e)))?;
    create_dir_all(&snap_dir).map_err(fail)?;
    let db = snapshot::verify_trailer(&bytes, ctx.bool("skip-hash-check")).map_err(fail)?;
    let member_list: Vec<Member> = members.iter().map(|(m, _)| m.clone()).collect();
    let restored = snapshot::restore(db, &member_list).map_err(|e| fail(e.to_string()))?;
    for (m, _) in &members {
        o.err(zap_info(
            "membership/cluster.go:392",
            "added member",
            &[
                ("cluster-id", js(format!("{cluster_id:x}"))),
                ("local-member-id", js("0")),
                ("added-peer-id", js(format!("{:x}", m.id))),
                ("added-peer-peer-urls", json_list(&m.peer_ur_ls)),
            ],
        ));
    }
    write_backend(&snap_dir.join("db"), restored.pairs).map_err(fail)?;
    let write_wal = || -> std::io::Result<()> {
        let disk = Arc::new(crate::rt::disk::FsDisk::new());
        let (mut wal, _) = Wal::open(disk, &wal_dir)?;
        wal.set_metadata(me, cluster_id);
        wal.set_conf_state(&restored.conf_state)?;
        wal.append_entries(&restored.entries)?;
        wal.set_hard_state(&restored.hard_state)?;
        wal.sync()
    };
    write_wal().map_err(|e| fail(format!("wal: {}", go_errno(&e))))?;
    o.err(zap_info(
        "snapshot/v3_snapshot.go:309",
        "restored snapshot",
        &where_fields(),
    ));
    Ok(())
}

fn json_list(v: &[String]) -> String {
    let mut s = String::new();
    crate::v2store::json::push_str_list(&mut s, v);
    s
}

/// The member's backend, as the `etcd` binary opens it.
fn write_backend(dir: &Path, pairs: Vec<crate::storage::backend::Pair>) -> Result<(), String> {
    let be = SledBackend::open(dir).map_err(|e| format!("backend: {e}"))?;
    be.replace_all(pairs).map_err(|e| format!("backend: {e}"))
}
