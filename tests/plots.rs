//! `train --plot` and `bench --plot` through the built binary: PNGs that
//! decode to the documented size, SVGs that parse as XML with the curves and
//! bars in them, a bad extension refused before any work, and bench output
//! that stays clean text when piped.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{have_gpu, path, paths, png_size, shadertrain, train_synthetic, PLATEAU};
use shadertrain::plot::SIZE;

/// The SVG's text, after checking it parses and has an <svg> root.
fn svg_text(file: &str) -> String {
    let text = std::fs::read_to_string(file).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the SVG is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    text
}

fn count_tags(svg: &str, tags: &[&str]) -> usize {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| tags.contains(&n.tag_name().name()))
        .count()
}

fn texts(svg: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(svg).unwrap();
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

#[test]
fn train_plots_the_loss_curve_as_png_and_svg() {
    let dir = tempfile::tempdir().unwrap();
    let [png, svg, val_svg, cut_svg] = paths(&dir, ["loss.png", "loss.svg", "val.svg", "cut.svg"]);
    let train = |plot: &str, extra: &[&str]| {
        let more = ["--hidden", "4", "--epochs", "30", "--quiet", "--plot", plot];
        let mut args = train_synthetic("300", "3", "cpu", &more);
        args.extend(extra);
        let (ok, _, err) = shadertrain(&args);
        assert!(ok, "{err}");
    };
    train(&png, &[]);
    assert_eq!(png_size(&png), SIZE);
    train(&svg, &[]);
    let text = svg_text(&svg);
    assert!(count_tags(&text, &["polyline", "path"]) >= 1, "no curve");
    let labels = texts(&text);
    assert!(labels.iter().any(|t| t == "training loss"), "{labels:?}");
    assert!(!labels.iter().any(|t| t == "validation loss"));
    assert!(labels.iter().any(|t| t == "epoch"));
    assert!(
        labels
            .iter()
            .any(|t| t.starts_with("loss per epoch: 3 → 4 → 1")),
        "{labels:?}"
    );
    assert!(!labels
        .iter()
        .any(|t| t == "learning-rate cut" || t.starts_with("kept")));
    // The plateau's cuts as lines and the kept epoch as a cross, in the
    // legend; the long title on more than one line.
    train(&cut_svg, &[PLATEAU, &["--keep", "best"]].concat());
    let text = svg_text(&cut_svg);
    let labels = texts(&text);
    assert!(
        labels.iter().any(|t| t == "learning-rate cut"),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|t| t.starts_with("kept (epoch ")),
        "{labels:?}"
    );
    assert!(
        labels.iter().any(|t| t.starts_with("plateau ×0.5")),
        "{labels:?}"
    );
    train(&val_svg, &["--validation-split", "0.2"]);
    let labels = texts(&svg_text(&val_svg));
    assert!(labels.iter().any(|t| t == "validation loss"), "{labels:?}");
    // Nothing but the plots (no temp files left behind).
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["cut.svg", "loss.png", "loss.svg", "val.svg"]);
}

/// The epoch axis is labelled at whole epochs, each once: a short run's
/// labels used to fall between epochs and read 0 0 1 2 2 2 3.
#[test]
fn the_epoch_axis_labels_whole_epochs_once() {
    let dir = tempfile::tempdir().unwrap();
    for (epochs, want) in [
        ("1", &["0", "1"][..]),
        ("3", &["0", "1", "2", "3"]),
        ("12", &["0", "2", "4", "6", "8", "10", "12"]),
    ] {
        let svg = path(&dir, &format!("e{epochs}.svg"));
        let more = [
            "--hidden", "4", "--epochs", epochs, "--quiet", "--plot", &svg,
        ];
        let (ok, _, err) = shadertrain(&train_synthetic("100", "3", "cpu", &more));
        assert!(ok, "{err}");
        let text = svg_text(&svg);
        // The x labels: centred under their ticks, where the y labels
        // end at theirs.
        let doc = roxmltree::Document::parse(&text).unwrap();
        let x: Vec<String> = (doc.descendants())
            .filter(|n| n.tag_name().name() == "text")
            .filter(|n| n.attribute("text-anchor") == Some("middle"))
            .filter_map(|n| n.text().map(|t| t.trim().to_string()))
            .filter(|t| t.parse::<f64>().is_ok())
            .collect();
        assert_eq!(x, want, "{epochs} epochs: {:?}", texts(&text));
    }
}

