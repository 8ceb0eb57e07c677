//! Training data: MATH.md's seeded synthetic task and CSV files with a header.
//!
//! Both give a [`Dataset`]: features row-major (N × f) and one target per row,
//! in f32, the precision every backend trains in.

use std::f64::consts::PI;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::rng;

/// Random stream of the synthetic features (one value per (row, feature)).
pub const SYNTHETIC_STREAM: u32 = 0;

/// A data set's shape and names, without its values: all a model needs to
/// be built or checked against it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Columns {
    pub rows: usize,
    pub features: usize,
    pub feature_names: Vec<String>,
    pub target_name: String,
}

impl Columns {
    /// The columns of [`Dataset::synthetic`]: x0..x{f−1}, then y.
    pub fn synthetic(rows: usize, features: usize) -> Result<Columns> {
        check_shape(rows, features)?;
        Ok(Columns {
            rows,
            features,
            feature_names: (0..features).map(|j| format!("x{j}")).collect(),
            target_name: "y".to_string(),
        })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    /// (N × f) row-major.
    pub x: Vec<f32>,
    /// (N)
    pub y: Vec<f32>,
    pub rows: usize,
    pub features: usize,
    pub feature_names: Vec<String>,
    pub target_name: String,
}

impl Dataset {
    /// X ~ U(−1, 1) and y = sin(π·x0)·cos(π·x1) + 0.5·x2, terms for missing
    /// features dropped. Row `n` depends only on (seed, n), so any row range
    /// can be generated on its own.
    pub fn synthetic(rows: usize, features: usize, seed: u64) -> Result<Dataset> {
        check_shape(rows, features)?;
        let len = rows
            .checked_mul(features)
            .ok_or_else(|| Error::Config(format!("{rows} rows × {features} features overflows")))?;
        let mut x = Vec::new();
        x.try_reserve_exact(len).map_err(|_| {
            Error::Config(format!(
                "{rows} rows × {features} features ({len} values) do not fit in memory"
            ))
        })?;
        x.resize(len, 0.0f32);
        for (i, v) in x.iter_mut().enumerate() {
            *v = rng::symmetric(seed, SYNTHETIC_STREAM, i as u64);
        }
        let y = x.chunks_exact(features).map(synthetic_target).collect();
        let columns = Columns::synthetic(rows, features)?;
        Ok(Dataset {
            x,
            y,
            rows,
            features,
            feature_names: columns.feature_names,
            target_name: columns.target_name,
        })
    }

    pub fn columns(&self) -> Columns {
        Columns {
            rows: self.rows,
            features: self.features,
            feature_names: self.feature_names.clone(),
            target_name: self.target_name.clone(),
        }
    }

    /// Row `n`'s features.
    pub fn row(&self, n: usize) -> &[f32] {
        &self.x[n * self.features..(n + 1) * self.features]
    }

    /// Writes the set as CSV: the feature columns, then the target. Values are
    /// written in their shortest exact form, so reading the file back gives
    /// the same f32 bits.
    pub fn write_csv(&self, path: &Path) -> Result<()> {
        crate::io::write_atomically(path, |w| {
            let mut header = self.feature_names.join(",");
            header.push(',');
            header.push_str(&self.target_name);
            writeln!(w, "{header}")?;
            let mut line = String::new();
            for n in 0..self.rows {
                line.clear();
                for v in self.row(n) {
                    line.push_str(&format!("{v},"));
                }
                line.push_str(&format!("{}\n", self.y[n]));
                w.write_all(line.as_bytes())?;
            }
            Ok(())
        })
    }
}

/// MATH.md's target for one row of features, computed in f64.
pub fn synthetic_target(row: &[f32]) -> f32 {
    let x = |j: usize| row.get(j).map(|&v| v as f64);
    let mut y = (PI * x(0).unwrap_or(0.0)).sin();
    if let Some(x1) = x(1) {
        y *= (PI * x1).cos();
    }
    if let Some(x2) = x(2) {
        y += 0.5 * x2;
    }
    y as f32
}

fn check_shape(rows: usize, features: usize) -> Result<()> {
    if rows == 0 {
        return Err(Error::Config("the data set needs at least one row".into()));
    }
    if features == 0 {
        return Err(Error::Config(
            "the data set needs at least one feature".into(),
        ));
    }
    Ok(())
}

/// A numeric CSV file: its header and its cells, row-major.
#[derive(Clone, Debug)]
pub struct Table {
    pub path: PathBuf,
    pub header: Vec<String>,
    /// (rows × header.len()) row-major.
    pub cells: Vec<f32>,
    pub rows: usize,
}

impl Table {
    /// Reads a CSV file with a header row. Every cell must be a finite number
    /// that fits in f32. Whitespace around cells, a UTF-8 byte-order mark,
    /// CRLF line ends and a missing final newline are accepted.
    pub fn read(path: &Path) -> Result<Table> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Table::parse(path, &bytes)
    }

