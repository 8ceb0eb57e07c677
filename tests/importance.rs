//! `importance`: permutation importance, against a plain twin shuffle by
//! shuffle, against the rises the synthetic task's formula gives, and
//! through the built binary: exact zeros, reruns, samples, missing cells
//! and refusals.

mod common;

use common::{gen_csv, path, read_json, run_ok, shadertrain};
use shadertrain::cpu::reference;
use shadertrain::data::{Category, Dataset, Standardization};
use shadertrain::importance::{self, columns, mean_and_sd, permutation_importance, shuffle};
use shadertrain::model::{Activation, Layout, Model};

/// `rows` rows of x0, a one-hot city of three levels (a, b, c) and x1,
/// with y depending on all three columns.
fn city_rows(rows: usize) -> Dataset {
    let x0 = common::uniform(1, rows, -1.0, 1.0);
    let x1 = common::uniform(2, rows, -2.0, 2.0);
    let mut x = Vec::with_capacity(rows * 5);
    let mut y = Vec::with_capacity(rows);
    for n in 0..rows {
        let k = (n * 7 + n / 3) % 3;
        let mut hot = [0.0f32; 3];
        hot[k] = 1.0;
        x.extend([x0[n], hot[0], hot[1], hot[2], x1[n]]);
        y.push(x0[n] * x1[n] + [0.5, -1.0, 2.0][k]);
    }
    let names = ["x0", "city=a", "city=b", "city=c", "x1"];
    Dataset {
        x,
        y,
        rows,
        features: 5,
        feature_names: names.iter().map(|s| s.to_string()).collect(),
        target_name: "y".into(),
    }
}

/// A standardised two-hidden-layer model of [`city_rows`]' columns.
fn city_model(data: &Dataset) -> Model {
    let layout = Layout::new(5, &[6, 4]).unwrap();
    let names = data.feature_names.clone();
    let mut model = Model::init(layout, Activation::Tanh, 3, names, "y".into());
    model.standardization = Some(Standardization::fit(data));
    model.categories = vec![Category {
        column: "city".into(),
        levels: vec!["a".into(), "b".into(), "c".into()],
    }];
    model.check().unwrap();
    model
}

/// Every rise is the plain twin's to the bit: for each repeat, the shuffle
/// of that repeat applied to a fresh copy of the rows, the column's cells
/// (all three of the city's level features together) taken from the
/// shuffled rows, and the reference's predictions on one thread. 40,000
/// rows, so that the predictions are shared among the cores where there
/// are two or more. The rows are left as they were.
#[test]
fn rises_are_the_plain_twins_shuffle_by_shuffle() {
    let data = city_rows(40_000);
    let model = city_model(&data);
    let cols = columns(&model);
    let names: Vec<(&str, &[usize], bool)> = (cols.iter())
        .map(|c| (c.name.as_str(), &c.features[..], c.categorical))
        .collect();
    assert_eq!(
        names,
        [
            ("x0", &[0][..], false),
            ("city", &[1, 2, 3][..], true),
            ("x1", &[4][..], false)
        ]
    );
    let mut shuffled = data.clone();
    let mut calls = 0;
    let got =
        permutation_importance(&model, &mut shuffled, &cols, (3, 11), &mut || calls += 1).unwrap();
    assert_eq!(calls, 9);
    assert!(shuffled == data, "the rows were not put back");
    let yhat = reference::predict(&model, &data).unwrap();
    assert_eq!(got.mse, reference::mse(&yhat, &data.y));
    for (c, column) in cols.iter().enumerate() {
        for repeat in 0..3 {
            let order = shuffle(data.rows, 11, repeat);
            let mut copy = data.clone();
            for (n, &from) in order.iter().enumerate() {
                for &j in &column.features {
                    copy.x[n * 5 + j] = data.x[from * 5 + j];
                }
            }
            // (1/N)·Σ((ŷ′ − y)² − (ŷ − y)²), each term as its factors.
            let shuffled = reference::predict(&model, &copy).unwrap();
            let mut sum = 0.0;
            for n in 0..data.rows {
                let (s, p, t) = (shuffled[n], yhat[n], data.y[n] as f64);
                sum += (s - p) * (s + p - 2.0 * t);
            }
            let want = sum / data.rows as f64;
            let name = &column.name;
            assert_eq!(
                got.rises[c][repeat as usize], want,
                "{name} repeat {repeat}"
            );
            // The same as the difference of the two MSEs, to rounding.
            let mse_rise = reference::mse(&shuffled, &data.y) - got.mse;
            assert!(
                (want - mse_rise).abs() <= 1e-12 * got.mse,
                "{name}: {want} {mse_rise}"
            );
        }
    }
}

