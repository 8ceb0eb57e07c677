//! Bad CSV input through the binary: a non-zero exit, a message naming the
//! file, line and column, and no model file.

mod common;

use std::path::Path;

use common::{shadertrain, train_data};

fn check(name: &str, csv: &[u8], extra: &[&str], expect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join(format!("{name}.csv"));
    let model = dir.path().join("m.safetensors");
    std::fs::write(&data, csv).unwrap();
    let data_s = data.to_string_lossy();
    let model_s = model.to_string_lossy();
    let mut args = train_data(&data_s, "cpu", &["--epochs", "2", "--save", &model_s]);
    args.extend_from_slice(extra);
    let (ok, _, err) = shadertrain(&args);
    assert!(!ok, "{name}: accepted");
    assert!(
        err.contains(&*data_s),
        "{name}: the message does not name the file: {err}"
    );
    assert!(
        err.contains(expect),
        "{name}: expected '{expect}' in: {err}"
    );
    assert!(!model.exists(), "{name}: a model file was written");
    assert_eq!(err.lines().count(), 1, "{name}: {err}");
}

/// A file that does not exist is named with the flag that gave it, or
/// the flags.
#[test]
fn a_file_that_does_not_exist_is_named_with_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let [csv, model, gone] = ["d.csv", "m.st", "gone"].map(|n| dir.path().join(n));
    let [csv, model, gone] = [&csv, &model, &gone].map(|p| p.to_string_lossy().into_owned());
    std::fs::write(&csv, "a,y\n1,2\n2,3\n").unwrap();
    let (ok, _, err) = shadertrain(&["train", "--data", &csv, "--epochs", "1", "--save", &model]);
    assert!(ok, "{err}");
    for (args, flag) in [
        (vec!["train", "--data", &gone], "--data"),
        (vec!["train", "--data", &csv, "--init", &gone], "--init"),
        (vec!["train", "--resume", &gone], "--resume"),
        (vec!["predict", "--model", &gone, "--data", &csv], "--model"),
        (
            vec!["predict", "--model", &model, "--data", &gone],
            "--data",
        ),
        (
            vec!["train", "--data", &gone, "--init", &gone],
            "--data and --init",
        ),
    ] {
        let (ok, _, err) = shadertrain(&args);
        let says = format!("error: {flag} {gone}: No such file or directory");
        assert!(!ok && err.starts_with(&says), "{args:?}: {err}");
    }
    // A folder, and a model asked of standard input.
    let folder = dir.path().to_string_lossy().into_owned();
    for (args, says) in [
        (
            vec!["importance", "--model", &model, "--data", &folder],
            format!("error: --data {folder}: Is a directory"),
        ),
        (
            vec!["train", "--data", &csv, "--init", &folder],
            format!("error: --init {folder}: Is a directory"),
        ),
        (
            vec!["predict", "--model", "-", "--data", &csv],
            "error: --model -: No such file or directory (os error 2); --model reads a file, not standard input (./- names a file called -)".into(),
        ),
    ] {
        let (ok, _, err) = shadertrain(&args);
        assert!(!ok && err.starts_with(&says), "{args:?}: {err}");
    }
}

#[test]
fn empty_file() {
    check("empty", b"", &[], ":1: the file is empty");
}

#[test]
fn header_only() {
    check(
        "header",
        b"a,b,y\n",
        &[],
        ":2: the file has a header but no data rows",
    );
}

#[test]
fn ragged_row() {
    check(
        "ragged",
        b"a,b,y\n1,2,3\n4,5\n",
        &[],
        ":3:3: this row has 2 cells; expected 3",
    );
}

#[test]
fn non_numeric_cell() {
    check(
        "text",
        b"a,b,y\n1,2,3\n4,five,6\n",
        &[],
        ":3:2: 'five' is not a number (column 'b')",
    );
}

/// pandas' `to_csv()` with its index: a first column with no name.
#[test]
fn a_row_index_column_is_named_as_the_likely_cause() {
    check(
        "index",
        b",a,y\n0,1,2\n1,2,3\n",
        &[],
        ":1:1: the column name is empty; a file written with its row index (pandas' to_csv(), R's write.csv) starts with such a column",
    );
    check(
        "gap",
        b"a,,y\n1,2,3\n",
        &[],
        ":1:2: the column name is empty; name the column, or leave it unread with --ignore ''\n",
    );
}