    /// Parses CSV bytes; `path` only names the source in errors.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Table> {
        let err = |line: u64, column: usize, message: String| Error::Csv {
            path: path.to_path_buf(),
            line,
            column,
            message,
        };
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(err(
                1,
                0,
                "the file is empty; expected a header row naming the columns".into(),
            ));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(bytes);
        let mut records = reader.byte_records();
        let mut header = Vec::new();
        let mut record = csv::ByteRecord::new();
        let mut cells = Vec::new();
        let mut rows = 0usize;
        let mut header_line = 1;
        loop {
            let next = match records.next() {
                None => break,
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Err(err(line, 0, format!("unreadable CSV: {e}")));
                }
            };
            let line = next.position().map_or(0, |p| p.line());
            if next.len() == 1 && next[0].is_empty() {
                // A blank line: csv yields it as one empty field.
                continue;
            }
            if header.is_empty() {
                header_line = line;
                for (j, raw) in next.iter().enumerate() {
                    let name = std::str::from_utf8(raw).map_err(|_| {
                        err(line, j + 1, "the column name is not valid UTF-8".into())
                    })?;
                    if name.is_empty() {
                        return Err(err(line, j + 1, "the column name is empty".into()));
                    }
                    if let Some(first) = header.iter().position(|h: &String| h == name) {
                        return Err(err(
                            line,
                            j + 1,
                            format!(
                                "duplicate column name '{name}' (also column {}); names must be unique",
                                first + 1
                            ),
                        ));
                    }
                    header.push(name.to_string());
                }
                continue;
            }
            record.clone_from(&next);
            if record.len() != header.len() {
                return Err(err(
                    line,
                    record.len().min(header.len()) + 1,
                    format!(
                        "this row has {} cells; expected {} as in the header (line {header_line})",
                        record.len(),
                        header.len()
                    ),
                ));
            }
            for (j, raw) in record.iter().enumerate() {
                let v = parse_cell(raw).map_err(|m| err(line, j + 1, m))?;
                cells.push(v);
            }
            rows += 1;
        }
        if rows == 0 {
            return Err(err(
                header_line + 1,
                0,
                "the file has a header but no data rows; expected at least one row of numbers"
                    .into(),
            ));
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            cells,
            rows,
        })
    }

    fn column(&self, name: &str) -> Option<usize> {
        self.header.iter().position(|h| h == name)
    }

    /// Target `target` (default: the last column), every other column a feature.
    pub fn into_dataset(self, target: Option<&str>) -> Result<Dataset> {
        let t = match target {
            Some(name) => self.column(name).ok_or_else(|| Error::Csv {
                path: self.path.clone(),
                line: 1,
                column: 0,
                message: format!(
                    "no target column '{name}'; the header has: {}",
                    self.header.join(", ")
                ),
            })?,
            None => self.header.len() - 1,
        };
        let features: Vec<usize> = (0..self.header.len()).filter(|&j| j != t).collect();
        if features.is_empty() {
            return Err(Error::Csv {
                path: self.path.clone(),
                line: 1,
                column: 0,
                message: format!(
                    "the only column is the target '{}'; expected at least one feature column",
                    self.header[t]
                ),
            });
        }
        let names = features.iter().map(|&j| self.header[j].clone()).collect();
        let target_name = self.header[t].clone();
        Ok(self.select(&features, Some(t), names, target_name))
    }

    /// The columns named `feature_names`, in that order, and the target if the
    /// file has it (`None` when it does not). For prediction with a saved model.
    pub fn select_named(
        self,
        feature_names: &[String],
        target_name: &str,
    ) -> Result<(Dataset, bool)> {
        let mut features = Vec::with_capacity(feature_names.len());
        let mut missing = Vec::new();
        for name in feature_names {
            match self.column(name) {
                Some(j) => features.push(j),
                None => missing.push(name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Csv {
                path: self.path.clone(),
                line: 1,
                column: 0,
                message: format!(
                    "missing feature column(s) {}; the model was trained on {} and the file has {}",
                    missing.join(", "),
                    feature_names.join(", "),
                    self.header.join(", ")
                ),
            });
        }
        let t = self.column(target_name);
        let data = self.select(
            &features,
            t,
            feature_names.to_vec(),
            target_name.to_string(),
        );
        Ok((data, t.is_some()))
    }

    fn select(
        self,
        features: &[usize],
        target: Option<usize>,
        feature_names: Vec<String>,
        target_name: String,
    ) -> Dataset {
        let width = self.header.len();
        let mut x = Vec::with_capacity(self.rows * features.len());
        let mut y = Vec::with_capacity(self.rows);
        for row in self.cells.chunks_exact(width) {
            x.extend(features.iter().map(|&j| row[j]));
            y.push(target.map_or(0.0, |t| row[t]));
        }
        Dataset {
            x,
            y,
            rows: self.rows,
            features: features.len(),
            feature_names,
            target_name,
        }
    }
}

