//! The README's walkthrough, run as written: the commands are read from its
//! code block (so editing the README changes what runs), the sizes made
//! small, and each run with the built binary in a temporary directory.
//! Then the files they name are checked.

mod common;

use std::path::Path;
use std::process::Command;

use common::png_size;
use shadertrain::io::{load_model, read_history_with_val};
use shadertrain::plot::SIZE;

/// The commands of the first `sh` block under "## Walkthrough", with
/// backslash continuations joined.
fn walkthrough_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("\n## Walkthrough\n")
        .nth(1)
        .expect("the README has a '## Walkthrough' section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the walkthrough has a ```sh block");
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in block.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                commands.push(std::mem::take(&mut current));
            }
        }
    }
    commands
}

/// The value after `flag`, if the command has it.
fn value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// Test sizes: at most 1,500 rows and 40 epochs; the benchmark on S0 with
/// two samples after one warm-up.
fn shrink(args: &mut Vec<String>) {
    for i in 0..args.len().saturating_sub(1) {
        let v = &args[i + 1];
        let small = match args[i].as_str() {
            "--rows" => Some(
                v.parse::<usize>()
                    .expect("a row count")
                    .min(1500)
                    .to_string(),
            ),
            "--epochs" => Some(
                v.parse::<usize>()
                    .expect("an epoch count")
                    .min(40)
                    .to_string(),
            ),
            "--shapes" => Some("S0".to_string()),
            "--samples" => Some("2".to_string()),
            "--warmup" => Some("1".to_string()),
            _ => None,
        };
        if let Some(small) = small {
            args[i + 1] = small;
        }
    }
    if args[0] == "bench" && value(args, "--warmup").is_none() {
        args.extend(["--warmup".to_string(), "1".to_string()]);
    }
}

#[test]
fn the_readme_walkthrough_runs_as_written() {
    let commands = walkthrough_commands();
    assert!(
        commands
            .first()
            .is_some_and(|c| c.starts_with("cargo install --path .")),
        "the walkthrough starts by installing: {commands:?}"
    );
    let runs: Vec<Vec<String>> = commands[1..]
        .iter()
        .map(|c| {
            assert!(
                !c.contains(['"', '\'', '|', '>', '$']),
                "not a plain command: {c}"
            );
            let mut words = c.split_whitespace().map(str::to_string);
            assert_eq!(words.next().as_deref(), Some("shadertrain"), "{c}");
            words.collect()
        })
        .collect();
    let subcommands: Vec<&str> = runs.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        subcommands,
        ["gen", "train", "train", "predict", "importance", "bench"]
    );
    let train = &runs[1];
    assert_eq!(
        value(train, "--backend"),
        Some("gpu"),
        "the walkthrough trains on the GPU"
    );
    assert!(value(train, "--plot").is_some() && value(&runs[5], "--plot").is_some());
    assert!(
        value(&runs[2], "--folds").is_some(),
        "the second train cross-validates"
    );
    if !common::have_gpu() {
        common::say_skipped(format_args!(
            "SKIPPED the README walkthrough (no GPU adapter; it trains with --backend gpu)"
        ));
        return;
    }

    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for run in &runs {
        let mut args = run.clone();
        shrink(&mut args);
        let out = Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(out.status.success(), "shadertrain {args:?}: {stderr}");
        for flag in ["--out", "--save", "--history", "--plot", "--json"] {
            if let Some(file) = value(&args, flag) {
                assert!(dir.path().join(file).is_file(), "{args:?} wrote no {file}");
            }
        }
        outputs.push((args, stdout, stderr));
    }

    let at = |flag: &str, run: usize| dir.path().join(value(&outputs[run].0, flag).unwrap());
    // gen: the rows asked for.
    let rows: usize = value(&outputs[0].0, "--rows").unwrap().parse().unwrap();
    let data = std::fs::read_to_string(at("--out", 0)).unwrap();
    assert_eq!(data.lines().count(), rows + 1);
    // train: on the GPU, with the statistics saved, validation in the history.
    let (args, stdout, _) = &outputs[1];
    assert!(stdout.contains("backend   gpu:"), "{stdout}");
    let model = load_model(&at("--save", 1)).unwrap();
    // Rows from a file are standardized unless --no-standardize.
    assert_eq!(
        model.standardization.is_some(),
        !args.contains(&"--no-standardize".to_string())
    );
    let history = read_history_with_val(&at("--history", 1)).unwrap();
    let epochs: usize = value(args, "--epochs").unwrap().parse().unwrap();
    assert_eq!(history.loss.len(), epochs + 1);
    assert!(history.loss[epochs] < history.loss[0], "{:?}", history.loss);
    if value(args, "--validation-split").is_some() {
        let val = history.val_loss.expect("a val_loss column");
        assert!(val[0].is_some() && val[epochs].is_some());
    }
    assert_eq!(png_size(at("--plot", 1)), SIZE);
    // train --folds: a line for each fold, then the mean and the spread,
    // and the rows' out-of-fold scores with the line that says what they
    // are.
    let (args, stdout, _) = &outputs[2];
    let folds: usize = value(args, "--folds").unwrap().parse().unwrap();
    assert!(
        stdout.starts_with(&format!("{folds}-fold cross-validation")),
        "{stdout}"
    );
    let firsts: Vec<&str> = (stdout.lines().skip(3))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut want: Vec<String> = (1..=folds).map(|i| i.to_string()).collect();
    want.extend(["mean", "sd", "all", "all"].map(String::from));
    assert_eq!(firsts, want, "{stdout}");
    // predict: one prediction a row, and the MSE.
    let (_, stdout, _) = &outputs[3];
    assert!(stdout.starts_with("mse "), "{stdout}");
    let preds = std::fs::read_to_string(at("--out", 3)).unwrap();
    assert_eq!(preds.lines().count(), rows + 1);
    assert!(preds
        .lines()
        .skip(1)
        .all(|l| l.parse::<f32>().is_ok_and(f32::is_finite)));
    // importance: the rows scored, and a line for each column.
    let (_, stdout, _) = &outputs[4];
    assert!(
        stdout.starts_with(&format!("permutation importance over {rows} rows")),
        "{stdout}"
    );
    let mut columns: Vec<&str> = (stdout.lines().skip(2))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    columns.sort_unstable();
    assert_eq!(columns, ["x0", "x1", "x2", "x3"], "{stdout}");
    // bench: both backends in the table and the chart.
    let (_, stdout, _) = &outputs[5];
    assert!(
        stdout.lines().any(|l| l.starts_with("cpu "))
            && stdout.lines().any(|l| l.starts_with("gpu ")),
        "{stdout}"
    );
    assert_eq!(png_size(at("--plot", 5)), SIZE);
}