/// Repeat r's shuffle is docs/spec.md's: Fisher–Yates from N − 1 down to
/// 1, position i swapped with the draw at stream 10's words 2·(r·N + i)
/// and the next, mapped to 0..=i by a 128-bit multiply; a permutation of
/// its own for each repeat and seed.
#[test]
fn shuffles_are_the_specs() {
    use shadertrain::rng::{bits, Stream};
    assert_eq!(Stream::Importance.id(), 10);
    let (rows, seed, repeat) = (1000usize, 11u64, 3u64);
    let mut want: Vec<usize> = (0..rows).collect();
    for i in (1..rows).rev() {
        let at = 2 * (repeat * rows as u64 + i as u64);
        let draw = (u64::from(bits(seed, Stream::Importance, at + 1)) << 32)
            | u64::from(bits(seed, Stream::Importance, at));
        want.swap(i, ((u128::from(draw) * (i as u128 + 1)) >> 64) as usize);
    }
    let got = shuffle(rows, seed, repeat);
    assert!(got == want);
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert!(sorted == (0..rows).collect::<Vec<_>>());
    assert!(got != shuffle(rows, seed, 2) && got != shuffle(rows, seed + 1, repeat));
}

/// A row far from its target (1e30 where the others are near 1) that a
/// shuffle leaves in its place adds exactly 0 to the rises, so the others'
/// rises are as they were: each row's term is computed as its factors, not
/// as the difference of two MSEs near 1e59, which would round them away.
#[test]
fn a_huge_target_does_not_round_the_rises_away() {
    let mut data = city_rows(200);
    let model = city_model(&data);
    let cols = columns(&model);
    // The first seed whose first shuffle leaves a row in its place.
    let (seed, n) = (0..)
        .find_map(|seed| {
            let order = shuffle(200, seed, 0);
            Some((seed, (0..200).find(|&n| order[n] == n)?))
        })
        .unwrap();
    let run = |data: &mut Dataset| {
        permutation_importance(&model, data, &cols, (1, seed), &mut || {}).unwrap()
    };
    let plain = run(&mut data.clone());
    data.y[n] = 1e30;
    let huge = run(&mut data);
    assert!(huge.mse > 1e55);
    for (c, column) in cols.iter().enumerate() {
        assert!(plain.rises[c][0] != 0.0);
        assert_eq!(huge.rises[c][0], plain.rises[c][0], "{}", column.name);
    }
}

#[test]
fn mean_and_sd_are_numpys() {
    // np.mean([1, 2, 4]) = 7/3; np.std([1, 2, 4]) = sqrt(14/9).
    let (mean, sd) = mean_and_sd(&[1.0, 2.0, 4.0]);
    assert!((mean - 7.0 / 3.0).abs() < 1e-15);
    assert!((sd - (14.0f64 / 9.0).sqrt()).abs() < 1e-15);
    assert_eq!(mean_and_sd(&[0.25]), (0.25, 0.0));
}

#[test]
fn too_few_rows_and_missing_cells_are_refused() {
    let data = city_rows(10);
    let model = city_model(&data);
    let cols = columns(&model);
    let mut one = data.slice(0..1);
    let err = permutation_importance(&model, &mut one, &cols, (1, 0), &mut || {}).unwrap_err();
    assert!(err.to_string().contains("at least 2"), "{err}");
    for target in [false, true] {
        let mut gap = data.clone();
        match target {
            false => gap.x[7] = f32::NAN,
            true => gap.y[3] = f32::NAN,
        }
        let err = permutation_importance(&model, &mut gap, &cols, (1, 0), &mut || {}).unwrap_err();
        assert!(
            err.to_string().contains("missing"),
            "target {target}: {err}"
        );
    }
    let wrong = [importance::Column {
        name: "z".into(),
        features: vec![5],
        categorical: false,
    }];
    let mut rows = data.clone();
    let err = permutation_importance(&model, &mut rows, &wrong, (1, 0), &mut || {}).unwrap_err();
    assert!(err.to_string().contains("'z'"), "{err}");
}

