//! One-hot encoding of text columns (`train --categorical`): each
//! distinct cell of such a column (a level) becomes a feature of its own,
//! 1 in the rows with that level and 0 in the others, as scikit-learn's
//! `OneHotEncoder` makes them.
//!
//! The numbers of a file are read as [`Table`] reads them, with the
//! categorical columns left unread; the categorical columns' text is then
//! read from the same bytes with the csv reader, row by row, and each
//! column's cells become one code per row (its level's index)
//! ([`encode`]), which [`Encoding::spread`] spreads into the table's
//! columns.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use super::{
    csv_error, csv_reader, escaped, is_blank, is_missing, named_columns, Delimiter, Head, Lines,
    Table,
};
use crate::error::Result;

/// The most levels a categorical column may have: each is a feature, and
/// a column with thousands of distinct cells is more likely an id or free
/// text than a category.
pub const MAX_LEVELS: usize = 1000;

/// A one-hot encoded column: its name in the file and its levels, the
/// distinct cells (whitespace around them trimmed, missing ones left out)
/// in byte order. Level `l` is the feature `column=level`
/// ([`Category::feature_name`]), placed where the column is in the file.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Category {
    pub column: String,
    pub levels: Vec<String>,
}

/// What reading a file for a model does with a categorical cell whose
/// level the model was not trained on (a city it never saw).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Unseen {
    /// The first stops the command, with its line and column.
    #[default]
    Error,
    /// Each of the column's level features is 0, as though the row had
    /// none of the model's levels (scikit-learn's `OneHotEncoder` with
    /// `handle_unknown="ignore"`).
    Zeros,
    /// The cell reads as a missing one, which --missing then decides.
    Missing,
}

/// The cells of one categorical column whose levels a model was not
/// trained on, read as [`Unseen`] said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnseenLevels {
    /// The column's name in the file.
    pub column: String,
    pub cells: usize,
    /// The first such cell's text and (1-based) line in the file.
    pub first: String,
    pub line: u64,
}

impl Category {
    /// The feature of `level`: "city=Paris".
    pub fn feature_name(&self, level: &str) -> String {
        level_feature(&self.column, level)
    }

    /// The features of every level, in the levels' order.
    pub fn feature_names(&self) -> Vec<String> {
        self.levels.iter().map(|l| self.feature_name(l)).collect()
    }

    /// Checks a category read from a model file: a named column, and
    /// between one and [`MAX_LEVELS`] levels, in byte order, each once and
    /// none a missing cell ([`is_missing`]).
    pub fn check(&self) -> std::result::Result<(), String> {
        let column = escaped(&self.column);
        if self.column.is_empty() {
            return Err("names a column with no name".into());
        }
        if self.levels.is_empty() || self.levels.len() > MAX_LEVELS {
            return Err(format!(
                "gives the column '{column}' {}; expected 1 to {MAX_LEVELS}",
                crate::units::count(self.levels.len(), "level")
            ));
        }
        if let Some(l) = self.levels.iter().find(|l| is_missing(l.as_bytes())) {
            return Err(format!(
                "gives the column '{column}' the level '{}', which marks a missing cell",
                escaped(l)
            ));
        }
        if self.levels.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "gives the column '{column}' levels out of order or twice; expected them sorted, each once"
            ));
        }
        Ok(())
    }
}

/// The feature of `level` of the column `column`: "city=Paris".
fn level_feature(column: &str, level: &str) -> String {
    format!("{column}={level}")
}

/// Each feature `categories` make, with the file's column it encodes.
pub fn column_of_level(categories: &[Category]) -> HashMap<String, &str> {
    (categories.iter())
        .flat_map(|c| (c.feature_names().into_iter()).map(|n| (n, c.column.as_str())))
        .collect()
}

