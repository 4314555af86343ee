//! Recall against throughput plots, written as SVG files.
//!
//! The usual picture for approximate nearest-neighbour search: each series is
//! one index configuration swept over a search parameter (such as `ef`), each
//! point its recall@k (x) and queries per second (y). Up and to the right is
//! better.

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

/// One line of the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// The legend's text for this line.
    pub label: String,
    /// `(recall, queries per second)` pairs; recall in `0..=1`, QPS positive.
    pub points: Vec<(f64, f64)>,
}

/// Tableau 10: distinct colours that stay apart for colour-blind readers too.
const COLOURS: [RGBColor; 10] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
    RGBColor(0xba, 0xb0, 0xac),
];

/// The picture's size in pixels.
const SIZE: (u32, u32) = (960, 640);

/// Writes an SVG plot of recall (x axis) against queries per second (y axis)
/// to `path`: one line with markers per series, each in its own colour, and a
/// legend.
///
/// The x axis runs from a little below the lowest recall up to 1.0. The y axis
/// is logarithmic when the highest QPS is more than ten times the lowest, and
/// linear otherwise. Each series' points are joined in order of recall.
///
/// Fails, with a message naming the problem, if there is no point at all, a
/// recall is not in `0..=1`, a QPS is not positive and finite, or the file
/// cannot be written.
pub fn recall_qps_svg(path: &Path, title: &str, series: &[Series]) -> Result<(), String> {
    let mut all = series
        .iter()
        .flat_map(|s| s.points.iter().map(move |p| (s, p)));
    if let Some((s, &(recall, qps))) = all.find(|&(_, &(recall, qps))| {
        !(0.0..=1.0).contains(&recall) || !qps.is_finite() || qps <= 0.0
    }) {
        return Err(format!(
            "series '{}' has the point (recall {recall}, {qps} QPS): recall must be in 0..=1 \
             and QPS positive and finite",
            s.label
        ));
    }
    let points = || series.iter().flat_map(|s| s.points.iter().copied());
    let Some(min_recall) = points().map(|p| p.0).min_by(f64::total_cmp) else {
        return Err("nothing to plot: the series hold no points".into());
    };
    let min_qps = points().map(|p| p.1).min_by(f64::total_cmp).unwrap_or(1.0);
    let max_qps = points().map(|p| p.1).max_by(f64::total_cmp).unwrap_or(1.0);

    let margin = (0.05 * (1.0 - min_recall)).max(0.01);
    let x = (min_recall - margin).max(0.0)..1.0;

    // Drawn into memory first, so a failed write leaves no half-drawn file.
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        if max_qps > 10.0 * min_qps {
            let y = (min_qps / 1.5)..(max_qps * 1.5);
            // Room for a grid line at every 1, 2, ..., 9 of each decade.
            let decades = (y.end / y.start).log10().ceil() as usize;
            let axis = YAxis {
                ticks: 10 * (decades + 1),
                log: true,
            };
            draw(&root, title, series, x, y.log_scale(), axis)?;
        } else {
            let y = (min_qps * 0.9)..(max_qps * 1.1);
            let axis = YAxis {
                ticks: 10,
                log: false,
            };
            draw(&root, title, series, x, y, axis)?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    std::fs::write(path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// How the QPS axis is labelled.
struct YAxis {
    /// The most ticks (and grid lines) to draw.
    ticks: usize,
    /// Logarithmic: label only the 1, 2 and 5 of each decade.
    log: bool,
}

fn draw<DB, Y>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    series: &[Series],
    x: Range<f64>,
    y: Y,
    y_axis: YAxis,
) -> Result<(), String>
where
    DB: DrawingBackend,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    let last_label = std::cell::Cell::new(f64::NAN);
    chart
        .configure_mesh()
        .x_desc("Recall")
        .y_desc("Queries per second")
        .x_label_formatter(&|r| format!("{r:.2}"))
        .y_labels(y_axis.ticks)
        .y_label_formatter(&|&q| {
            // Plotters' log axis yields each decade's end twice (as 10 × 1k and 10k).
            let repeated = (q - last_label.replace(q)).abs() <= q * 1e-9;
            if y_axis.log && (repeated || !matches!(leading_digit(q), 1 | 2 | 5)) {
                String::new()
            } else {
                format_qps(q)
            }
        })
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(err)?;

    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut points = s.points.clone();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], colour.stroke_width(2))
            });
        // Past ten series the colours repeat; the marker shape tells them apart.
        let style = colour.filled();
        match (i / COLOURS.len()) % 3 {
            0 => chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, style))),
            1 => chart.draw_series(points.iter().map(|&p| TriangleMarker::new(p, 6, style))),
            _ => chart.draw_series(
                points
                    .iter()
                    .map(|&p| Cross::new(p, 4, colour.stroke_width(2))),
            ),
        }
        .map_err(err)?;
    }

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.5))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(err)?;
    Ok(())
}

