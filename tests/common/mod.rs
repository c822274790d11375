//! Helpers for integration tests that run real `etcd` processes.
#![allow(dead_code)]
// Real processes on real sockets: real time is the point here.
#![allow(clippy::disallowed_methods)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const ETCD: &str = env!("CARGO_BIN_EXE_etcd");
pub const ETCDCTL: &str = env!("CARGO_BIN_EXE_etcdctl");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn temp_dir(label: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "oxcd-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running oxcd member; killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
}

impl Server {
    /// Starts `etcd` in `dir` (the working directory, so `default.etcd` lands there).
    pub fn start(dir: &Path, port: u16, extra: &[&str]) -> Server {
        let s = Server::spawn(dir, port, free_port(), extra);
        s.wait_ready();
        s
    }

    /// Starts `etcd` without waiting for it to serve.
    pub fn spawn(dir: &Path, port: u16, peer: u16, extra: &[&str]) -> Server {
        Server::spawn_bin(ETCD, None, dir, port, peer, extra)
    }

    /// Starts the server binary `bin` (ours, or the real etcd) without
    /// waiting, under an open-files limit of `nofile` if given.
    pub fn spawn_bin(
        bin: &str,
        nofile: Option<u64>,
        dir: &Path,
        port: u16,
        peer: u16,
        extra: &[&str],
    ) -> Server {
        let url = format!("http://127.0.0.1:{port}");
        let log = std::fs::File::create(dir.join(format!("etcd-{port}.log"))).unwrap();
        let mut cmd = match nofile {
            Some(n) => {
                let mut c = Command::new("bash");
                c.args(["-c", &format!("ulimit -n {n} && exec \"$0\" \"$@\""), bin]);
                c
            }
            None => Command::new(bin),
        };
        let child = cmd
            .current_dir(dir)
            .args([
                format!("--listen-client-urls={url}"),
                format!("--advertise-client-urls={url}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        Server {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let o = self.ctl(&["endpoint", "health"]);
            if o.status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("oxcd on port {} did not become healthy", self.port);
    }

    pub fn ctl(&self, args: &[&str]) -> Output {
        ctl(&self.endpoint(), args, None)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit status as a shell shows it
    /// (128 + the signal for a process killed by one: etcd re-raises
    /// SIGTERM after its cleanup, so a clean stop is 143).
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(shell_status)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs our etcdctl against `endpoint`.
pub fn ctl(endpoint: &str, args: &[&str], stdin: Option<&str>) -> Output {
    ctl_bin(ETCDCTL, endpoint, args, stdin)
}

/// Runs the etcdctl `bin` (ours or the real one) against `endpoint`, in
/// its v3 mode.
pub fn ctl_bin(bin: &str, endpoint: &str, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut c = Command::new(bin)
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={endpoint}"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let input = stdin.unwrap_or("").to_string();
    let mut pipe = c.stdin.take().unwrap();
    pipe.write_all(input.as_bytes()).unwrap();
    drop(pipe);
    c.wait_with_output().unwrap()
}

/// Runs etcdctl `bin` (ours or the real one) in API v3 against
/// `127.0.0.1:port`: exit code, stdout, stderr.
pub fn etcdctl_at(bin: &str, port: u16, args: &[&str]) -> (i32, String, String) {
    let o = Command::new(bin)
        .arg(format!("--endpoints=127.0.0.1:{port}"))
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A two-thread tokio runtime for a test's own gRPC clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// An exit status as a shell's `$?` shows it.
pub fn shell_status(s: std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    s.code().or_else(|| s.signal().map(|sig| 128 + sig))
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The real etcd 3.4 (Debian's `etcd-server`), the oracle of the tests that
/// compare with it.
pub const REAL_ETCD: &str = "/usr/bin/etcd";

/// Whether the oracle at `path` is installed. Where it must be (`CI` or
/// `OXCD_REQUIRE_DIFFERENTIAL` set) its absence fails the test; elsewhere
/// `what` is reported as not run.
pub fn real_etcd_present(path: &str, what: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    let required =
        std::env::var_os("CI").is_some() || std::env::var_os("OXCD_REQUIRE_DIFFERENTIAL").is_some();
    assert!(
        !required,
        "the real etcd 3.4 is required but {path} is missing: run `.ci/run` or \
         `apt-get install etcd-server etcd-client`"
    );
    eprintln!("{what} NOT RUN: {path} is missing");
    false
}
