//! Inline SVG charts drawn with plotters' SVG backend (no `ttf`: plotters then estimates text
//! widths and leaves the glyphs to the browser's own `sans-serif`, so nothing is loaded).
//!
//! This module draws counts and rates only; it never sees an amount. It is the one place
//! where floating point is allowed, and only for drawing coordinates: rates arrive as integer
//! hundredths of a percent together with their already printed label, so what a chart writes
//! as text is the same string as the tables. Every chart comes out as one `<svg>` element with
//! `class="chart"`, a `data-chart` name and a `<title>`; a chart that cannot be drawn becomes
//! a small SVG saying so, so the page still opens.

use plotters::backend::SVGBackend;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::html::escape;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

const WIDTH: u32 = 680;
const HEIGHT: u32 = 420;
const FONT: &str = "sans-serif";

/// Colours for series, cycled when there are more series than colours.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// A count or a rate in hundredths of a percent as a drawing coordinate. Counts and rates of
/// a portfolio are far below 2^53, where `f64` is exact; beyond it only the pixel shifts.
fn coord(value: u128, divisor: u128) -> f64 {
    // Lossy above 2^53 by design (see above); divisor is 1 or 100.
    value as f64 / divisor.max(1) as f64
}

/// A position (index of a bar, date, row or column) as a drawing coordinate. Positions are
/// small; `f64` holds every integer below 2^53 exactly.
fn at(i: usize) -> f64 {
    // Exact for any position a page can show (see above).
    i as f64
}

/// Axis labels for counts: integers only, so no tick says half a loan.
fn whole(x: &f64) -> String {
    if (x - x.round()).abs() < 1e-6 {
        format!("{x:.0}")
    } else {
        String::new()
    }
}

/// The category whose centre is at `x`, for axis labels: plotters puts its key points on
/// round numbers, and with one label per unit those are the integers, the centres.
fn category(labels: &[String], x: f64) -> String {
    let nearest = x.round();
    if (x - nearest).abs() > 1e-6 || nearest < 0.0 {
        return String::new();
    }
    // Non-negative and integral here; a value past the end simply finds no label.
    labels.get(nearest as usize).cloned().unwrap_or_default()
}

/// One bar: its axis label, its height (None: no bar), the text printed on top.
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: Option<u128>,
    pub shown: String,
}

/// Bars for counts (`divisor` 1) or rates in hundredths (`divisor` 100, axis in percent).
pub fn bars(name: &str, title: &str, y_desc: &str, bars: &[Bar], divisor: u128) -> String {
    vertical(name, title, y_desc, bars, divisor, false)
}

/// Vertical bars as [`bars`], with the title drawn at the top of the chart (not only in its
/// `<title>`), for pages that show charts without a heading of their own.
pub fn titled_bars(name: &str, title: &str, y_desc: &str, bars: &[Bar], divisor: u128) -> String {
    vertical(name, title, y_desc, bars, divisor, true)
}

fn vertical(
    name: &str,
    title: &str,
    y_desc: &str,
    bars: &[Bar],
    divisor: u128,
    caption: bool,
) -> String {
    draw(name, title, |buf| {
        let root = SVGBackend::with_string(buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = at(bars.len().max(1));
        let labels: Vec<String> = bars.iter().map(|b| b.label.clone()).collect();
        let top = bars
            .iter()
            .filter_map(|b| b.value)
            .map(|v| coord(v, divisor))
            .fold(0.0_f64, f64::max);
        let y_top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut builder = ChartBuilder::on(&root);
        if caption {
            builder.caption(title, (FONT, 16));
        }
        let mut chart = builder
            .margin(16)
            .margin_right(40)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(-0.5_f64..n - 0.5, 0.0_f64..y_top)?;
        let label_of = |x: &f64| category(&labels, *x);
        let mut mesh = chart.configure_mesh();
        if divisor == 1 {
            mesh.y_label_formatter(&whole);
        }
        mesh.disable_x_mesh()
            .light_line_style(RGBColor(245, 245, 245))
            .x_labels(bars.len().max(1))
            .x_label_formatter(&label_of)
            .y_desc(y_desc)
            .label_style((FONT, 13))
            .draw()?;
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let height = coord(b.value?, divisor);
            let x = at(i);
            Some(Rectangle::new(
                [(x - 0.4, 0.0), (x + 0.4, height)],
                colour(0).filled(),
            ))
        }))?;
        let on_top =
            TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
        // A bar without a value (a rate of nothing) still says so at the baseline.
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let height = b.value.map_or(0.0, |v| coord(v, divisor));
            Text::new(b.shown.clone(), (at(i), height), on_top.clone())
        }))?;
        root.present()?;
        Ok(())
    })
}