fn parse_cell(raw: &[u8]) -> std::result::Result<f32, String> {
    let text = std::str::from_utf8(raw).map_err(|_| {
        format!(
            "the cell is not valid UTF-8 ({}); expected a number",
            String::from_utf8_lossy(raw)
        )
    })?;
    if text.is_empty() {
        return Err("the cell is empty; expected a number".into());
    }
    let v: f64 = text
        .parse()
        .map_err(|_| format!("'{text}' is not a number"))?;
    if !v.is_finite() {
        return Err(format!("'{text}' is not a finite number"));
    }
    if v.abs() > f32::MAX as f64 {
        return Err(format!("'{text}' is out of range for f32 (|v| ≤ 3.4e38)"));
    }
    Ok(v as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Table> {
        Table::parse(Path::new("t.csv"), s.as_bytes())
    }

    #[test]
    fn synthetic_matches_the_formula() {
        let d = Dataset::synthetic(50, 4, 3).unwrap();
        for n in 0..d.rows {
            let r = d.row(n);
            let want = (PI * r[0] as f64).sin() * (PI * r[1] as f64).cos() + 0.5 * r[2] as f64;
            assert!((d.y[n] as f64 - want).abs() < 1e-6);
            assert!(r.iter().all(|v| (-1.0..1.0).contains(v)));
        }
        let one = Dataset::synthetic(5, 1, 3).unwrap();
        for n in 0..5 {
            let want = (PI * one.row(n)[0] as f64).sin();
            assert!((one.y[n] as f64 - want).abs() < 1e-6);
        }
    }

    #[test]
    fn synthetic_rows_do_not_depend_on_n() {
        let small = Dataset::synthetic(10, 3, 9).unwrap();
        let big = Dataset::synthetic(100, 3, 9).unwrap();
        assert_eq!(small.x[..], big.x[..30]);
        assert_ne!(small.x, Dataset::synthetic(10, 3, 10).unwrap().x);
    }

    #[test]
    fn accepts_bom_crlf_whitespace_and_no_final_newline() {
        let t = parse("\u{feff}a, b ,y\r\n 1,2, 3\r\n4 ,5,6").unwrap();
        assert_eq!(t.header, ["a", "b", "y"]);
        assert_eq!(t.cells, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let d = t.into_dataset(Some("a")).unwrap();
        assert_eq!(d.feature_names, ["b", "y"]);
        assert_eq!(d.x, [2.0, 3.0, 5.0, 6.0]);
        assert_eq!(d.y, [1.0, 4.0]);
    }

    fn csv_error(s: &str) -> (u64, usize, String) {
        match parse(s).and_then(|t| t.into_dataset(None)) {
            Err(Error::Csv {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("expected a CSV error, got {other:?}"),
        }
    }

    #[test]
    fn bad_cells_name_line_and_column() {
        assert_eq!(csv_error("a,y\n1,2\n3,x\n").0, 3);
        assert_eq!(csv_error("a,y\n1,2\n3,x\n").1, 2);
        let (l, c, m) = csv_error("a,y\n1,\n");
        assert_eq!((l, c), (2, 2));
        assert!(m.contains("empty"), "{m}");
        for bad in ["nan", "inf", "-inf", "NaN", "1e39"] {
            let (l, c, _) = csv_error(&format!("a,y\n{bad},1\n"));
            assert_eq!((l, c), (2, 1), "{bad}");
        }
        let (l, _, m) = csv_error("a,b,y\n1,2,3\n1,2\n");
        assert_eq!(l, 3);
        assert!(m.contains("2 cells"), "{m}");
        let (l, c, m) = csv_error("a,a,y\n1,2,3\n");
        assert_eq!((l, c), (1, 2));
        assert!(m.contains("duplicate"), "{m}");
    }

    #[test]
    fn empty_and_header_only_files_are_refused() {
        assert!(csv_error("").2.contains("empty"));
        assert!(csv_error("\n\n").2.contains("empty"));
        let (l, _, m) = csv_error("a,y\n");
        assert_eq!(l, 2);
        assert!(m.contains("no data rows"), "{m}");
    }

    #[test]
    fn invalid_utf8_is_refused_with_position() {
        let (l, c, _) = match Table::parse(Path::new("t"), b"a,y\n1,\xff\xfe\n") {
            Err(Error::Csv {
                line,
                column,
                message,
                ..
            }) => (line, column, message),
            other => panic!("{other:?}"),
        };
        assert_eq!((l, c), (2, 2));
    }
}
