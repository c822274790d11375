//! `etcdctl check perf|datascale` (etcdctl's `check.go`): a put workload
//! of a fixed shape from many clients, then a verdict. `perf` writes at a
//! fixed rate for 60 s and judges throughput and latency; `datascale`
//! writes a fixed number of keys and reports how much the server's
//! resident memory (its `/metrics`) grew.
//!
//! The workload is as etcdctl's: keys are the prefix and a 256-byte (perf)
//! or 512-byte (datascale) buffer holding a random varint, values zero
//! bytes; each client has a connection of its own and takes the next put
//! from one queue bounded by the number of clients.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{mpsc, Mutex};
use tokio::time::Instant;
use tonic::transport::Channel;

use crate::pb::etcdserverpb::{
    kv_client::KvClient, CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest,
};

use super::defrag::defragment;
use super::global::{
    call, connect, rpc_failure, Ctx, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INVALID_INPUT, NO_DEADLINE,
};
use super::util::{go_quote, prefix_end};
use super::{CmdResult, Fail, Output};

/// A perf workload: puts per second, clients, seconds.
struct PerfLoad {
    limit: u32,
    clients: usize,
    duration_s: u32,
}

/// A datascale workload: keys written, bytes per pair, clients.
struct DatascaleLoad {
    limit: usize,
    kv_size: usize,
    clients: usize,
}

/// The workload names and their aliases.
fn model(load: &str) -> Result<&'static str, Fail> {
    match load {
        "s" | "small" => Ok("s"),
        "m" | "medium" => Ok("m"),
        "l" | "large" => Ok("l"),
        "xl" | "xLarge" => Ok("xl"),
        _ => Err(Fail(
            EXIT_BAD_FEATURE,
            format!("unknown load option {load}"),
        )),
    }
}

fn perf_load(model: &str) -> PerfLoad {
    let (limit, clients) = match model {
        "s" => (150, 50),
        "m" => (1000, 200),
        "l" => (8000, 500),
        _ => (15000, 1000),
    };
    PerfLoad {
        limit,
        clients,
        duration_s: 60,
    }
}

fn datascale_load(model: &str) -> DatascaleLoad {
    let (limit, clients) = match model {
        "s" => (10_000, 50),
        "m" => (100_000, 200),
        "l" => (1_000_000, 500),
        // Three versions of a million objects: the upper bound, hit hard.
        _ => (3_000_000, 1000),
    };
    DatascaleLoad {
        limit,
        kv_size: 1024,
        clients,
    }
}

/// What etcd's `report` package makes of the results: latencies of the
/// puts that succeeded, counts of the errors of those that failed.
#[derive(Default)]
struct Stats {
    lats_s: Vec<f64>,
    errors: BTreeMap<String, u64>,
    total_s: f64,
}

impl Stats {
    fn rps(&self) -> f64 {
        self.lats_s.len() as f64 / self.total_s
    }
    fn slowest_s(&self) -> f64 {
        self.lats_s.iter().copied().fold(0.0, f64::max)
    }
    /// Says which errors the puts met, if any; whether there were none.
    fn print_errors(&self, o: &mut Output) -> bool {
        if self.errors.is_empty() {
            return true;
        }
        o.out("FAIL: too many errors\n");
        for (e, n) in &self.errors {
            o.out(format!("FAIL: ERROR({e}) -> {n}\n"));
        }
        false
    }
    /// The population standard deviation (NaN with no latency, as Go's
    /// arithmetic gives).
    fn stddev_s(&self) -> f64 {
        let n = self.lats_s.len() as f64;
        let avg = self.lats_s.iter().sum::<f64>() / n;
        let var = self
            .lats_s
            .iter()
            .map(|l| (l - avg) * (l - avg))
            .sum::<f64>()
            / n;
        var.sqrt()
    }
}

/// One put's outcome.
type PutResult = Result<Duration, String>;

/// cheggaaa/pb v1 as etcdctl formats it (`Bom !`): counters, percent and
/// time left, written with a leading `\r` every 200 ms, the bar itself
/// only as wide as the controlling terminal (none without one).
struct ProgressBar {
    total: i64,
    current: i64,
    started: Instant,
}

const BAR_REFRESH: Duration = Duration::from_millis(200);

impl ProgressBar {
    fn start(total: i64, o: &mut Output) -> ProgressBar {
        let bar = ProgressBar {
            total,
            current: 0,
            started: crate::rt::time::now(),
        };
        bar.write(o, false);
        bar
    }