#[test]
fn a_bad_plot_extension_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let [jpg, model, json] = paths(&dir, ["loss.jpg", "m.st", "b.json"]);
    let start = Instant::now();
    // Far too many epochs to finish: the error must come first.
    let more = ["--epochs", "100000000", "--plot", &jpg, "--save", &model];
    let (ok, _, err) = shadertrain(&train_synthetic("100", "2", "cpu", &more));
    assert!(!ok);
    assert!(
        err.contains("loss.jpg") && err.contains(".png or .svg"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    let (ok, _, err) = shadertrain(&[
        "bench",
        "--shapes",
        "S0,S1,S2,S3",
        "--backends",
        "reference",
        "--plot",
        &path(&dir, "bench"),
        "--json",
        &json,
    ]);
    assert!(!ok);
    assert!(err.contains("no extension"), "{err}");
    // A folder, or a name ending in '/', is named as one.
    let sub = path(&dir, "pictures");
    std::fs::create_dir(&sub).unwrap();
    for (plot, says) in [
        (sub.clone(), "is a directory"),
        (format!("{sub}/x/"), "ends in '/'"),
    ] {
        let (ok, _, err) = shadertrain(&["bench", "--shapes", "S0", "--plot", &plot]);
        assert!(
            !ok && err.contains(&format!("--plot: {plot} {says}")),
            "{err}"
        );
    }
    std::fs::remove_dir(&sub).unwrap();
    assert!(start.elapsed() < Duration::from_secs(30));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `--lr-plot` draws `--lr auto`'s range test: every finite point of the
/// JSON's curve on one line, the lowest loss and the rate chosen in the
/// legend with the JSON's numbers. Without `--lr auto`, or with another
/// extension, it is refused before any work and nothing is written.
#[test]
fn train_plots_the_range_test_of_lr_auto() {
    let dir = tempfile::tempdir().unwrap();
    let [png, svg, json, model] = paths(&dir, ["r.png", "r.svg", "r.json", "m.st"]);
    let train = |plot: &str, extra: &[&str]| {
        let more = [
            "--hidden",
            "4",
            "--epochs",
            "3",
            "--quiet",
            "--lr-plot",
            plot,
        ];
        let mut args = train_synthetic("300", "3", "cpu", &more);
        args.extend(extra);
        shadertrain(&args)
    };
    let auto = ["--optimizer", "adam", "--lr", "auto", "--json", &json];
    let (ok, _, err) = train(&svg, &auto);
    assert!(ok, "{err}");
    let found = &common::read_json(&json)["lr_range_test"];
    let text = svg_text(&svg);
    let labels = texts(&text);
    let has = |want: &str| labels.iter().any(|t| t == want);
    assert!(has("learning rate (log scale)"), "{labels:?}");
    let epochs = found["epochs"].as_u64().unwrap();
    let title = format!("--lr auto's range test: adam, {epochs} epochs on 300 rows");
    assert!(has(&title), "{labels:?}");
    let lr = found["lr"].as_f64().unwrap();
    assert!(has(&format!("rate chosen, {lr:.2e}")), "{labels:?}");
    let lowest = found["lowest_lr"].as_f64().unwrap();
    assert!(has(&format!("lowest loss, at {lowest:.2e}")), "{labels:?}");
    let finite = found["curve"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["loss"].as_f64().is_some_and(|l| l > 0.0))
        .count();
    assert!(finite > 10, "{found}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let lines: Vec<usize> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "polyline")
        .filter_map(|n| n.attribute("points"))
        .map(|p| p.split_whitespace().count())
        .collect();
    assert!(lines.contains(&finite), "{finite} points, lines {lines:?}");
    let (ok, _, err) = train(&png, &auto);
    assert!(ok, "{err}");
    assert_eq!(png_size(&png), SIZE);
    // Refused before any work: no --lr auto, or not a picture.
    std::fs::remove_dir_all(dir.path()).unwrap();
    std::fs::create_dir(dir.path()).unwrap();
    let not_a_picture = format!("--lr-plot {json}: '.json' is not an image format");
    for (plot, extra, says) in [
        (&svg, &["--lr", "0.1"][..], "--lr-plot needs --lr auto"),
        (&json, &["--lr", "auto"][..], not_a_picture.as_str()),
    ] {
        let (ok, _, err) = train(plot, &[extra, &["--save", &model]].concat());
        assert!(!ok, "{extra:?}");
        assert!(err.contains(says), "{err}");
        assert!(plot != &json || err.contains(".png or .svg"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}

#[test]
fn bench_draws_bars_and_keeps_piped_output_clean() {
    let dir = tempfile::tempdir().unwrap();
    let [png, svg] = paths(&dir, ["bench.png", "bench.svg"]);
    let gpu = have_gpu();
    let backends = if gpu { "cpu,gpu" } else { "cpu" };
    let bench = |plot: &str, quiet: bool| {
        let mut args = vec![
            "bench",
            "--shapes",
            "S0",
            "--backends",
            backends,
            "--samples",
            "2",
            "--warmup",
            "1",
            "--plot",
            plot,
        ];
        if quiet {
            args.push("--quiet");
        }
        let (ok, out, err) = shadertrain(&args);
        assert!(ok, "{err}");
        (out, err)
    };
    let (out, err) = bench(&svg, false);
    // Piped: no bar, no carriage returns or escape codes; one record a line.
    for text in [&out, &err] {
        assert!(
            !text.contains('\r') && !text.contains('\u{1b}'),
            "terminal control codes in piped output: {text:?}"
        );
    }
    assert!(err.contains("S0 cpu: median"), "{err}");
    assert!(out.starts_with("backend"), "{out}");
    if gpu {
        // The gpu row's adapter names the kernels timed.
        let row = out
            .lines()
            .find(|l| l.starts_with("gpu"))
            .unwrap_or_default();
        let families = ["fused", "tiled", "layered", "wide"];
        assert!(
            families
                .iter()
                .any(|f| row.contains(&format!(", {f} kernels"))),
            "{out}"
        );
    }
    let text = svg_text(&svg);
    // The background, the legend's box and swatches, and one bar per backend.
    let bars = if gpu { 2 } else { 1 };
    assert!(count_tags(&text, &["rect"]) >= 2 + 2 * bars, "{text}");
    let labels = texts(&text);
    assert!(
        labels.iter().any(|t| t.starts_with("S0 (1024×4")),
        "{labels:?}"
    );
    assert!(labels.iter().any(|t| t.starts_with("cpu: ")), "{labels:?}");
    if gpu {
        assert!(labels.iter().any(|t| t.starts_with("gpu: ")), "{labels:?}");
    }
    let (out, err) = bench(&png, true);
    assert!(err.is_empty(), "--quiet: {err:?}");
    assert!(out.contains("S0"), "the table still prints: {out}");
    assert_eq!(png_size(&png), SIZE);
    assert!(Path::new(&png).exists());
}

/// An exact fit has a loss of 0, which the curve's log axis cannot show:
/// the plot is still written, and a notice says what it leaves out.
#[test]
fn losses_a_log_axis_cannot_show_are_left_out_with_a_notice() {
    use shadertrain::data::Dataset;
    use shadertrain::model::{Activation, Layout, Model};
    let dir = tempfile::tempdir().unwrap();
    let [data, init, svg] = paths(&dir, ["zeros.csv", "zero.st", "z.svg"]);
    let mut rows = Dataset::synthetic(50, 2, 0).unwrap();
    rows.y.iter_mut().for_each(|y| *y = 0.0);
    shadertrain::io::write_csv(Path::new(&data), &rows).unwrap();
    let layout = Layout::new(2, &[3]).unwrap();
    let names = rows.feature_names.clone();
    let mut zero = Model::init(layout, Activation::Tanh, 0, names, "y".into());
    zero.params.iter_mut().for_each(|p| *p = 0.0);
    shadertrain::io::save_model(&zero, Path::new(&init)).unwrap();
    let args = ["train", "--data", &data, "--init", &init, "--epochs", "3"];
    // gd: L-BFGS stops at once on a zero gradient.
    let more = [
        "--optimizer",
        "gd",
        "--backend",
        "cpu",
        "--plot",
        &svg,
        "--validation-split",
        "0.2",
    ];
    let (ok, _, err) = shadertrain(&[&args[..], &more].concat());
    assert!(ok, "{err}");
    for what in ["4 of 4 training losses", "4 of 4 validation losses"] {
        let notice = format!("notice: --plot leaves out {what} that are 0 or not finite");
        assert!(err.contains(&notice), "{err}");
    }
    svg_text(&svg);
}