/// A control character in a cell is shown escaped, not sent to the
/// terminal.
#[test]
fn control_characters_are_shown_escaped() {
    check(
        "nul",
        b"a,b,y\n1,\x002,3\n",
        &[],
        // Not `\02`, which reads as one escape.
        ":2:2: '\\u{0}2' is not a number (column 'b')",
    );
    check(
        "escape",
        b"a,b,y\n\x1b[31m,2,3\n",
        &[],
        ":2:1: '\\u{1b}[31m' is not a number (column 'a')",
    );
}

/// A newline or an escape sequence in a file's name is shown escaped,
/// and the error stays on one line.
#[test]
fn control_characters_in_a_path_are_shown_escaped() {
    for (path, shown) in [
        (
            "/no\nsuch.csv",
            "--data /no\\nsuch.csv: No such file or directory",
        ),
        (
            "/no\x1b[31m.csv",
            "--data /no\\u{1b}[31m.csv: No such file or directory",
        ),
    ] {
        let (ok, _, err) = shadertrain(&["train", "--backend", "cpu", "--data", path]);
        assert!(!ok && err.lines().count() == 1, "{err}");
        assert!(err.starts_with(&format!("error: {shown}")), "{err}");
    }
}

/// Warnings and the summary on standard output stay one line each, with
/// control characters escaped, whatever a path or a column name holds: a
/// folder named with a newline, and a quoted column name with an escape
/// sequence and a newline, whose values 8 apart (one f32 step at 1e8)
/// draw a warning that names it.
#[test]
fn control_characters_in_warnings_and_the_summary_are_shown_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("a\nb");
    std::fs::create_dir(&folder).unwrap();
    let data = folder.join("d.csv");
    std::fs::write(
        &data,
        "\"p\x1b[31m\nq\",y\n100000000,1\n100000008,2\n100000016,3\n100000000,1.5\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(["train", "--backend", "cpu", "--epochs", "3", "--data"])
        .arg(&data)
        .arg("--save")
        .arg(folder.join("m.st"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (text, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let shown = format!("{}", folder.display()).replace('\n', "\\n");
    let warning = err.lines().next().unwrap();
    assert!(
        warning.starts_with(r"warning: column 'p\u{1b}[31m\nq' spans only 2 steps"),
        "{err}"
    );
    assert!(
        !err.contains('\x1b') && !text.contains('\x1b'),
        "{text}{err}"
    );
    for line in [
        format!("data      {shown}/d.csv (4 rows"),
        r"features  p\u{1b}[31m\nq".to_string(),
        format!("saved     {shown}/m.st"),
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(&line)),
            "no line {line:?} in\n{text}"
        );
    }
    // gen's report names the file it wrote on one line too.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_shadertrain"))
        .args(["gen", "--rows", "3", "--features", "1", "--out"])
        .arg(folder.join("g.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(text, format!("wrote 3 rows × 1 feature to {shown}/g.csv\n"));
}

#[test]
fn empty_cell() {
    check(
        "blank",
        b"a,b,y\n1,,3\n",
        &[],
        ":2:2: the cell is empty; expected a number (column 'b')",
    );
}

#[test]
fn nan_and_inf_cells() {
    check(
        "nan",
        b"a,b,y\n1,2,nan\n",
        &[],
        ":2:3: 'nan' marks a missing value; expected a number",
    );
    check(
        "inf",
        b"a,b,y\n1,2,3\n-inf,2,3\n",
        &[],
        ":3:1: '-inf' is not a finite number (column 'a'); if it is not a feature, --ignore a leaves it unread; if it is, edit the cell in the file (--missing takes only missing cells, not this one)",
    );
}

#[test]
fn missing_target_column() {
    check(
        "target",
        b"a,b,y\n1,2,3\n",
        &["--target", "z"],
        ":1: no target column 'z'",
    );
    // Said before any cell is read: not as the text of a column that is
    // not a number, and with the header's own names, not one-hot levels.
    let says =
        ":1: no target column 'Price'; the header has: area, city, price; did you mean 'price'?";
    let csv = b"area,city,price\n50,Paris,3\n70,Lyon,4\n";
    check("text", csv, &["--target", "Price"], says);
    check(
        "levels",
        csv,
        &["--target", "Price", "--categorical", "city"],
        says,
    );
}

#[test]
fn duplicate_header_names() {
    check(
        "dup",
        b"a,b,c,b,a\n1,2,3,4,5\n",
        &[],
        ":1:4: duplicate column name 'b' (also column 2)",
    );
}

/// A cell that is not UTF-8 is named at its line and column, and the
/// file is called perhaps Windows-1252, with the command that converts it.
#[test]
fn invalid_utf8_cell() {
    check(
        "utf8",
        b"a,b,y\n1,\xff,3\n",
        &[],
        ":2:2: the cell is not valid UTF-8",
    );
    check(
        "cp1252",
        b"a,city,y\n1,Z\xfcrich,3\n",
        &["--categorical", "city"],
        "/cp1252.csv:2:2: the cell is not valid UTF-8 (Z\u{fffd}rich); expected a level of a categorical column (column 'city'); the file is perhaps Windows-1252 or Latin-1 (a spreadsheet's \"CSV\" outside UTF-8): save it as \"CSV UTF-8\", or convert it (iconv -f cp1252 -t utf-8 ",
    );
}

#[test]
fn out_of_range_cell() {
    check(
        "range",
        b"a,b,y\n1,2,3\n1,4e38,3\n",
        &[],
        ":3:2: '4e38' is out of range for f32",
    );
}

/// Only a value that rounds past f32's largest is out of range (f32::MAX
/// as printed is in: data.rs's unit test), and the message says the bound
/// as f32::MAX prints.
#[test]
fn a_value_past_the_largest_f32_is_out_of_range() {
    check(
        "range",
        b"a,b,y\n1,2,3\n1,3.4028236e38,3\n",
        &[],
        ":3:2: '3.4028236e38' is out of range for f32 (|v| \u{2264} 3.4028235e38)",
    );
}

/// A value below f32's least normal magnitude reads as 0 (the backends
/// flush subnormals), one cell or many; a column that is then 0 in every
/// row is warned of.
#[test]
fn values_below_f32s_normal_range_read_as_0_and_a_column_of_them_is_warned_of() {
    let dir = tempfile::tempdir().unwrap();
    let [one, all, zero] = ["one.csv", "all.csv", "zero.csv"]
        .map(|n| dir.path().join(n).to_string_lossy().into_owned());
    std::fs::write(&one, "a,b,y\n1,2,3\n2,-1e-300,3\n3,4,5\n").unwrap();
    std::fs::write(&all, "a,b,y\n1,1e-50,3\n2,-1e-40,3\n3,2e-45,5\n").unwrap();
    std::fs::write(&zero, "a,b,y\n1,0,3\n2,0,3\n3,0,5\n").unwrap();
    let json = |csv: &str| {
        let out = dir.path().join("r.json").to_string_lossy().into_owned();
        let (ok, _, err) = shadertrain(&train_data(
            csv,
            "reference",
            &["--epochs", "3", "--json", &out, "-q"],
        ));
        assert!(ok, "{csv}: {err}");
        (common::read_json(&out), err)
    };
    let (_, err) = json(&one);
    assert!(!err.contains("is 0 in every row"), "{err}");
    let (tiny, err) = json(&all);
    assert!(
        err.contains("column 'b' is 0 in every row as read, so it tells the model nothing"),
        "{err}"
    );
    // A one-hot level whose only row --missing drop left out is 0 in
    // every row too, but no tiny number made it so.
    let city = dir.path().join("city.csv").to_string_lossy().into_owned();
    std::fs::write(&city, "city,a,y\nOslo,1,2\nRome,,4\nOslo,3,5\nParis,1,1\n").unwrap();
    let more = [
        "--categorical",
        "city",
        "--missing",
        "drop",
        "--epochs",
        "2",
        "-q",
    ];
    let (ok, _, err) = shadertrain(&train_data(&city, "cpu", &more));
    assert!(ok, "{err}");
    let says = "column 'city=Rome' is 0 in every row as read, so it tells the model nothing\n";
    assert!(err.contains(says), "{err}");
    // The same run as on a file of zeros: the tiny values read as 0.
    let (zeros, _) = json(&zero);
    for key in ["first_loss", "final_loss"] {
        assert_eq!(tiny[key], zeros[key], "{key}");
    }
}

/// A target cell that rounds to f32's largest value is a number to both
/// CSV readers: predict scores it whether or not the file has a quoted
/// cell (which sends the file to the csv reader).
#[test]
fn both_readers_take_a_value_that_rounds_to_the_largest_f32() {
    let dir = tempfile::tempdir().unwrap();
    let [data, model, plain, quoted] = ["d.csv", "m.st", "p.csv", "q.csv"]
        .map(|n| dir.path().join(n).to_string_lossy().into_owned());
    std::fs::write(&data, "id,a,y\n0,1,2\n1,2,3\n2,3,4\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(
        &data,
        "cpu",
        &["--epochs", "2", "--ignore", "id", "--save", &model, "-q"],
    ));
    assert!(ok, "{err}");
    std::fs::write(&plain, "id,a,y\n0,1,2\n1,2,3.40282356e38\n").unwrap();
    std::fs::write(&quoted, "id,a,y\n\"0\",1,2\n1,2,3.40282356e38\n").unwrap();
    let scores: Vec<String> = [&plain, &quoted]
        .iter()
        .map(|csv| {
            let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", csv]);
            assert!(ok, "{csv}: {err}");
            assert!(err.contains("mse"), "{csv} was not scored: {err}");
            err.lines().filter(|l| l.contains("mse")).collect()
        })
        .collect();
    assert_eq!(scores[0], scores[1]);
}

/// predict's missing features name the file's columns that differ from
/// them only in case.
#[test]
fn columns_differing_only_in_case_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let [data, model, other] =
        ["d.csv", "m.st", "o.csv"].map(|n| dir.path().join(n).to_string_lossy().into_owned());
    // predict's error on a file headed `header` by a model trained on one
    // headed `trained`.
    let refused = |trained: &str, header: &str| {
        std::fs::write(&data, format!("{trained}\n1,2,3,4\n2,3,4,5\n")).unwrap();
        std::fs::write(&other, format!("{header}\n1,2,3,4\n")).unwrap();
        let more = ["--epochs", "2", "--save", &model, "-q"];
        let (ok, _, err) = shadertrain(&train_data(&data, "cpu", &more));
        assert!(ok, "{err}");
        let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &other]);
        assert!(!ok, "{header}: predicted");
        err
    };
    let err = refused("city,a,b,y", "City,a,b,Y");
    assert!(
        err.contains("missing feature column(s) city;")
            && err.contains("names must match exactly, and the file has 'City' for 'city' (rename those columns)"),
        "{err}"
    );
    // Case beyond ASCII; and a column the model reads itself ('A') is
    // never offered for another ('a').
    let err = refused("Été,a,A,y", "été,A,b,y");
    assert!(
        err.contains("the file has 'été' for 'Été' (rename"),
        "{err}"
    );
    assert!(!err.contains("'A' for 'a'"), "{err}");
}