    fn write(&self, o: &mut Output, finished: bool) {
        let line = self.line(terminal_width(), finished);
        o.live(format!("\r{line}").as_bytes());
    }

    fn finish(&self, o: &mut Output) {
        self.write(o, true);
        o.live(b"\n");
    }

    /// The bar's text at `width` columns.
    fn line(&self, width: usize, finished: bool) -> String {
        let percent = self.current as f64 / (self.total as f64 / 100.0);
        let percent_box = format!(" {percent:6.2}%");
        let counters = format!(" {} / {} ", self.current, self.total);
        let elapsed = crate::rt::time::now() - self.started;
        let time_box = if finished {
            format!(" {}", super::util::go_duration(whole_seconds(elapsed)))
        } else if self.current > 0 {
            let per = elapsed / u32::try_from(self.current).unwrap_or(u32::MAX);
            let left = whole_seconds(per * u32::try_from(self.total - self.current).unwrap_or(0));
            if left.is_zero() {
                String::new()
            } else {
                format!(" {}", pb_duration(left))
            }
        } else {
            String::new()
        };
        let fixed = counters.len() + "B!".len() + percent_box.len() + time_box.len();
        let mut bar = String::new();
        if let Some(size) = width.checked_sub(fixed).filter(|s| *s > 0) {
            let cur = ((self.current as f64 / self.total as f64) * size as f64).ceil() as usize;
            let cur = cur.min(size);
            let empty = size - cur;
            bar.push('B');
            if empty == 0 {
                bar.push_str(&"o".repeat(cur));
            } else if cur > 0 {
                bar.push_str(&"o".repeat(cur - 1));
                bar.push('m');
            }
            bar.push_str(&" ".repeat(empty));
            bar.push('!');
        }
        let out = format!("{counters}{bar}{percent_box}{time_box}");
        let pad = width.saturating_sub(out.chars().count());
        out + &" ".repeat(pad)
    }
}

fn whole_seconds(d: Duration) -> Duration {
    Duration::from_secs(d.as_secs())
}

/// pb's time left: `00m59s`, with hours (and days) when there are some.
fn pb_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    let mut out = String::new();
    if s > 24 * 3600 {
        out.push_str(&format!("{}d", s / (24 * 3600)));
        s %= 24 * 3600;
    }
    if s > 3600 {
        out.push_str(&format!("{}h", s / 3600));
        s %= 3600;
    }
    format!("{out}{:02}m{:02}s", s / 60, s % 60)
}

/// The controlling terminal's width, as pb reads it (`/dev/tty`); 0 when
/// there is none, which leaves the bar out.
fn terminal_width() -> usize {
    #[cfg(not(madsim))]
    {
        use std::os::fd::AsRawFd;
        let Ok(tty) = std::fs::File::open("/dev/tty") else {
            return 0;
        };
        // SAFETY: TIOCGWINSZ fills the winsize it is given, nothing else.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } == 0;
        if ok {
            usize::from(ws.ws_col)
        } else {
            0
        }
    }
    #[cfg(madsim)]
    0
}

/// One connection per client, each to the first endpoint that answers.
async fn clients(ctx: &Ctx, n: usize) -> Result<Vec<Channel>, Fail> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(connect(ctx).await?.0);
    }
    Ok(out)
}

/// A key as etcdctl makes it: the prefix, then `size` bytes that start
/// with a random non-negative varint.
fn random_key(prefix: &str, size: usize) -> Vec<u8> {
    #[allow(clippy::disallowed_methods)] // a workload's random keys, client side
    let x: i64 = rand::thread_rng().gen_range(0..i64::MAX);
    let mut buf = vec![0u8; size.max(MAX_VARINT)];
    put_varint(&mut buf, x);
    buf.truncate(size);
    let mut key = prefix.as_bytes().to_vec();
    key.extend(buf);
    key
}

/// The most bytes a varint of an i64 takes (Go's `binary.MaxVarintLen64`).
const MAX_VARINT: usize = 10;

/// Go's `binary.PutVarint`: zig-zag, then 7 bits a byte; the bytes written.
fn put_varint(buf: &mut [u8], x: i64) -> usize {
    let mut ux = (x as u64) << 1;
    if x < 0 {
        ux = !ux;
    }
    let mut i = 0;
    while ux >= 0x80 {
        buf[i] = (ux as u8) | 0x80;
        ux >>= 7;
        i += 1;
    }
    buf[i] = ux as u8;
    i + 1
}

