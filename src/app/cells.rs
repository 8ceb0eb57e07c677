//! What a cell that is not a number says of itself, for the hint after
//! the reader's error: a number written as a report writes one, a missing
//! value spelled another way, or a second header line.

use crate::data::CsvFormat;

/// The cell a reader's error quotes where it is not a number: `$12` of
/// "'$12' is not a number (column 'price')". (tests/data_handling.rs
/// holds this to the message's wording.)
pub fn quoted(message: &str) -> Option<&str> {
    (message.strip_prefix('\''))
        .and_then(|rest| rest.split_once("' is not a number"))
        .map(|(cell, _)| cell)
}

/// Where `cell` is a number written as a spreadsheet or a report writes
/// one (a currency sign, separators between thousands, a percent sign, a
/// decimal comma: `$1,234.50`, `12%`, `1.234,5`), how to write it for
/// this reader: `1234.50`, `12 (or 0.12, a fraction)`, `1234.5`; `None`
/// for any other cell. A lone comma before three digits after a group
/// that is not 0 (`3,142`) may part thousands or be a decimal comma, so
/// both readings are given; before any other count (`0,5`, `0,125`) it
/// is a decimal comma.
fn plain_number(cell: &str) -> Option<String> {
    let cell = cell.trim();
    let money = |c: char| ['$', '€', '£', '¥'].contains(&c) || c.is_whitespace();
    // A minus before the digits only (`-$12`, `$-12`), once.
    let negative = cell.trim_start_matches(money).starts_with('-');
    if cell.matches('-').count() > usize::from(negative) {
        return None;
    }
    let t = cell.trim_matches(|c: char| money(c) || c == '%' || c == '-');
    // 1 234,5: spaces between thousands, as French and others write them.
    let joined;
    let spaced = t.contains(SPACES);
    let t = match spaced {
        true => {
            let end = t.find([',', '.']).unwrap_or(t.len());
            joined = format!("{}{}", thousands(&t[..end], &SPACES)?, &t[end..]);
            joined.as_str()
        }
        false => t,
    };
    let sign = if negative { "-" } else { "" };
    let decimal = |c: usize| format!("{sign}{}.{}", &t[..c], &t[c + 1..]);
    let (number, or) = match (t.rfind(','), t.rfind('.')) {
        (None, _) => (format!("{sign}{t}"), None),
        // 1,234.5: commas between thousands.
        (Some(c), Some(d)) if c < d => (
            format!("{sign}{}{}", thousands(&t[..d], &[','])?, &t[d..]),
            None,
        ),
        // 1.234,5: points between thousands, a decimal comma.
        (Some(c), Some(_)) => (
            format!("{sign}{}.{}", thousands(&t[..c], &['.'])?, &t[c + 1..]),
            None,
        ),
        (Some(_), None) if t.matches(',').count() > 1 => {
            (format!("{sign}{}", thousands(t, &[','])?), None)
        }
        // 1 234,567: spaces part the thousands, so the comma is decimal.
        (Some(c), None) if spaced && t.matches(',').count() == 1 => (decimal(c), None),
        // 3,142: thousands, or a decimal comma.
        (Some(c), None) if t.len() - c - 1 == 3 && !t.starts_with('0') => {
            let whole = format!("{sign}{}", thousands(t, &[','])?);
            (
                whole,
                Some(format!("{} where the comma is a decimal one", decimal(c))),
            )
        }
        (Some(c), None) => (decimal(c), None),
    };
    let digits = t.bytes().any(|b| b.is_ascii_digit());
    let plain = |n: &str| {
        let unsigned = n.strip_prefix('-').unwrap_or(n);
        unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.') && n.parse::<f64>().is_ok()
    };
    if !digits || !plain(&number) || number == cell {
        return None;
    }
    let percent = cell.contains('%');
    let or = or.or_else(|| percent.then(|| format!("{}, a fraction", hundredth(&number))));
    Some(match or {
        Some(or) => format!("{number} (or {or})"),
        None => number,
    })
}

/// `number` (digits, perhaps a point and a sign) over 100, written by
/// moving its point, so that no binary rounding shows: `33.3` → `0.333`.
fn hundredth(number: &str) -> String {
    let (sign, digits) = match number.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", number),
    };
    let (whole, part) = digits.split_once('.').unwrap_or((digits, ""));
    let whole = format!("{whole:0>3}");
    let (int, moved) = whole.split_at(whole.len() - 2);
    let int = match int.trim_start_matches('0') {
        "" => "0",
        int => int,
    };
    let fraction = format!("{moved}{part}");
    match fraction.trim_end_matches('0') {
        "" => format!("{sign}{int}"),
        fraction => format!("{sign}{int}.{fraction}"),
    }
}

/// The spaces that part thousands: a space, a no-break space, and the
/// narrow and thin ones French typography uses.
const SPACES: [char; 4] = [' ', '\u{a0}', '\u{202f}', '\u{2009}'];

