//! etcd's `pkg/report`: results in, the printed summary out (totals,
//! a ten-bucket latency histogram, the latency distribution, optionally
//! per-second samples, and the errors), plus the progress bar.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The percentiles of the latency distribution.
const PCTLS: [(f64, &str); 8] = [
    (10.0, "10"),
    (25.0, "25"),
    (50.0, "50"),
    (75.0, "75"),
    (90.0, "90"),
    (95.0, "95"),
    (99.0, "99"),
    (99.9, "99.9"),
];

/// How numbers are printed: `%4.4f`, or with `--precise` Go's `%g`.
#[derive(Clone, Copy, Debug)]
pub enum Precision {
    Fixed,
    Full,
}

impl Precision {
    pub fn fmt(self, x: f64) -> String {
        match self {
            Precision::Fixed => format!("{x:4.4}"),
            Precision::Full => go_g(x),
        }
    }
}

/// Go's `%g` of a float64: the shortest digits that read back the same,
/// in exponent form when the exponent is below -4 or at least 6 (then with
/// a signed exponent of two digits or more: `1.5e-05`).
pub fn go_g(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return match x {
            x if x.is_nan() => "NaN".into(),
            x if x == f64::INFINITY => "+Inf".into(),
            x if x == f64::NEG_INFINITY => "-Inf".into(),
            _ => "0".into(),
        };
    }
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e}'s exponent is an integer");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{x}")
    }
}

/// Go's `time.Duration.String()`: `1.5ms`, `12.345µs`, `2m3.5s`, `0s`.
pub fn go_duration(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns == 0 {
        return "0s".into();
    }
    // A fraction with trailing zeros (and a bare point) dropped.
    let frac = |whole: u128, part: u128, digits: usize| -> String {
        let s = format!("{part:0digits$}");
        let s = s.trim_end_matches('0');
        if s.is_empty() {
            whole.to_string()
        } else {
            format!("{whole}.{s}")
        }
    };
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    if ns < 1_000_000 {
        return format!("{}µs", frac(ns / 1_000, ns % 1_000, 3));
    }
    if ns < 1_000_000_000 {
        return format!("{}ms", frac(ns / 1_000_000, ns % 1_000_000, 6));
    }
    let secs = ns / 1_000_000_000;
    let s = format!("{}s", frac(secs % 60, ns % 1_000_000_000, 9));
    let (mins, hours) = ((secs / 60) % 60, secs / 3600);
    match (hours, secs / 60) {
        (0, 0) => s,
        (0, _) => format!("{mins}m{s}"),
        _ => format!("{hours}h{mins}m{s}"),
    }
}

/// One request's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub start: Instant,
    pub took: Duration,
    pub err: Option<String>,
    /// How many operations it stands for (0: one), for the weighted report.
    pub weight: f64,
}

/// Collects outcomes from any number of tasks (etcd's `Report.Results()`).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

struct Inner {
    outcomes: Mutex<Vec<Outcome>>,
    bar: Option<Bar>,
}

impl Recorder {
    /// A recorder whose progress bar (drawn only on a terminal) counts up
    /// to `total`.
    pub fn new(total: u64) -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                outcomes: Mutex::new(Vec::new()),
                bar: Bar::start(total),
            }),
        }
    }

    /// A recorder without a progress bar.
    pub fn quiet() -> Recorder {
        Recorder {
            inner: Arc::new(Inner {
                outcomes: Mutex::new(Vec::new()),
                bar: None,
            }),
        }
    }

    /// Records a request that started at `start` and ended now.
    pub fn done(&self, start: Instant, err: Option<String>) {
        self.add(Outcome {
            start,
            took: start.elapsed(),
            err,
            weight: 0.0,
        });
    }

    pub fn add(&self, o: Outcome) {
        self.inner
            .outcomes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(o);
        self.tick(1);
    }

    /// Moves the progress bar on without a result.
    pub fn tick(&self, n: u64) {
        if let Some(bar) = &self.inner.bar {
            bar.count.fetch_add(n, Ordering::Relaxed);
        }
    }

    /// Every outcome so far, and the bar finished.
    pub fn finish(&self) -> Vec<Outcome> {
        if let Some(bar) = &self.inner.bar {
            bar.finish();
        }
        std::mem::take(
            &mut *self
                .inner
                .outcomes
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }
}

