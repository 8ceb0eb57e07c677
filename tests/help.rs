//! Help and errors: every option of every subcommand has one line of help
//! that states its default (or that it is required), and the help the
//! binary prints has text on every option line.

mod common;

use clap::{ArgAction, CommandFactory};
use common::{shadertrain, train_synthetic};
use shadertrain::cli::Cli;

const SUBCOMMANDS: [&str; 6] = ["train", "predict", "gen", "bench", "info", "completions"];

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
    // With the requirements and the negative values the binary parses with.
    shadertrain::cli::command().debug_assert();
}

#[test]
fn every_option_has_one_line_of_help_with_its_default() {
    let cli = shadertrain::cli::command();
    let mut checked = 0;
    for sub in cli.get_subcommands() {
        assert!(sub.get_about().is_some(), "{} has no about", sub.get_name());
        for arg in sub.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            let name = format!("{} --{id}", sub.get_name());
            assert!(help.len() > 10, "{name}: no help text");
            assert!(
                !help.contains('\n'),
                "{name}: help is not one line: {help:?}"
            );
            let flag = matches!(arg.get_action(), ArgAction::SetTrue);
            let shown = !arg.get_default_values().is_empty() && !arg.is_hide_default_value_set();
            let stated = help.contains("[default:") || help.contains("required");
            assert!(
                flag || arg.is_positional() || shown || stated,
                "{name}: the help states no default: {help:?}"
            );
            // Time is in seconds, and the value name says so.
            if id.contains("time") {
                let names: Vec<_> = arg.get_value_names().unwrap_or_default().to_vec();
                assert_eq!(names, ["SECONDS"], "{name}");
            }
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} options checked");
}

/// bench's `--threads`, `--cpu-isa`, `--kernels` and `--precision`,
/// shared with train, say what they do in bench, where no rows are held
/// out and no run resumes.
#[test]
fn bench_s_device_options_speak_of_bench() {
    for help in ["-h", "--help"] {
        let (ok, out, err) = shadertrain(&["bench", help]);
        assert!(ok, "{err}");
        let option = |name: &str| {
            let at = out.find(name).unwrap();
            out[at..].split("\n      --").next().unwrap().to_string()
        };
        for name in [
            "--threads <N>",
            "--cpu-isa <ISA>",
            "--kernels <KERNELS>",
            "--precision <PRECISION>",
        ] {
            let text = option(name);
            assert!(
                !text.contains("held-out") && !text.contains("--resume"),
                "{text}"
            );
        }
        assert!(option("--threads <N>").contains("--peers"), "{out}");
    }
    let (_, out, _) = shadertrain(&["train", "--help"]);
    assert!(
        out.contains("with --resume, and for 0 there, the checkpoint's run's"),
        "{out}"
    );
    assert!(
        out.contains(
            "[with --resume on the GPU: the checkpoint's run's, where it gave other than auto]"
        ),
        "{out}"
    );
}

#[test]
fn help_output_has_text_on_every_option_line() {
    for sub in SUBCOMMANDS {
        let (ok, out, err) = shadertrain(&[sub, "-h"]);
        assert!(ok, "{sub}: {err}");
        let mut options = 0;
        let mut in_list = false;
        for line in out.lines() {
            if line == "Options:" || line == "Arguments:" {
                in_list = true;
                continue;
            }
            if !in_list || line.trim().is_empty() {
                continue;
            }
            // "  -q, --quiet   text": the option, two or more spaces, its help.
            let (option, help) = line
                .trim_start()
                .split_once("  ")
                .unwrap_or_else(|| panic!("{sub}: no help on {line:?}"));
            assert!(
                option.starts_with('-') || option.starts_with('<'),
                "{sub}: {line:?}"
            );
            assert!(help.trim().len() > 5, "{sub}: no help on {line:?}");
            options += 1;
        }
        assert!(options >= 1, "{sub}: no options listed in {out}");
    }
    let (ok, out, _) = shadertrain(&["--help"]);
    assert!(ok);
    for sub in SUBCOMMANDS {
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with(sub))
            .unwrap_or_else(|| panic!("{sub} not listed: {out}"));
        assert!(line.trim_start()[sub.len()..].trim().len() > 10, "{line}");
    }
}