/// Counts by feature (`counts`: a feature's name and its count) as counts
/// by the file's column: the features of a one-hot encoded column's
/// levels, which a missing cell makes NaN together, counted once as the
/// column, where its first level is.
pub fn by_column(
    counts: impl IntoIterator<Item = (String, usize)>,
    categories: &[Category],
) -> Vec<(String, usize)> {
    let column_of = column_of_level(categories);
    let mut columns: Vec<(String, usize)> = Vec::new();
    for (name, n) in counts {
        match column_of.get(&name) {
            Some(&column) if columns.iter().any(|(c, _)| c == column) => {}
            Some(&column) => columns.push((column.to_string(), n)),
            None => columns.push((name, n)),
        }
    }
    columns
}

/// A categorical column's cells as codes: the index of each row's level,
/// [`MISSING`] for a missing cell.
struct Codes {
    /// The column's place in the file's header.
    at: usize,
    codes: Vec<u32>,
    levels: Vec<String>,
    /// Its cells with a level the model lacks, read as [`Unseen`] says.
    unseen: Option<UnseenLevels>,
}

/// The code of a missing cell.
const MISSING: u32 = u32::MAX;

/// The code of a cell with none of the levels (`--unseen zeros`).
const NONE: u32 = u32::MAX - 1;

/// The categorical columns `columns` of the CSV `bytes` (byte-order mark
/// stripped, cells separated by `delimiter`; a value of `columns` with a
/// comma is cut as [`named_columns`] cuts it),
/// whose numbers `table` holds, read with those columns unread: each of
/// their levels is to be a column of its own, where the column is in the
/// file: 1 where a row has the level, 0 where it has another, and NaN in
/// every level's column where the cell is missing, which `--missing`
/// then drops or fills as it does a number's gap. Without `gaps`, a
/// missing cell is an error at its line and column. The levels are
/// `known`'s (a model's; a cell with another is an error) or the cells'
/// own, in byte order. A cell with a level the model lacks is read as
/// `known`'s [`Unseen`] says. Reads the cells ([`Encoding`]); its
/// [`Encoding::spread`] makes the table, once the bytes may be let go.
pub(super) fn encode(
    path: &Path,
    bytes: &[u8],
    delimiter: Delimiter,
    table: &Table,
    columns: &[String],
    known: Option<(&[Category], Unseen)>,
    gaps: bool,
) -> Result<Encoding> {
    let head = Head::parse(path, bytes, delimiter)?;
    let columns = &named_columns(columns, &head.header)[..];
    let err = csv_error(path);
    let mut read: Vec<Codes> = Vec::with_capacity(columns.len());
    for (j, name) in head.header.iter().enumerate() {
        if !columns.contains(name) {
            continue;
        }
        let levels = match known {
            Some((known, _)) => match known.iter().find(|c| c.column == *name) {
                Some(c) => c.levels.clone(),
                None => Vec::new(),
            },
            None => Vec::new(),
        };
        read.push(Codes {
            at: j,
            codes: Vec::with_capacity(table.rows),
            levels,
            unseen: None,
        });
    }
    if let Some(name) = columns.iter().find(|n| !head.header.contains(n)) {
        return Err(err(
            head.line,
            0,
            format!("no column '{}' to one-hot encode", escaped(name)),
        ));
    }
    let unseen = known.map(|(_, unseen)| unseen);
    scan(path, &head, &bytes[head.at..], &mut read, unseen, gaps)?;
    for c in &mut read {
        if c.codes.len() != table.rows {
            return Err(err(
                head.body_line,
                0,
                format!(
                    "--categorical read {} where the numbers read {}",
                    crate::units::count(c.codes.len(), "row"),
                    table.rows
                ),
            ));
        }
        if known.is_none() {
            sort_levels(c);
        }
        if c.levels.is_empty() {
            let name = escaped(&head.header[c.at]);
            return Err(err(
                head.line,
                c.at + 1,
                format!("the categorical column '{name}' has no level: every cell is missing; --ignore leaves it unread"),
            ));
        }
    }
    let categories: Vec<Category> = (read.iter())
        .map(|c| Category {
            column: head.header[c.at].clone(),
            levels: c.levels.clone(),
        })
        .collect();
    check_features(path, &head, table, &categories)?;
    Ok(Encoding {
        header: head.header,
        read,
        categories,
    })
}