/// pb's bar as etcd formats it (`Bom !`), redrawn on stderr five times a
/// second, only when stderr is a terminal.
struct Bar {
    count: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    drawer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Bar {
    fn start(total: u64) -> Option<Bar> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let count = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (count.clone(), stop.clone());
        let began = Instant::now();
        let drawer = std::thread::spawn(move || loop {
            let last = s.load(Ordering::Relaxed);
            draw(c.load(Ordering::Relaxed), total, began.elapsed());
            if last {
                eprintln!();
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        });
        Some(Bar {
            count,
            stop,
            drawer: Mutex::new(Some(drawer)),
        })
    }

    fn finish(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let drawer = self.drawer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(d) = drawer {
            let _ = d.join();
        }
    }
}

fn draw(n: u64, total: u64, elapsed: Duration) {
    let width = 40usize;
    let pct = if total == 0 {
        100.0
    } else {
        (n as f64 * 100.0 / total as f64).min(100.0)
    };
    let filled = (pct / 100.0 * width as f64) as usize;
    let bar = format!("B{}m", "o".repeat(filled)) + &" ".repeat(width - filled);
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "\r{n} / {total} {bar} ! {pct:.2}% {}s",
        elapsed.as_secs()
    );
    let _ = err.flush();
}

/// The statistics of a set of outcomes (etcd's `report.Stats`).
struct Stats {
    total: Duration,
    lats: Vec<f64>,
    errors: BTreeMap<String, usize>,
    fastest: f64,
    slowest: f64,
    average: f64,
    stddev: f64,
    rps: f64,
}

impl Stats {
    fn of(outcomes: &[Outcome], total: Duration) -> Stats {
        let mut lats = Vec::with_capacity(outcomes.len());
        let mut errors = BTreeMap::new();
        for o in outcomes {
            match &o.err {
                Some(e) => *errors.entry(e.clone()).or_insert(0) += 1,
                None => lats.push(o.took.as_secs_f64()),
            }
        }
        let n = lats.len() as f64;
        let average = lats.iter().sum::<f64>() / n;
        let stddev = (lats.iter().map(|l| (l - average).powi(2)).sum::<f64>() / n).sqrt();
        lats.sort_by(f64::total_cmp);
        Stats {
            total,
            fastest: lats.first().copied().unwrap_or(0.0),
            slowest: lats.last().copied().unwrap_or(0.0),
            rps: n / total.as_secs_f64(),
            lats,
            errors,
            average,
            stddev,
        }
    }
}

/// Renders reports as etcd's `pkg/report` does.
#[derive(Clone, Copy)]
pub struct Reporter {
    pub precision: Precision,
    /// `--sample`: per-second samples after the distribution.
    pub sample: bool,
}

impl Reporter {
    /// The report of `outcomes` gathered over `total`.
    pub fn render(&self, outcomes: &[Outcome], total: Duration) -> String {
        let stats = Stats::of(outcomes, total);
        let mut s = self.render_stats(&stats);
        if self.sample && !stats.lats.is_empty() {
            // Go prints the samples inside the summary, before the errors.
            let errors_at = s.find("\nError distribution:\n").unwrap_or(s.len());
            s.insert_str(errors_at, &format!("{}\n", samples(outcomes)));
        }
        s
    }

