//! `etcd`: the oxcd server, a drop-in for etcd's binary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use oxcd::config::{self, Parsed};
use oxcd::rt::disk::FsDisk;
use oxcd::server::SERVER_VERSION;
use oxcd::storage::backend::SledBackend;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let (parsed, warnings) = match config::parse(&args, &env) {
        Ok(p) => p,
        Err(e) => {
            eprint!("{}\n{}", e.0, config::USAGE);
            std::process::exit(2);
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
            print!("{}", config::USAGE);
            return;
        }
        Parsed::Run(cfg) => cfg,
    };
    oxcd::logging::init(&cfg.logger, &cfg.log_level, &cfg.log_outputs);
    for w in warnings {
        tracing::warn!("{w}");
    }
    tracing::info!(
        "oxcd Version: {SERVER_VERSION} (oxcd {})",
        env!("CARGO_PKG_VERSION")
    );
    tracing::info!("name = {}", cfg.name);
    tracing::info!("data dir = {}", cfg.data_dir);
    tracing::info!("heartbeat = {}ms", cfg.heartbeat_ms);
    tracing::info!("election = {}ms", cfg.election_ms);
    tracing::info!(
        "advertise client URLs = {}",
        cfg.advertise_client_urls.join(",")
    );
    for f in &cfg.ignored {
        tracing::warn!("flag --{f} is accepted but has no effect in this oxcd version");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let code = rt.block_on(async move {
        let member_dir = Path::new(&cfg.data_dir).join("member");
        if let Err(e) = std::fs::create_dir_all(member_dir.join("snap")) {
            tracing::error!("cannot access data directory: {e}");
            return 1;
        }
        let backend = match SledBackend::open(&member_dir.join("snap").join("db")) {
            Ok(b) => Arc::new(b),
            Err(e) => {
                tracing::error!("failed to open backend: {e}");
                return 1;
            }
        };
        let seed = u64::from(std::process::id());
        match oxcd::embed::run(
            &cfg,
            Arc::new(FsDisk::new()),
            backend,
            seed,
            shutdown_signal(),
        )
        .await
        {
            Ok(()) => 0,
            Err(e) => {
                tracing::error!("{e}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("received interrupt signal, shutting down..."),
        _ = term.recv() => tracing::info!("received terminated signal, shutting down..."),
    }
}