/// Starts `clients` workers taking puts from a queue bounded by their
/// number; each result comes back on the returned channel.
fn start_workers(
    ctx: &Ctx,
    channels: Vec<Channel>,
) -> (mpsc::Sender<PutRequest>, mpsc::UnboundedReceiver<PutResult>) {
    let (req_tx, req_rx) = mpsc::channel::<PutRequest>(channels.len().max(1));
    let req_rx = Arc::new(Mutex::new(req_rx));
    // Unbounded, but never more than the puts sent: each put yields one.
    let (res_tx, res_rx) = mpsc::unbounded_channel();
    for ch in channels {
        let req_rx = req_rx.clone();
        let res_tx = res_tx.clone();
        let token = ctx.token.clone();
        let ep = ctx.endpoints().first().cloned().unwrap_or_default();
        tokio::spawn(async move {
            let mut kv = KvClient::new(ch);
            loop {
                let Some(put) = req_rx.lock().await.recv().await else {
                    return;
                };
                let start = crate::rt::time::now();
                let r = match kv.put(token.req(put)).await {
                    Ok(_) => Ok(crate::rt::time::now() - start),
                    Err(st) => Err(rpc_failure(&ep, &st).msg),
                };
                if res_tx.send(r).is_err() {
                    return;
                }
            }
        });
    }
    (req_tx, res_rx)
}

/// Checks that no key is under the prefix before writing there.
async fn prefix_is_empty(ctx: &Ctx, ch: Channel, ep: &str, prefix: &str) -> CmdResult {
    let req = RangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: prefix_end(prefix.as_bytes()),
        limit: 1,
        ..Default::default()
    };
    let resp = call(ctx, ep, KvClient::new(ch).range(ctx.req(req))).await?;
    if !resp.kvs.is_empty() {
        return Err(Fail(
            EXIT_INVALID_INPUT,
            format!(
                "prefix {} has keys. Delete with etcdctl del --prefix {prefix} first",
                go_quote(prefix.as_bytes())
            ),
        ));
    }
    Ok(())
}

/// Deletes what the check wrote, then compacts and defragments if asked,
/// as etcdctl does after either check.
async fn clean_up(ctx: &Ctx, o: &mut Output, ch: Channel, ep: &str, prefix: &str) -> CmdResult {
    let long = ctx.with_timeout("30s");
    let req = DeleteRangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: prefix_end(prefix.as_bytes()),
        ..Default::default()
    };
    let del = call(
        &long,
        ep,
        KvClient::new(ch.clone()).delete_range(long.req(req)),
    )
    .await?;
    if ctx.bool("auto-compact") {
        let rev = del.header.map_or(0, |h| h.revision);
        o.live(format!("Compacting with revision {rev}\n").as_bytes());
        let req = CompactionRequest {
            revision: rev,
            physical: true,
        };
        call(&long, ep, KvClient::new(ch).compact(long.req(req))).await?;
        o.live(format!("Compacted with revision {rev}\n").as_bytes());
    }
    if ctx.bool("auto-defrag") {
        for ep in ctx.endpoints() {
            let quoted = go_quote(ep.as_bytes());
            o.live(format!("Defragmenting {quoted}\n").as_bytes());
            defragment(&long, &ep).await?;
            o.live(format!("Defragmented {quoted}\n").as_bytes());
        }
    }
    Ok(())
}

/// Adds a put's outcome to the stats.
fn record(stats: &mut Stats, r: PutResult) {
    match r {
        Ok(d) => stats.lats_s.push(d.as_secs_f64()),
        Err(e) => *stats.errors.entry(e).or_default() += 1,
    }
}