/// `text`'s digits where one of `seps` parts them in threes after a first
/// group of one to three that does not start with 0 (`1,234,567`); `None`
/// for any other text.
fn thousands(text: &str, seps: &[char]) -> Option<String> {
    let groups: Vec<&str> = text.split(seps).collect();
    let digits = |g: &&str| g.bytes().all(|b| b.is_ascii_digit());
    let first = (1..=3).contains(&groups[0].len()) && !groups[0].starts_with('0');
    let rest = groups[1..].iter().all(|g| g.len() == 3);
    (groups.iter().all(digits) && first && rest).then(|| groups.concat())
}

/// Whether `cell` is a missing marker other than those the reader takes
/// ([`crate::data::MISSING_MARKERS`]): one of them in another case (`na`,
/// `NONE`), or a mark some tools write for a missing value (`.`, `-`,
/// `--`, `missing`).
fn missing_spelling(cell: &str) -> bool {
    let lower = cell.trim().to_lowercase();
    // \N: MySQL's and PostgreSQL's exports.
    let other = ["n.a.", ".", "-", "--", "missing", "nil", "#null!", "\\n"];
    (crate::data::MISSING_MARKERS.iter()).any(|m| m.to_lowercase() == lower)
        || other.contains(&&*lower)
}

/// What a cell that is not a number says of itself.
#[derive(Debug, PartialEq)]
pub enum Said {
    /// The column's own name: a second header line, on the line given
    /// (where files were joined); the line is better deleted, whatever the
    /// column is.
    Header(String),
    /// A number or a missing value, written another way: the way to
    /// write it, for a cell of the column's values.
    Value(String),
}