    /// etcd's weighted report (`mvcc put --txn`): first the report of each
    /// request's latency divided by its weight, its rate counting every
    /// operation, then the plain report. With `--sample`, only the plain
    /// one, as etcd.
    pub fn render_weighted(&self, outcomes: &[Outcome], total: Duration) -> String {
        if self.sample {
            return self.render(outcomes, total);
        }
        let mut weight_total = 0.0;
        let per_op: Vec<Outcome> = outcomes
            .iter()
            .map(|o| {
                let mut o = o.clone();
                if o.err.is_none() {
                    let w = if o.weight == 0.0 { 1.0 } else { o.weight };
                    weight_total += w;
                    o.took = o.took.div_f64(w);
                }
                o
            })
            .collect();
        let mut stats = Stats::of(&per_op, total);
        stats.rps *= weight_total / stats.lats.len() as f64;
        self.render_stats(&stats) + &self.render(outcomes, total)
    }

    fn secs(&self, x: f64) -> String {
        format!("{} secs", self.precision.fmt(x))
    }

    fn render_stats(&self, st: &Stats) -> String {
        let mut s = String::new();
        if !st.lats.is_empty() {
            s += "\nSummary:\n";
            s += &format!("  Total:\t{}.\n", self.secs(st.total.as_secs_f64()));
            s += &format!("  Slowest:\t{}.\n", self.secs(st.slowest));
            s += &format!("  Fastest:\t{}.\n", self.secs(st.fastest));
            s += &format!("  Average:\t{}.\n", self.secs(st.average));
            s += &format!("  Stddev:\t{}.\n", self.secs(st.stddev));
            s += &format!("  Requests/sec:\t{}\n", self.precision.fmt(st.rps));
            s += &self.histogram(st);
            s += &self.latencies(st);
        }
        if !st.errors.is_empty() {
            s += "\nError distribution:\n";
            let mut errors: Vec<_> = st.errors.iter().collect();
            errors.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (err, n) in errors {
                s += &format!("  [{n}]\t{err}\n");
            }
        }
        s
    }

    /// Ten equal buckets from the fastest to the slowest (and one at the
    /// slowest), each latency counted in the first bucket it is not above.
    fn histogram(&self, st: &Stats) -> String {
        const BUCKETS: usize = 10;
        let step = (st.slowest - st.fastest) / BUCKETS as f64;
        let mut bounds: Vec<f64> = (0..BUCKETS).map(|i| st.fastest + step * i as f64).collect();
        bounds.push(st.slowest);
        let mut counts = vec![0usize; bounds.len()];
        let mut b = 0;
        for &lat in &st.lats {
            while lat > bounds[b] && b < bounds.len() - 1 {
                b += 1;
            }
            counts[b] += 1;
        }
        let most = counts.iter().copied().max().unwrap_or(0);
        let mut s = String::from("\nResponse time histogram:\n");
        for (bound, count) in bounds.iter().zip(&counts) {
            let len = (count * 40).checked_div(most).unwrap_or(0);
            s += &format!(
                "  {} [{count}]\t|{}\n",
                self.precision.fmt(*bound),
                "∎".repeat(len)
            );
        }
        s
    }

    /// Each percentile as the first latency at or past it (the ones that
    /// come out 0 are left out, as etcd does).
    fn latencies(&self, st: &Stats) -> String {
        let mut s = String::from("\nLatency distribution:\n");
        let n = st.lats.len();
        let mut j = 0;
        let mut data = [0.0; PCTLS.len()];
        for (i, &lat) in st.lats.iter().enumerate() {
            if j == PCTLS.len() {
                break;
            }
            if i as f64 * 100.0 / n as f64 >= PCTLS[j].0 {
                data[j] = lat;
                j += 1;
            }
        }
        for ((_, name), value) in PCTLS.iter().zip(data) {
            if value > 0.0 {
                s += &format!("  {name}% in {}.\n", self.secs(value));
            }
        }
        s
    }
}

