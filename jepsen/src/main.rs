//! oxcd-jepsen: a black-box fault test of real server processes, in the
//! manner of Jepsen. It starts a cluster of the binary `--server` names (oxcd's
//! `etcd` or the real etcd 3.4, same flags) in network namespaces of its own,
//! runs a workload through gRPC clients while a nemesis partitions, kills,
//! pauses and slows the nodes, heals everything, checks that the cluster
//! answers again, and decides the history with `oxcd-checker`, the checkers
//! the simulator uses. It ends with one line: VALID, INVALID or ERROR.
//!
//! ```text
//! cargo run -p oxcd-jepsen --release -- --server target/release/etcd \
//!     --nodes 3 --time-limit 300 --nemesis partition,kill,pause --workload register
//! ```
//!
//! Needs root (network namespaces, iptables, tc). `--cleanup` removes what a
//! harness killed by SIGKILL left behind.

mod db;
mod nemesis;
mod net;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use db::Cluster;
use nemesis::Kind;
use workload::{Plan, Workload};

const USAGE: &str = "usage: oxcd-jepsen --server PATH [--nodes 3] [--time-limit SECS=60]
       [--nemesis partition,kill,pause,netem,member|none] [--workload register|bank|lock|watch|lease]
       [--clients 5] [--interval-ms 20] [--seed N] [--run-dir DIR]
   or: oxcd-jepsen --cleanup";

struct Opts {
    server: PathBuf,
    nodes: usize,
    time_limit: Duration,
    nemesis: Vec<Kind>,
    workload: Workload,
    clients: usize,
    interval: Duration,
    seed: u64,
    run_dir: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts {
        server: PathBuf::new(),
        nodes: 3,
        time_limit: Duration::from_secs(60),
        nemesis: Kind::parse("partition,kill,pause")?,
        workload: Workload::Register,
        clients: 5,
        interval: Duration::from_millis(20),
        seed: wall_secs(),
        run_dir: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (a.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next().cloned())
                .ok_or(format!("{name} needs a value"))
        };
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name}: not a number: {v}"))
        };
        match name {
            "--server" => o.server = PathBuf::from(value()?),
            "--nodes" => o.nodes = num(value()?)? as usize,
            "--time-limit" => o.time_limit = Duration::from_secs(num(value()?)?),
            "--nemesis" => o.nemesis = Kind::parse(&value()?)?,
            "--workload" => o.workload = Workload::parse(&value()?)?,
            "--clients" => o.clients = num(value()?)? as usize,
            "--interval-ms" => o.interval = Duration::from_millis(num(value()?)?),
            "--seed" => o.seed = num(value()?)?,
            "--run-dir" => o.run_dir = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other}\n{USAGE}")),
        }
    }
    if o.server.as_os_str().is_empty() {
        return Err(format!("--server is required\n{USAGE}"));
    }
    if !(1..=9).contains(&o.nodes) {
        return Err("--nodes: 1 to 9".into());
    }
    Ok(o)
}

/// The wall clock, for a default seed and run directory name only: the
/// harness is outside the runtime seam (it drives real processes).
#[allow(clippy::disallowed_methods)]
fn wall_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--cleanup") {
        match net::cleanup_stale() {
            Ok(n) => println!("removed {n} namespaces"),
            Err(e) => {
                eprintln!("cleanup: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(run(opts));
    std::process::exit(code);
}

async fn run(o: Opts) -> i32 {
    oxcd_checker::clock::set_seed(o.seed);
    let server = std::fs::canonicalize(&o.server).unwrap_or(o.server.clone());
    let server_name = server_version(&server);
    let wl = format!("{:?}", o.workload).to_lowercase();
    let dir = o
        .run_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("target/jepsen/{}-{wl}-{}", wall_secs(), o.seed)));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return 2;
    }
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let what = format!(
        "{wl} on {server_name}, {} nodes, {} s, nemesis {}, seed {}",
        o.nodes,
        o.time_limit.as_secs(),
        if o.nemesis.is_empty() {
            "none".to_string()
        } else {
            format!("{:?}", o.nemesis).to_lowercase()
        },
        o.seed
    );
    println!("oxcd-jepsen: {what}; run directory {}", dir.display());
    let outcome = run_in(&o, &server, &dir).await;
    let (code, line) = match outcome {
        Ok((true, summary)) => (0, format!("VALID {what}: {summary}")),
        Ok((false, why)) => (1, format!("INVALID {what}: {why}")),
        Err(e) => (2, format!("ERROR {what}: {e}")),
    };
    let _ = std::fs::write(dir.join("result.txt"), format!("{line}\n"));
    println!("oxcd-jepsen: {line}");
    code
}