/// What `cell` (as the reader's error quotes it: [`quoted`]) in the
/// column `name` on `line` of a file written as `format` says of
/// itself: a line that repeats the header's name for the column, a number
/// written with currency signs or separators ([`plain_number`]; with
/// `--decimal-comma`, one with a decimal point too), or a missing value
/// spelled other than the reader takes ([`missing_spelling`]). Where a
/// number's comma may be a decimal one and the cells are not separated by
/// commas, `--decimal-comma` is offered.
pub fn said(cell: &str, name: &str, line: u64, format: CsvFormat) -> Option<Said> {
    if cell == crate::data::shown_cell(name) {
        return Some(Said::Header(format!("the cell is the column's own name: is line {line} a second header line (where files were joined)? delete it")));
    }
    if format.decimal_comma {
        // 1.5 is a number with a point, which a plain number is not here;
        // 1.234 parts thousands, or has a decimal point.
        let pointed = || {
            let t = cell.trim();
            if !(t.contains('.') && t.parse::<f64>().is_ok()) {
                return None;
            }
            let (sign, digits) = t.split_at(usize::from(t.starts_with(['-', '+'])));
            let comma = t.replace('.', ",");
            Some(match thousands(digits, &['.']) {
                Some(whole) => {
                    format!("{sign}{whole} (or {comma} where the point is a decimal one)")
                }
                None => comma,
            })
        };
        let plain = plain_number(cell)
            .map(|p| p.replace('.', ","))
            .or_else(pointed);
        if let Some(plain) = plain {
            return Some(Said::Value(format!("write the cell as {plain}; with --decimal-comma this reader takes a number's digits, a sign, a decimal comma and an exponent, and no decimal point, currency or percent signs or separators between thousands")));
        }
    } else if let Some(plain) = plain_number(cell) {
        let comma = match cell.contains(',') && !format.delimiter.is_comma() {
            true => "; or, where every number of the file marks its decimals with a comma, --decimal-comma reads them so",
            false => "",
        };
        return Some(Said::Value(format!("write the cell as {plain}; this reader takes a number's digits, a sign, a decimal point and an exponent, and no currency or percent signs or separators between thousands{comma}")));
    }
    if missing_spelling(cell) {
        return Some(Said::Value(format!(
            "where '{cell}' marks a missing value, leave the cell empty or write NA (which --missing takes)"
        )));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_as_reports_write_them_are_read_plainly() {
        let cases = [
            ("$0.25", "0.25"),
            ("-$12", "-12"),
            ("$-12", "-12"),
            ("€ 12,50", "12.50"),
            ("12%", "12 (or 0.12, a fraction)"),
            ("12.5 %", "12.5 (or 0.125, a fraction)"),
            ("33.3%", "33.3 (or 0.333, a fraction)"),
            ("0.7%", "0.7 (or 0.007, a fraction)"),
            ("150%", "150 (or 1.5, a fraction)"),
            ("-1.1%", "-1.1 (or -0.011, a fraction)"),
            ("100%", "100 (or 1, a fraction)"),
            ("1,234.5", "1234.5"),
            ("1,234,567", "1234567"),
            ("3,142", "3142 (or 3.142 where the comma is a decimal one)"),
            ("0,5", "0.5"),
            ("0,125", "0.125"),
            ("-0,250", "-0.250"),
            ("1.234,5", "1234.5"),
            (" £3 ", "3"),
            ("1 234,5", "1234.5"),
            ("1 234,567", "1234.567"),
            ("1\u{a0}234\u{202f}567", "1234567"),
            ("-12 345", "-12345"),
            ("€ 1 234,50", "1234.50"),
        ];
        for (cell, want) in cases {
            assert_eq!(plain_number(cell).as_deref(), Some(want), "{cell}");
        }
        // Cells that are no such number, or a number already.
        for cell in [
            "12",
            "-3.5",
            "x",
            "#DIV/0!",
            "1e5",
            "$",
            "%",
            "-",
            "1 2",
            "1,23,4",
            "12,34.5",
            "0x10",
            "",
            "1.234.567",
            "$1e5",
            "abc,def",
            "--5",
            "5-",
            "0,123,456",
            "1 2",
            "12 34",
            "1 2345",
        ] {
            assert_eq!(plain_number(cell), None, "{cell}");
        }
    }

    #[test]
    fn missing_values_spelled_otherwise_are_named() {
        for cell in [
            "na", "Na", "NONE", "Null", ".", "-", "--", "missing", "n.a.", " nan ", "\\N",
        ] {
            assert!(missing_spelling(cell), "{cell}");
        }
        for cell in ["x", "0", "n", "pending", "-1"] {
            assert!(!missing_spelling(cell), "{cell}");
        }
    }

    #[test]
    fn what_the_cell_says_of_itself() {
        let said = |cell: &str, name: &str, line| said(cell, name, line, CsvFormat::default());
        let header = said("price", "price", 7);
        assert!(
            matches!(&header, Some(Said::Header(h)) if h.contains("is line 7 a second header line")),
            "{header:?}"
        );
        let value = |cell: &str| match said(cell, "price", 7) {
            Some(Said::Value(v)) => v,
            other => panic!("{cell}: {other:?}"),
        };
        assert!(value("$3").starts_with("write the cell as 3; this reader takes"));
        assert!(value("na")
            .starts_with("where 'na' marks a missing value, leave the cell empty or write NA"));
        assert_eq!(said("pending", "price", 7), None);
        // A name with a control character, or past the cut, as the
        // message quotes it.
        assert!(said("a\\u{1b}", "a\u{1b}", 2).is_some());
        let long = "n".repeat(100);
        let cut = crate::data::shown_cell(&long);
        assert_ne!(cut, long);
        assert!(matches!(said(&cut, &long, 2), Some(Said::Header(_))));
    }

    /// A decimal comma in a file not separated by commas offers
    /// --decimal-comma; with it, a number is offered with a comma, and a
    /// number with a point is one to write so.
    #[test]
    fn a_decimal_comma_is_offered_and_written() {
        let value = |cell: &str, decimal_comma| {
            let format = CsvFormat::new(crate::data::Delimiter::Semicolon, decimal_comma).unwrap();
            match said(cell, "price", 7, format) {
                Some(Said::Value(v)) => v,
                other => panic!("{cell}: {other:?}"),
            }
        };
        let v = value("1,5", false);
        assert!(
            v.starts_with("write the cell as 1.5; this reader takes"),
            "{v}"
        );
        assert!(v.ends_with("; or, where every number of the file marks its decimals with a comma, --decimal-comma reads them so"), "{v}");
        assert!(!value("$3", false).contains("--decimal-comma"));
        let comma = said("1,5", "price", 7, CsvFormat::default());
        assert!(
            matches!(&comma, Some(Said::Value(v)) if !v.contains("--decimal-comma")),
            "{comma:?}"
        );
        for (cell, want) in [
            ("1.5", "1,5"),
            ("-0.125", "-0,125"),
            ("1.234", "1234 (or 1,234 where the point is a decimal one)"),
            (
                "-1.234",
                "-1234 (or -1,234 where the point is a decimal one)",
            ),
            ("1.234,5", "1234,5"),
            ("$2.50", "2,50"),
            ("12%", "12 (or 0,12, a fraction)"),
        ] {
            let v = value(cell, true);
            let says = format!("write the cell as {want}; with --decimal-comma this reader takes a number's digits, a sign, a decimal comma");
            assert!(v.starts_with(&says), "{cell}: {v}");
        }
        let format = CsvFormat::new(crate::data::Delimiter::Tab, true).unwrap();
        assert_eq!(said("pending", "price", 7, format), None);
        assert!(CsvFormat::new(crate::data::Delimiter::Comma, true).is_err());
    }

    #[test]
    fn the_quoted_cell_is_the_one_the_message_names() {
        assert_eq!(quoted("'$12' is not a number (column 'p')"), Some("$12"));
        assert_eq!(quoted("'it''s' is not a number"), Some("it''s"));
        assert_eq!(quoted("the cell is empty; expected a number"), None);
    }
}
