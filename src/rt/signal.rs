//! Process signals, for the binaries only (not simulated: in the simulator
//! no signal ever comes): etcd's interrupt handling (`pkg/osutil`): on
//! SIGINT or SIGTERM it logs, runs its cleanup, then re-raises the signal
//! with the default action, so the process ends as killed by it (a shell
//! sees 130 or 143).

/// Waits for SIGINT or SIGTERM; logs it as etcd does and returns its number.
#[cfg(madsim)]
pub async fn interrupted() -> i32 {
    std::future::pending().await
}

/// Waits for SIGINT or SIGTERM; logs it as etcd does and returns its number.
#[cfg(not(madsim))]
pub async fn interrupted() -> i32 {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let (sig, name) = tokio::select! {
        _ = int.recv() => (libc::SIGINT, "interrupt"),
        _ = term.recv() => (libc::SIGTERM, "terminated"),
    };
    tracing::info!(target: "pkg/osutil", notice = true, "received {name} signal, shutting down...");
    sig
}

/// Ends the process by `sig` with its default action (etcd's
/// `osutil.HandleInterrupts` does the same after its cleanup).
#[cfg(not(madsim))]
pub fn raise(sig: i32) -> ! {
    // SAFETY: resetting a handler and signalling ourselves have no memory
    // effects; if the signal somehow does not end us, we exit below.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::kill(libc::getpid(), sig);
    }
    std::process::exit(128 + sig)
}

/// Waits for SIGINT (etcdctl's watches end on it with exit 0).
#[cfg(not(madsim))]
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits for SIGINT: never, in the simulator.
#[cfg(madsim)]
pub async fn ctrl_c() {
    std::future::pending().await
}