/// Reads each row's cell of every column of `read` (from `body`, the rows
/// after `head`) as a code: a level `read` knows already (a model's), one
/// it lacks as `known` says ([`Unseen`]), or without `known` a new one
/// where the cell has not been met; a missing cell is [`MISSING`] with
/// `gaps`, an error otherwise.
fn scan(
    path: &Path,
    head: &Head,
    body: &[u8],
    read: &mut [Codes],
    known: Option<Unseen>,
    gaps: bool,
) -> Result<()> {
    let err = csv_error(path);
    let mut lines = Lines::new(body, head.body_line);
    let mut reader = csv_reader(body, head.delimiter);
    let mut record = csv::ByteRecord::new();
    // Each column's levels so far, with their codes (in first-seen order
    // when fitting, the known order otherwise).
    // Where the levels are `known`: the code of a level they lack, none
    // where that is an error.
    let unseen_code = match known {
        Some(Unseen::Zeros) => Some(NONE),
        Some(Unseen::Missing) if gaps => Some(MISSING),
        _ => None,
    };
    let mut seen: Vec<HashMap<Vec<u8>, u32>> = (read.iter())
        .map(|c| (c.levels.iter().enumerate()).map(|(k, l)| (l.clone().into_bytes(), k as u32)))
        .map(|pairs| pairs.collect())
        .collect();
    while reader
        .read_byte_record(&mut record)
        .map_err(|e| err(head.body_line, 0, format!("unreadable CSV: {e}")))?
    {
        if is_blank(&record) {
            continue;
        }
        let line = lines.of(record.position());
        for (c, seen) in read.iter_mut().zip(seen.iter_mut()) {
            let cell = record.get(c.at).unwrap_or_default();
            let at = |message: String| {
                let name = escaped(&head.header[c.at]);
                err(line, c.at + 1, format!("{message} (column '{name}')"))
            };
            if is_missing(cell) {
                if !gaps {
                    return Err(at(missing_message(cell)));
                }
                c.codes.push(MISSING);
                continue;
            }
            if let Some(&code) = seen.get(cell) {
                c.codes.push(code);
                continue;
            }
            let text = match std::str::from_utf8(cell) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                // A model's levels are text: a cell that is not is none of
                // them, read as --unseen says.
                Err(_) if unseen_code.is_some() => String::from_utf8_lossy(cell),
                Err(_) => {
                    return Err(at(format!(
                    "the cell is not valid UTF-8 ({}); expected a level of a categorical column",
                    super::shown_bytes(cell)
                )))
                }
            };
            if known.is_some() {
                let Some(code) = unseen_code else {
                    return Err(at(unknown_level(&text, &c.levels)));
                };
                let column = &head.header[c.at];
                let seen = c.unseen.get_or_insert_with(|| UnseenLevels {
                    column: column.clone(),
                    cells: 0,
                    first: text.to_string(),
                    line,
                });
                seen.cells += 1;
                c.codes.push(code);
                continue;
            }
            if seen.len() == MAX_LEVELS {
                return Err(at(format!(
                    "'{}' is the column's level number {}, and --categorical takes at most {MAX_LEVELS} (one feature each); an id or free text is better left unread with --ignore",
                    super::shown_cell(&text),
                    MAX_LEVELS + 1
                )));
            }
            let code = seen.len() as u32;
            seen.insert(cell.to_vec(), code);
            c.levels.push(text.to_string());
            c.codes.push(code);
        }
    }
    Ok(())
}

/// Checks the features `categories`' levels make: each new, and none the
/// name of a column the numbers read (`table`'s; an unread column may have
/// any name).
fn check_features(path: &Path, head: &Head, table: &Table, categories: &[Category]) -> Result<()> {
    let err = csv_error(path);
    let read_names: HashSet<&str> = table.header.iter().map(String::as_str).collect();
    let mut made: HashMap<String, &str> = HashMap::new();
    for c in categories {
        for name in c.feature_names() {
            if let Some(other) = made.insert(name.clone(), &c.column) {
                return Err(err(
                    head.line,
                    0,
                    format!(
                        "the one-hot encoded levels of '{}' and of '{}' both make the feature '{}'; rename one of the columns",
                        escaped(other),
                        escaped(&c.column),
                        escaped(&name)
                    ),
                ));
            }
            if read_names.contains(name.as_str()) {
                let j = head.header.iter().position(|h| *h == name).unwrap_or(0);
                return Err(err(
                    head.line,
                    j + 1,
                    format!("the column '{}' has the name of a one-hot encoded level of '{}'; rename it, or leave it unread with --ignore", escaped(&name), escaped(&c.column)),
                ));
            }
        }
    }
    Ok(())
}