/// The rise of a column of y = sin(πx0)·cos(πx1) + 0.5·x2 with x ~ U(−1, 1)
/// for a model that has learnt it: shuffling a column swaps its value
/// for an independent one, and the expected square of the difference it
/// makes is twice the variance of the term it enters. For x2,
/// 2·0.5²·Var(x2) = 2·0.25·(1/3) = 1/6; for x0, 2·Var(sin πx0)·E[cos² πx1]
/// = 2·(1/2)·(1/2) = 1/2, and x1 the same; x3 and x4 do not enter y.
#[test]
fn importance_finds_the_rises_the_synthetic_formula_gives() {
    let dir = tempfile::tempdir().unwrap();
    let (train, held, model, json) = (
        path(&dir, "train.csv"),
        path(&dir, "held.csv"),
        path(&dir, "m.st"),
        path(&dir, "imp.json"),
    );
    gen_csv(&train, "3000", "5", "1");
    gen_csv(&held, "3000", "5", "2");
    run_ok(&[
        "train",
        "--data",
        &train,
        "--hidden",
        "32",
        "--optimizer",
        "lbfgs",
        "--epochs",
        "300",
        "--standardize",
        "--backend",
        "cpu",
        "-q",
        "--save",
        &model,
    ]);
    let out = run_ok(&[
        "importance",
        "--model",
        &model,
        "--data",
        &held,
        "--json",
        &json,
    ]);
    let record = read_json(&json);
    assert!(record["r2"].as_f64().unwrap() > 0.95, "{record}");
    assert_eq!(record["version"], env!("CARGO_PKG_VERSION"));
    let rise = |name: &str| {
        let columns = record["columns"].as_array().unwrap();
        let c = columns.iter().find(|c| c["column"] == name).unwrap();
        c["mse_rise"].as_f64().unwrap()
    };
    for (name, want, within) in [
        ("x0", 0.5, 0.05),
        ("x1", 0.5, 0.05),
        ("x2", 1.0 / 6.0, 0.02),
        ("x3", 0.0, 2e-3),
        ("x4", 0.0, 2e-3),
    ] {
        assert!(
            (rise(name) - want).abs() < within,
            "{name}: {} against {want}\n{out}",
            rise(name)
        );
    }
    // The table: the greatest rise first, x3 and x4 last.
    let order: Vec<&str> = (out.lines().skip(2))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(order.len(), 5, "{out}");
    assert!(
        order[..2].contains(&"x0") && order[..2].contains(&"x1"),
        "{out}"
    );
    assert_eq!(order[2], "x2", "{out}");
}

/// A shuffle that moved no prediction rises by 0, not −0 (which the table
/// printed as -0.0000e0), where every prediction is below its target.
#[test]
fn an_unmoved_shuffle_rises_by_positive_zero() {
    let r = shadertrain::importance::rise(&[1.0, 2.0], &[1.0, 2.0], &[3.0, 4.0]);
    assert_eq!(r.to_bits(), 0.0f64.to_bits(), "{r}");
}

