//! Pictures: a run's loss curve and the benchmark's grouped bars, as PNG or
//! SVG by the file's extension, written atomically like every output.
//!
//! Text is drawn with DejaVu Sans embedded in the binary (`assets/`), so a
//! machine without system fonts or fontconfig draws the same picture.

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::bench::Record;
use crate::error::{Error, Result};
use crate::optim::range::Found;

/// Picture size: pixels for PNG, user units for SVG.
pub const SIZE: (u32, u32) = (900, 540);

/// The font every text element uses, registered under plotters' default
/// family name.
static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Series colours: matplotlib's tab10, in its order (blue, orange, green,
/// red, purple, brown, pink, grey, olive, cyan), so a benchmark's bars of
/// up to ten backends, peers included, each have their own.
const COLORS: [RGBColor; 10] = [
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    /// The format a file name asks for, by its extension (any case).
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            other => Err(Error::Config(format!(
                "{}: {}; give a file name ending in .png or .svg",
                path.display(),
                match other {
                    Some(e) => format!("'.{e}' is not an image format shadertrain draws"),
                    None => "the name has no extension".to_string(),
                }
            ))),
        }
    }
}

/// Refuses a picture's path (given by `flag`, such as `--plot`) before any
/// work: an unknown extension or a place that cannot be written.
pub fn check_path(flag: &str, path: &Path) -> Result<Format> {
    if path == Path::new("-") || crate::io::is_standard_output(path) {
        return Err(Error::Config(format!(
            "{flag} draws an image, which does not go to standard output; give a file name ending in .png or .svg"
        )));
    }
    // A folder is named as one before its name's missing extension.
    crate::io::check_output(flag, path)?;
    Format::of(path).map_err(|e| Error::Config(format!("{flag} {e}")))
}

fn register_font() -> Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Config(
            "the embedded font (assets/DejaVuSans.ttf) did not load".into(),
        ))
    }
}

pub type DrawResult<E> = std::result::Result<(), DrawingAreaErrorKind<E>>;

/// Something drawn the same way on either backend: [`LossCurve`],
/// [`RangeCurve`] and [`BenchBars`].
pub trait Picture: Sized {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType>;

    /// Draws it into `path`, PNG or SVG by the extension, written
    /// atomically (`write_picture`).
    fn write(&self, path: &Path) -> Result<()> {
        write_picture(path, self)
    }
}

/// Draws `picture` in memory, then writes the file atomically: a failure
/// leaves no file (or the old one).
fn write_picture(path: &Path, picture: &impl Picture) -> Result<()> {
    let format = Format::of(path)?;
    register_font()?;
    let failed = |e: &dyn std::fmt::Display| Error::Plot {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let bytes = match format {
        Format::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
                picture.draw(&root).map_err(|e| failed(&e))?;
                root.present().map_err(|e| failed(&e))?;
            }
            text.into_bytes()
        }
        Format::Png => {
            // (height, width, RGB)
            let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
            {
                let bitmap = BitMapBackend::with_buffer(&mut rgb, SIZE);
                let root = joins::RoundJoins(bitmap).into_drawing_area();
                picture.draw(&root).map_err(|e| failed(&e))?;
                root.present().map_err(|e| failed(&e))?;
            }
            encode_png(&rgb, SIZE).map_err(|e| failed(&e))?
        }
    };
    crate::io::write_atomically(path, |w| w.write_all(&bytes))
}

mod joins {
    use plotters::backend::DrawingBackend;
    use plotters_backend::{
        BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
    };

    /// A backend that strokes opaque lines wider than a pixel segment by
    /// segment, with a round join at each point between, in place of the
    /// backend's own polygon of the whole path: plotters mitres every join
    /// of a wide path without a limit on its inner side, so a loss that
    /// zig-zags from epoch to epoch drew spikes far off its curve on the
    /// PNG (a line down to the axis where no loss was). A translucent line
    /// is left to the backend, as its joins would blend twice.
    pub(super) struct RoundJoins<B>(pub(super) B);

    /// What a drawing call of backend `B` gives back.
    type Drawn<B, T = ()> = Result<T, DrawingErrorKind<<B as DrawingBackend>::ErrorType>>;

    impl<B: DrawingBackend> DrawingBackend for RoundJoins<B> {
        type ErrorType = B::ErrorType;

        fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            path: I,
            style: &S,
        ) -> Drawn<B> {
            let width = style.stroke_width();
            if width <= 1 || style.color().alpha < 1.0 {
                return self.0.draw_path(path, style);
            }
            // Points on the same pixel (thousands of epochs across 800 px)
            // are one point.
            let mut points: Vec<BackendCoord> = Vec::new();
            for p in path {
                if points.last() != Some(&p) {
                    points.push(p);
                }
            }
            for (k, pair) in points.windows(2).enumerate() {
                // A join where a segment meets the one before, drawn first
                // so the segment's ends lie over it; the line's two ends
                // stay square, as the backend draws them.
                if k > 0 {
                    self.0
                        .draw_circle(pair[0], width / 2, &style.color(), true)?;
                }
                self.0.draw_path([pair[0], pair[1]], style)?;
            }
            Ok(())
        }

        fn get_size(&self) -> (u32, u32) {
            self.0.get_size()
        }

        fn ensure_prepared(&mut self) -> Drawn<B> {
            self.0.ensure_prepared()
        }

        fn present(&mut self) -> Drawn<B> {
            self.0.present()
        }

        fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Drawn<B> {
            self.0.draw_pixel(point, color)
        }

        fn draw_line<S: BackendStyle>(
            &mut self,
            from: BackendCoord,
            to: BackendCoord,
            style: &S,
        ) -> Drawn<B> {
            self.0.draw_line(from, to, style)
        }

        fn draw_rect<S: BackendStyle>(
            &mut self,
            upper_left: BackendCoord,
            bottom_right: BackendCoord,
            style: &S,
            fill: bool,
        ) -> Drawn<B> {
            self.0.draw_rect(upper_left, bottom_right, style, fill)
        }

        fn draw_circle<S: BackendStyle>(
            &mut self,
            center: BackendCoord,
            radius: u32,
            style: &S,
            fill: bool,
        ) -> Drawn<B> {
            self.0.draw_circle(center, radius, style, fill)
        }

        fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
            &mut self,
            vert: I,
            style: &S,
        ) -> Drawn<B> {
            self.0.fill_polygon(vert, style)
        }

        fn draw_text<T: BackendTextStyle>(
            &mut self,
            text: &str,
            style: &T,
            pos: BackendCoord,
        ) -> Drawn<B> {
            self.0.draw_text(text, style, pos)
        }

        fn estimate_text_size<T: BackendTextStyle>(
            &self,
            text: &str,
            style: &T,
        ) -> Drawn<B, (u32, u32)> {
            self.0.estimate_text_size(text, style)
        }

        fn blit_bitmap(&mut self, pos: BackendCoord, size: (u32, u32), src: &[u8]) -> Drawn<B> {
            self.0.blit_bitmap(pos, size, src)
        }
    }
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// A log range that holds every value of `values` (all > 0), with a margin.
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !(lo.is_finite() && hi > 0.0) {
        return (1e-3, 1.0);
    }
    let (lo, hi) = (lo / 1.5, hi * 1.5);
    if hi / lo < 10.0 {
        let mid = (lo * hi).sqrt();
        (mid / 3.2, mid * 3.2)
    } else {
        (lo, hi)
    }
}

/// The labelled values of a log axis from `lo` to `hi`: its powers of ten,
/// every other one or fewer where there are more than ten; or, where
/// fewer than four fall in it, 1, 2 and 5 times them, or 1 to 9 times.
/// (plotters' own labels begin at the first power of ten in the range, so
/// a loss between 0.2 and 1.5 had the one label 1.)
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = lo.log10().floor() as i32..=hi.log10().ceil() as i32;
    let ticks = |every: i32, steps: &[f64]| -> Vec<f64> {
        (decades.clone())
            .filter(|e| e.rem_euclid(every) == 0)
            .flat_map(|e| steps.iter().map(move |m| m * 10f64.powi(e)))
            .filter(|v| (lo..=hi).contains(v))
            .collect()
    };
    let powers = ticks(1, &[1.0]);
    if powers.len() > 10 {
        let every = powers.len().div_ceil(10) as i32;
        return ticks(every, &[1.0]);
    }
    [
        &[1.0, 2.0, 5.0][..],
        &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
    ]
    .into_iter()
    .map(|steps| ticks(1, steps))
    .fold(
        powers,
        |best, more| if best.len() < 4 { more } else { best },
    )
}

/// A log axis label: plain between 0.001 and 10,000, else 1e-5 style.
fn tick(v: &f64) -> String {
    if (1e-3..1e4).contains(v) {
        let text = format!("{v:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        format!("{v:.0e}")
    }
}

/// Training loss per epoch (and validation loss where measured), log scale.
pub struct LossCurve<'a> {
    /// `losses[k]`: the loss at the start of epoch k; the last, after the final update.
    pub losses: &'a [f64],
    /// (epoch, validation loss) where it was measured.
    pub val: &'a [(usize, f64)],
    pub title: String,
    /// What the loss axis shows, e.g. "MSE (standardized units)".
    pub loss_label: String,
    /// `--keep best` or `best-val`: the kept parameters' epoch and the loss
    /// they were kept for, marked on the curve.
    pub kept: Option<(usize, f64)>,
    /// `--lr-schedule plateau`: the epochs from which the rate was cut,
    /// drawn as vertical lines.
    pub cuts: &'a [u64],
}

/// Characters of a title line at 20 px: DejaVu Sans averages about 11 px
/// a character, and the picture is 900 wide.
const TITLE_CHARS: usize = 72;

/// `title` in lines of at most `width` characters, broken after its
/// commas (a part longer than a line gets a line of its own).
fn wrap(title: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for part in title.split_inclusive(", ") {
        match lines.last_mut() {
            Some(line) if line.chars().count() + part.trim_end().chars().count() <= width => {
                line.push_str(part)
            }
            _ => lines.push(part.to_string()),
        }
    }
    lines.iter().map(|l| l.trim_end().to_string()).collect()
}

