//! The process's stdin, line by line, for the `etcdctl` binary only (not
//! simulated: the simulator has no stdin, and no blocking tasks).

use tokio::sync::mpsc;

/// Reads stdin a line at a time on a blocking task of its own, each line
/// with its newline; a last line without one, or a failed read, comes as
/// `Err` (Go's `ReadString` error text: `EOF` at the end) and ends it. The
/// channel holds one line, so the reader waits for each to be taken, and
/// stops when the receiver is dropped.
pub fn lines() -> mpsc::Receiver<Result<String, String>> {
    let (tx, rx) = mpsc::channel(1);
    #[cfg(not(madsim))]
    tokio::task::spawn_blocking(move || loop {
        let mut l = String::new();
        let read = match std::io::stdin().read_line(&mut l) {
            Ok(_) if l.ends_with('\n') => Ok(l),
            Ok(_) => Err("EOF".to_string()),
            Err(e) => Err(e.to_string()),
        };
        let end = read.is_err();
        if tx.blocking_send(read).is_err() || end {
            return;
        }
    });
    #[cfg(madsim)]
    drop(tx);
    rx
}
