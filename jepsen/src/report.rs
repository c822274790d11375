//! What a run leaves in its directory: `history.txt` (every operation),
//! `faults.txt`, `verdict.txt`, and two pictures: `timeline.html` (one lane
//! per client, every operation a bar coloured by outcome, faults shaded
//! behind) and `latency.svg` (each operation's latency over time, log
//! scale, faults shaded). Plain SVG written here: no plotting dependency.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use oxcd_checker::workload::REQUEST_TIMEOUT;

use crate::nemesis::Fault;
use crate::workload::{Outcome, Row};

const WIDTH: f64 = 1400.0;
const LEFT: f64 = 70.0;

fn colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Ok => "#3a9a4a",
        Outcome::Fail => "#d0603a",
        Outcome::Unknown => "#e0b020",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Operation times are µs since the history's zero, which sits at
/// `offset` on the faults' axis.
pub struct Axis {
    pub offset: Duration,
    pub end: Duration,
}

impl Axis {
    fn x(&self, t: Duration) -> f64 {
        LEFT + (WIDTH - LEFT - 20.0) * t.as_secs_f64() / self.end.as_secs_f64().max(1.0)
    }

    fn op_time(&self, us: u64) -> Duration {
        self.offset + Duration::from_micros(us)
    }
}

pub fn write_all(
    dir: &Path,
    rows: &[Row],
    lanes: &[&str],
    faults: &[Fault],
    axis: &Axis,
    verdict: &str,
) -> std::io::Result<()> {
    let mut h = String::new();
    for r in rows {
        let ret = r.ret.map_or("-".to_string(), |t| t.to_string());
        let _ = writeln!(
            h,
            "client {:>4} call {:>12} ret {:>12} {:?} {}",
            r.client, r.call, ret, r.outcome, r.what
        );
    }
    std::fs::write(dir.join("history.txt"), h)?;
    let mut f = String::new();
    for x in faults {
        let _ = writeln!(
            f,
            "{:>9.3}s {:>9.3}s {}",
            x.from.as_secs_f64(),
            x.to.as_secs_f64(),
            x.what
        );
    }
    std::fs::write(dir.join("faults.txt"), f)?;
    std::fs::write(dir.join("verdict.txt"), format!("{verdict}\n"))?;
    std::fs::write(
        dir.join("timeline.html"),
        timeline(rows, lanes, faults, axis, verdict),
    )?;
    std::fs::write(dir.join("latency.svg"), latency(rows, faults, axis))?;
    Ok(())
}

/// Each kind of fault its colour, by the first word of its description.
const FAULT_KINDS: [(&str, &str); 5] = [
    ("partition", "#8080ff"),
    ("kill", "#ff80a0"),
    ("pause", "#80c0ff"),
    ("slow", "#c0a0ff"),
    ("member", "#a0d080"),
];

fn fault_colour(what: &str) -> &'static str {
    FAULT_KINDS
        .iter()
        .find(|(k, _)| what.starts_with(k) || (*k == "slow" && what.starts_with("netem")))
        .map_or("#c0c0c0", |(_, c)| c)
}

/// Shaded bands, one per fault (hover for what it was), labelled only where
/// the label fits; the legend names the colours.
fn fault_bands(out: &mut String, faults: &[Fault], axis: &Axis, top: f64, height: f64) {
    for f in faults {
        let (x0, x1) = (axis.x(f.from), axis.x(f.to));
        let _ = write!(
            out,
            r##"<rect x="{x0:.1}" y="{top}" width="{:.1}" height="{height}" fill="{}" opacity="0.3"><title>{}</title></rect>"##,
            (x1 - x0).max(1.0),
            fault_colour(&f.what),
            escape(&f.what)
        );
        if x1 - x0 >= 6.0 * f.what.len() as f64 {
            let _ = write!(
                out,
                r##"<text x="{:.1}" y="{}" font-size="10" fill="#404080">{}</text>"##,
                x0 + 2.0,
                top + 10.0,
                escape(&f.what)
            );
        }
    }
    let mut x = WIDTH - 420.0;
    for (kind, colour) in FAULT_KINDS {
        let _ = write!(
            out,
            r##"<rect x="{x:.1}" y="2" width="10" height="10" fill="{colour}" opacity="0.6"/><text x="{:.1}" y="11" font-size="10">{kind}</text>"##,
            x + 13.0
        );
        x += 80.0;
    }
}

