//! A [`Timeline`] as an inline SVG: a lane per host (client, targets, control plane, faults),
//! bars for spans packed into rows, markers with a symbol each, a time axis on top.

use std::fmt::Write as _;
use std::time::Duration;

use sshrace_runner::{Bar, BarKind, Lane, MarkerKind, Timeline};

use crate::escape;

/// Drawing width in SVG units (the page scales it to its column).
const WIDTH: f64 = 1200.0;
/// Lane labels on the left.
const LEFT: f64 = 118.0;
const RIGHT: f64 = 8.0;
const AXIS: f64 = 22.0;
const MARKERS: f64 = 13.0;
const ROW: f64 = 12.0;
const ROW_GAP: f64 = 2.0;
const LANE_GAP: f64 = 8.0;
/// Above this many bars only top-level and failed bars carry a tooltip (size).
const TOOLTIP_LIMIT: usize = 600;

/// The window around the failed operation worth a second, zoomed drawing: the operation and
/// as much again (at least a second) on each side, when that is under 40% of the run.
pub fn focus(timeline: &Timeline) -> Option<(Duration, Duration)> {
    let failed = timeline.failed.as_ref()?;
    let finished = failed.finished.unwrap_or(timeline.end);
    let pad = (finished.saturating_sub(failed.started)).max(Duration::from_secs(1));
    let from = failed.started.saturating_sub(pad);
    let to = (finished + pad).min(timeline.end);
    let whole = timeline.end.as_secs_f64();
    (whole > 0.0 && (to - from).as_secs_f64() < 0.4 * whole).then_some((from, to))
}

struct Scale {
    from: f64,
    to: f64,
}

impl Scale {
    fn x(&self, at: Duration) -> f64 {
        let t = at.as_secs_f64().clamp(self.from, self.to);
        let span = (self.to - self.from).max(1e-9);
        LEFT + (t - self.from) / span * (WIDTH - LEFT - RIGHT)
    }

    fn visible(&self, from: Duration, to: Duration) -> bool {
        to.as_secs_f64() >= self.from && from.as_secs_f64() <= self.to
    }
}

fn lane_height(lane: &Lane) -> f64 {
    MARKERS + lane.rows.len().max(1) as f64 * (ROW + ROW_GAP) + 2.0
}

/// Round a step to 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    let power = 10f64.powf(raw.log10().floor());
    let unit = raw / power;
    power
        * if unit <= 1.0 {
            1.0
        } else if unit <= 2.0 {
            2.0
        } else if unit <= 5.0 {
            5.0
        } else {
            10.0
        }
}

fn seconds(value: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{value:.0} s")
    } else if step >= 0.1 {
        format!("{value:.1} s")
    } else if step >= 0.01 {
        format!("{value:.2} s")
    } else {
        format!("{value:.3} s")
    }
}

fn class(bar: &Bar) -> &'static str {
    match bar.kind {
        BarKind::Operation => "op",
        BarKind::Connection => "conn",
        BarKind::Master => "master",
        BarKind::Session => "session",
        BarKind::Command => "command",
    }
}

fn marker_class(kind: MarkerKind) -> &'static str {
    match kind {
        MarkerKind::Fault => "m-fault",
        MarkerKind::Refusal => "m-refusal",
        MarkerKind::Exit => "m-exit",
        MarkerKind::Done => "m-done",
        MarkerKind::Lost => "m-lost",
        MarkerKind::Failed => "m-failed",
        MarkerKind::Note => "m-note",
    }
}