/// etcd's per-second samples: each second (Unix time) that requests
/// started in, with their min, average and max latency and their count,
/// as CSV; seconds without requests in between have zeros.
fn samples(outcomes: &[Outcome]) -> String {
    #[derive(Default, Clone, Copy)]
    struct Point {
        min: Duration,
        max: Duration,
        sum: Duration,
        count: u32,
    }
    let (now_wall, now) = (SystemTime::now(), Instant::now());
    let unix = |t: Instant| -> i64 {
        let wall = now_wall - now.saturating_duration_since(t);
        wall.duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64
    };
    let mut points: BTreeMap<i64, Point> = BTreeMap::new();
    for o in outcomes.iter().filter(|o| o.err.is_none()) {
        let lat = o.took;
        points
            .entry(unix(o.start))
            .and_modify(|p| {
                if !lat.is_zero() {
                    p.min = p.min.min(lat);
                }
                p.max = p.max.max(lat);
                p.sum += lat;
                p.count += 1;
            })
            .or_insert(Point {
                min: lat,
                max: lat,
                sum: lat,
                count: 1,
            });
    }
    if let (Some(&first), Some(&last)) = (points.keys().next(), points.keys().last()) {
        for t in first..last {
            points.entry(t).or_default();
        }
    }
    let mut s = String::from(
        "\nSample in one second (unix latency throughput):\n\
         UNIX-SECOND,MIN-LATENCY-MS,AVG-LATENCY-MS,MAX-LATENCY-MS,AVG-THROUGHPUT\n",
    );
    for (t, p) in points {
        let avg = if p.count > 0 {
            p.sum / p.count
        } else {
            Duration::ZERO
        };
        s += &format!(
            "{t},{},{},{},{}\n",
            go_duration(p.min),
            go_duration(avg),
            go_duration(p.max),
            p.count
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formats() {
        assert_eq!(go_g(0.0012345), "0.0012345");
        assert_eq!(go_g(1.5e-5), "1.5e-05");
        assert_eq!(go_g(1234567.0), "1.234567e+06");
        assert_eq!(go_g(12345.5), "12345.5");
        assert_eq!(Precision::Fixed.fmt(0.00123456), "0.0012");
        assert_eq!(Precision::Fixed.fmt(12345.678), "12345.6780");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(12_345)), "12.345µs");
        assert_eq!(go_duration(Duration::from_millis(123_500)), "2m3.5s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn report_shape() {
        let now = Instant::now();
        let outcomes: Vec<Outcome> = (1..=100)
            .map(|i| Outcome {
                start: now,
                took: Duration::from_millis(i),
                err: (i % 50 == 0).then(|| "boom".to_string()),
                weight: 0.0,
            })
            .collect();
        let r = Reporter {
            precision: Precision::Fixed,
            sample: false,
        };
        let s = r.render(&outcomes, Duration::from_secs(1));
        assert!(s.starts_with("\nSummary:\n  Total:\t1.0000 secs.\n"), "{s}");
        assert!(s.contains("  Slowest:\t0.0990 secs.\n"), "{s}");
        assert!(s.contains("  Fastest:\t0.0010 secs.\n"), "{s}");
        assert!(s.contains("  Requests/sec:\t98.0000\n"), "{s}");
        assert!(
            s.contains("\nResponse time histogram:\n  0.0010 [1]\t|"),
            "{s}"
        );
        // Go's percentiles: the first latency at index i with
        // i * 100 / n at or past the percentile; 99% and 99.9% are past
        // the last index of 98, so left out.
        assert!(s.contains("  50% in 0.0510 secs.\n"), "{s}");
        assert!(s.contains("  95% in 0.0960 secs.\n"), "{s}");
        assert!(!s.contains("  99% in"), "{s}");
        assert!(s.ends_with("\nError distribution:\n  [2]\tboom\n"), "{s}");
        let counted: usize = s
            .lines()
            .filter(|l| l.contains(" [") && l.contains("]\t|"))
            .map(|l| l.split('[').nth(1).unwrap().split(']').next().unwrap())
            .map(|n| n.parse::<usize>().unwrap())
            .sum();
        assert_eq!(counted, 98);
    }
}