/// `title` at the top of `root`, wrapped; the lines it took.
fn draw_title<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> std::result::Result<u32, DrawingAreaErrorKind<DB::ErrorType>> {
    let lines = wrap(title, TITLE_CHARS);
    let font = ("sans-serif", 20).into_font().color(&BLACK);
    let middle = root.dim_in_pixel().0 as i32 / 2;
    for (i, line) in lines.iter().enumerate() {
        let at = (middle, 14 + 24 * i as i32);
        root.draw(&Text::new(
            line.as_str(),
            at,
            font.pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }
    Ok(lines.len() as u32)
}

/// The series' legend, boxed, at `position` in the chart, in `size` px.
fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> DrawResult<DB::ErrorType> {
    chart
        .configure_series_labels()
        .position(position)
        .label_font(("sans-serif", size))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
}

/// The loss curve's legend text, in px.
const LEGEND_PX: u32 = 15;

/// The share of a `area` px plotting area's width and height that a
/// legend of `lines` entries, the widest `widest` px, takes: plotters
/// boxes the text with a 30 px key and 10 px margins, 5 px from the
/// corner, and spaces lines at 1.25 times the text's size.
fn legend_size(widest: u32, lines: usize, area: (u32, u32)) -> (f64, f64) {
    let w = f64::from(widest) + 30.0 + 20.0 + 5.0;
    let h = lines as f64 * 1.25 * f64::from(LEGEND_PX) + 20.0 + 5.0;
    (w / f64::from(area.0.max(1)), h / f64::from(area.1.max(1)))
}

/// The corners a loss curve's legend may take, in the order preferred
/// where several cover as little: upper right, where a falling curve
/// ends low, then the lower ones, then upper left, where it begins.
const CORNERS: [SeriesLabelPosition; 4] = [
    SeriesLabelPosition::UpperRight,
    SeriesLabelPosition::LowerLeft,
    SeriesLabelPosition::LowerRight,
    SeriesLabelPosition::UpperLeft,
];

/// The corner of [`CORNERS`] whose legend box, `size` in shares of the
/// plotting area's width and height, covers the fewest of `marks` (none
/// where a corner can), then of `curves`: each a line through its points,
/// given in shares of the area from its upper left (x right, y down), and
/// followed between them as drawn. A held-out loss that rises at the end
/// (overfitting) ends in the upper right, where the legend would hide it;
/// a mark (the kept epoch's cross) is one point, yet hiding it hides what
/// it says.
fn legend_corner(
    curves: &[Vec<(f64, f64)>],
    marks: &[(f64, f64)],
    size: (f64, f64),
) -> SeriesLabelPosition {
    // Steps along each segment, so a line crossing a box between two
    // sparse points counts.
    const STEPS: usize = 16;
    let covered = |corner: &SeriesLabelPosition| {
        let (w, h) = size;
        let inside = |&(x, y): &(f64, f64)| {
            let right = matches!(
                corner,
                SeriesLabelPosition::UpperRight | SeriesLabelPosition::LowerRight
            );
            let lower = matches!(
                corner,
                SeriesLabelPosition::LowerLeft | SeriesLabelPosition::LowerRight
            );
            let across = if right { x >= 1.0 - w } else { x <= w };
            let down = if lower { y >= 1.0 - h } else { y <= h };
            across && down
        };
        let hidden = marks.iter().filter(|p| inside(p)).count();
        let mut count = 0usize;
        for curve in curves {
            count += curve.last().filter(|p| inside(p)).map_or(0, |_| 1);
            for pair in curve.windows(2) {
                let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
                count += (0..STEPS)
                    .map(|k| {
                        let t = k as f64 / STEPS as f64;
                        (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
                    })
                    .filter(inside)
                    .count();
            }
        }
        (hidden, count)
    };
    // The first of the least covered: min_by_key keeps the first of equals.
    CORNERS
        .into_iter()
        .min_by_key(covered)
        .expect("four corners")
}

/// Points that a log axis can show: finite and positive.
fn plottable(points: impl Iterator<Item = (usize, f64)>) -> Vec<(f64, f64)> {
    points
        .filter(|(_, l)| l.is_finite() && *l > 0.0)
        .map(|(k, l)| (k as f64, l))
        .collect()
}

impl Picture for LossCurve<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType> {
        root.fill(&WHITE)?;
        let train = plottable(self.losses.iter().copied().enumerate());
        let val = plottable(self.val.iter().copied());
        let (lo, hi) = log_bounds(train.iter().chain(&val).map(|p| p.1));
        let last = self.losses.len().saturating_sub(1).max(1) as f64;
        // The title, wrapped: an optimizer with a schedule is too long
        // for one line.
        let lines = draw_title(root, &self.title)?;
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .margin_top(24 + 24 * lines)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(
                0f64..last,
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            )?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            // At most one label an epoch: plotters takes 1, 2 or 5 times a
            // power of ten as the step, so never less than 1 here. (Ten
            // labels on a 3-epoch run fell between epochs, and rounded to
            // whole numbers read 0 0 1 2 2 2 3.)
            .x_labels((last as usize + 1).min(10))
            .y_desc(self.loss_label.as_str())
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&tick)
            .label_style(("sans-serif", 14))
            .draw()?;
        let series = [
            ("training loss", &train, COLORS[0]),
            ("validation loss", &val, COLORS[1]),
        ];
        for (label, points, color) in series {
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))?
                .label(label)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2))
                });
            // Sparse measurements (and one-point runs) show as dots.
            if points.len() <= 64 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            }
        }
        let mut labels = vec![];
        for (label, points) in [("training loss", &train), ("validation loss", &val)] {
            if !points.is_empty() {
                labels.push(label.to_string());
            }
        }
        let cut = COLORS[3].mix(0.6);
        if !self.cuts.is_empty() {
            chart
                .draw_series(self.cuts.iter().map(|&c| {
                    PathElement::new([(c as f64, lo), (c as f64, hi)], cut.stroke_width(1))
                }))?
                .label("learning-rate cut")
                .legend(move |(x, y)| PathElement::new([(x + 10, y - 7), (x + 10, y + 7)], cut));
            labels.push("learning-rate cut".to_string());
        }
        let kept = self.kept.filter(|&(_, l)| l.is_finite() && l > 0.0);
        if let Some((epoch, loss)) = kept {
            let color = COLORS[2];
            let label = format!("kept (epoch {epoch})");
            chart
                .draw_series([Cross::new((epoch as f64, loss), 7, color.stroke_width(3))])?
                .label(label.as_str())
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, color.stroke_width(3)));
            labels.push(label);
        }
        // The legend goes where it hides no mark if a corner can, then
        // the least of the curves and the rate's cuts.
        let area = chart.plotting_area();
        let (w, h) = area.dim_in_pixel();
        let font = ("sans-serif", LEGEND_PX).into_text_style(area);
        let widest = (labels.iter())
            .map(|l| area.estimate_text_size(l, &font).map_or(0, |(w, _)| w))
            .max()
            .unwrap_or(0);
        let size = legend_size(widest, labels.len(), (w, h));
        let (ln_lo, ln_hi) = (lo.ln(), hi.ln());
        let share = |&(x, loss): &(f64, f64)| (x / last, (ln_hi - loss.ln()) / (ln_hi - ln_lo));
        // The rate's cuts are lines from the top to the bottom.
        let cuts =
            (self.cuts.iter()).map(|&c| vec![(c as f64 / last, 0.0), (c as f64 / last, 1.0)]);
        let curves: Vec<Vec<(f64, f64)>> = [
            train.iter().map(share).collect(),
            val.iter().map(share).collect(),
        ]
        .into_iter()
        .chain(cuts)
        .collect();
        let marks: Vec<(f64, f64)> = kept
            .map(|(e, l)| share(&(e as f64, l)))
            .into_iter()
            .collect();
        legend(&mut chart, legend_corner(&curves, &marks, size), LEGEND_PX)
    }
}