/// UTF-16 text, with or without its byte-order mark, is named as such;
/// a binary file is not taken for it.
#[test]
fn utf16_files_are_named_as_such() {
    let text = "a,b,y\r\n1,2,3\r\n";
    let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let says = ":1: the file looks like UTF-16 text";
    // The mark alone names it: a header of characters beyond ASCII has no
    // zero bytes to go by.
    let greek: Vec<u8> = "αβ,γ\r\n1,2\r\n"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    check("bom", &[&[0xFF, 0xFE][..], &greek].concat(), &[], says);
    check("le", &le, &[], says);
    check("be", &be, &[], says);
    // A binary file's zero bytes, not UTF-16's pairs: a binary file.
    check(
        "elf",
        b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x00\x03\x00>\x00\n1,2\n",
        &[],
        ":1: the file's first line holds zero bytes (NUL), which no UTF-8 text does: it is not a text file",
    );
    // Bytes that are not UTF-8, and no zero byte: the name's own error.
    check(
        "latin1",
        b"caf\xe9,y\n1,2\n",
        &[],
        ":1:1: the column name is not valid UTF-8",
    );
}

/// A compressed file is named as such, with the tool that unpacks it into
/// standard input, which reads it (gzip's bytes read as a header that
/// was not UTF-8).
#[test]
fn compressed_files_are_named_with_the_tool_that_unpacks_them() {
    let starts: [(&str, &[u8], &str); 4] = [
        (
            "gz",
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
            "gzip-compressed; expected CSV text",
        ),
        ("zst", b"\x28\xb5\x2f\xfd\x24\x00", "zstd-compressed"),
        (
            "zip",
            b"PK\x03\x04\x14\x00",
            "zip archive (a spreadsheet's .xlsx or .ods is one)",
        ),
        ("bz2", b"BZh91AY&SY\x00", "bzip2-compressed"),
    ];
    for (name, bytes, says) in starts {
        check(name, bytes, &[], says);
    }
    check("gzip", b"\x1f\x8b\x08\x00", &[], "(`zcat ");
    // A column named as bzip2's files start is a column.
    check("bzh", b"BZh9,y\n1,x\n", &[], "'x' is not a number");
    let (ok, _, err) = common::shadertrain_stdin(&["train", "--data", "-"], b"\x1f\x8b\x08\x00");
    assert!(
        !ok && err.contains("unpack it before the pipe (`… | zcat | shadertrain … --data -`)"),
        "{err}"
    );
}

