//! `etcd`: the oxcd server, a drop-in for etcd's binary.

use std::collections::BTreeMap;
use std::sync::Arc;

use oxcd::config::{self, ConfigError, Parsed};
use oxcd::embed::Stopped;
use oxcd::rt::disk::FsDisk;
use oxcd::server::SERVER_VERSION;
use oxcd::storage::backend::SledBackend;

/// jemalloc instead of glibc's malloc. Under load the server allocates and
/// frees from many threads at once (h2 connections, tokio workers, the
/// backend committer); glibc spent a fifth of the server's CPU on that at
/// 1,000 clients, in its bins' slow paths (`_int_malloc`, `unlink_chunk`,
/// `malloc_consolidate`). jemalloc took 24 % off the server's CPU per put
/// (BENCHMARKS.md). The simulator keeps the system allocator: nothing there
/// measures speed.
#[cfg(not(madsim))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read at its start (`_rjem_` is tikv-jemalloc-sys's
/// symbol prefix). Dirty pages go back to the system after a second instead
/// of ten, so the resident memory after a burst falls back as glibc's does;
/// `_RJEM_MALLOC_CONF` in the environment still overrides these.
#[cfg(not(madsim))]
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: &[u8; 37] = b"dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // etcd looks at its first argument for these before parsing flags.
    if args.first().is_some_and(|a| a == "gateway") {
        std::process::exit(gateway(&args[1..]));
    }
    if args.first().is_some_and(|a| a == "grpc-proxy") {
        std::process::exit(grpc_proxy(&args[1..]));
    }
    let env: BTreeMap<String, String> = std::env::vars().collect();
    // A binary built with the `bugs` feature runs with the planted bug
    // `OXCD_BUG` names (jepsen/ shows its harness catches it too).
    #[cfg(feature = "bugs")]
    if let Some(name) = env.get("OXCD_BUG").filter(|n| !n.is_empty()) {
        let bug = oxcd::bugs::Bug::named(name)
            .unwrap_or_else(|| panic!("OXCD_BUG={name}: no such bug (src/bugs.rs)"));
        oxcd::bugs::inject(bug);
    }
    let (parsed, warnings) = match config::parse(&args, &env) {
        Ok(p) => p,
        Err(ConfigError::Flag(e)) => {
            eprint!("{e}\n{}", config::USAGE);
            std::process::exit(2);
        }
        Err(ConfigError::Fatal(e)) => {
            // Before a logger exists, etcd logs with its default one.
            oxcd::logging::init("capnslog", "info", &[]);
            tracing::error!(target: "etcdmain", "{e}");
            std::process::exit(1);
        }
    };
    let cfg = match parsed {
        Parsed::Version => {
            println!("etcd Version: {SERVER_VERSION}");
            println!("Git SHA: oxcd-{}", env!("CARGO_PKG_VERSION"));
            println!("Go Version: not Go (oxcd, Rust)");
            println!(
                "Go OS/Arch: {}/{}",
                std::env::consts::OS,
                std::env::consts::ARCH
            );
            return;
        }
        Parsed::Help => {
            eprint!("{}", config::USAGE);
            println!("{}", config::help());
            return;
        }
        Parsed::Run(cfg) => cfg,
    };
    oxcd::logging::init(&cfg.logger, &cfg.log_level, &cfg.log_outputs);
    for w in warnings {
        tracing::warn!(target: "etcdmain", "{w}");
    }
    tracing::info!(
        target: "etcdmain",
        "etcd Version: {SERVER_VERSION} (oxcd {})",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!(target: "embed", "name = {}", cfg.name);
    tracing::info!(target: "embed", "data dir = {}", cfg.data_dir);
    tracing::info!(target: "embed", "heartbeat = {}ms", cfg.heartbeat_ms);
    tracing::info!(target: "embed", "election = {}ms", cfg.election_ms);
    tracing::info!(target: "embed", "snapshot count = {}", cfg.snapshot_count);
    tracing::info!(
        target: "embed",
        "advertise client URLs = {}",
        cfg.advertise_client_urls.join(",")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let signal = Arc::new(std::sync::OnceLock::new());
    let code = rt.block_on(serve(&cfg, signal.clone()));
    // The member has stopped and flushed; what is left (idle blocking
    // threads, abandoned connections) must not hold the exit.
    rt.shutdown_timeout(std::time::Duration::from_millis(100));
    // End as etcd does: re-raise the signal we caught.
    if let Some(&sig) = signal.get() {
        oxcd::rt::signal::raise(sig);
    }
    std::process::exit(code);
}

/// Runs the member; the exit code, and in `signal` the signal that stopped it.
async fn serve(cfg: &config::Config, signal: Arc<std::sync::OnceLock<i32>>) -> i32 {
    // Listeners first: a port in use fails before the data dir is touched.
    let mut listeners = match oxcd::embed::listen(cfg).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(target: "etcdmain", critical = true, "{e}");
            return 1;
        }
    };
    // `--discovery-srv`: the initial cluster from DNS, before the data dir.
    let cfg = &match oxcd::embed::discover(cfg, &mut listeners, &FsDisk::new()).await {
        Ok(cfg) => cfg,
        Err(e) => {
            tracing::error!(target: "etcdmain", critical = true, "error setting up initial cluster: {e}");
            return 1;
        }
    };
    let member_dir = std::path::Path::new(&cfg.data_dir).join("member");
    if let Err(e) = std::fs::create_dir_all(member_dir.join("snap")) {
        tracing::error!(target: "etcdmain", critical = true, "cannot access data directory: {e}");
        return 1;
    }
    let backend = match SledBackend::open(&member_dir.join("snap").join("db")) {
        Ok(b) => Arc::new(b),
        Err(e) => {
            tracing::error!(target: "etcdmain", critical = true, "failed to open backend: {e}");
            return 1;
        }
    };
    // Request and lease ids start from the wall clock, as etcd's do, so a
    // restart (as PID 1 in a container, say) never reuses one.
    #[allow(clippy::disallowed_methods)]
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let stop = async move {
        let sig = oxcd::rt::signal::interrupted().await;
        let _ = signal.set(sig);
    };
    match oxcd::embed::run(cfg, listeners, Arc::new(FsDisk::new()), backend, seed, stop).await {
        // etcd's main exits 0 whenever its server stops, removal included.
        Ok(Stopped::Shutdown | Stopped::Removed) => 0,
        Err(e) => {
            tracing::error!(target: "etcdmain", critical = true, "{e}");
            1
        }
    }
}