/// The range test's `points` (rate, loss) as drawn under a loss axis that
/// stops at `hi`: the runs of the curve below it, each leaving through
/// the top edge towards the loss above it and coming back in from it
/// (straight on the log scales), so a blow-up leaves the picture rather
/// than running along its top as if the loss had levelled off, and a
/// point back under the top after it (the curve ends one update after
/// its blow-up) is drawn.
fn below_the_top(points: &[(f64, f64)], hi: f64) -> Vec<Vec<(f64, f64)>> {
    // Where the straight line from `a` to `b` on the log scales, one of
    // them above `hi` and the other not, meets it.
    let edge = |(lr0, loss0): (f64, f64), (lr1, loss1): (f64, f64)| {
        let t = (hi / loss0).ln() / (loss1 / loss0).ln();
        (lr0 * (lr1 / lr0).powf(t), hi)
    };
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut before: Option<(f64, f64)> = None;
    for &point in points {
        match (before, point.1 <= hi) {
            (Some(b), true) if b.1 > hi => runs.push(vec![edge(b, point), point]),
            (Some(_), true) => runs.last_mut().expect("a run").push(point),
            (None, true) => runs.push(vec![point]),
            (Some(b), false) if b.1 <= hi => runs.last_mut().expect("a run").push(edge(b, point)),
            (_, false) => {}
        }
        before = Some(point);
    }
    runs
}

/// `--lr auto`'s range test: the loss after each epoch's update against
/// that epoch's rate, both on log scales, with the lowest loss and the
/// rate chosen marked.
pub struct RangeCurve<'a> {
    pub found: &'a Found,
    pub title: String,
    /// What the loss axis shows.
    pub loss_label: String,
}

impl Picture for RangeCurve<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType> {
        root.fill(&WHITE)?;
        let f = self.found;
        let points: Vec<(f64, f64)> = (f.curve.iter())
            .filter(|p| p.loss.is_finite() && p.loss > 0.0)
            .map(|p| (p.lr, p.loss))
            .collect();
        // The blow-up at the end climbs by decades: the axis stops a
        // decade above the start, as the points below it are the ones to
        // read.
        let (lo, hi) = log_bounds(points.iter().map(|p| p.1).chain([f.start_loss]));
        let hi = hi.min(10.0 * f.start_loss.max(lo));
        // After runs at the chosen rate diverged, the rate the run trained
        // at: a RETRY_CUT-th of the last that diverged.
        let trained = f
            .retries
            .last()
            .map(|r| crate::optim::range::retry_rate(r.lr));
        let rates = points.iter().map(|p| p.0).chain([f.lr]).chain(trained);
        let (first, last) = rates.fold((f64::INFINITY, 0.0f64), |(a, b), r| (a.min(r), b.max(r)));
        let (first, last) = if first < last {
            (first / 1.5, last * 1.5)
        } else {
            (1e-6, 10.0)
        };
        let lines = draw_title(root, &self.title)?;
        let mut chart = ChartBuilder::on(root)
            .margin(20)
            .margin_top(24 + 24 * lines)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(
                (first..last).log_scale(),
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            )?;
        chart
            .configure_mesh()
            .x_desc("learning rate (log scale)")
            .y_desc(self.loss_label.as_str())
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .label_style(("sans-serif", 14))
            .draw()?;
        let color = COLORS[0];
        chart
            .draw_series(
                (below_the_top(&points, hi).into_iter())
                    .map(|run| PathElement::new(run, color.stroke_width(2))),
            )?
            .label("loss after the epoch's update")
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        let lowest = COLORS[2];
        if f.lowest_loss.is_finite() && f.lowest_loss > 0.0 {
            chart
                .draw_series([Cross::new(
                    (f.lowest_lr, f.lowest_loss),
                    7,
                    lowest.stroke_width(3),
                )])?
                .label(format!("lowest loss, at {:.2e}", f.lowest_lr))
                .legend(move |(x, y)| Cross::new((x + 10, y), 5, lowest.stroke_width(3)));
        }
        let chosen = COLORS[3];
        chart
            .draw_series([PathElement::new(
                [(f.lr, lo), (f.lr, hi)],
                chosen.stroke_width(2),
            )])?
            .label(match f.retries.len() {
                0 => format!("rate chosen, {:.2e}", f.lr),
                _ => format!("rate chosen, {:.2e} (diverged)", f.lr),
            })
            .legend(move |(x, y)| PathElement::new([(x + 10, y - 7), (x + 10, y + 7)], chosen));
        if let Some(trained) = trained {
            let color = COLORS[4];
            let runs = crate::units::count(f.retries.len(), "run");
            chart
                .draw_series([PathElement::new(
                    [(trained, lo), (trained, hi)],
                    color.stroke_width(2),
                )])?
                .label(format!(
                    "rate trained at, {trained:.2e}, after {runs} diverged"
                ))
                .legend(move |(x, y)| PathElement::new([(x + 10, y - 7), (x + 10, y + 7)], color));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 15)
    }
}

/// The benchmark as bars grouped by shape, one per backend, log scale.
pub struct BenchBars<'a> {
    pub records: &'a [Record],
}

/// The legend's entry for `backend`'s records: the device they ran on, or,
/// where that differs by shape (the cpu backend's threads, the GPU's
/// kernels), each with the shapes it ran.
fn bench_legend(records: &[Record], backend: &Record) -> String {
    let mut adapters: Vec<(&str, Vec<&str>)> = Vec::new();
    for r in records.iter().filter(|r| r.backend == backend.backend) {
        match adapters.iter_mut().find(|(a, _)| *a == r.adapter) {
            Some((_, shapes)) => shapes.push(&r.shape),
            None => adapters.push((&r.adapter, vec![&r.shape])),
        }
    }
    // The device most shapes ran on plainly, then each other with its
    // shapes (the cpu backend's threads on a shape of few rows).
    let most = (0..adapters.len())
        .max_by_key(|&i| (adapters[i].1.len(), std::cmp::Reverse(i)))
        .unwrap_or(0);
    let others = (adapters.iter().enumerate())
        .filter(|&(i, _)| i != most)
        .map(|(_, (adapter, shapes))| format!("; {adapter} on {}", shapes.join(", ")));
    let ran = match adapters.get(most) {
        Some((adapter, shapes)) if adapters.len() > 1 => {
            format!(
                "{adapter} on {}",
                crate::units::count(shapes.len(), "shape")
            )
        }
        Some((adapter, _)) => adapter.to_string(),
        None => String::new(),
    };
    let entry = format!("{}: {ran}{}", backend.backend, others.collect::<String>());
    // What fits the picture's width beside the legend's key.
    match entry.chars().count() > LEGEND_CHARS {
        true => entry.chars().take(LEGEND_CHARS - 1).collect::<String>() + "…",
        false => entry,
    }
}

