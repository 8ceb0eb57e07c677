//! What a cell that is not a number says of itself, for the hint after
//! the reader's error: a number written as a report writes one, a missing
//! value spelled another way, or a second header line.

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
/// decimal comma: `$1,234.50`, `12%`, `1.234,5`), the number as this
/// reader takes it (`1234.50`, `12`, `1234.5`); `None` for any other
/// cell. A lone comma before three digits (`1,234`) is read as a
/// thousands separator, before any other count (`0,5`) as a decimal one.
fn plain_number(cell: &str) -> Option<String> {
    let mut t = cell.trim();
    let mut sign = "";
    if let Some(rest) = t.strip_prefix('-') {
        (sign, t) = ("-", rest.trim_start());
    }
    let marks = ['$', '€', '£', '¥', '%'];
    let bare = t.trim_matches(|c: char| marks.contains(&c) || c.is_whitespace());
    let t = bare.strip_prefix('-').map_or(bare, |rest| {
        sign = "-";
        rest
    });
    let number = match (t.rfind(','), t.rfind('.')) {
        (None, _) => t.to_string(),
        // 1,234.5: commas between thousands.
        (Some(c), Some(d)) if c < d => thousands(&t[..d], ',')? + &t[d..],
        // 1.234,5: points between thousands, a decimal comma.
        (Some(c), Some(_)) => thousands(&t[..c], '.')? + "." + &t[c + 1..],
        (Some(c), None) if t.matches(',').count() > 1 || t.len() - c - 1 == 3 => thousands(t, ',')?,
        (Some(c), None) => format!("{}.{}", &t[..c], &t[c + 1..]),
    };
    let plain = format!("{sign}{number}");
    let digits = number.bytes().any(|b| b.is_ascii_digit());
    let parses = number.bytes().all(|b| b.is_ascii_digit() || b == b'.') && digits;
    (parses && plain.parse::<f64>().is_ok() && plain != cell.trim()).then_some(plain)
}

/// `text`'s digits where `sep` parts them in threes after a first group
/// of one to three (`1,234,567`); `None` for any other text.
fn thousands(text: &str, sep: char) -> Option<String> {
    let groups: Vec<&str> = text.split(sep).collect();
    let digits = |g: &&str| g.bytes().all(|b| b.is_ascii_digit());
    let first = (1..=3).contains(&groups[0].len());
    let rest = groups[1..].iter().all(|g| g.len() == 3);
    (groups.iter().all(digits) && first && rest).then(|| groups.concat())
}

/// Whether `cell` is a missing marker other than those the reader takes
/// ([`crate::data::MISSING_MARKERS`]): one of them in another case (`na`,
/// `NONE`), or a mark some tools write for a missing value (`.`, `-`,
/// `--`, `missing`).
fn missing_spelling(cell: &str) -> bool {
    let lower = cell.trim().to_lowercase();
    let other = ["n.a.", ".", "-", "--", "missing", "nil", "#null!"];
    (crate::data::MISSING_MARKERS.iter()).any(|m| m.to_lowercase() == lower)
        || other.contains(&&*lower)
}

/// The hint at a cell that is not a number, where the cell says more
/// than its column does: a line that repeats the header's name for the
/// column (two files joined, say), a number written with currency signs
/// or separators ([`plain_number`]), or a missing value spelled other
/// than the reader takes ([`missing_spelling`]).
pub fn hint(cell: &str, name: &str, line: u64) -> Option<String> {
    if cell == crate::data::escaped(name) {
        return Some(format!("; the cell is the column's own name: is line {line} a second header line (where files were joined)? delete it"));
    }
    if let Some(plain) = plain_number(cell) {
        return Some(format!("; write it as {plain}: this reader takes a number's digits, a sign, a decimal point and an exponent, and no currency or percent signs or separators between thousands"));
    }
    if missing_spelling(cell) {
        return Some("; if it marks a missing value, leave the cell empty or write NA, which --missing takes".into());
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
            ("12%", "12"),
            ("1,234.5", "1234.5"),
            ("1,234,567", "1234567"),
            ("1,234", "1234"),
            ("0,5", "0.5"),
            ("1.234,5", "1234.5"),
            (" £3 ", "3"),
        ];
        for (cell, want) in cases {
            assert_eq!(plain_number(cell).as_deref(), Some(want), "{cell}");
        }
        // Cells that are no such number, or a number already.
        for cell in [
            "12",
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
        ] {
            assert_eq!(plain_number(cell), None, "{cell}");
        }
    }

    #[test]
    fn missing_values_spelled_otherwise_are_named() {
        for cell in [
            "na", "Na", "NONE", "Null", ".", "-", "--", "missing", "n.a.", " nan ",
        ] {
            assert!(missing_spelling(cell), "{cell}");
        }
        for cell in ["x", "0", "n", "pending", "-1"] {
            assert!(!missing_spelling(cell), "{cell}");
        }
    }

    #[test]
    fn the_hint_says_what_the_cell_is() {
        let header = hint("price", "price", 7).unwrap();
        assert!(
            header.contains("is line 7 a second header line"),
            "{header}"
        );
        assert!(hint("$3", "price", 7)
            .unwrap()
            .starts_with("; write it as 3: "));
        assert!(hint("na", "price", 7)
            .unwrap()
            .contains("leave the cell empty or write NA"));
        assert_eq!(hint("pending", "price", 7), None);
        // A name with a control character, as the message quotes it.
        assert!(hint("a\\u{1b}", "a\u{1b}", 2).is_some());
    }

    #[test]
    fn the_quoted_cell_is_the_one_the_message_names() {
        assert_eq!(quoted("'$12' is not a number (column 'p')"), Some("$12"));
        assert_eq!(quoted("'it''s' is not a number"), Some("it''s"));
        assert_eq!(quoted("the cell is empty; expected a number"), None);
    }
}
