//! Round trips of model files, histories and CSV, and model files that are
//! refused on load with the file and the problem named.

mod common;

use std::path::Path;

use common::unsealed;

use shadertrain::cpu::reference;
use shadertrain::data::{Category, Dataset, Imputation, Table, TargetTransform};
use shadertrain::io::{
    load_model, model_from_bytes, model_to_bytes, read_history, save_model, write_csv,
    write_history, write_synthetic_csv,
};
use shadertrain::model::{Activation, Layout, Model};
use shadertrain::Error;

fn sample_model() -> Model {
    let layout = Layout::new(3, &[5, 2]).unwrap();
    Model::init(
        layout,
        Activation::Tanh,
        3,
        vec!["a".into(), "b c".into(), "\"q\"".into()],
        "target".into(),
    )
}

#[test]
fn model_file_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("m.safetensors");
    let m = sample_model();
    save_model(&m, &p).unwrap();
    assert_eq!(load_model(&p).unwrap(), m);
    // The same model always gives the same bytes.
    assert_eq!(std::fs::read(&p).unwrap(), model_to_bytes(&m).unwrap());
}

#[test]
fn history_round_trips_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.csv");
    let losses = vec![0.1, 1.0 / 3.0, 2.5e-9, 123456.789];
    write_history(&p, &losses).unwrap();
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.starts_with("epoch,loss\n0,0.1\n1,"), "{text}");
    assert_eq!(read_history(&p).unwrap(), losses);
}

#[test]
fn csv_round_trips_the_synthetic_set_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("d.csv");
    let d = Dataset::synthetic(57, 4, 12).unwrap();
    write_csv(&p, &d).unwrap();
    let back = Table::read(&p).unwrap().into_dataset(None).unwrap();
    assert_eq!(back, d);
}

/// `gen` writes the synthetic set a part at a time: the same file as the
/// whole set written at once, across the parts' boundaries.
#[test]
fn the_synthetic_csv_written_in_parts_is_the_whole_sets() {
    let dir = tempfile::tempdir().unwrap();
    let (parts, whole) = (dir.path().join("p.csv"), dir.path().join("w.csv"));
    // Parts of 2^20 / 101 = 10,382 rows at 100 features: two and a bit.
    let rows = 10_382 * 2 + 3;
    write_synthetic_csv(&parts, rows, 100, 5).unwrap();
    write_csv(&whole, &Dataset::synthetic(rows, 100, 5).unwrap()).unwrap();
    assert_eq!(
        std::fs::read(&parts).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    let err = write_synthetic_csv(&parts, 0, 2, 5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("at least one row"), "{err}");
}

/// `bytes` with the one place that holds `from` holding `to` instead, of
/// the same length, so that the header's length stays right, and the
/// metadata's digest entry renamed ([`unsealed`]).
fn swapped(bytes: &[u8], from: &str, to: &str) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut at = (bytes.windows(from.len()).enumerate())
        .filter(|(_, w)| *w == from.as_bytes())
        .map(|(i, _)| i);
    let i = at
        .next()
        .unwrap_or_else(|| panic!("{from} not in the header"));
    assert!(
        at.next().is_none(),
        "{from} is in the header more than once"
    );
    let mut swapped = bytes.to_vec();
    swapped[i..i + to.len()].copy_from_slice(to.as_bytes());
    unsealed(&swapped)
}

fn refused(bytes: &[u8]) -> String {
    match model_from_bytes(Path::new("bad.st"), bytes) {
        Err(e @ Error::ModelFile { .. }) => {
            let s = e.to_string();
            assert!(s.starts_with("bad.st: "), "{s}");
            s
        }
        Err(e) => panic!("expected a model-file error, got {e}"),
        Ok(_) => panic!("accepted a bad model file"),
    }
}