/// A model by hand that does not read its column 'naïve' (its first-layer
/// weights are 0) on a small file: that column's rises are exactly 0, a
/// rerun gives the same bytes, and so does --rows of every row; another
/// seed gives other rises, the figures are the shuffles', and --rows 20
/// scores the first 20 rows of the seed's shuffle. The table's columns
/// line up in chars.
#[test]
fn a_column_the_model_does_not_read_rises_by_exactly_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (csv, model_path) = (path(&dir, "d.csv"), path(&dir, "m.st"));
    let mut text = String::from("id,x0,naïve,y\n");
    // The file's rows the model reads, as read.
    let mut rows = Dataset {
        x: Vec::new(),
        y: Vec::new(),
        rows: 50,
        features: 2,
        feature_names: vec!["x0".into(), "naïve".into()],
        target_name: "y".into(),
    };
    for n in 0..50 {
        let (a, b) = ((n % 7) as f32 / 3.0 - 1.0, (n % 5) as f32 - 2.0);
        text.push_str(&format!("r{n},{a},{b},{}\n", a * a - 0.5 * a));
        rows.x.extend([a, b]);
        rows.y.push(a * a - 0.5 * a);
    }
    std::fs::write(&csv, text).unwrap();
    let layout = Layout::new(2, &[3]).unwrap();
    let names = vec!["x0".to_string(), "naïve".to_string()];
    let mut model = Model::init(layout, Activation::Sigmoid, 5, names, "y".into());
    let w1 = model.layout.layers()[0].weight.clone();
    for o in 0..3 {
        model.params[w1.start + o * 2 + 1] = 0.0;
    }
    shadertrain::io::save_model(&model, std::path::Path::new(&model_path)).unwrap();
    let run = |seed: &str, json: &str, more: &[&str]| {
        let json = path(&dir, json);
        let args = [
            "importance",
            "--model",
            &model_path,
            "--data",
            &csv,
            "--repeats",
            "4",
        ];
        run_ok(&[&args[..], &["--seed", seed, "--json", &json], more].concat());
        (std::fs::read(&json).unwrap(), read_json(&json))
    };
    let (bytes, record) = run("7", "a.json", &[]);
    assert_eq!(bytes, run("7", "b.json", &[]).0);
    // --rows of every row scores the file's rows as they are.
    assert_eq!(bytes, run("7", "all.json", &["--rows", "50"]).0);
    let table = run_ok(&["importance", "--model", &model_path, "--data", &csv]);
    for line in table.lines().skip(1) {
        // "column" is the widest name, 6 chars; then 2 spaces and the
        // rise's 11, right-aligned.
        let chars: Vec<char> = line.chars().collect();
        assert!(
            chars[6..8] == [' ', ' '] && chars[18] != ' ' && chars[19] == ' ',
            "{table}"
        );
    }
    let (_, other) = run("8", "c.json", &[]);
    let column = |r: &serde_json::Value, name: &str| {
        let columns = r["columns"].as_array().unwrap();
        columns
            .iter()
            .find(|c| c["column"] == name)
            .unwrap()
            .clone()
    };
    let rises = |c: &serde_json::Value| -> Vec<f64> {
        let v = c["mse_rises"].as_array().unwrap();
        v.iter().map(|r| r.as_f64().unwrap()).collect()
    };
    assert_eq!(rises(&column(&record, "naïve")), [0.0; 4]);
    let x0 = column(&record, "x0");
    assert_ne!(rises(&x0), rises(&column(&other, "x0")));
    assert!(rises(&x0).iter().all(|&r| r > 0.0), "{x0}");
    let (mean, sd) = mean_and_sd(&rises(&x0));
    assert_eq!(
        (x0["mse_rise"].as_f64(), x0["mse_rise_sd"].as_f64()),
        (Some(mean), Some(sd))
    );
    assert_eq!(record["columns"][0]["column"], "x0");
    assert_eq!(
        (record["rows"].as_u64(), record["repeats"].as_u64()),
        (Some(50), Some(4))
    );
    // The unshuffled scores are predict's.
    let scores = path(&dir, "scores.json");
    let p = [
        "predict",
        "--model",
        &model_path,
        "--data",
        &csv,
        "--out",
        "/dev/null",
    ];
    run_ok(&[&p[..], &["--json", &scores]].concat());
    let predicted = read_json(&scores);
    assert_eq!(
        (record["mse"].clone(), record["r2"].clone()),
        (predicted["mse"].clone(), predicted["r2"].clone())
    );
    // --rows: a sample of the rows, the first 20 of --seed's shuffle
    // (Dataset::sample); standard output holds the JSON alone.
    let (ok, out, err) = shadertrain(&[
        "importance",
        "--model",
        &model_path,
        "--data",
        &csv,
        "--rows",
        "20",
        "--seed",
        "7",
        "--json",
        "-",
    ]);
    assert!(ok, "{err}");
    let sampled: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sampled["rows"].as_u64(), Some(20));
    let sample = rows.sample(20, 7);
    let yhat = reference::predict(&model, &sample).unwrap();
    assert_eq!(
        sampled["mse"].as_f64(),
        Some(reference::mse(&yhat, &sample.y))
    );
    assert!(err.contains("permutation importance over 20 rows"), "{err}");
}