/// Draw `timeline`, the whole run or only `window`.
pub fn timeline_svg(timeline: &Timeline, window: Option<(Duration, Duration)>) -> String {
    let (from, to) = window.unwrap_or((Duration::ZERO, timeline.end));
    let scale = Scale {
        from: from.as_secs_f64(),
        to: to.as_secs_f64().max(from.as_secs_f64() + 0.001),
    };
    let height = AXIS
        + timeline
            .lanes
            .iter()
            .map(|l| lane_height(l) + LANE_GAP)
            .sum::<f64>();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<svg class=\"timeline-svg{}\" viewBox=\"0 0 {WIDTH} {height:.0}\" width=\"100%\" \
         role=\"img\" aria-label=\"timeline from {:.3} s to {:.3} s\" xmlns=\"http://www.w3.org/2000/svg\">",
        if window.is_some() { " zoomed" } else { "" },
        scale.from,
        scale.to
    );
    // Axis.
    let step = nice_step((scale.to - scale.from) / 10.0);
    let mut tick = (scale.from / step).ceil() * step;
    while tick <= scale.to + step * 1e-6 {
        let x = scale.x(Duration::from_secs_f64(tick.max(0.0)));
        let _ = writeln!(
            out,
            "<line class=\"grid-line\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.0}\" y2=\"{height:.0}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"14\">{}</text>",
            AXIS - 4.0,
            seconds(tick, step)
        );
        tick += step;
    }
    let bars = timeline.bars().count();
    let tooltips = bars <= TOOLTIP_LIMIT;
    let mut y = AXIS;
    let mut fault_lines = String::new();
    for lane in &timeline.lanes {
        let lane_h = lane_height(lane);
        let _ = write!(
            out,
            "<g class=\"lane\" data-lane=\"{}\"><rect class=\"lane-bg\" x=\"0\" y=\"{y:.1}\" width=\"{WIDTH}\" height=\"{lane_h:.1}\"/>\
             <text class=\"lane-name\" x=\"4\" y=\"{:.1}\">{}</text>",
            escape(&lane.name),
            y + 11.0,
            escape(&lane.name)
        );
        if lane.overflow > 0 {
            let _ = write!(
                out,
                "<text class=\"lane-note\" x=\"4\" y=\"{:.1}\">+{} overlapping</text>",
                y + 23.0,
                lane.overflow
            );
        }
        for (index, row) in lane.rows.iter().enumerate() {
            let row_y = y + MARKERS + index as f64 * (ROW + ROW_GAP);
            for bar in row {
                if !scale.visible(bar.begin, bar.end) {
                    continue;
                }
                draw_bar(&mut out, &scale, bar, row_y, tooltips);
            }
        }
        for marker in &lane.markers {
            if !scale.visible(marker.at, marker.at) {
                continue;
            }
            let x = scale.x(marker.at);
            if matches!(marker.kind, MarkerKind::Fault | MarkerKind::Failed) {
                let _ = write!(
                    fault_lines,
                    "<line class=\"{}-line\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{AXIS}\" y2=\"{height:.0}\"/>",
                    marker_class(marker.kind)
                );
            }
            let _ = write!(
                out,
                "<text class=\"marker {}\" x=\"{x:.1}\" y=\"{:.1}\">{}<title>{:.3} s {}</title></text>",
                marker_class(marker.kind),
                y + 10.5,
                marker.kind.symbol(),
                marker.at.as_secs_f64(),
                escape(&marker.what)
            );
        }
        out.push_str("</g>\n");
        y += lane_h + LANE_GAP;
    }
    out.push_str(&fault_lines);
    out.push_str("\n</svg>\n");
    out
}

fn draw_bar(out: &mut String, scale: &Scale, bar: &Bar, row_y: f64, tooltips: bool) {
    let x1 = scale.x(bar.begin);
    let x2 = scale.x(bar.end).max(x1 + 1.5);
    let (inset, h) = match bar.depth {
        0 => (0.0, ROW),
        1 => (2.5, ROW - 5.0),
        _ => (4.5, ROW - 9.0),
    };
    let mut classes = format!("bar {}", class(bar));
    if bar.failed {
        classes.push_str(" failed");
    }
    if bar.unfinished {
        classes.push_str(" unfinished");
    }
    let _ = write!(
        out,
        "<rect class=\"{classes}\" x=\"{x1:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\"",
        row_y + inset,
        x2 - x1
    );
    if tooltips || bar.depth == 0 || bar.failed {
        let _ = write!(
            out,
            "><title>{}: {:.3} s {}{}</title></rect>",
            escape(&bar.label),
            bar.begin.as_secs_f64(),
            escape(&bar.begin_what),
            match &bar.end_what {
                Some(end) => format!(" / {:.3} s {}", bar.end.as_secs_f64(), escape(end)),
                None if bar.unfinished => " / still open at the end".to_owned(),
                None => String::new(),
            }
        );
    } else {
        out.push_str("/>");
    }
    // A label where it fits; the failed operation always says so.
    let room = x2 - x1;
    if bar.failed && bar.kind == BarKind::Operation {
        let _ = write!(
            out,
            "<text class=\"bar-label failed-label\" x=\"{:.1}\" y=\"{:.1}\">FAILED {}</text>",
            (x1 + 2.0).min(WIDTH - 160.0),
            row_y + 9.5,
            escape(&bar.label)
        );
    } else if bar.depth == 0 && room > bar.label.len() as f64 * 5.6 + 4.0 {
        let _ = write!(
            out,
            "<text class=\"bar-label\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            x1 + 2.0,
            row_y + 9.5,
            escape(&bar.label)
        );
    }
    out.push('\n');
}