/// The levels of a file's categorical columns and each row's, read by
/// [`encode`].
pub(super) struct Encoding {
    /// The file's header.
    header: Vec<String>,
    read: Vec<Codes>,
    categories: Vec<Category>,
}

impl Encoding {
    /// The table with each level a column, and the categories, in file
    /// order.
    /// Refused, before anything is allocated, where the machine cannot
    /// hold the table that many levels make.
    pub(super) fn spread(self, table: Table) -> Result<(Table, Vec<Category>)> {
        Ok((spread(table, &self.header, &self.read)?, self.categories))
    }

    /// The cells of each column whose levels the model lacks, read as
    /// [`Unseen`] said, in file order.
    pub(super) fn unseen(&self) -> Vec<UnseenLevels> {
        self.read.iter().filter_map(|c| c.unseen.clone()).collect()
    }
}

/// The error of a missing categorical cell without `--missing`'s gaps,
/// worded as a number's is, so that the hints that follow a missing
/// number follow it too.
fn missing_message(cell: &[u8]) -> String {
    let cell = cell.trim_ascii();
    match cell.is_empty() {
        true => "the cell is empty; expected a level".into(),
        false => format!(
            "'{}' marks a missing value; expected a level",
            escaped(&String::from_utf8_lossy(cell))
        ),
    }
}

/// The words of the error at a level a model was not trained on, by which
/// a command knows it.
pub const UNSEEN_LEVEL: &str = "is not a level the model was trained on";

/// The error of a level a model does not know.
fn unknown_level(text: &str, levels: &[String]) -> String {
    let shown: Vec<String> = (levels.iter().take(8))
        .map(|l| format!("'{}'", escaped(l)))
        .collect();
    let more = match levels.len() > 8 {
        true => format!(", … ({} in all)", levels.len()),
        false => String::new(),
    };
    // Cells and levels are trimmed: case is what may differ.
    let same = |l: &&String| l.eq_ignore_ascii_case(text);
    let near = match levels.iter().find(same) {
        Some(l) => format!(" ('{}' is: levels match exactly, case too)", escaped(l)),
        None => String::new(),
    };
    format!(
        "'{}' {UNSEEN_LEVEL}{near}; it knows {}{more}",
        super::shown_cell(text),
        shown.join(", ")
    )
}

/// Puts `c`'s levels in byte order and renumbers its codes to match.
fn sort_levels(c: &mut Codes) {
    let sorted: BTreeMap<&str, u32> = (c.levels.iter().enumerate())
        .map(|(k, l)| (l.as_str(), k as u32))
        .collect();
    let mut new_code = vec![0u32; c.levels.len()];
    for (rank, &old) in sorted.values().enumerate() {
        new_code[old as usize] = rank as u32;
    }
    c.levels = sorted.keys().map(|l| l.to_string()).collect();
    for code in &mut c.codes {
        if *code != MISSING {
            *code = new_code[*code as usize];
        }
    }
}

/// Where a column of the encoded table comes from.
enum Source {
    /// The table's column.
    Number(usize),
    /// Level `l` of the categorical column `k`.
    Level(usize, u32),
}