/// The most characters of a legend entry, at 14 px, that fit across the
/// bench plot beside the legend's key and the axis.
const LEGEND_CHARS: usize = 105;

/// About how wide `text` is at `size` px in DejaVu Sans, whose average
/// glyph is a little over half its size.
fn text_px(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * 0.55 * size
}

/// How a bench bar's median is written over it, by the bar's width in
/// pixels: 1.23e-4 at 14 px where it fits, 1.2e-4 at 11 px, else not at
/// all (the bars would run together; `--json` has every value).
#[derive(Clone, Copy, PartialEq, Debug)]
enum ValueLabels {
    Full,
    Small,
    None,
}

impl ValueLabels {
    fn for_bars(bar: f64) -> ValueLabels {
        match bar {
            b if b >= text_px("1.23e-4", 14.0) + 4.0 => ValueLabels::Full,
            b if b >= text_px("1.2e-4", 11.0) + 2.0 => ValueLabels::Small,
            _ => ValueLabels::None,
        }
    }

    fn text(self, seconds: f64) -> Option<String> {
        match self {
            ValueLabels::Full => Some(format!("{seconds:.2e}")),
            ValueLabels::Small => Some(format!("{seconds:.1e}")),
            ValueLabels::None => None,
        }
    }

    /// The room a label takes over its bar.
    fn height(self) -> f64 {
        match self {
            ValueLabels::None => 0.0,
            _ => 20.0,
        }
    }
}

impl Picture for BenchBars<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB::ErrorType> {
        root.fill(&WHITE)?;
        let mut shapes: Vec<&Record> = Vec::new();
        let mut backends: Vec<&Record> = Vec::new();
        for r in self.records {
            if !shapes.iter().any(|s| s.shape == r.shape) {
                shapes.push(r);
            }
            if !backends.iter().any(|b| b.backend == r.backend) {
                backends.push(r);
            }
        }
        let (lo, hi) = log_bounds(self.records.iter().map(|r| r.median_s));
        let groups = shapes.len().max(1) as f64;
        let width = backends.len().max(1) as f64;
        // Pixels, roughly: the plot area (the picture less the caption,
        // the margins and the label areas), a bar, the legend's box.
        let (area_w, area_h) = (SIZE.0 as f64 - 115.0, SIZE.1 as f64 - 120.0);
        let bar = 0.8 * area_w / groups / width;
        let values = ValueLabels::for_bars(bar);
        let legend_h = 20.0 + 20.0 * backends.len() as f64;
        // Headroom over the tallest bar for the legend and the value
        // labels: the bars' decades fill the height below them.
        let below = (area_h - legend_h - values.height()).max(area_h / 4.0);
        let hi = lo * (hi / lo).powf(area_h / below);
        let mut chart = ChartBuilder::on(root)
            .caption(
                "median time per epoch (lower is better)",
                ("sans-serif", 22),
            )
            .margin(20)
            .x_label_area_size(50)
            .y_label_area_size(75)
            .build_cartesian_2d(
                0f64..groups,
                (lo..hi).log_scale().with_key_points(log_ticks(lo, hi)),
            )?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(2)
            .x_label_formatter(&|_| String::new())
            .set_tick_mark_size(LabelAreaPosition::Bottom, 0)
            .y_desc("seconds per epoch (log scale)")
            .y_label_formatter(&tick)
            .label_style(("sans-serif", 14))
            .draw()?;
        let label = ("sans-serif", 14).into_font().color(&BLACK);
        let centered = |pos| label.pos(Pos::new(HPos::Center, pos));
        let small = ("sans-serif", 11).into_font().color(&BLACK);
        let value_style = match values {
            ValueLabels::Small => small.pos(Pos::new(HPos::Center, VPos::Bottom)),
            _ => centered(VPos::Bottom),
        };
        let labels: Vec<String> = (shapes.iter())
            .map(|shape| {
                // A sized shape's name is its size.
                let sized = format!("{}x{}x{}", shape.n, shape.f, shape.h);
                match shape.shape == sized {
                    true => format!("{}×{}, h {}", shape.n, shape.f, shape.h),
                    false => format!("{} ({}×{}, h {})", shape.shape, shape.n, shape.f, shape.h),
                }
            })
            .collect();
        // Group labels wider than their slot go on two rows, alternately;
        // wider than two slots, by name alone.
        let slot = area_w / groups;
        let widest = labels.iter().map(|l| text_px(l, 14.0)).fold(0.0, f64::max);
        let named_only = widest > 2.0 * slot;
        let two_rows = widest > slot;
        for (i, shape) in shapes.iter().enumerate() {
            // Shape name and size under its group.
            let (cx, bottom) = chart.backend_coord(&(i as f64 + 0.5, lo));
            let text = match named_only {
                true => shape.shape.clone(),
                false => labels[i].clone(),
            };
            let row = if two_rows && i % 2 == 1 { 18 } else { 0 };
            root.draw(&Text::new(
                text,
                (cx, bottom + 8 + row),
                centered(VPos::Top),
            ))?;
            for (j, backend) in backends.iter().enumerate() {
                let Some(r) = self
                    .records
                    .iter()
                    .find(|r| r.shape == shape.shape && r.backend == backend.backend)
                else {
                    continue;
                };
                // The group fills 80% of its slot; each bar 1/width of that.
                let x0 = i as f64 + 0.1 + 0.8 * j as f64 / width;
                let x1 = x0 + 0.8 / width;
                let (left, top) = chart.backend_coord(&(x0, r.median_s));
                let (right, _) = chart.backend_coord(&(x1, r.median_s));
                root.draw(&Rectangle::new(
                    [(left + 1, top), (right - 1, bottom)],
                    COLORS[j % COLORS.len()].filled(),
                ))?;
                if let Some(text) = values.text(r.median_s) {
                    root.draw(&Text::new(
                        text,
                        ((left + right) / 2, top - 3),
                        value_style.clone(),
                    ))?;
                }
            }
        }
        // Legend entries: one per backend, naming the device it ran on.
        for (j, b) in backends.iter().enumerate() {
            let color = COLORS[j % COLORS.len()];
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())?
                .label(bench_legend(self.records, b))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The curve leaves through the axis' top at the rate where the
    /// log-log line to the first loss above meets it, and comes back in
    /// the same way for a point under it after.
    #[test]
    fn the_range_curve_leaves_and_comes_back_through_the_top() {
        let points = [(1e-3, 1.0), (1e-2, 0.5), (1e-1, 1e3), (1.0, 8.0)];
        let runs = below_the_top(&points, 10.0);
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert_eq!(runs[0][..2], points[..2]);
        // From 0.5 to 1e3 in loss, 10 is log(20)/log(2000) of the way, so
        // at 1e-2 · 10^that; back from 1e3 to 8, log(100)/log(125).
        let out = 1e-2 * 10f64.powf(20f64.ln() / 2000f64.ln());
        let back = 1e-1 * 10f64.powf(100f64.ln() / 125f64.ln());
        let close =
            |(lr, loss): (f64, f64), want: f64| (lr / want - 1.0).abs() < 1e-12 && loss == 10.0;
        assert!(runs[0].len() == 3 && close(runs[0][2], out), "{runs:?}");
        assert!(runs[1].len() == 2 && close(runs[1][0], back), "{runs:?}");
        assert_eq!(runs[1][1], points[3]);
        // All below: one run of every point; all above: none.
        assert_eq!(below_the_top(&points[..2], 10.0), [points[..2].to_vec()]);
        assert!(below_the_top(&[(1e-3, 20.0), (1e-2, 30.0)], 10.0).is_empty());
        // At the top exactly is below it, and the curve goes on from it.
        assert_eq!(below_the_top(&[(1e-3, 10.0)], 10.0), [vec![(1e-3, 10.0)]]);
        let on = [(1e-3, 10.0), (1e-2, 5.0)];
        assert_eq!(below_the_top(&on, 10.0), [on.to_vec()]);
    }