/// A one-hot encoded column is one line of the table, its levels
/// shuffled together; missing cells follow --missing; and what cannot be
/// scored is refused with the reason.
#[test]
fn categories_missing_cells_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| path(&dir, name);
    let mut text = String::from("a,city,y\n");
    for n in 0..60 {
        let a = (n % 9) as f32 / 4.0 - 1.0;
        let city = ["Oslo", "Rome", "Paris"][n % 3];
        text.push_str(&format!("{a},{city},{}\n", a + [0.0, 1.0, -1.0][n % 3]));
    }
    std::fs::write(p("c.csv"), &text).unwrap();
    let train = [
        "train",
        "--data",
        &p("c.csv"),
        "--categorical",
        "city",
        "--epochs",
        "5",
        "-q",
    ];
    run_ok(&[&train[..], &["--save", &p("c.st")]].concat());
    let out = run_ok(&[
        "importance",
        "--model",
        &p("c.st"),
        "--data",
        &p("c.csv"),
        "--json",
        &p("c.json"),
    ]);
    assert!(out.contains("city (3 levels)"), "{out}");
    let record = read_json(&p("c.json"));
    let cols = record["columns"].as_array().unwrap();
    assert_eq!(cols.len(), 2, "{record}");
    let city = cols.iter().find(|c| c["column"] == "city").unwrap();
    assert_eq!(
        city["features"],
        serde_json::json!(["city=Oslo", "city=Paris", "city=Rome"])
    );

    // A missing feature cell, a missing target, and a row with both: an
    // error at the first cell by default, rows left out with drop, and for
    // a model that keeps means the feature filled in the rows scored only.
    let gaps = text
        .replacen("0.25,Paris", ",Paris", 1)
        .replacen("Oslo,-1", "Oslo,", 1)
        + ",Rome,\n";
    std::fs::write(p("g.csv"), &gaps).unwrap();
    let imp = |model: &str, file: &str, more: &[&str]| {
        let args = ["importance", "--model", model, "--data", &p(file)];
        shadertrain(&[&args[..], more].concat())
    };
    let (ok, _, err) = imp(&p("c.st"), "g.csv", &[]);
    assert!(
        !ok && err.contains("g.csv:2:3: the cell is empty; expected a number (column 'y')")
            && err.ends_with("--missing drop leaves the row out\n"),
        "{err}"
    );
    let (ok, _, err) = imp(
        &p("c.st"),
        "g.csv",
        &["--missing", "drop", "--json", &p("d.json")],
    );
    assert!(ok, "{err}");
    let says = "left out 3 of 61 rows with no target value (2) or a missing feature (1)";
    assert!(err.contains(says), "{err}");
    assert_eq!(read_json(&p("d.json"))["dropped_rows"], 3);
    // One row left out, for a missing feature alone.
    std::fs::write(p("one_gap.csv"), "a,city,y\n1,Rome,2\n,Oslo,1\n2,Paris,3\n").unwrap();
    let (ok, _, err) = imp(&p("c.st"), "one_gap.csv", &["--missing", "drop"]);
    assert!(
        ok && err.contains("left out 1 of 3 rows with a missing feature\n"),
        "{err}"
    );
    let (ok, _, err) = imp(&p("c.st"), "g.csv", &["--missing", "fill"]);
    assert!(
        !ok && err.contains("--missing fill needs a model trained with train --missing"),
        "{err}"
    );
    let (g, mean) = (p("g.csv"), p("mean.st"));
    run_ok(&[
        "train",
        "--data",
        &g,
        "--categorical",
        "city",
        "--epochs",
        "5",
        "-q",
        "--missing",
        "mean",
        "--save",
        &mean,
    ]);
    let (ok, _, err) = imp(&mean, "g.csv", &["--json", &p("f.json")]);
    assert!(ok, "{err}");
    let filled = read_json(&p("f.json"));
    let counts = (
        filled["filled_cells"].as_u64(),
        filled["dropped_rows"].as_u64(),
    );
    assert_eq!(counts, (Some(1), Some(2)), "{err}");
    assert!(
        err.contains("filled 1 missing cell")
            && err.contains("left out 2 of 61 rows with no target value\n"),
        "{err}"
    );

    // Text in the target is an error at its cell, whatever --missing says;
    // a file without the target; one row; one row left with every cell.
    std::fs::write(p("nt.csv"), "a,city\n1,Rome\n2,Oslo\n").unwrap();
    std::fs::write(p("up.csv"), "a,city,Y\n1,Rome,2\n2,Oslo,3\n").unwrap();
    std::fs::write(p("one.csv"), "a,city,y\n1,Rome,2\n").unwrap();
    std::fs::write(p("tx.csv"), "a,city,y\n1,Rome,2\n2,Oslo,abc\n").unwrap();
    std::fs::write(p("ty.csv"), "a,city,y\n1,Rome,2\n2,Oslo,\n,Rome,1\n").unwrap();
    for (file, more, says) in [
        (
            "nt.csv",
            "error",
            "nt.csv has no column 'y', the model's target",
        ),
        (
            "up.csv",
            "error",
            "up.csv has no column 'y', the model's target: importance scores the predictions against it; the file's column 'Y' differs from it only in case or spaces, and names must match exactly: rename that column 'y' to score against it",
        ),
        ("one.csv", "error", "needs at least 2; the file has 1"),
        (
            "tx.csv",
            "drop",
            "tx.csv:3:3: 'abc' is not a number (column 'y')",
        ),
        (
            "ty.csv",
            "drop",
            "needs at least 2; 1 of its 3 rows has every cell",
        ),
    ] {
        let (ok, _, err) = imp(&p("c.st"), file, &["--missing", more]);
        assert!(!ok && err.contains(says), "{file}: {err}");
    }
    for bad in [["--repeats", "0"], ["--rows", "1"]] {
        let args = ["importance", "--model", &p("c.st"), "--data", &p("c.csv")];
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args([&args[..], &bad[..]].concat())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}