/// `check perf`: `limit` puts a second for `duration` seconds.
pub(super) async fn check_perf(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let cfg = perf_load(model(ctx.get("load"))?);
    let prefix = ctx.get("prefix").to_string();
    let channels = clients(ctx, cfg.clients).await?;
    let ep = ctx.endpoints().first().cloned().unwrap_or_default();
    let first = channels[0].clone();
    let sixty = ctx.with_timeout(&format!("{}s", cfg.duration_s));
    prefix_is_empty(&sixty, first.clone(), &ep, &prefix).await?;

    let mut bar = ProgressBar::start(i64::from(cfg.duration_s), o);
    let (req_tx, mut results) = start_workers(ctx, channels);
    let started = crate::rt::time::now();
    let deadline = started + Duration::from_secs(u64::from(cfg.duration_s));
    // The rate limiter (golang.org/x/time/rate with a burst of one): the
    // i-th put goes at i/limit seconds; one that would wait past the
    // deadline is not sent.
    let interval = Duration::from_secs(1) / cfg.limit;
    let producer = {
        let prefix = prefix.clone();
        tokio::spawn(async move {
            let mut next = started;
            while next <= deadline {
                tokio::time::sleep_until(next).await;
                let put = PutRequest {
                    key: random_key(&prefix, 256),
                    value: vec![0; 1024],
                    ..Default::default()
                };
                if req_tx.send(put).await.is_err() {
                    return;
                }
                next += interval;
            }
        })
    };
    let mut stats = Stats::default();
    let mut tick = tokio::time::interval_at(started + BAR_REFRESH, BAR_REFRESH);
    loop {
        tokio::select! {
            r = results.recv() => match r {
                Some(r) => record(&mut stats, r),
                None => break,
            },
            _ = tick.tick() => {
                let secs = (crate::rt::time::now() - started).as_secs();
                // The last second counts when the bar finishes.
                bar.current = i64::try_from(secs).unwrap_or(0).min(bar.total - 1);
                bar.write(o, false);
            }
        }
    }
    let _ = producer.await;
    stats.total_s = (crate::rt::time::now() - started).as_secs_f64();
    bar.current = bar.total;
    bar.finish(o);

    clean_up(ctx, o, first, &ep, &prefix).await?;

    let mut ok = stats.print_errors(o);
    let rps = stats.rps();
    // Go's `int(s.RPS)+1`.
    let shown_rps = rps as i64 + 1;
    if rps / f64::from(cfg.limit) <= 0.9 {
        o.out(format!("FAIL: Throughput too low: {shown_rps} writes/s\n"));
        ok = false;
    } else {
        o.out(format!("PASS: Throughput is {shown_rps} writes/s\n"));
    }
    let slowest = stats.slowest_s();
    if slowest > 0.5 {
        o.out(format!("Slowest request took too long: {slowest:.6}s\n"));
        ok = false;
    } else {
        o.out(format!("PASS: Slowest request took {slowest:.6}s\n"));
    }
    let stddev = stats.stddev_s();
    if stddev > 0.1 {
        o.out(format!("Stddev too high: {stddev:.6}s\n"));
        ok = false;
    } else {
        o.out(format!("PASS: Stddev is {stddev:.6}s\n"));
    }
    if ok {
        o.out("PASS\n");
    } else {
        o.out("FAIL\n");
        o.code = EXIT_ERROR;
    }
    Ok(())
}