/// The longest category label a horizontal bar chart prints; longer ones end in "…" (the
/// page's table beside the chart has them whole).
const LABEL_CHARS: usize = 40;
/// The height of one row of a horizontal bar chart, in pixels (labels are 13 px).
const ROW_PX: u32 = 28;

/// A label cut to [`LABEL_CHARS`] characters.
fn short_label(s: &str) -> String {
    if s.chars().count() <= LABEL_CHARS {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(LABEL_CHARS - 1).collect();
    out.push('…');
    out
}

/// A generous estimate of a label's width at 13 px: wide (CJK) characters take a full em,
/// the rest at most about two thirds of one.
fn label_px(s: &str) -> u32 {
    s.chars()
        .map(|c| if u32::from(c) >= 0x2E80 { 14 } else { 9 })
        .fold(0u32, u32::saturating_add)
}

/// Horizontal bars with the title drawn at the top and `x_desc` (the unit) under the axis:
/// one row per bar, so long category labels (rule ids, strategy arms, periods) each get a
/// line of their own and never print over each other. The chart grows with the rows; the
/// label column is as wide as the longest label (up to [`LABEL_CHARS`] characters). The
/// first bar is the top row. Counts (`divisor` 1) or rates in hundredths (`divisor` 100).
pub fn hbars(name: &str, title: &str, x_desc: &str, bars: &[Bar], divisor: u128) -> String {
    let rows = bars.len().max(1);
    // Caption, margins and the axis below the rows; bounded so a huge list stays a page.
    let height = u32::try_from(rows)
        .unwrap_or(u32::MAX)
        .saturating_mul(ROW_PX)
        .saturating_add(130)
        .min(6000);
    let labels: Vec<String> = bars.iter().rev().map(|b| short_label(&b.label)).collect();
    let label_area = labels
        .iter()
        .map(|l| label_px(l))
        .max()
        .unwrap_or(0)
        .clamp(40, 380)
        .saturating_add(16);
    draw(name, title, |buf| {
        let root = SVGBackend::with_string(buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let n = at(rows);
        let top = bars
            .iter()
            .filter_map(|b| b.value)
            .map(|v| coord(v, divisor))
            .fold(0.0_f64, f64::max);
        // Room right of the longest bar for its printed value.
        let x_top = if top > 0.0 { top * 1.35 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(16)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(label_area)
            .build_cartesian_2d(0.0_f64..x_top, -0.5_f64..n - 0.5)?;
        let label_of = |y: &f64| category(&labels, *y);
        let mut mesh = chart.configure_mesh();
        if divisor == 1 {
            mesh.x_label_formatter(&whole);
        }
        mesh.disable_y_mesh()
            .light_line_style(RGBColor(245, 245, 245))
            .x_labels(6)
            .y_labels(rows)
            .y_label_formatter(&label_of)
            .x_desc(x_desc)
            .label_style((FONT, 13))
            .draw()?;
        // Bar i is drawn in row rows - 1 - i (the first bar on top).
        let row = |i: usize| at(rows.saturating_sub(i + 1));
        chart.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            let width = coord(b.value?, divisor);
            let y = row(i);
            Some(Rectangle::new(
                [(0.0, y - 0.35), (width, y + 0.35)],
                colour(0).filled(),
            ))
        }))?;
        let after = TextStyle::from((FONT, 13).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let gap = x_top * 0.01;
        chart.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let width = b.value.map_or(0.0, |v| coord(v, divisor));
            Text::new(b.shown.clone(), (width + gap, row(i)), after.clone())
        }))?;
        root.present()?;
        Ok(())
    })
}