    /// A backend whose device differs by shape names each with its shapes.
    #[test]
    fn the_bench_legend_names_each_device_a_backend_ran_on() {
        use crate::bench::{parse_shapes, BackendKind, Timing};
        let timing = Timing {
            per_epoch: vec![1e-3],
            epochs: 1,
            first_s: 1e-3,
            first_loss: 0.25,
            contention: None,
        };
        let shapes = parse_shapes("64x2x2,S0,S1").unwrap();
        let record = |kind, adapter, shape| {
            Record::new(kind, adapter, &shapes[shape], "sigmoid", &timing, 0.0)
        };
        let records = [
            record(BackendKind::Cpu, "EPYC (1 thread, avx2)", 0),
            record(BackendKind::Gpu, "H200, tiled kernels", 0),
            record(BackendKind::Cpu, "EPYC (2 threads, avx2)", 1),
            record(BackendKind::Gpu, "H200, tiled kernels", 1),
            record(BackendKind::Cpu, "EPYC (2 threads, avx2)", 2),
        ];
        assert_eq!(
            bench_legend(&records, &records[0]),
            "cpu: EPYC (2 threads, avx2) on 2 shapes; EPYC (1 thread, avx2) on 64x2x2"
        );
        assert_eq!(
            bench_legend(&records, &records[1]),
            "gpu: H200, tiled kernels"
        );
        // Of devices with as many shapes, the first is named plainly.
        let records = [
            record(BackendKind::Cpu, "EPYC (1 thread, avx2)", 0),
            record(BackendKind::Cpu, "EPYC (2 threads, avx2)", 1),
        ];
        assert_eq!(
            bench_legend(&records, &records[0]),
            "cpu: EPYC (1 thread, avx2) on 1 shape; EPYC (2 threads, avx2) on S0"
        );
        // An entry too long for the picture is cut, and says so.
        let long = "x".repeat(200);
        let records = [record(BackendKind::Cpu, &long, 0)];
        let entry = bench_legend(&records, &records[0]);
        assert_eq!(entry.chars().count(), LEGEND_CHARS);
        assert!(
            entry.starts_with("cpu: xxx") && entry.ends_with('…'),
            "{entry}"
        );
        // One that fits exactly is whole.
        let fits = "x".repeat(LEGEND_CHARS - "cpu: ".len());
        let records = [record(BackendKind::Cpu, &fits, 0)];
        assert_eq!(bench_legend(&records, &records[0]), format!("cpu: {fits}"));
    }

    /// A bar's median is written over it where it fits, smaller where
    /// only that fits, and not at all on bars too narrow for either.
    #[test]
    fn value_labels_fit_their_bars() {
        assert_eq!(ValueLabels::for_bars(80.0), ValueLabels::Full);
        assert_eq!(ValueLabels::for_bars(45.0), ValueLabels::Small);
        assert_eq!(ValueLabels::for_bars(20.0), ValueLabels::None);
        // "1.23e-4" at 14 px is about 54 px wide, and gets 2 px each side.
        assert_eq!(ValueLabels::for_bars(57.5), ValueLabels::Small);
        assert_eq!(ValueLabels::for_bars(58.0), ValueLabels::Full);
        assert_eq!(ValueLabels::Full.text(1.2345e-4).unwrap(), "1.23e-4");
        assert_eq!(ValueLabels::Small.text(1.2345e-4).unwrap(), "1.2e-4");
        assert_eq!(ValueLabels::None.text(1.0), None);
    }

    /// A log axis shows positive, finite losses only.
    #[test]
    fn plottable_points_are_positive_and_finite() {
        let losses = [0.5, 0.0, -1.0, f64::NAN, f64::INFINITY, 1e-30];
        let points = plottable(losses.into_iter().enumerate());
        assert_eq!(points, [(0.0, 0.5), (5.0, 1e-30)]);
    }