/// An option that needs another, which conflicts with one given, is
/// refused (clap's own check lets such a requirement go, and the option
/// was ignored), naming the option it conflicts with; exit status 2.
#[test]
fn an_option_needing_one_that_conflicts_is_refused() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["--history", "h.csv", "--grid", "lr=0.1,0.01"],
            "--grid needs --folds, which cannot be used with --history",
        ),
        (
            &[
                "--plot",
                "p.svg",
                "--grid",
                "lr=0.1,0.01",
                "--history",
                "h.csv",
            ],
            "--grid needs --folds, which cannot be used with --history, --plot\n",
        ),
        (
            &["--folds", "2", "--checkpoint-every", "5"],
            "--checkpoint-every needs --checkpoint, which cannot be used with --folds",
        ),
        (
            &["--validation-split", "0.2", "--fold-predictions", "fp.csv"],
            "--fold-predictions needs --folds, which cannot be used with --validation-split",
        ),
        (
            &["--distributed", "--grid", "lr=0.1,0.01"],
            "--grid needs --folds, which cannot be used with --distributed",
        ),
        (
            &["--grid", "lr=1"],
            "the following required arguments were not provided:\n  --folds <K>",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (more, says) in cases {
        let args = train_synthetic(
            "100",
            "2",
            "cpu",
            &[&["--epochs", "2", "-q"][..], more].concat(),
        );
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a refused run wrote a file"
    );
}

/// (arguments, what the message must say): new errors are short and say
/// what to do.
#[test]
fn errors_are_short_and_say_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("d.csv");
    std::fs::write(&csv, "a,y\n1,2\n3,4\n").unwrap();
    let csv = csv.to_string_lossy().into_owned();
    let cases: [(Vec<&str>, &str); 8] = [
        (
            vec!["train", "--data", &csv, "--plot", "loss.gif"],
            "give a file name ending in .png or .svg",
        ),
        (
            vec!["train", "--data", &csv, "--plot", "-"],
            "--plot draws an image, which does not go to standard output",
        ),
        (
            vec!["bench", "--shapes", "S0,1024x4x16"],
            "--shapes names S0 and 1024x4x16, the same shape (1024 rows × 4 features, 16 hidden units)",
        ),
        (
            vec!["train", "--data", &csv, "--validation-split", "1"],
            "e.g. 0.1 holds out 10% of the rows",
        ),
        (
            vec!["train", "--data", &csv, "--validation-split", "0.1"],
            "give a larger fraction or more rows",
        ),
        (
            vec!["bench", "--shapes", "S0", "--plot", "b.pdf"],
            "give a file name ending in .png or .svg",
        ),
        (
            vec!["bench", "--shapes", "S9"],
            "expected some of S0,S1,S2,S3,S4",
        ),
        (
            vec!["train", "--epochs", "5"],
            "give --data FILE.csv, or --synthetic N --features F",
        ),
    ];
    for (args, says) in cases {
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok, "{args:?} succeeded");
        assert!(err.contains(says), "{args:?}: {err}");
        let lines = err
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with("For more information"));
        assert!(lines.count() <= 2, "{args:?}: {err}");
    }
}

/// An option `--resume` refuses, given beside it either side, is refused
/// with a tip that names `--init` for a new run from the checkpoint's
/// parameters (the file need not exist: clap refuses first).
#[test]
fn an_option_beside_resume_is_refused_with_init_named() {
    let tip = "tip: --resume continues the checkpoint's run with its recorded options (--epochs and --target-loss may change); --init FILE starts a new run from the checkpoint's parameters, with the options given";
    for args in [
        &["train", "--resume", "ck.st", "--lr", "0.01"][..],
        &["train", "--hidden", "8", "--resume", "ck.st"],
    ] {
        let (ok, _, err) = shadertrain(args);
        assert!(
            !ok && err.contains("cannot be used with") && err.contains(tip),
            "{args:?}: {err}"
        );
    }
    // Other conflicts keep clap's message alone.
    let (ok, _, err) = shadertrain(&["train", "--folds", "3", "--validation-split", "0.2"]);
    assert!(
        !ok && err.contains("cannot be used with") && !err.contains("--init FILE"),
        "{err}"
    );
}