/// Stacked areas of counts over dates: `series[k].1[t]` is the count of series k on date t.
pub fn stacked_area(
    name: &str,
    title: &str,
    dates: &[String],
    series: &[(String, Vec<u64>)],
) -> String {
    draw(name, title, |buf| {
        let root = SVGBackend::with_string(buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        // One date still gets a band: it is drawn from x 0 to x 1.
        let n = dates.len();
        let x_last = at(n.saturating_sub(1).max(1));
        let mut cumulative: Vec<Vec<u64>> = Vec::with_capacity(series.len());
        for (_, counts) in series {
            let below = cumulative.last();
            let sums = (0..n)
                .map(|t| {
                    let own = counts.get(t).copied().unwrap_or(0);
                    own.saturating_add(below.and_then(|b| b.get(t)).copied().unwrap_or(0))
                })
                .collect();
            cumulative.push(sums);
        }
        let total = cumulative
            .last()
            .and_then(|c| c.iter().copied().max())
            .unwrap_or(0);
        let y_top = coord(u128::from(total), 1).max(1.0) * 1.1;
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .margin_right(40)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0_f64..x_last, 0.0_f64..y_top)?;
        let label_of = |x: &f64| category(dates, *x);
        chart
            .configure_mesh()
            .x_labels(n.clamp(2, 12))
            .y_label_formatter(&whole)
            .light_line_style(RGBColor(245, 245, 245))
            .x_label_formatter(&label_of)
            .y_desc("loans")
            .label_style((FONT, 13))
            .draw()?;
        // Highest band first, so each lower band is drawn over the part it covers.
        for (k, (label, _)) in series.iter().enumerate().rev() {
            let Some(tops) = cumulative.get(k) else {
                continue;
            };
            let mut points: Vec<(f64, f64)> = tops
                .iter()
                .enumerate()
                .map(|(t, y)| (at(t), coord(u128::from(*y), 1)))
                .collect();
            if let [only] = points.as_slice() {
                points.push((1.0, only.1));
            }
            let c = colour(k);
            chart
                .draw_series(AreaSeries::new(points, 0.0, c.mix(0.85).filled()).border_style(c))?
                .label(label.as_str())
                .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// One cell of a heat map: the rate in hundredths of a percent and its printed label.
#[derive(Debug, Clone)]
pub struct Cell {
    pub hundredths: u128,
    pub shown: String,
}

/// A matrix of rates, `cells[row][column]`; `None` is a cell of a row without loans.
pub fn heat_map(
    name: &str,
    title: &str,
    rows: &[String],
    columns: &[String],
    cells: &[Vec<Option<Cell>>],
) -> String {
    draw(name, title, |buf| {
        let height = u32::try_from(rows.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(34)
            .saturating_add(120)
            .min(2400);
        let root = SVGBackend::with_string(buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let nr = rows.len().max(1);
        let nc = columns.len().max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .margin_right(40)
            .x_label_area_size(48)
            .y_label_area_size(96)
            .build_cartesian_2d(-0.5_f64..at(nc) - 0.5, -0.5_f64..at(nr) - 0.5)?;
        // Row 0 is drawn at the top: display row y holds rows[nr - 1 - y].
        let upside_down: Vec<String> = rows.iter().rev().cloned().collect();
        let row_label = |y: &f64| category(&upside_down, *y);
        let column_label = |x: &f64| category(columns, *x);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(nc)
            .y_labels(nr)
            .x_label_formatter(&column_label)
            .y_label_formatter(&row_label)
            .x_desc("to")
            .y_desc("from")
            .label_style((FONT, 12))
            .draw()?;
        let mut shapes = Vec::new();
        let mut labels = Vec::new();
        let centred =
            TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        let on_dark = centred.clone().color(&WHITE);
        let on_light = centred.color(&BLACK);
        for (r, row) in cells.iter().enumerate() {
            let y = at(nr.saturating_sub(r + 1));
            for (c, cell) in row.iter().enumerate() {
                let x = at(c);
                let corners = [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)];
                let Some(cell) = cell else {
                    shapes.push(Rectangle::new(corners, RGBColor(238, 238, 238).filled()));
                    continue;
                };
                // White at 0 %, dark red at 100 %.
                let t = coord(cell.hundredths.min(10_000), 10_000);
                let shade = |from: f64, to: f64| {
                    // A channel value in 0..=255 by construction of t in [0, 1].
                    (from + (to - from) * t).round().clamp(0.0, 255.0) as u8
                };
                let fill = RGBColor(shade(255.0, 165.0), shade(255.0, 15.0), shade(255.0, 21.0));
                shapes.push(Rectangle::new(corners, fill.filled()));
                let ink = if t > 0.5 { &on_dark } else { &on_light };
                labels.push(Text::new(cell.shown.clone(), (x, y), ink.clone()));
            }
        }
        chart.draw_series(shapes)?;
        chart.draw_series(labels)?;
        root.present()?;
        Ok(())
    })
}

/// Lines of rates (hundredths of a percent) over months on book, one per series.
pub fn lines(
    name: &str,
    title: &str,
    x_desc: &str,
    series: &[(String, Vec<(u32, u128)>)],
) -> String {
    draw(name, title, |buf| {
        let root = SVGBackend::with_string(buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)?;
        let x_last = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .max()
            .unwrap_or(0)
            .max(1);
        let x_labels = usize::try_from(x_last).unwrap_or(24).clamp(1, 24) + 1;
        let x_last = coord(u128::from(x_last), 1);
        let top = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| coord(p.1, 100)))
            .fold(0.0_f64, f64::max);
        // Headroom above the highest point, so a line at 100 % is not drawn on the frame.
        let y_top = if top > 0.0 { top * 1.15 } else { 1.0 };
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .margin_right(40)
            .x_label_area_size(48)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0_f64..x_last, 0.0_f64..y_top)?;
        chart
            .configure_mesh()
            .x_labels(x_labels)
            .x_label_formatter(&whole)
            .light_line_style(RGBColor(245, 245, 245))
            .x_desc(x_desc)
            .y_desc("30+ rate %")
            .label_style((FONT, 13))
            .draw()?;
        for (k, (label, points)) in series.iter().enumerate() {
            let c = colour(k);
            let xy: Vec<(f64, f64)> = points
                .iter()
                .map(|(x, y)| (coord(u128::from(*x), 1), coord(*y, 100)))
                .collect();
            chart
                .draw_series(LineSeries::new(xy.clone(), c.stroke_width(2)))?
                .label(label.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], c.stroke_width(2)));
            chart.draw_series(xy.into_iter().map(|p| Circle::new(p, 3, c.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font((FONT, 13))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Runs one drawing into a string and turns it into the report's `<svg>` element.
fn draw(name: &str, title: &str, paint: impl FnOnce(&mut String) -> DrawResult) -> String {
    let mut svg = String::new();
    match paint(&mut svg) {
        Ok(()) => label(name, title, &svg),
        Err(e) => failed(name, title, &e.to_string()),
    }
}

/// Adds `class`, `data-chart`, `role` and a `<title>` to the `<svg>` plotters wrote.
fn label(name: &str, title: &str, svg: &str) -> String {
    let Some(rest) = svg.strip_prefix("<svg ") else {
        return failed(name, title, "plotters wrote no <svg> element");
    };
    let Some(open_end) = rest.find('>') else {
        return failed(name, title, "plotters wrote an unclosed <svg> tag");
    };
    let (attributes, body) = rest.split_at(open_end);
    let body = body.strip_prefix('>').unwrap_or(body);
    format!(
        "<svg class=\"chart\" data-chart=\"{name}\" role=\"img\" {attributes}>\n<title>{title}</title>\n{body}",
        name = escape(name),
        title = escape(title),
    )
}

fn failed(name: &str, title: &str, why: &str) -> String {
    format!(
        "<svg class=\"chart\" data-chart=\"{name}\" role=\"img\" width=\"{WIDTH}\" height=\"60\" \
         viewBox=\"0 0 {WIDTH} 60\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>{title}</title>\n\
         <text x=\"10\" y=\"35\" font-family=\"{FONT}\">This chart could not be drawn: {why}</text>\n</svg>\n",
        name = escape(name),
        title = escape(title),
        why = escape(why),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, n: u128) -> Bar {
        Bar {
            label: label.to_owned(),
            value: Some(n),
            shown: n.to_string(),
        }
    }

    /// The `<text>` contents of an SVG, trimmed, without empty ones.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn horizontal_bars_have_a_row_per_label_a_title_and_a_unit() {
        let long = "X".repeat(60);
        let bars = [bar("ALL-IDENTITY", 12), bar("US-HOURS", 3), bar(&long, 1)];
        let svg = hbars("blocked", "Blocked by rule", "blocked contacts", &bars, 1);
        let t = texts(&svg);
        assert!(t.contains(&"Blocked by rule".to_owned()), "{t:?}");
        assert!(t.contains(&"blocked contacts".to_owned()), "{t:?}");
        // Each label once, the long one cut with an ellipsis, each value printed.
        for l in ["ALL-IDENTITY", "US-HOURS", "12", "3"] {
            assert_eq!(t.iter().filter(|x| *x == l).count(), 1, "{l}: {t:?}");
        }
        let cut = format!("{}…", "X".repeat(LABEL_CHARS - 1));
        assert!(t.contains(&cut), "{t:?}");
        // Rows grow the chart: more bars, a taller SVG.
        let tall = hbars("b", "t", "u", &[bars.clone(), bars.clone()].concat(), 1);
        let height = |s: &str| {
            s.split("height=\"")
                .nth(1)
                .and_then(|h| h.split('"').next())
                .and_then(|h| h.parse::<u32>().ok())
                .unwrap()
        };
        assert!(height(&tall) > height(&svg));
        // The first bar is the top row: its label is drawn above the second's.
        let y_of = |label: &str| {
            let i = svg.find(&format!("\n{label}\n")).unwrap();
            let open = svg[..i].rfind("<text").unwrap();
            let y = svg[open..]
                .split("y=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            y.parse::<f64>().unwrap()
        };
        assert!(y_of("ALL-IDENTITY") < y_of("US-HOURS"));
    }

    #[test]
    fn titled_bars_draw_the_title() {
        let svg = titled_bars("buckets", "Loans by bucket", "loans", &[bar("M1", 2)], 1);
        assert!(texts(&svg).contains(&"Loans by bucket".to_owned()));
        let plain = bars("buckets", "Loans by bucket", "loans", &[bar("M1", 2)], 1);
        assert!(!texts(&plain).contains(&"Loans by bucket".to_owned()));
    }
}