/// A model given for rows, a Parquet file or a checkpoint's history is
/// named as such, where the model's JSON header read as a duplicate
/// column name; in a file and through standard input.
#[test]
fn a_model_or_parquet_given_for_rows_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let [data, model] =
        ["d.csv", "m.st"].map(|n| dir.path().join(n).to_string_lossy().into_owned());
    std::fs::write(&data, "a,y\n1,2\n2,3\n3,1\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(
        &data,
        "cpu",
        &["--epochs", "1", "--save", &model, "-q"],
    ));
    assert!(ok, "{err}");
    let says = ":1: the file is a model (safetensors), not rows; expected CSV text: a model is read by predict --model or train --init, a checkpoint by train --resume";
    let (ok, _, err) = shadertrain(&train_data(&model, "cpu", &[]));
    assert!(!ok && err.contains(says), "{err}");
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &model]);
    assert!(!ok && err.contains(says), "{err}");
    let bytes = std::fs::read(&model).unwrap();
    let (ok, _, err) = common::shadertrain_stdin(&["train", "--data", "-"], &bytes);
    assert!(!ok && err.contains(says), "{err}");
    check(
        "parquet",
        b"PAR1\x15\x04\x15",
        &[],
        "the file is Apache Parquet; expected CSV text",
    );
    check(
        "history",
        b"STHIST01\x01\0\0\0\0\0\0\0",
        &[],
        "the file is a checkpoint's history (it starts with STHIST01), which the checkpoint beside it reads, not rows; expected CSV text",
    );
    // A header whose first bytes read as a length past the file's end, then a
    // brace: rows.
    check("brace", b"abcdefgh{,y\n1,x\n", &[], "'x' is not a number");
    // Nor is a header that begins with Parquet's magic number.
    check("par1", b"PAR1,PAR2,y\n1,2,x\n", &[], "'x' is not a number");
    // A first line with zero bytes: a binary file, named as one, as is
    // endless /dev/zero (read no further than its first chunk).
    let binary =
        "the file's first line holds zero bytes (NUL), which no UTF-8 text does: it is not a text file";
    check("zeros", &[0; 4096], &[], binary);
    // After blank lines too, which the header's line comes after.
    check(
        "blank_zeros",
        &[&b"\n \r\n"[..], &[0; 4096]].concat(),
        &[],
        binary,
    );
    // Every reader: the chunked one, the whole-file ones of --categorical
    // and --keep.
    for (command, more) in [
        (&["train", "--data"][..], &[][..]),
        (&["train", "--data"], &["--categorical", "c"]),
        (&["predict", "--model", &model, "--data"], &[]),
        (&["predict", "--model", &model, "--data"], &["--keep", "id"]),
    ] {
        let (ok, _, err) = shadertrain(&[command, &["/dev/zero"], more].concat());
        assert!(!ok && err.contains(binary), "{more:?}: {err}");
    }
    // A name of a million characters (a file without line ends) is shown
    // cut, with its length, not whole.
    std::fs::write(&data, format!("{},y\n1,2\n", "a".repeat(1_000_000))).unwrap();
    let (ok, _, err) = shadertrain(&["predict", "--model", &model, "--data", &data]);
    let shown: String = err.chars().take(300).collect();
    assert!(
        !ok && err.contains("… (1000000 characters)") && err.len() < 3000,
        "{shown}"
    );
}