fn time_ticks(out: &mut String, axis: &Axis, y: f64) {
    let secs = axis.end.as_secs().max(1);
    let step = [1, 5, 10, 30, 60, 120, 300, 600]
        .into_iter()
        .find(|s| secs / s <= 20)
        .unwrap_or(1200);
    for s in (0..=secs).step_by(step as usize) {
        let x = axis.x(Duration::from_secs(s));
        let _ = write!(
            out,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{}" stroke="#ccc"/><text x="{x:.1}" y="{}" font-size="10" text-anchor="middle">{s}s</text>"##,
            20.0,
            y,
            y + 12.0
        );
    }
}

fn timeline(rows: &[Row], lanes: &[&str], faults: &[Fault], axis: &Axis, verdict: &str) -> String {
    let mut clients: Vec<usize> = rows.iter().map(|r| r.client).collect();
    clients.sort_unstable();
    clients.dedup();
    let lane = 14.0;
    let height = 40.0 + lane * clients.len() as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{:.0}">"##,
        height + 30.0
    );
    fault_bands(&mut svg, faults, axis, 20.0, height - 20.0);
    time_ticks(&mut svg, axis, height + 5.0);
    for (lane_i, c) in clients.iter().enumerate() {
        let y = 40.0 + lane * lane_i as f64;
        let name = lanes
            .get(*c)
            .map_or_else(|| format!("client {c}"), |n| n.to_string());
        let _ = write!(
            svg,
            r##"<text x="4" y="{:.1}" font-size="10">{name}</text>"##,
            y + 9.0
        );
        for r in rows.iter().filter(|r| r.client == *c) {
            let x0 = axis.x(axis.op_time(r.call));
            // An unknown outcome ends where the client gave up on it.
            let ret = r.ret.unwrap_or(r.call + REQUEST_TIMEOUT.as_micros() as u64);
            let x1 = axis.x(axis.op_time(ret));
            let _ = write!(
                svg,
                r##"<rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}</title></rect>"##,
                (x1 - x0).max(0.8),
                lane - 3.0,
                colour(r.outcome),
                escape(&r.what)
            );
        }
    }
    svg.push_str("</svg>");
    let (ok, fail, unknown) = counts(rows);
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>oxcd-jepsen timeline</title></head>\
         <body style=\"font-family:sans-serif\"><h3>{}</h3>\
         <p>{} operations: <span style=\"color:{}\">■ {ok} ok</span> \
         <span style=\"color:{}\">■ {fail} failed</span> \
         <span style=\"color:{}\">■ {unknown} unknown</span>; shaded: faults. \
         Hover a bar for the operation.</p>{svg}</body></html>\n",
        escape(verdict),
        rows.len(),
        colour(Outcome::Ok),
        colour(Outcome::Fail),
        colour(Outcome::Unknown),
    )
}

fn counts(rows: &[Row]) -> (usize, usize, usize) {
    let n = |o| rows.iter().filter(|r| r.outcome == o).count();
    (n(Outcome::Ok), n(Outcome::Fail), n(Outcome::Unknown))
}

fn latency(rows: &[Row], faults: &[Fault], axis: &Axis) -> String {
    let (top, height) = (20.0, 400.0);
    // Log scale from 0.1 ms to 100 s.
    let y = |ms: f64| {
        let l = ms.max(0.1).log10();
        top + height - (l + 1.0) / 6.0 * height
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{:.0}">"##,
        top + height + 40.0
    );
    fault_bands(&mut svg, faults, axis, top, height);
    time_ticks(&mut svg, axis, top + height + 5.0);
    for (ms, label) in [
        (1.0, "1 ms"),
        (10.0, "10 ms"),
        (100.0, "100 ms"),
        (1000.0, "1 s"),
        (10000.0, "10 s"),
    ] {
        let yy = y(ms);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{WIDTH}" y2="{yy:.1}" stroke="#ddd"/><text x="4" y="{:.1}" font-size="10">{label}</text>"##,
            yy + 3.0
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="12" font-size="11">latency of each operation (log scale): <tspan fill="{}">● ok</tspan> <tspan fill="{}">● failed</tspan>; unknown outcomes are in timeline.html; shaded: faults</text>"##,
        colour(Outcome::Ok),
        colour(Outcome::Fail)
    );
    for r in rows {
        // Unknown outcomes have no latency; they show in the timeline.
        let Some(ret) = r.ret else { continue };
        let ms = (ret.saturating_sub(r.call)) as f64 / 1000.0;
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="1.6" fill="{}"/>"##,
            axis.x(axis.op_time(r.call)),
            y(ms),
            colour(r.outcome)
        );
    }
    svg.push_str("</svg>\n");
    svg
}