/// The first significant digit of a positive number (`2` for `2000.0000001`).
fn leading_digit(v: f64) -> u32 {
    if !(v.is_finite() && v > 0.0) {
        return 0;
    }
    let scaled = (v / 10f64.powf(v.log10().floor())).round();
    // `round` may carry 9.99 to 10.
    if scaled >= 10.0 { 1 } else { scaled as u32 }
}

/// Short tick labels: `850`, `12.5k`, `1.2M`.
fn format_qps(qps: f64) -> String {
    let (value, suffix) = match qps.abs() {
        q if q >= 1e6 => (qps / 1e6, "M"),
        q if q >= 1e3 => (qps / 1e3, "k"),
        _ => (qps, ""),
    };
    let text = if value.abs() >= 100.0 || value.fract().abs() < 1e-9 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    };
    // Drop zeros a fixed number of decimals leaves: "2.50" -> "2.5".
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_series() -> Vec<Series> {
        vec![
            Series {
                label: "M=16 <mmap>".into(),
                points: vec![
                    (0.62, 41_000.0),
                    (0.91, 9_800.0),
                    (0.83, 18_500.0),
                    (0.995, 1_900.0),
                ],
            },
            Series {
                label: "M=32 in memory".into(),
                points: vec![(0.71, 30_000.0), (0.95, 6_100.0), (0.999, 1_100.0)],
            },
        ]
    }

    #[test]
    fn writes_an_svg_with_both_labels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recall.svg");
        recall_qps_svg(&path, "SIFT 1M, recall@10", &two_series()).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("M=16 &lt;mmap&gt;"), "labels are escaped");
        assert!(svg.contains("M=32 in memory"));
        assert!(svg.contains("SIFT 1M, recall@10"));
        assert!(svg.contains("Queries per second"));
    }

    #[test]
    fn narrow_qps_range_uses_a_linear_axis() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("linear.svg");
        let series = [Series {
            label: "one point".into(),
            points: vec![(1.0, 500.0)],
        }];
        recall_qps_svg(&path, "t", &series).unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .contains("one point")
        );
    }

    #[test]
    fn bad_input_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.svg");
        let empty = [Series {
            label: "e".into(),
            points: vec![],
        }];
        assert!(
            recall_qps_svg(&path, "t", &empty)
                .unwrap_err()
                .contains("nothing to plot")
        );
        assert!(recall_qps_svg(&path, "t", &[]).is_err());
        for point in [(1.5, 10.0), (0.5, 0.0), (0.5, f64::NAN), (f64::NAN, 1.0)] {
            let s = [Series {
                label: "x".into(),
                points: vec![(0.9, 100.0), point],
            }];
            let e = recall_qps_svg(&path, "t", &s).unwrap_err();
            assert!(e.contains("series 'x'"), "{e}");
        }
        let s = two_series();
        let unwritable = dir.path().join("no/such/dir/p.svg");
        assert!(recall_qps_svg(&unwritable, "t", &s).is_err());
    }

    #[test]
    fn qps_labels_are_short() {
        assert_eq!(format_qps(850.0), "850");
        assert_eq!(format_qps(12_500.0), "12.5k");
        assert_eq!(format_qps(2_000.0), "2k");
        assert_eq!(format_qps(1_234_567.0), "1.23M");
        assert_eq!(format_qps(2.5), "2.5");
        assert_eq!(
            [2000.0000001, 1999.9999, 50.0, 0.3, 9.9996, 7e5, 0.0].map(leading_digit),
            [2, 2, 5, 3, 1, 7, 0]
        );
    }
}