/// Errors about the header's columns name the header's own line where
/// blank lines come before it.
#[test]
fn header_errors_name_the_headers_line_after_blank_lines() {
    let csv = b"\n\nq,a,y\n1,2,3\n2,3,4\n3,1,1\n";
    for (extra, says) in [
        (&["--target", "Q"][..], ":3: no target column 'Q'"),
        (
            &["--ignore", "Z"],
            ":3: --ignore names 'Z', which is not a column",
        ),
        (
            &["--ignore", "q,a"],
            ":3: the only column is the target 'y'",
        ),
    ] {
        check("blank", csv, extra, says);
    }
    let dir = tempfile::tempdir().unwrap();
    let [data, model, fewer] =
        ["d.csv", "m.st", "f.csv"].map(|n| dir.path().join(n).to_string_lossy().into_owned());
    std::fs::write(&data, csv).unwrap();
    std::fs::write(&fewer, "\n\nq,y\n1,2\n").unwrap();
    let (ok, _, err) = shadertrain(&train_data(
        &data,
        "cpu",
        &["--epochs", "2", "--save", &model, "-q"],
    ));
    assert!(ok, "{err}");
    for (args, says) in [
        (
            vec!["--data", &fewer],
            "f.csv:3: missing feature column(s) a",
        ),
        (
            vec!["--data", &data, "--keep", "nope"],
            "d.csv:3: --keep names 'nope'",
        ),
    ] {
        let (ok, _, err) = shadertrain(&[&["predict", "--model", &model][..], &args].concat());
        assert!(!ok && err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn crlf_errors_name_their_own_line() {
    check(
        "crlf",
        b"a,b,y\r\n1,2,3\r\n\r\n1,x,3\r\n",
        &[],
        ":4:2: 'x' is not a number",
    );
}

#[test]
fn whitespace_bom_crlf_and_no_final_newline_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("ok.csv");
    std::fs::write(&data, b"\xEF\xBB\xBF a , b ,y\r\n 1, 2 ,3\r\n4,5, 6").unwrap();
    let data_s = data.to_string_lossy();
    let (ok, out, err) = shadertrain(&train_data(&data_s, "cpu", &["--epochs", "2"]));
    assert!(ok, "{err}");
    assert!(out.contains("2 rows × 2 features, target y"), "{out}");
}

/// The CSV reader's result as a comparable value: the header, the cells'
/// bits and the rows, or the error's line, column and message.
fn parsed(bytes: &[u8], pieces: usize) -> Result<(Vec<String>, Vec<u32>, usize), String> {
    match shadertrain::data::Table::parse_in(Path::new("p.csv"), bytes, pieces, 1) {
        Ok(t) => Ok((
            t.header,
            t.cells.iter().map(|v| v.to_bits()).collect(),
            t.rows,
        )),
        Err(e) => Err(e.to_string()),
    }
}

proptest::proptest! {
    #![proptest_config(common::proptest_config(300))]

    /// Rows cut into pieces and parsed on threads, or read from a file in
    /// chunks, give what one piece gives, error and line included, for any
    /// mix of numbers, separators, blank lines, CR, LF, spaces, quotes and
    /// junk.
    #[test]
    fn pieces_read_any_bytes_as_one_piece_does(
        body in proptest::collection::vec(
            proptest::prop_oneof![
                8 => proptest::sample::select(vec!["1", "-2.5", "3e2", "0.25", "7"]),
                4 => proptest::sample::select(vec![",", "\n", "\r\n"]),
                1 => proptest::sample::select(vec!["\r", " ", "\"", "x", "", "\n\n", "nan"]),
            ],
            0..400,
        ),
        pieces in 2usize..40,
    ) {
        let text = format!("a,b,y\n{}", body.concat());
        let one = parsed(text.as_bytes(), 1);
        proptest::prop_assert_eq!(parsed(text.as_bytes(), pieces), one.clone());
        // Read from a file in chunks of `pieces` bytes: the same again.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.csv");
        std::fs::write(&file, &text).unwrap();
        let read = match shadertrain::data::Table::read_in(&file, pieces, 3, 1) {
            Ok(t) => Ok((t.header, t.cells.iter().map(|v| v.to_bits()).collect(), t.rows)),
            Err(e) => Err(e.to_string().replace(&*file.to_string_lossy(), "p.csv")),
        };
        proptest::prop_assert_eq!(read, one);
    }
}