/// `etcd gateway …` / `etcd grpc-proxy …` once parsed: prints, or starts
/// the proxy on a runtime of its own, logging as etcd's proxies do (zap's
/// production logger) at `level`; the exit code.
fn proxy_main<S, F>(
    cmd: oxcd::proxy::Command<S>,
    level: impl FnOnce(&S) -> &'static str,
    start: impl FnOnce(S) -> F,
) -> i32
where
    F: std::future::Future<Output = i32>,
{
    use oxcd::proxy::Command;
    match cmd {
        Command::Print {
            stdout,
            stderr,
            code,
        } => {
            print!("{stdout}");
            eprint!("{stderr}");
            code
        }
        Command::Start(s) => {
            oxcd::logging::init("zap", level(&s), &[]);
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(start(s))
        }
    }
}

/// `etcd gateway …`: the exit code.
fn gateway(args: &[String]) -> i32 {
    use oxcd::proxy::gateway;
    proxy_main(gateway::parse(args), |_| "info", gateway::start)
}

/// `etcd grpc-proxy …`: the exit code.
fn grpc_proxy(args: &[String]) -> i32 {
    use oxcd::proxy::grpcproxy;
    let level = |s: &Box<_>| {
        let s: &grpcproxy::cmd::Start = s;
        if s.debug {
            "debug"
        } else {
            "info"
        }
    };
    proxy_main(grpcproxy::cmd::parse(args), level, |s| grpcproxy::start(*s))
}