/// The server's `--version` first line (`etcd Version: 3.4.23`), with its path.
fn server_version(server: &Path) -> String {
    let v = std::process::Command::new(server)
        .arg("--version")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    format!("{} ({})", server.display(), v.trim())
}

/// The run; `(valid, summary or violation)`, or an error that kept it from
/// being decided.
async fn run_in(o: &Opts, server: &Path, dir: &Path) -> Result<(bool, String), String> {
    let cluster = Cluster::start(server, o.nodes, dir, o.workload.server_flags())?;
    let urls = cluster.client_urls();
    let cell: nemesis::Cell = Arc::new(Mutex::new(cluster));
    // SIGINT/SIGTERM: stop the processes and remove the namespaces first.
    let on_signal = cell.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        eprintln!("oxcd-jepsen: interrupted; cleaning up");
        // Even after a panic elsewhere held the lock: clean up regardless.
        on_signal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .teardown();
        std::process::exit(130);
    });
    // The signal task keeps a reference, so the cluster is torn down here,
    // on every path, rather than when the last reference drops.
    let result = test(o, dir, &cell, urls).await;
    cell.lock().expect("cluster lock").teardown();
    result
}

/// The run proper, on a started cluster.
async fn test(
    o: &Opts,
    dir: &Path,
    cell: &nemesis::Cell,
    urls: Vec<String>,
) -> Result<(bool, String), String> {
    // Wait for a leader before the clock starts.
    let ready = async {
        while db::leader(&urls).await.is_none() {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(30), ready)
        .await
        .is_err()
    {
        return Err(format!("no leader within 30 s; logs in {}", dir.display()));
    }

    let offset = oxcd_checker::clock::now();
    let plan = Plan {
        urls: urls.clone(),
        clients: o.clients,
        interval: o.interval,
        until: offset + o.time_limit,
        start: madsim::time::Instant::now(),
    };
    let nem = tokio::spawn(nemesis::run(
        cell.clone(),
        o.nemesis.clone(),
        plan.until,
        StdRng::seed_from_u64(o.seed ^ 0x6e656d65),
    ));
    let history = workload::run(o.workload, &plan).await;
    let faults = nem.await.map_err(|e| format!("nemesis task: {e}"))??;
    let history = history?;

    // Heal, then the cluster must answer a fresh client again.
    let crashed = {
        let mut c = cell.lock().expect("cluster lock");
        let crashed = c.exited();
        c.heal_all()?;
        crashed
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    let probe = tokio::time::timeout(Duration::from_secs(60), history.probe(&plan)).await;
    let live = matches!(probe, Ok(n) if n > 0);
    let end = oxcd_checker::clock::now();

    let checked = history.check(offset);
    let axis = report::Axis { offset, end };
    let (ok, fail, unknown) = checked
        .rows
        .iter()
        .fold((0, 0, 0), |(a, b, c), r| match r.outcome {
            workload::Outcome::Ok => (a + 1, b, c),
            workload::Outcome::Fail => (a, b + 1, c),
            workload::Outcome::Unknown => (a, b, c + 1),
        });
    let counts = format!(
        "{} ops ({ok} ok, {fail} failed, {unknown} unknown), {} faults",
        checked.rows.len(),
        faults.len()
    );
    // A run in which nothing succeeded shows nothing: not VALID.
    let result = match (&checked.verdict, live, crashed.is_empty()) {
        (Err(v), _, _) => (false, format!("{counts}; {v}")),
        (Ok(_), _, _) if !checked.exercised => (
            false,
            format!("{counts}; no operation of the workload succeeded"),
        ),
        (Ok(_), false, _) => (
            false,
            format!("{counts}; no operation completed within 60 s of healing"),
        ),
        (Ok(_), _, false) => (
            false,
            format!("{counts}; nodes exited by themselves: {crashed:?}"),
        ),
        (Ok(s), true, true) => (true, format!("{counts}; {s}")),
    };
    report::write_all(
        dir,
        &checked.rows,
        &checked.lanes,
        &faults,
        &axis,
        &result.1,
    )
    .map_err(|e| format!("writing the report: {e}"))?;
    Ok(result)
}