/// `check datascale`: `limit` puts as fast as the clients go, and the
/// growth of the first endpoint's resident memory.
pub(super) async fn check_datascale(ctx: &Ctx, o: &mut Output) -> CmdResult {
    let cfg = datascale_load(model(ctx.get("load"))?);
    let prefix = ctx.get("prefix").to_string();
    let channels = clients(ctx, cfg.clients).await?;
    let ep = ctx.endpoints().first().cloned().unwrap_or_default();
    let first = channels[0].clone();
    // etcdctl asks without a deadline.
    let unbounded = ctx.with_timeout(NO_DEADLINE);
    prefix_is_empty(&unbounded, first.clone(), &ep, &prefix).await?;

    let Some(before) = resident_memory_bytes(ctx, &ep, o).await else {
        o.out("FAIL: Could not read process_resident_memory_bytes before the put operations.\n");
        o.code = EXIT_ERROR;
        return Ok(());
    };
    o.live(
        format!(
            "Start data scale check for work load [{} key-value pairs, {} bytes per key-value, {} concurrent clients].\n",
            cfg.limit, cfg.kv_size, cfg.clients
        )
        .as_bytes(),
    );
    let mut bar = ProgressBar::start(cfg.limit as i64, o);
    let (req_tx, mut results) = start_workers(ctx, channels);
    let started = crate::rt::time::now();
    let producer = {
        let prefix = prefix.clone();
        let n = cfg.limit;
        tokio::spawn(async move {
            for _ in 0..n {
                let put = PutRequest {
                    key: random_key(&prefix, 512),
                    value: vec![0; 512],
                    ..Default::default()
                };
                if req_tx.send(put).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut stats = Stats::default();
    let mut tick = tokio::time::interval_at(started + BAR_REFRESH, BAR_REFRESH);
    loop {
        tokio::select! {
            r = results.recv() => match r {
                Some(r) => {
                    record(&mut stats, r);
                    bar.current += 1;
                }
                None => break,
            },
            _ = tick.tick() => bar.write(o, false),
        }
    }
    let _ = producer.await;
    stats.total_s = (crate::rt::time::now() - started).as_secs_f64();
    bar.finish(o);

    let Some(after) = resident_memory_bytes(ctx, &ep, o).await else {
        o.out("FAIL: Could not read process_resident_memory_bytes after the put operations.\n");
        o.code = EXIT_ERROR;
        return Ok(());
    };
    clean_up(&unbounded, o, first, &ep, &prefix).await?;

    if !stats.print_errors(o) {
        o.code = EXIT_ERROR;
        return Ok(());
    }
    let mb_used = (after - before) / (1024.0 * 1024.0);
    o.out(format!(
        "PASS: Approximate system memory used : {mb_used:.2} MB.\n"
    ));
    Ok(())
}

/// `process_resident_memory_bytes` from the endpoint's `/metrics`
/// (etcdctl's `endpointMemoryMetrics`); what went wrong is printed and
/// reads as nothing, as 0 does there.
async fn resident_memory_bytes(ctx: &Ctx, ep: &str, o: &mut Output) -> Option<f64> {
    const KEY: &str = "process_resident_memory_bytes";
    let host = if ep.starts_with("http://") || ep.starts_with("https://") {
        ep.to_string()
    } else {
        format!("http://{ep}")
    };
    let url = format!("{host}/metrics");
    let call = crate::rt::net::http1::HttpCall {
        method: "GET".into(),
        url: url.clone(),
        ..Default::default()
    };
    let tls = ctx.client_tls();
    let reply =
        match crate::rt::net::http1::round_trip(&call, tls.as_ref(), ctx.timeout("dial-timeout"))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                o.out(format!(
                    "fetch error: Get {}: {e}\n",
                    go_quote(url.as_bytes())
                ));
                return None;
            }
        };
    let body = String::from_utf8_lossy(&reply.body);
    let Some(line) = body.split('\n').find(|l| l.starts_with(KEY)) else {
        o.out(format!("could not find: {KEY}\n"));
        return None;
    };
    let value = line[KEY.len()..].trim();
    match value.parse::<f64>() {
        Ok(v) if v != 0.0 => Some(v),
        Ok(_) => None,
        Err(_) => {
            o.out(format!(
                "parse error: strconv.ParseFloat: parsing {}: invalid syntax\n",
                go_quote(value.as_bytes())
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_prefix_and_a_varint_buffer() {
        let k = random_key("/p/", 256);
        assert_eq!(k.len(), 3 + 256);
        assert!(k.starts_with(b"/p/"));
        // A non-negative i64 zig-zags to at most 10 bytes; the rest is zero.
        assert!(k[3 + MAX_VARINT..].iter().all(|b| *b == 0));
        // Go's PutVarint, byte for byte.
        let varint = |x: i64| {
            let mut b = [0u8; MAX_VARINT];
            let n = put_varint(&mut b, x);
            b[..n].to_vec()
        };
        assert_eq!(varint(0), [0]);
        assert_eq!(varint(1), [2]);
        assert_eq!(varint(-1), [1]);
        assert_eq!(varint(64), [0x80, 1]);
        assert_eq!(varint((1 << 62) - 1).len(), 9);
        assert_eq!(
            varint(i64::MAX - 1),
            [0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn bar_text_as_pb_prints_it() {
        let bar = ProgressBar {
            total: 60,
            current: 0,
            started: crate::rt::time::now(),
        };
        assert_eq!(bar.line(0, false), " 0 / 60    0.00%");
        assert_eq!(pb_duration(Duration::from_secs(59)), "00m59s");
        assert_eq!(pb_duration(Duration::from_secs(3725)), "1h02m05s");
        let full = ProgressBar { current: 30, ..bar };
        let line = full.line(40, false);
        assert_eq!(line.chars().count(), 40);
        assert!(line.starts_with(" 30 / 60 Boooo"), "{line:?}");
    }

    #[test]
    fn stats_as_etcds_report() {
        let s = Stats {
            lats_s: vec![0.1, 0.3],
            errors: BTreeMap::new(),
            total_s: 2.0,
        };
        assert_eq!(s.rps(), 1.0);
        assert_eq!(s.slowest_s(), 0.3);
        assert!((s.stddev_s() - 0.1).abs() < 1e-12);
        assert!(Stats::default().stddev_s().is_nan());
    }
}
