//! Log output in etcd 3.4's formats: capnslog lines by default
//! (`2006-01-02 15:04:05.000000 I | embed: message`), JSON lines with
//! `--logger=zap`. Only the binaries install it; the wall clock is read here,
//! outside server code.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// Civil UTC time from Unix seconds (Howard Hinnant's days-from-civil inverse).
pub fn utc(secs: u64) -> (i64, u32, u32, u32, u32, u32) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// The wall clock: Unix seconds and microseconds (log lines, and the
/// times etcdctl prints or stamps).
pub fn wall_clock() -> (u64, u32) {
    now()
}

fn now() -> (u64, u32) {
    #[allow(clippy::disallowed_methods)] // logging is the binary's shell, not server logic
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs(), d.subsec_micros())
}

/// etcd's package name for a Rust module path (`oxcd::embed` → `embed`).
fn package(target: &str) -> &str {
    match target.rsplit("::").next().unwrap_or(target) {
        "raftnode" => "raft",
        "server" | "apply" | "member" => "etcdserver",
        "v3rpc" | "http" | "kv" | "maintenance" | "cluster" => "v3rpc",
        "membership" => "etcdserver/membership",
        other => other,
    }
}

/// The message of an event, plus capnslog's two levels tracing lacks:
/// `notice = true` on an info event is `N`, `critical = true` on an error
/// event is `C` (zap's `fatal`).
#[derive(Default)]
struct MessageOnly {
    text: String,
    notice: bool,
    critical: bool,
}

impl tracing::field::Visit for MessageOnly {
    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        match field.name() {
            "notice" => self.notice = value,
            "critical" => self.critical = value,
            _ => self.record_debug(field, &value),
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(self.text, "{value:?}");
        } else {
            let _ = write!(self.text, " {}={value:?}", field.name());
        }
    }
}

/// Formats events like etcd 3.4.
pub struct EtcdFormat {
    pub json: bool,
}

impl<S, N> FormatEvent<S, N> for EtcdFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events bridged from the `log` crate are sled's internals (etcd
        // prints nothing like them, at any level): an empty record writes
        // no line.
        if event.metadata().target() == "log" {
            return Ok(());
        }
        let mut msg = MessageOnly::default();
        event.record(&mut msg);
        let (secs, micros) = now();
        let (y, mo, d, h, mi, s) = utc(secs);
        let meta = event.metadata();
        if self.json {
            let level = if msg.critical {
                "fatal".to_string()
            } else {
                meta.level().as_str().to_ascii_lowercase()
            };
            let escaped = msg.text.replace('\\', "\\\\").replace('"', "\\\"");
            writeln!(
                w,
                "{{\"level\":\"{level}\",\"ts\":\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z\",\"caller\":\"{}\",\"msg\":\"{escaped}\"}}",
                micros / 1000,
                package(meta.target())
            )
        } else {
            let l = match *meta.level() {
                Level::ERROR if msg.critical => 'C',
                Level::INFO if msg.notice => 'N',
                Level::ERROR => 'E',
                Level::WARN => 'W',
                Level::INFO => 'I',
                Level::DEBUG | Level::TRACE => 'D',
            };
            writeln!(
                w,
                "{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{micros:06} {l} | {}: {}",
                package(meta.target()),
                msg.text
            )
        }
    }
}

/// Installs the logger for the `etcd` binary; `outputs` is `--log-outputs`
/// (`default`/`stderr`, `stdout`, or a file path; the first one is used).
pub fn init(logger: &str, level: &str, outputs: &[String]) {
    let level = match level {
        "debug" => Level::DEBUG,
        "warn" => Level::WARN,
        "error" | "panic" | "fatal" => Level::ERROR,
        _ => Level::INFO,
    };
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let writer = match outputs.first().map(String::as_str) {
        None | Some("default") | Some("stderr") => BoxMakeWriter::new(std::io::stderr),
        Some("stdout") => BoxMakeWriter::new(std::io::stdout),
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
            Err(e) => {
                eprintln!("cannot open log output {path}: {e}; logging to stderr");
                BoxMakeWriter::new(std::io::stderr)
            }
        },
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(writer)
        .event_format(EtcdFormat {
            json: logger == "zap",
        })
        .try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_time() {
        assert_eq!(super::utc(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(super::utc(1795465922), (2026, 11, 23, 20, 32, 2));
    }
}