/// The table with `read`'s levels as columns, each categorical column's
/// where it is in `header` (the file's), among the table's own columns
/// (those of `header` the numbers read, in its order).
fn spread(table: Table, header: &[String], read: &[Codes]) -> Result<Table> {
    let mut sources = Vec::with_capacity(table.header.len());
    let mut names = Vec::with_capacity(table.header.len());
    let mut next = 0;
    for (j, name) in header.iter().enumerate() {
        if let Some(k) = read.iter().position(|c| c.at == j) {
            for (l, level) in read[k].levels.iter().enumerate() {
                sources.push(Source::Level(k, l as u32));
                names.push(level_feature(name, level));
            }
        } else if table.header.get(next) == Some(name) {
            // Names are unique (an empty one is never read), so the
            // table's next column is this one.
            sources.push(Source::Number(next));
            names.push(name.clone());
            next += 1;
        }
    }
    let width = table.header.len();
    let levels: usize = read.iter().map(|c| c.levels.len()).sum();
    crate::memory::check(
        crate::memory::product(&[table.rows, sources.len(), 4]),
        || {
            format!(
                "one-hot encoding {} ({} in all) over {}, {} features",
                crate::units::count(read.len(), "categorical column"),
                crate::units::count(levels, "level"),
                crate::units::count(table.rows, "row"),
                sources.len()
            )
        },
        "give --categorical fewer columns, or columns with fewer levels (merge rare ones in the file), or --ignore one with many",
    )?;
    let mut cells = Vec::with_capacity(table.rows * sources.len());
    for i in 0..table.rows {
        let row = &table.cells[i * width..(i + 1) * width];
        cells.extend(sources.iter().map(|s| match *s {
            Source::Number(j) => row[j],
            Source::Level(k, l) => match read[k].codes[i] {
                MISSING => f32::NAN,
                // NONE among them: no level's feature is 1.
                code => (code == l) as u8 as f32,
            },
        }));
    }
    Ok(Table {
        path: table.path,
        header: names,
        header_line: table.header_line,
        cells,
        rows: table.rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// A one-hot table the machine cannot hold is refused, with the
    /// columns, levels and rows named, before anything is allocated (here
    /// rows no machine holds, which the encoding would index).
    #[test]
    fn a_one_hot_table_too_large_is_refused_before_allocating() {
        let table = Table {
            path: "c.csv".into(),
            header: vec!["y".into()],
            header_line: 1,
            cells: Vec::new(),
            rows: 1 << 60,
        };
        let read = [Codes {
            at: 0,
            codes: Vec::new(),
            levels: (0..1000).map(|l| l.to_string()).collect(),
            unseen: None,
        }];
        let header = ["city".to_string(), "y".to_string()];
        let e = spread(table, &header, &read).err().unwrap().to_string();
        assert!(
            e.contains("one-hot encoding 1 categorical column (1000 levels in all)"),
            "{e}"
        );
        assert!(e.contains("--ignore one with many"), "{e}");
    }

    fn read(text: &str, known: Option<&[Category]>) -> Result<(Table, Vec<Category>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, text).unwrap();
        let every = |_: &[String]| Ok(Vec::new());
        let known = known.map(|k| (k, Unseen::Error));
        let read = super::super::read_categorical(
            &path,
            super::super::CsvFormat::default(),
            &every,
            &["c".into()],
            known,
            false,
        );
        read.map(|(table, categories, _)| (table, categories))
    }

    /// Levels come in byte order, whatever order the rows meet them in;
    /// a byte-order mark, CRLF line ends, blank lines and spaces around a
    /// cell change nothing.
    #[test]
    fn levels_are_sorted_and_spread_where_the_column_is() {
        let (t, c) = read("\u{FEFF}x,c,y\r\n1,b,5\r\n\r\n2,a,6\r\n3,  b ,7\r\n", None).unwrap();
        assert_eq!(t.header, ["x", "c=a", "c=b", "y"]);
        assert_eq!(t.cells, [1., 0., 1., 5., 2., 1., 0., 6., 3., 0., 1., 7.]);
        let levels = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            c,
            [Category {
                column: "c".into(),
                levels
            }]
        );
    }

    /// A level a model lacks, and a missing cell without gaps, are errors
    /// at their own line and column, blank lines counted.
    #[test]
    fn errors_name_the_cell() {
        let known = [Category {
            column: "c".into(),
            levels: vec!["a".into(), "b".into()],
        }];
        let place = |e: Error| match e {
            Error::Csv { line, column, .. } => (line, column),
            e => panic!("{e}"),
        };
        let e = read("y,c\n1,a\n\n2,z\n", Some(&known)).unwrap_err();
        assert_eq!(place(e), (4, 2));
        let e = read("y,c\r\n1,a\r\n\r\n2,\r\n", None).unwrap_err();
        assert_eq!(place(e), (4, 2));
    }
    /// A level the model lacks reads as `Unseen` says: `Zeros` as 0 in
    /// each of the column's level features, `Missing` as NaN in each
    /// where missing cells are gaps; without gaps `Missing`, as `Error`
    /// always, is the unknown level's error at its line and column.
    #[test]
    fn an_unseen_level_reads_as_unseen_says_with_and_without_gaps() {
        let known = [Category {
            column: "c".into(),
            levels: vec!["a".into(), "b".into()],
        }];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.csv");
        std::fs::write(&path, "y,c\n1,b\n2,z\n3,a\n").unwrap();
        let every = |_: &[String]| Ok(Vec::new());
        let read_as = |unseen: Unseen, gaps: bool| {
            let known = Some((&known[..], unseen));
            super::super::read_categorical(
                &path,
                super::super::CsvFormat::default(),
                &every,
                &["c".into()],
                known,
                gaps,
            )
        };
        let (t, _, seen) = read_as(Unseen::Zeros, false).unwrap();
        assert_eq!(t.header, ["y", "c=a", "c=b"]);
        assert_eq!(t.cells, [1., 0., 1., 2., 0., 0., 3., 1., 0.]);
        let first = UnseenLevels {
            column: "c".into(),
            cells: 1,
            first: "z".into(),
            line: 3,
        };
        assert_eq!(seen, std::slice::from_ref(&first));
        let (t, _, seen) = read_as(Unseen::Missing, true).unwrap();
        let nan = |v: &f32| v.is_nan();
        assert_eq!(
            t.cells.iter().map(nan).collect::<Vec<_>>(),
            [false, false, false, false, true, true, false, false, false]
        );
        assert_eq!((t.cells[3], t.cells[6], t.cells[7]), (2., 3., 1.));
        assert_eq!(seen, [first]);
        for (unseen, gaps) in [
            (Unseen::Missing, false),
            (Unseen::Error, false),
            (Unseen::Error, true),
        ] {
            match read_as(unseen, gaps) {
                Err(Error::Csv {
                    line: 3,
                    column: 2,
                    message,
                    ..
                }) => assert!(message.contains(UNSEEN_LEVEL), "{message}"),
                Err(e) => panic!("{unseen:?} {gaps}: {e}"),
                Ok(_) => panic!("{unseen:?} {gaps}: read 'z' as a level"),
            }
        }
    }

    /// A level the model knows but for case is offered; another is not.
    #[test]
    fn a_level_but_for_case_is_offered() {
        let levels = ["blue".to_string(), "red".into()];
        let said = |text: &str| unknown_level(text, &levels);
        let offer = " ('red' is: levels match exactly, case too); it knows";
        assert!(said("Red").contains(offer), "{}", said("Red"));
        assert!(said("RED").contains(offer), "{}", said("RED"));
        assert!(!said("reds").contains(" is: "), "{}", said("reds"));
    }

    /// A model file's levels must be sorted and each given once: a level
    /// twice would make two features of one name, each 1 for the level.
    #[test]
    fn check_refuses_levels_twice_or_out_of_order() {
        let check = |levels: &[&str]| {
            let levels = levels.iter().map(|l| l.to_string()).collect();
            Category {
                column: "c".into(),
                levels,
            }
            .check()
        };
        assert_eq!(check(&["a", "b", "c"]), Ok(()));
        for levels in [&["a", "a"][..], &["b", "a"], &["a", "b", "b"]] {
            let e = check(levels).unwrap_err();
            assert!(
                e.contains("levels out of order or twice"),
                "{levels:?}: {e}"
            );
        }
    }
}