    /// `picture` as `write` draws it to an SVG file, as text.
    fn svg(picture: &impl Picture) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.svg");
        picture.write(&path).unwrap();
        std::fs::read_to_string(&path).unwrap()
    }

    /// Up to 64 points of a series are marked with dots too; more are a
    /// line alone.
    #[test]
    fn a_short_loss_curve_has_dots() {
        let dots = |epochs: usize| {
            let losses: Vec<f64> = (0..epochs).map(|k| 1.0 / (k + 1) as f64).collect();
            let curve = LossCurve {
                losses: &losses,
                val: &[],
                title: "loss".into(),
                loss_label: "MSE".into(),
                kept: None,
                cuts: &[],
            };
            svg(&curve).matches("<circle").count()
        };
        assert_eq!(dots(64), 64);
        assert_eq!(dots(65), 0);
    }

    /// The pixels of `path` stroked 2 px wide on a white 200 × 200
    /// bitmap, through [`joins::RoundJoins`] or plotters' own: the
    /// (x, y) of each that is not white.
    fn stroked(path: &[(i32, i32)], round: bool) -> Vec<(i32, i32)> {
        let (w, h) = (200, 200);
        let mut rgb = vec![255u8; w * h * 3];
        {
            let bitmap = BitMapBackend::with_buffer(&mut rgb, (w as u32, h as u32));
            let style = BLACK.stroke_width(2);
            let drawn = match round {
                true => joins::RoundJoins(bitmap).draw_path(path.iter().copied(), &style),
                false => {
                    let mut bitmap = bitmap;
                    bitmap.draw_path(path.iter().copied(), &style)
                }
            };
            drawn.unwrap();
        }
        (rgb.chunks_exact(3).enumerate())
            .filter(|(_, p)| p != &[255, 255, 255])
            .map(|(k, _)| ((k % w) as i32, (k / w) as i32))
            .collect()
    }

    /// A wide line that zig-zags, and repeats a point, stays within a
    /// stroke's width of its points on a PNG, and passes through each:
    /// plotters' own polygon of the path reaches far off it (these are
    /// the points of a loss curve that drew a line down to its axis).
    #[test]
    fn a_wide_zig_zag_stays_on_its_points() {
        let path = [
            (75, 43),
            (76, 24),
            (77, 115),
            (78, 44),
            (79, 45),
            (80, 125),
            (81, 49),
            (81, 72),
            (82, 112),
            (83, 57),
            (83, 57),
            (84, 101),
            (85, 98),
        ];
        let near = |pixels: &[(i32, i32)]| {
            pixels
                .iter()
                .all(|&(x, y)| (73..=87).contains(&x) && (22..=127).contains(&y))
        };
        let round = stroked(&path, true);
        assert!(near(&round), "{round:?}");
        for p in path {
            assert!(round.contains(&p), "{p:?} not drawn");
        }
        // plotters' own polygon of this path reaches far off it: the fault
        // RoundJoins mends. A plotters that limits its mitres fails here,
        // and RoundJoins may then go.
        let own = stroked(&path, false);
        assert!(!near(&own), "{own:?}");
    }

    /// The legend takes the first corner that hides the least of the
    /// curves, counting the lines between their points.
    #[test]
    fn the_legend_takes_the_corner_that_hides_the_least() {
        use SeriesLabelPosition::*;
        let size = (0.3, 0.2);
        let corner = |curves: &[Vec<(f64, f64)>]| legend_corner(curves, &[], size);
        // A falling loss: the upper right is empty, and first.
        let falling = vec![(0.0, 0.05), (0.5, 0.7), (1.0, 0.95)];
        assert_eq!(corner(std::slice::from_ref(&falling)), UpperRight);
        // A held-out loss that rises again to the upper right: the lower
        // left is the first empty corner.
        let rising = vec![(0.0, 0.1), (0.5, 0.6), (1.0, 0.1)];
        assert_eq!(corner(&[falling.clone(), rising]), LowerLeft);
        // A line between two points outside the box crosses it.
        let crossing = vec![(0.6, 0.0), (1.0, 0.4)];
        assert_eq!(corner(&[crossing]), LowerLeft);
        // One point alone counts; every corner covered: the least wins.
        let corners = |skip: usize| -> Vec<Vec<(f64, f64)>> {
            [(0.95, 0.05), (0.05, 0.95), (0.95, 0.95), (0.05, 0.05)]
                .iter()
                .enumerate()
                .filter(|&(k, _)| k != skip)
                .map(|(_, &p)| vec![p])
                .collect()
        };
        assert_eq!(corner(&corners(2)), LowerRight);
        let mut twice = corners(9);
        twice.extend(corners(3));
        assert_eq!(corner(&twice), UpperLeft);
        assert_eq!(corner(&[]), UpperRight);
        // A line of the rate's cut, top to bottom near the right edge,
        // passes under both right corners.
        let cut = vec![(0.9, 0.0), (0.9, 1.0)];
        assert_eq!(corner(&[falling, cut]), LowerLeft);
        // A mark is kept clear where a corner can be, however many of the
        // curves' points that corner hides; where none can, the curves
        // decide.
        let crowd: Vec<(f64, f64)> = (0..40).map(|k| (0.01 * f64::from(k), 0.9)).collect();
        let with = |marks: &[(f64, f64)]| legend_corner(std::slice::from_ref(&crowd), marks, size);
        assert_eq!(with(&[]), UpperRight);
        assert_eq!(with(&[(0.95, 0.05)]), LowerRight);
        let everywhere = [(0.95, 0.05), (0.05, 0.95), (0.95, 0.95), (0.05, 0.05)];
        assert_eq!(with(&everywhere), UpperRight);
        // Marks first, then curves: the one corner clear of the mark is
        // taken though it hides 40 points and the marked one none.
        let row = |x0: f64, y: f64| -> Vec<(f64, f64)> {
            (0..40).map(|k| (x0 + 0.005 * f64::from(k), y)).collect()
        };
        let crowds = [row(0.0, 0.9), row(0.8, 0.9), row(0.0, 0.1)];
        assert_eq!(legend_corner(&crowds, &[(0.95, 0.05)], size), LowerLeft);
    }

    /// A drawn loss curve's legend box: at the upper right for a falling
    /// loss, and away from a held-out loss that climbs back to the top at
    /// the end.
    #[test]
    fn a_loss_curves_legend_keeps_off_its_end() {
        let losses: Vec<f64> = (0..40).map(|k| 1.0 / (k + 1) as f64).collect();
        // Falls with the training loss, then climbs above its start.
        let val: Vec<(usize, f64)> = (0..40)
            .map(|k| (k, 0.5 / (k + 1) as f64 + (k as f64 / 39.0).powi(4) * 1.5))
            .collect();
        let legend_x = |val: &[(usize, f64)], cuts: &[u64], kept: Option<(usize, f64)>| {
            let curve = LossCurve {
                losses: &losses,
                val,
                title: "loss".into(),
                loss_label: "MSE".into(),
                kept,
                cuts,
            };
            let text = svg(&curve);
            let rect = (text.split("<rect").skip(1))
                .find(|r| r.contains("opacity=\"0.85\""))
                .unwrap_or_else(|| panic!("no legend box in {text}"));
            let x = rect
                .split("x=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap();
            x.parse::<f64>().unwrap()
        };
        let half = f64::from(SIZE.0) / 2.0;
        assert!(legend_x(&[], &[], None) > half);
        assert!(legend_x(&val, &[], None) < half);
        // The rate's cuts late in the run are lines under the right
        // corners; the kept epoch's cross at the upper right, one point,
        // is kept clear too.
        assert!(legend_x(&[], &[36, 37, 38], None) < half);
        assert!(legend_x(&[], &[], Some((39, 1.0))) < half);
    }

    /// The range test's loss axis stops a decade above the loss it began
    /// at, however far the blow-up climbs.
    #[test]
    fn the_range_tests_axis_stops_a_decade_above_the_start() {
        use crate::optim::range::Point;
        let curve = [
            (1e-4, 0.9),
            (1e-3, 0.5),
            (1e-2, 0.2),
            (1e-1, 5.0),
            (1.0, 1e4),
        ];
        let curve = curve.map(|(lr, loss)| Point { lr, loss }).to_vec();
        let found = Found::sketch(1e-3, (1e-2, 0.2), curve);
        let text = svg(&RangeCurve {
            found: &found,
            title: "range test".into(),
            loss_label: "MSE".into(),
        });
        let labels: Vec<&str> = (text.split("</text>"))
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .collect();
        // From 0.2 / 1.5 to 10: labels at 1, 2 and 5 times the powers.
        for label in ["0.2", "5", "10"] {
            assert!(labels.contains(&label), "{label} in {labels:?}");
        }
        for label in ["20", "100", "1e4"] {
            assert!(!labels.contains(&label), "{label} in {labels:?}");
        }
    }

    #[test]
    fn format_follows_the_extension() {
        assert_eq!(Format::of(Path::new("a/loss.PNG")).unwrap(), Format::Png);
        assert_eq!(Format::of(Path::new("loss.svg")).unwrap(), Format::Svg);
        for bad in ["loss.jpg", "loss", "loss.png.txt"] {
            let e = Format::of(Path::new(bad)).unwrap_err().to_string();
            assert!(e.contains(".png or .svg"), "{e}");
        }
    }

    #[test]
    fn titles_wrap_after_commas() {
        let title = "loss per epoch: 16 → 64 → 1, tanh, adam, lr 0.01, beta1 0.9, beta2 0.999";
        assert_eq!(
            wrap(title, 40),
            [
                "loss per epoch: 16 → 64 → 1, tanh, adam,",
                "lr 0.01, beta1 0.9, beta2 0.999"
            ]
        );
        assert_eq!(wrap("short, title", 40), ["short, title"]);
        assert_eq!(
            wrap("a part longer than the line", 8),
            ["a part longer than the line"]
        );
        for line in wrap(title, 20) {
            assert!(line.chars().count() <= 20 || !line.contains(", "), "{line}");
        }
    }

    #[test]
    fn ticks_read_plainly() {
        assert_eq!(tick(&0.5), "0.5");
        assert_eq!(tick(&2.0), "2");
        assert_eq!(tick(&0.001), "0.001");
        assert_eq!(tick(&1e-5), "1e-5");
        assert_eq!(tick(&9999.0), "9999");
        assert_eq!(tick(&1e4), "1e4");
        assert_eq!(tick(&1e5), "1e5");
    }

    #[test]
    fn log_axes_have_labels_over_the_range() {
        let shown = |lo, hi| -> Vec<String> { log_ticks(lo, hi).iter().map(tick).collect() };
        assert_eq!(
            shown(0.15, 1.5),
            ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9", "1"]
        );
        assert_eq!(
            shown(0.004, 2.0),
            ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5", "1", "2"]
        );
        assert_eq!(shown(1e-5, 0.5), ["1e-5", "1e-4", "0.001", "0.01", "0.1"]);
        assert_eq!(
            shown(2e-13, 3e3),
            ["1e-12", "1e-10", "1e-8", "1e-6", "1e-4", "0.01", "1", "100"]
        );
        for (lo, hi) in [(0.15, 1.5), (3e-7, 40.0), (1e-30, 1e30)] {
            let ticks = log_ticks(lo, hi);
            assert!((4..=10).contains(&ticks.len()), "{lo}..{hi}: {ticks:?}");
            assert!(ticks.iter().all(|t| (lo..=hi).contains(t)));
        }
    }

    #[test]
    fn log_bounds_hold_the_values_and_span_a_decade() {
        // 0.5 to 0.7, and 1 to 4.3, whose margins leave a little under
        // a decade (1.5² · 4.3 ≈ 9.7).
        for (a, b) in [(0.5, 0.7), (1.0, 4.3)] {
            let (lo, hi) = log_bounds([a, b].into_iter());
            assert!(lo < a && hi > b && hi / lo >= 10.0, "{a}..{b}: {lo}..{hi}");
        }
        let (lo, hi) = log_bounds([1e-6, 1.0].into_iter());
        assert!(lo < 1e-6 && hi > 1.0);
        assert_eq!(log_bounds(std::iter::empty()), (1e-3, 1.0));
    }
}
