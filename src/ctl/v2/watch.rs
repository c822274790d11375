//! `watch` and `exec-watch` (etcdctl's `watch_command.go`,
//! `exec_watch_command.go`): long polls of the keys API (`wait=true`),
//! each asking for the events after the last one seen. SIGINT ends them
//! with exit 0, as etcdctl's handler does.

use std::ops::ControlFlow;

use super::client::Client;
use super::format::{print_response_key, Response};
use super::keys::next_event;
use super::{Ctx, Io, Res, EXIT_BAD_ARGS, EXIT_SERVER_ERROR};

/// The first `waitIndex`: after `--after-index`, or from now.
fn first_wait_index(c: &Ctx<'_>) -> u64 {
    match c.flags.int("after-index") {
        i if i > 0 => i as u64 + 1,
        _ => 0,
    }
}

/// Runs `handle` on each event of `key` until it breaks, an error ends
/// the watch (exit 4), or SIGINT (exit 0).
async fn each_event(
    io: &mut Io,
    c: &Ctx<'_>,
    mut cl: Client,
    key: &str,
    mut handle: impl FnMut(&mut Io, &Response) -> ControlFlow<Res>,
) -> Res {
    let recursive = c.flags.bool("recursive");
    let mut wait_index = first_wait_index(c);
    let events = async {
        loop {
            let r = match next_event(&mut cl, io, key, &mut wait_index, recursive).await {
                Ok(r) => r,
                Err(e) => return Err(c.g.fail(io, EXIT_SERVER_ERROR, &e)),
            };
            if let ControlFlow::Break(res) = handle(io, &r) {
                return res;
            }
        }
    };
    tokio::select! {
        r = events => r,
        () = crate::rt::signal::ctrl_c() => Ok(()),
    }
}

pub async fn watch(io: &mut Io, c: &Ctx<'_>) -> Res {
    let cl = c.g.client(io).await?;
    let Some(key) = c.args.first().cloned() else {
        return Err(c.g.fail_msg(io, EXIT_BAD_ARGS, "key required"));
    };
    let recursive = c.flags.bool("recursive");
    let forever = c.flags.bool("forever");
    let output = c.g.output();
    each_event(io, c, cl, &key, |io, r| {
        let node = r.node.clone().unwrap_or_default();
        if node.dir {
            return ControlFlow::Continue(());
        }
        if recursive {
            io.out(&format!("[{}] {}\n", r.action, node.key));
        }
        print_response_key(io, r, &output);
        if forever {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(Ok(()))
        }
    })
    .await
}

/// Splits `exec-watch`'s arguments into the key and the command: with a
/// `--` after the key, `<key> -- <command…>`; without one (urfave moved
/// the command's flags in front), the key is last.
fn key_and_command(args: &[String]) -> (String, Vec<String>) {
    let sep = args.iter().skip(1).any(|a| a == "--");
    if sep {
        (args[0].clone(), args[2..].to_vec())
    } else {
        let (last, rest) = args.split_last().expect("two arguments or more");
        (last.clone(), rest.to_vec())
    }
}

pub async fn exec_watch(io: &mut Io, c: &Ctx<'_>) -> Res {
    let cl = c.g.client(io).await?;
    if c.args.len() < 2 {
        return Err(c
            .g
            .fail_msg(io, EXIT_BAD_ARGS, "key and command to exec required"));
    }
    let (key, cmd) = key_and_command(&c.args);
    let mut children: Vec<std::process::Child> = Vec::new();
    each_event(io, c, cl, &key, |io, r| {
        let node = r.node.clone().unwrap_or_default();
        if node.dir {
            io.err(&format!("Ignored dir {} change\n", node.key));
            return ControlFlow::Continue(());
        }
        // Reap the children that ended (Go's goroutines wait for theirs).
        children.retain_mut(|ch| matches!(ch.try_wait(), Ok(None)));
        let Some((prog, args)) = cmd.split_first() else {
            io.err("exec: no command");
            return ControlFlow::Break(Err(1));
        };
        let spawned = std::process::Command::new(prog)
            .args(args)
            .env_remove("ETCDCTL_API")
            .env("ETCD_WATCH_ACTION", &r.action)
            .env("ETCD_WATCH_MODIFIED_INDEX", node.modified_index.to_string())
            .env("ETCD_WATCH_KEY", &node.key)
            .env("ETCD_WATCH_VALUE", &node.value)
            .spawn();
        match spawned {
            Ok(ch) => {
                children.push(ch);
                ControlFlow::Continue(())
            }
            Err(e) => {
                io.err(&go_exec_error(prog, &e));
                ControlFlow::Break(Err(1))
            }
        }
    })
    .await
}

/// Go's `exec.Cmd.Start` error text.
fn go_exec_error(prog: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        if prog.contains('/') {
            format!("fork/exec {prog}: no such file or directory")
        } else {
            format!("exec: {prog:?}: executable file not found in $PATH")
        }
    } else {
        format!("fork/exec {prog}: {e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_watch_arguments() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            key_and_command(&s(&["/k", "--", "sh", "-c", "x"])),
            ("/k".to_string(), s(&["sh", "-c", "x"]))
        );
        assert_eq!(
            key_and_command(&s(&["echo", "hi", "/k"])),
            ("/k".to_string(), s(&["echo", "hi"]))
        );
    }
}