#[test]
fn bad_model_files_are_refused_with_the_problem_named() {
    let good = model_to_bytes(&sample_model()).unwrap();
    // Cut short anywhere, or added to: said so, with the bytes.
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let data = good.len() - 8 - header;
    let cut = |len: usize| refused(&good[..len]);
    let short = "the file is cut short: ";
    assert!(cut(0).contains(&format!("{short}it is empty")));
    assert!(cut(5).contains(&format!("{short}it has 5 bytes, fewer than the 8")));
    let says =
        format!("{short}its header is {header} bytes long and the file ends 12 bytes into it");
    assert!(cut(20).contains(&says), "{}", cut(20));
    // Cut after the length, before the header's first byte.
    let says =
        format!("{short}its header is {header} bytes long and the file ends 0 bytes into it");
    assert!(cut(8).contains(&says), "{}", cut(8));
    let says = format!(
        "{short}its tensors take {data} bytes after the header and the file holds {} bytes",
        data - 3
    );
    assert!(
        cut(good.len() - 3).contains(&says),
        "{}",
        cut(good.len() - 3)
    );
    let mut longer = good.clone();
    longer.extend(b"xyz");
    assert!(refused(&longer).contains("the file has 3 bytes past its tensors' end"));
    // Its length's bytes changed, the header whole: damaged, not cut short.
    let mut damaged = good.clone();
    damaged[2] ^= 0x01;
    let says = format!("the file is damaged: its first 8 bytes give a header of {} bytes, more than the file holds, but a whole header of ", header + 65536);
    assert!(refused(&damaged).contains(&says), "{}", refused(&damaged));
    // Cut inside the header's padding (spaces after its JSON), with the
    // JSON whole: cut short, not damaged.
    let mut padded = (header as u64 + 8).to_le_bytes().to_vec();
    padded.extend(&good[8..8 + header]);
    padded.extend(b"        ");
    padded.extend(&good[8 + header..]);
    let says = format!(
        "{short}its header is {} bytes long and the file ends {} bytes into it",
        header + 8,
        header + 3
    );
    let in_padding = refused(&padded[..8 + header + 3]);
    assert!(in_padding.contains(&says), "{in_padding}");
    // Eight bytes of a length and no '{': not a file cut short.
    let mut no_header = good[..8].to_vec();
    no_header.extend(b"xyz");
    assert!(refused(&no_header).contains("not a valid safetensors file"));
    let swap = |from: &str, to: &str| {
        assert_eq!(from.len(), to.len(), "keep the header length");
        let at = good
            .windows(from.len())
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from} not in the header"));
        let mut bytes = good.clone();
        bytes[at..at + to.len()].copy_from_slice(to.as_bytes());
        unsealed(&bytes)
    };
    assert!(refused(&swap("\"tanh\"", "\"relu\"")).contains("unknown activation 'relu'"));
    // Another tool's weights: none of the keys train writes.
    let mut foreign = good.clone();
    for (from, to) in [
        ("\"format\"", "\"formxt\""),
        ("\"activation\"", "\"activxtion\""),
        ("\"feature_names\"", "\"feature_nxmes\""),
    ] {
        let at = (foreign.windows(from.len()))
            .position(|w| w == from.as_bytes())
            .unwrap_or_else(|| panic!("{from} not in the header"));
        foreign[at..at + to.len()].copy_from_slice(to.as_bytes());
    }
    let says = refused(&unsealed(&foreign));
    assert!(says.contains("not a shadertrain model: a safetensors file whose metadata holds none of the keys train --save writes"), "{says}");
    assert!(
        refused(&swap("\"activation\"", "\"activxtion\"")).contains("metadata has no 'activation'")
    );
    // A misspelt name: the tensor missing and the one in its place both
    // named; a tensor of no model's is named too.
    let misspelt = refused(&swap("layers.2.bias", "layers.2.bist"));
    assert!(
        misspelt.contains(
            "missing tensor 'layers.2.bias', and tensor 'layers.2.bist' is none of a model's"
        ),
        "{misspelt}"
    );
    // (A renamed tensor can change the order the digest takes them in.)
    let renamed = swap("layers.1.bias", "layers.x.bias");
    let stray = refused(&swapped(&renamed, "tensors_fnv1a64", "tensors_fnv1a6x"));
    assert!(stray.contains("missing tensor 'layers.1.bias'"), "{stray}");
    assert!(
        stray.contains("tensor 'layers.x.bias' is none of a model's"),
        "{stray}"
    );
    assert!(refused(&swap("\"F32\"", "\"I32\"")).contains("expected F32"));
    // layers.0.weight (5, 3) claimed as (3, 5), as if transposed: the
    // weight is named, against the features the metadata names.
    let transposed = refused(&swap("[5,3]", "[3,5]"));
    assert!(
        transposed.contains("tensor 'layers.0.weight' has shape [3, 5]; expected [outputs, 3]"),
        "{transposed}"
    );
    assert!(transposed.contains("3 features"), "{transposed}");
    let other = refused(&swap("shadertrain-mlp", "shadertrain-xyz"));
    assert!(
        other.contains("metadata 'format' is 'shadertrain-xyz'"),
        "{other}"
    );
    for text in [
        &b"x0,x1,y\n0.5,1,2\n"[..],
        b"x0,x1,y\n",
        b"\xef\xbb\xbfx0,x1,y\n1,2,3\n",
    ] {
        let csv = refused(text);
        assert!(
            csv.contains("starts with text (is it a CSV file?)"),
            "{csv}"
        );
    }
    // Names model_to_bytes refuses to write (tests/library.rs), edited
    // into a good file's header, padded with spaces as the format allows.
    let named = model_to_bytes(&sample_model()).unwrap();
    let edited = |from: &str, to: &str| {
        let header = u64::from_le_bytes(named[..8].try_into().unwrap()) as usize;
        let text = std::str::from_utf8(&named[8..8 + header]).unwrap();
        assert_eq!(text.matches(from).count(), 1, "{from} in {text}");
        let text = format!("{:<header$}", text.replace(from, to));
        let mut bytes = named.clone();
        bytes[8..8 + header].copy_from_slice(text.as_bytes());
        unsealed(&bytes)
    };
    let text = refused(&edited(r#""target_name":"target""#, r#""target_name":"""#));
    assert!(text.contains("'target_name' is empty"), "{text}");
    let text = refused(&edited(r#"\"b c\""#, r#"\"\""#));
    assert!(text.contains("an empty name (feature 2)"), "{text}");
}

/// A model file that is not a regular file (a pipe, a device) is read as
/// far as its header says, and no further: a model through a pipe loads
/// as from its file, one with bytes after it is refused, and endless
/// zeros or random bytes are refused at their first bytes rather than
/// read until memory runs out.
#[cfg(target_os = "linux")]
#[test]
fn a_model_through_a_pipe_is_read_as_far_as_its_header_says() {
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.st");
    let model = sample_model();
    save_model(&model, &file).unwrap();
    // `cat`'s output as a pipe, opened by its path as a user's would be.
    let piped = |tail: &str| {
        let script = format!("cat '{}'; printf '{tail}'", file.display());
        let mut child = (Command::new("sh").args(["-c", &script]))
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.stdout.take().unwrap();
        let path = format!("/proc/self/fd/{}", out.as_raw_fd());
        let loaded = load_model(Path::new(&path));
        drop(out);
        child.wait().unwrap();
        loaded
    };
    let through = piped("").unwrap();
    assert_eq!(through.params, model.params);
    assert_eq!(through.feature_names, model.feature_names);
    let e = piped("xyz").unwrap_err().to_string();
    assert!(e.contains("more bytes follow its tensors' end"), "{e}");
    // Random bytes are "not a safetensors file: it starts with text"
    // where the first 8 happen to be text (about 1 in 2,000).
    for endless in ["/dev/zero", "/dev/urandom"] {
        let e = load_model(Path::new(endless)).unwrap_err().to_string();
        assert!(e.contains("safetensors file"), "{endless}: {e}");
    }
}

/// A byte of a tensor damaged is refused by the tensors' digest, which
/// names the entry to delete to read the file anyway; with the entry gone
/// the file is read as written.
#[test]
fn a_damaged_tensor_byte_is_refused() {
    let good = model_to_bytes(&sample_model()).unwrap();
    let header = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    for at in [8 + header, good.len() - 1, (8 + header + good.len()) / 2] {
        let mut damaged = good.clone();
        damaged[at] ^= 0x10;
        let text = refused(&damaged);
        assert!(
            text.contains("its tensors' bytes are not those it was written with")
                && text.contains("delete that entry"),
            "{text}"
        );
        let without = swapped(&damaged, "tensors_fnv1a64", "tensors_fnv1a6x");
        let read = model_from_bytes(Path::new("old.st"), &without).unwrap();
        assert_ne!(read.params, sample_model().params, "byte {at}");
    }
}

/// The metadata's digest covers every other entry: one changed (a target
/// renamed, a byte damaged) is refused, saying what to delete to read it
/// anyway, and read once that entry is gone.
#[test]
fn a_changed_metadata_entry_is_refused() {
    let good = model_to_bytes(&sample_model()).unwrap();
    let at = (good.windows(8)).position(|w| w == b"\"target\"").unwrap();
    let mut edited = good.clone();
    edited[at + 1] = b'T';
    let text = refused(&edited);
    assert!(
        text.contains("its metadata is not what it was written with (FNV-1a digest ")
            && text.contains("metadata 'metadata_fnv1a64' says ")
            && text.contains("(delete that entry to read it anyway)"),
        "{text}"
    );
    let read = model_from_bytes(Path::new("edited.st"), &unsealed(&edited)).unwrap();
    assert_eq!(read.target_name, "Target");
}

/// The tensors' digest goes tensor by tensor in the order of their names,
/// so the same tensors written in another order (the safetensors package
/// sorts them by name, after shadertrain wrote them layer by layer) keep
/// the file valid, and a tensor changed there is still refused. A file
/// whose digest covers its data as laid out, as files were written before,
/// is read too. A tensor of no model's beside the layers is refused by name.
#[test]
fn a_file_rewritten_with_its_tensors_in_another_order_is_read() {
    use safetensors::tensor::{SafeTensors, TensorView};
    let good = model_to_bytes(&sample_model()).unwrap();
    type Tensors = Vec<(String, Vec<u8>)>;
    let rewrite = |change: &dyn Fn(&mut Tensors)| {
        let file = SafeTensors::deserialize(&good).unwrap();
        let (_, header) = SafeTensors::read_metadata(&good).unwrap();
        let mut tensors: Tensors = (file.tensors().into_iter())
            .map(|(name, t)| (name, t.data().to_vec()))
            .collect();
        change(&mut tensors);
        let views = tensors.iter().map(|(name, data)| {
            let t = file.tensor(name).map_or_else(
                |_| (vec![data.len() / 4], safetensors::Dtype::F32),
                |t| (t.shape().to_vec(), t.dtype()),
            );
            (name.clone(), TensorView::new(t.1, t.0, data).unwrap())
        });
        safetensors::serialize(views, header.metadata().clone()).unwrap()
    };
    let same = rewrite(&|_| {});
    let header = |bytes: &[u8]| {
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        8 + n
    };
    assert_ne!(
        same[header(&same)..],
        good[header(&good)..],
        "the data in another order"
    );
    let read = model_from_bytes(Path::new("rewritten.st"), &same).unwrap();
    assert_eq!(read, sample_model());
    let changed = rewrite(&|t| t[0].1[0] ^= 1);
    let text = refused(&changed);
    assert!(
        text.contains("its tensors' bytes are not those it was written with"),
        "{text}"
    );
    let extra = rewrite(&|t| t.push(("extra".into(), vec![0; 4])));
    let text = refused(&swapped(&extra, "tensors_fnv1a64", "tensors_fnv1a6x"));
    assert!(
        text.contains("tensor 'extra' is none of a model's"),
        "{text}"
    );
    // The digest of the data as laid out, as older files carry it.
    let mut laid_out = shadertrain::io::Fnv1a::new();
    laid_out.update(&good[header(&good)..]);
    let meta = SafeTensors::read_metadata(&good).unwrap().1;
    let now = &meta.metadata().as_ref().unwrap()["tensors_fnv1a64"];
    assert_ne!(*now, laid_out.hex());
    let older = swapped(&good, now, &laid_out.hex());
    assert_eq!(
        model_from_bytes(Path::new("older.st"), &older).unwrap(),
        sample_model()
    );
}

/// A model's one-hot encoded columns round-trip in its metadata, and
/// levels that could not have been written are refused with the key named.
#[test]
fn categories_round_trip_and_bad_ones_are_refused() {
    let layout = Layout::new(4, &[3]).unwrap();
    let names = ["x", "col=Oslo", "col=Paris", "col=Rome"].map(String::from);
    let mut m = Model::init(layout, Activation::Sigmoid, 1, names.to_vec(), "y".into());
    m.categories = vec![Category {
        column: "col".into(),
        levels: ["Oslo", "Paris", "Rome"].map(String::from).to_vec(),
    }];
    m.check().unwrap();
    let bytes = model_to_bytes(&m).unwrap();
    assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    let swap = |from: &str, to: &str| swapped(&bytes, from, to);
    for (bad, says) in [
        (
            swap(r#"\"Oslo\",\"Paris\""#, r#"\"Paris\",\"Oslo\""#),
            "metadata 'categories' gives the column 'col' levels out of order or twice",
        ),
        (
            swap(r#"\"Rome\""#, r#"\"Rime\""#),
            "metadata 'categories' makes the feature 'col=Rime', which is not among the model's features",
        ),
        (
            swap(r#"\"Oslo\""#, r#"\"NULL\""#),
            "metadata 'categories' gives the column 'col' the level 'NULL', which marks a missing cell",
        ),
        (
            swap("levels", "lavels"),
            "metadata 'categories' is not a list of one-hot encoded columns",
        ),
    ] {
        let text = refused(&bad);
        assert!(text.contains(says), "{text}");
    }
}

/// A model's date features round-trip through its file; one that is not
/// a feature, named twice, or a one-hot level's is refused.
#[test]
fn dates_round_trip_and_bad_ones_are_refused() {
    let layout = Layout::new(4, &[3]).unwrap();
    let names = ["when", "x", "c=a", "c=b"].map(String::from);
    let mut m = Model::init(layout, Activation::Sigmoid, 1, names.to_vec(), "y".into());
    m.categories = vec![Category {
        column: "c".into(),
        levels: ["a", "b"].map(String::from).to_vec(),
    }];
    m.dates = vec!["when".into(), "x".into()];
    m.check().unwrap();
    let bytes = model_to_bytes(&m).unwrap();
    assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    let swap = |from: &str, to: &str| swapped(&bytes, from, to);
    for (bad, says) in [
        (
            swap(r#"[\"when\",\"x\"]"#, r#"[\"wien\",\"x\"]"#),
            "metadata 'dates' names 'wien', which is not among the model's features",
        ),
        (
            swap(r#"[\"when\",\"x\"]"#, r#"[\"x\",   \"x\"]"#),
            "metadata 'dates' names 'x' twice",
        ),
        (
            swap(r#"[\"when\",\"x\"]"#, r#"[\"c=a\", \"x\"]"#),
            "metadata 'dates' names 'c=a', a one-hot encoded level",
        ),
        (
            swap(r#"[\"when\",\"x\"]"#, r#"{\"when\":\"x\"}"#),
            "metadata 'dates' is not a list of feature names",
        ),
    ] {
        let text = refused(&bad);
        assert!(text.contains(says), "{text}");
    }
}

/// A model's target transform round-trips through its file, written
/// only where there is one; an unknown one is refused with the ones
/// known, and a model trained on log y predicts e^ŷ.
#[test]
fn a_target_transform_round_trips_and_an_unknown_one_is_refused() {
    let plain = sample_model();
    let bytes = model_to_bytes(&plain).unwrap();
    assert!(!String::from_utf8_lossy(&bytes).contains("target_transform"));
    for t in [TargetTransform::Log, TargetTransform::Asinh] {
        let m = Model {
            target_transform: t,
            ..sample_model()
        };
        let bytes = model_to_bytes(&m).unwrap();
        assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    }
    let log = Model {
        target_transform: TargetTransform::Log,
        ..sample_model()
    };
    let bytes = model_to_bytes(&log).unwrap();
    let text = refused(&swapped(&bytes, r#""log""#, r#""exp""#));
    assert!(
        text.contains("metadata 'target_transform' is 'exp'; expected log or asinh (or none)"),
        "{text}"
    );
    // Its format is one that versions without transforms refuse, and
    // says there is a transform to undo.
    assert!(
        String::from_utf8_lossy(&bytes).contains(r#""format":"shadertrain-mlp+target-transform""#)
    );
    let text = refused(&swapped(
        &bytes,
        "\"target_transform\"",
        "\"target_transfxrm\"",
    ));
    assert!(
        text.contains("metadata 'format' is shadertrain-mlp+target-transform, but there is no 'target_transform' to say which transform to undo"),
        "{text}"
    );
    // Nor is a transform read from a file of the plain format.
    let plain_format = {
        use safetensors::tensor::SafeTensors;
        let file = SafeTensors::deserialize(&bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let mut meta = header.metadata().clone().unwrap();
        meta.insert("format".into(), "shadertrain-mlp".into());
        meta.remove("metadata_fnv1a64");
        safetensors::serialize(file.tensors(), Some(meta)).unwrap()
    };
    let text = refused(&plain_format);
    assert!(
        text.contains("metadata 'target_transform' is 'log', but 'format' is shadertrain-mlp"),
        "{text}"
    );
    // The same network's outputs, transformed back.
    let data = Dataset {
        feature_names: log.feature_names.clone(),
        ..Dataset::synthetic(5, log.layout.features(), 3).unwrap()
    };
    let raw = reference::predict(&plain, &data).unwrap();
    let back = reference::predict(&log, &data).unwrap();
    for (r, b) in raw.iter().zip(&back) {
        assert_eq!(*b, r.exp());
    }
    let asinh = Model {
        target_transform: TargetTransform::Asinh,
        ..sample_model()
    };
    let back = reference::predict(&asinh, &data).unwrap();
    for (r, b) in raw.iter().zip(&back) {
        assert_eq!(*b, r.sinh());
    }
}

/// A model's `--missing mean` means round-trip through its file, in f64's
/// shortest exact form; a wrong count, a mean past f32's range or text that
/// is not a list of means is refused, with the metadata named; medians
/// round-trip too, and a model with both is not written.
#[test]
fn imputation_means_round_trip_and_bad_ones_are_refused() {
    let mut m = sample_model();
    m.imputation = Some(Imputation {
        feature_mean: vec![0.1, -1.0 / 3.0, 3e30],
        feature_median: Vec::new(),
    });
    let bytes = model_to_bytes(&m).unwrap();
    assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    let swap = |from: &str, to: &str| swapped(&bytes, from, to);
    for (bad, says) in [
        (
            swap(",3e+30]", "]      "),
            "metadata 'imputation' holds 2 means for 3 features",
        ),
        (
            swap("3e+30", "3e+39"),
            "metadata 'imputation' holds a mean that is not a finite f32",
        ),
        (
            swap("feature_mean", "feature_mode"),
            "metadata 'imputation' is not a set of feature means",
        ),
        (
            swap("feature_mean", "feature_medi"),
            "metadata 'imputation' is not a set of feature means or medians",
        ),
    ] {
        let text = refused(&bad);
        assert!(text.contains(says), "{text}");
    }
    // Medians instead of means; a model with both is not written.
    let medians = vec![0.5, 2.0, -1.0];
    m.imputation = Some(Imputation {
        feature_mean: Vec::new(),
        feature_median: medians.clone(),
    });
    let bytes = model_to_bytes(&m).unwrap();
    assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    m.imputation = Some(Imputation {
        feature_mean: medians.clone(),
        feature_median: medians,
    });
    let text = model_to_bytes(&m).unwrap_err().to_string();
    assert!(
        text.contains("imputation holds both means and medians"),
        "{text}"
    );
}

/// A file another tool wrote (the safetensors package) with the model's
/// metadata, less the tensors' digest, and the tensors given: each is
/// (name, shape, values).
fn written_with(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    use safetensors::tensor::{SafeTensors, TensorView};
    let good = model_to_bytes(&sample_model()).unwrap();
    let (_, header) = SafeTensors::read_metadata(&good).unwrap();
    let mut meta = header.metadata().clone().unwrap();
    assert!(meta.remove("tensors_fnv1a64").is_some());
    let bytes: Vec<Vec<u8>> = (tensors.iter())
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors.iter().zip(&bytes).map(|((name, shape, _), data)| {
        let view = TensorView::new(safetensors::Dtype::F32, shape.clone(), data).unwrap();
        (name.to_string(), view)
    });
    safetensors::serialize(views, Some(meta)).unwrap()
}

/// sample_model's tensors: (5, 3) and (5), (2, 5) and (2), (1, 2) and (1).
fn sample_tensors() -> Vec<(&'static str, Vec<usize>, Vec<f32>)> {
    let m = sample_model();
    let names = [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "layers.2.weight",
        "layers.2.bias",
    ];
    let mut tensors = Vec::new();
    for (i, layer) in m.layout.layers().iter().enumerate() {
        let w = m.params[layer.weight.clone()].to_vec();
        let b = m.params[layer.bias.clone()].to_vec();
        tensors.push((names[2 * i], vec![layer.outputs, layer.inputs], w));
        tensors.push((names[2 * i + 1], vec![layer.outputs], b));
    }
    tensors
}

/// Tensors whose shapes do not chain from the features to one output, of
/// the wrong rank, or holding a value that is not finite, are refused
/// with the tensor or layer named, though each is a valid safetensors
/// file with the model's metadata (no digest to catch them).
#[test]
fn tensors_that_do_not_make_a_network_are_refused() {
    let read = model_from_bytes(Path::new("same.st"), &written_with(&sample_tensors()));
    assert_eq!(read.unwrap(), sample_model());
    let changed = |k: usize, shape: Vec<usize>, values: Vec<f32>| {
        let mut t = sample_tensors();
        t[k].1 = shape;
        t[k].2 = values;
        refused(&written_with(&t))
    };
    // layers.1.weight of 4 inputs after a layer of 5 units.
    let text = changed(2, vec![2, 4], vec![0.5; 8]);
    assert!(
        text.contains(
            "tensor 'layers.1.weight' has shape [2, 4]; expected [2, 5] to follow the previous layer"
        ),
        "{text}"
    );
    // layers.1.bias of 3 for a weight of 2 outputs.
    let text = changed(3, vec![3], vec![0.5; 3]);
    assert!(
        text.contains("tensor 'layers.1.bias' has shape [3]; expected [2]"),
        "{text}"
    );
    // layers.0.weight with a third dimension.
    let text = changed(0, vec![5, 3, 1], vec![0.5; 15]);
    assert!(
        text.contains("tensor 'layers.0.weight' has shape [5, 3, 1]; expected 2 dimensions"),
        "{text}"
    );
    // A NaN, an infinity in a layer's weight or bias.
    for (k, v) in [(2, f32::NAN), (3, f32::INFINITY), (5, f32::NEG_INFINITY)] {
        let mut values = sample_tensors()[k].2.clone();
        let last = values.len() - 1;
        values[last] = v;
        let shape = sample_tensors()[k].1.clone();
        let text = changed(k, shape, values);
        let layer = k / 2;
        assert!(
            text.contains(&format!("layer {layer} holds a non-finite value")),
            "{k}: {text}"
        );
    }
    // An output layer of two units.
    let mut t = sample_tensors();
    t[4] = ("layers.2.weight", vec![2, 2], vec![0.5; 4]);
    t[5] = ("layers.2.bias", vec![2], vec![0.0; 2]);
    let text = refused(&written_with(&t));
    assert!(
        text.contains("the output layer has 2 units; expected 1"),
        "{text}"
    );
    // One layer alone: no hidden layer.
    let text = refused(&written_with(&sample_tensors()[..2]));
    assert!(
        text.contains("for at least 2 layers (a hidden layer and the output), found 2 tensors"),
        "{text}"
    );
}

/// A history file's rows must count the epochs from 0, one a row: a row
/// out of step is refused with its line and column, as is a loss that
/// is not a number.
#[test]
fn a_history_with_an_epoch_out_of_step_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("h.csv");
    let place = |text: &str| {
        std::fs::write(&p, text).unwrap();
        match read_history(&p).unwrap_err() {
            Error::Csv {
                line,
                column,
                message,
                ..
            } => (line, column, message),
            e => panic!("expected a CSV error, got {e}"),
        }
    };
    let (line, column, message) = place("epoch,loss\n0,0.5\n2,0.25\n");
    assert_eq!((line, column), (3, 1), "{message}");
    assert!(message.contains("expected epoch 1"), "{message}");
    let (line, column, message) = place("epoch,loss\n0,0.5\n1,0.25\n2,x\n");
    assert_eq!((line, column), (4, 2), "{message}");
    assert!(message.contains("'x' is not a number"), "{message}");
    let (line, column, message) = place("epoch,loss\n0,0.5,0.1\n");
    assert_eq!((line, column), (2, 0), "{message}");
    assert!(message.contains("expected 2 cells, found 3"), "{message}");
}

/// A model's feature ranges round-trip in its metadata, under a key an
/// earlier reader ignores; ranges of another count, not finite, or with a
/// minimum above its maximum are refused with the key named.
#[test]
fn feature_ranges_round_trip_and_bad_ones_are_refused() {
    let mut m = sample_model();
    m.ranges = Some(shadertrain::data::FeatureRanges {
        min: vec![-1.5, 2.0, 0.0],
        max: vec![1.5, 3.0, 0.0],
    });
    let bytes = model_to_bytes(&m).unwrap();
    assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    let without = model_to_bytes(&sample_model()).unwrap();
    assert!(
        !String::from_utf8_lossy(&without).contains("feature_ranges"),
        "a model without ranges writes no entry"
    );
    let order = "holds a range that is not finite or whose minimum is above its maximum";
    for (from, to, says) in [
        ("[1.5,3.0,0.0]", "[1.5,1.0,0.0]", order),
        ("[-1.5,2.0,0.0]", "[-1.5,2.0,9.0]", order),
        (
            "[-1.5,2.0,0.0]",
            "[null,2.0,0.0]",
            "is not a set of feature ranges",
        ),
        (
            "[1.5,3.0,0.0]",
            "[1.5,3.0    ]",
            "holds 3 minimums and 2 maximums for 3 features",
        ),
    ] {
        let text = refused(&swapped(&bytes, from, to));
        let says = format!("metadata 'feature_ranges' {says}");
        assert!(text.contains(&says), "{to}: {text}");
    }
}

/// A model's statistics round-trip in its metadata, and a standard
/// deviation that is not positive (0 would divide by 0, a negative one
/// flip the feature or the target) is refused with the key named.
#[test]
fn standardization_round_trips_and_a_std_not_positive_is_refused() {
    let mut m = sample_model();
    m.standardization = Some(shadertrain::data::Standardization {
        feature_mean: vec![1.5, -2.0, 0.25],
        feature_std: vec![2.0, 0.5, 4.0],
        target_mean: 10.0,
        target_std: 3.0,
    });
    let bytes = model_to_bytes(&m).unwrap();
    assert_eq!(model_from_bytes(Path::new("m.st"), &bytes).unwrap(), m);
    let says = "metadata 'standardization' holds a non-finite mean or a standard deviation that is not positive";
    for (from, to) in [
        ("[2.0,0.5,4.0]", "[2.0,0.0,4.0]"),
        ("[2.0,0.5,4.0]", "[2.0,0.5,-4 ]"),
        (r#"target_std\":3.0"#, r#"target_std\":-3 "#),
        (r#"target_std\":3.0"#, r#"target_std\":0.0"#),
    ] {
        let text = refused(&swapped(&bytes, from, to));
        assert!(text.contains(says), "{to}: {text}");
    }
}
