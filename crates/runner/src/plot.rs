//! A sweep as an SVG chart (plotters): failure rate against the swept parameter, one line per
//! strategy, its 95% Wilson interval as a shaded band.

use plotters::prelude::*;

use crate::{RunError, Sweep};

/// Okabe-Ito colours: told apart with any colour vision, and in greyscale by their order.
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// Chart size in pixels.
const SIZE: (u32, u32) = (960, 560);

/// How the x axis shows the parameter: a divisor from its unit to the shown unit, and a label.
fn x_axis(parameter: &str, largest: f64) -> (f64, String) {
    let key = parameter.rsplit('.').next().unwrap_or(parameter);
    if let Some(stem) = parameter.strip_suffix("_ms") {
        let (divisor, unit) = if largest >= 120_000.0 {
            (60_000.0, "minutes")
        } else if largest >= 2_000.0 {
            (1_000.0, "seconds")
        } else {
            (1.0, "ms")
        };
        return (divisor, format!("{stem} ({unit})"));
    }
    let unit = match key {
        "burst" => "operations arriving at once",
        "rate_per_hour" => "operations per hour",
        "max_sessions" => "sessions per connection",
        "max_startups_start" | "max_startups_full" => "unauthenticated connections",
        "max_startups_rate" => "% dropped at start",
        "attempts" => "attempts per command",
        "max_connections" => "connections per host",
        "handshake_limit" => "handshakes in flight per host",
        "keepalive_count" => "unanswered keepalives",
        "health_check_bypass" => "0 off, 1 on",
        _ => "",
    };
    let label = if unit.is_empty() {
        parameter.to_owned()
    } else {
        format!("{parameter} ({unit})")
    };
    (1.0, label)
}

/// A number as an axis label: no trailing zeros.
fn short(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// The corner of the plot with the fewest data points near it, for the legend.
fn legend_corner(points: &[(f64, f64)], x: (f64, f64), y_max: f64) -> SeriesLabelPosition {
    let width = (x.1 - x.0).max(f64::MIN_POSITIVE);
    let crowd = |left: bool, top: bool| {
        points
            .iter()
            .filter(|(px, py)| {
                let fx = (px - x.0) / width;
                let fy = py / y_max;
                (if left { fx <= 0.45 } else { fx >= 0.55 })
                    && (if top { fy >= 0.6 } else { fy <= 0.4 })
            })
            .count()
    };
    [
        (SeriesLabelPosition::UpperRight, false, true),
        (SeriesLabelPosition::UpperLeft, true, true),
        (SeriesLabelPosition::LowerRight, false, false),
        (SeriesLabelPosition::LowerLeft, true, false),
    ]
    .into_iter()
    .min_by_key(|(_, left, top)| crowd(*left, *top))
    .map(|(corner, _, _)| corner)
    .expect("four corners")
}

fn plot_error(error: impl std::fmt::Display) -> RunError {
    RunError::Plot(error.to_string())
}

/// The sweep as an SVG document: x the parameter (in minutes or seconds for long `_ms` ranges),
/// y the failure rate of measured operations in percent, one line and band per strategy.
pub fn sweep_svg(sweep: &Sweep) -> Result<String, RunError> {
    let largest = sweep.points.iter().map(|p| p.value).fold(0.0, f64::max);
    let (divisor, x_label) = x_axis(&sweep.parameter, largest);
    let xs: Vec<f64> = sweep.points.iter().map(|p| p.value / divisor).collect();
    let x_low = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let x_high = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (x_low, x_high) = if x_low < x_high {
        (x_low, x_high)
    } else {
        (x_low - 1.0, x_high + 1.0)
    };
    let highest = sweep
        .points
        .iter()
        .flat_map(|p| p.rows.iter().map(|r| r.ci_high * 100.0))
        .fold(0.0, f64::max);
    let y_max = if highest >= 50.0 {
        100.0
    } else {
        ((highest * 1.15) / 5.0).ceil().max(1.0) * 5.0
    };
    let strategies = sweep.strategies();
    let series: Vec<Vec<(f64, f64, f64, f64)>> = (0..strategies.len())
        .map(|index| {
            sweep
                .points
                .iter()
                .zip(&xs)
                .map(|(point, x)| {
                    let row = &point.rows[index];
                    (
                        *x,
                        row.failure_rate * 100.0,
                        row.ci_low * 100.0,
                        row.ci_high * 100.0,
                    )
                })
                .collect()
        })
        .collect();
    let crowd: Vec<(f64, f64)> = series
        .iter()
        .flatten()
        .flat_map(|(x, rate, low, high)| [(*x, *rate), (*x, *low), (*x, *high)])
        .collect();
    let corner = legend_corner(&crowd, (x_low, x_high), y_max);
    let title = format!(
        "{}: failure rate by {} ({} seeds per point)",
        sweep.scenario,
        sweep.parameter,
        sweep.seeds.len()
    );

    let y_label = match sweep.measured.as_slice() {
        [item] => format!("failed {item} operations (%); band: 95% Wilson interval"),
        _ => "failed operations (%); band: 95% Wilson interval".to_owned(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 22))
            .margin(18)
            .x_label_area_size(56)
            .y_label_area_size(76)
            .build_cartesian_2d(x_low..x_high, 0.0..y_max)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .x_label_formatter(&|v| short(*v))
            .y_label_formatter(&|v| format!("{}%", short(*v)))
            .axis_desc_style(("sans-serif", 17))
            .label_style(("sans-serif", 15))
            .light_line_style(TRANSPARENT)
            .bold_line_style(RGBColor(222, 222, 222))
            .draw()
            .map_err(plot_error)?;
        for (index, (name, points)) in strategies.iter().zip(&series).enumerate() {
            let colour = PALETTE[index % PALETTE.len()];
            let band: Vec<(f64, f64)> = points
                .iter()
                .map(|(x, _, _, high)| (*x, *high))
                .chain(points.iter().rev().map(|(x, _, low, _)| (*x, *low)))
                .collect();
            chart
                .draw_series(std::iter::once(Polygon::new(
                    band,
                    colour.mix(0.18).filled(),
                )))
                .map_err(plot_error)?;
            chart
                .draw_series(LineSeries::new(
                    points.iter().map(|(x, rate, _, _)| (*x, *rate)),
                    colour.stroke_width(3),
                ))
                .map_err(plot_error)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(3))
                });
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|(x, rate, _, _)| Circle::new((*x, *rate), 4, colour.filled())),
                )
                .map_err(plot_error)?;
        }
        chart
            .configure_series_labels()
            .position(corner)
            .margin(12)
            .label_font(("sans-serif", 17))
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(160, 160, 160))
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_millisecond_ranges_are_shown_in_minutes_or_seconds() {
        assert_eq!(
            x_axis("max_age_ms", 7_200_000.0),
            (60_000.0, "max_age (minutes)".to_owned())
        );
        assert_eq!(x_axis("workload.w.at_ms", 5_000.0).0, 1_000.0);
        assert_eq!(x_axis("persist_ms", 500.0).0, 1.0);
        assert_eq!(
            x_axis("workload.tool-calls.burst", 100.0).1,
            "workload.tool-calls.burst (operations arriving at once)"
        );
        assert_eq!(short(2.50), "2.5");
        assert_eq!(short(120.0), "120");
    }
}
