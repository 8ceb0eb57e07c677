//! How counts, sizes, durations and lists read in messages: "1 row" and
//! "2 rows", "96.0 GiB" rather than a byte count, "0.0001 s" rather than
//! "0 s", "a, b or c".

use std::time::Duration;

/// `n` and its noun, singular for 1: `count(1, "row")` is "1 row".
pub fn count(n: usize, noun: &str) -> String {
    match (n, noun.ends_with('s')) {
        (1, _) => format!("1 {noun}"),
        (_, true) => format!("{n} {noun}es"),
        _ => format!("{n} {noun}s"),
    }
}

/// `word` as a shell reads it back as one argument: as it is where every
/// character is plain (letters, digits, `_-.,:/+@%=`), else in single
/// quotes ("--ignore 'price, USD'"), so that a hint can be pasted.
pub fn shell_word(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.,:/+@%=".contains(c);
    match !word.is_empty() && word.chars().all(plain) {
        true => word.to_string(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

/// R² (or any score near 1) to four decimals; a value that rounds to 0
/// is "0.0000", never "-0.0000", and one of a run gone far wrong, -10,000
/// or below, is "-3.4590e41", not 42 digits.
pub fn r2(v: f64) -> String {
    let text = format!("{v:.4}");
    // As written: -9999.99996 rounds to -10000.0000, five digits.
    if text.trim_start_matches('-').len() > "9999.9999".len() {
        return format!("{v:.4e}");
    }
    match text.as_str() {
        "-0.0000" => "0.0000".into(),
        _ => text,
    }
}

/// A size in bytes with a binary unit: "512 bytes", "1.5 KiB", "96.0 GiB".
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return count(n as usize, "byte");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // As written to one decimal: 1023.96 KiB is 1.0 MiB, not 1024.0 KiB.
    while (value * 10.0).round() >= 10240.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A duration in seconds, as precise as it was given: "600 s", "0.0001 s".
pub fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// `x` with `places` decimals; where it is positive and below
/// 0.995 · 10^(1 − places) (0.0995 at two places), where those decimals
/// would show one significant digit of it at most (or round it up to
/// 0.10), with three significant digits instead, trailing zeros dropped:
/// 0.00268 rather than 0.00, 0.0567 rather than 0.06, 0.0049 for 0.00490.
pub fn decimals(x: f64, places: usize) -> String {
    let below = 0.995 * 10f64.powi(1 - places as i32);
    match x > 0.0 && x < below {
        true => format!("{x:.2e}").parse::<f64>().unwrap_or(x).to_string(),
        false => format!("{x:.places$}"),
    }
}

/// "a", "a or b", "a, b or c".
pub fn or_list(items: &[String]) -> String {
    joined(items, "or")
}

/// `items` as a sentence joins them: "a, b and c" for `word` "and".
pub fn joined(items: &[String], word: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {word} {last}", rest.join(", ")),
    }
}

/// `text` on one line, as every error is: its control characters (a
/// newline in a file's name, a terminal's escape sequence) written as
/// escapes (`\n`, `\u{1b}`), tabs kept.
pub fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    let odd = |c: char| c.is_control() && c != '\t';
    if !text.chars().any(odd) {
        return text.into();
    }
    let escape = |c: char| match odd(c) {
        true => escaped_char(c),
        false => c.to_string(),
    };
    text.chars().map(escape).collect::<String>().into()
}

/// `c` escaped as [`char::escape_debug`] escapes it (`\n`, `\u{1b}`,
/// `\"`), but a NUL as `\u{0}`: Rust's `\0` before a digit reads as
/// another escape (a NUL and then 2 as `\02`).
pub fn escaped_char(c: char) -> String {
    match c {
        '\0' => "\\u{0}".to_string(),
        c => c.escape_debug().to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_escapes_control_characters_but_tabs() {
        assert_eq!(super::one_line("a 'b'\tc"), "a 'b'\tc");
        assert_eq!(super::one_line("/x\ny\u{1b}[31m"), "/x\\ny\\u{1b}[31m");
    }

    #[test]
    fn lists_read_as_a_sentence() {
        let items = |n: usize| -> Vec<String> {
            ["a", "b", "c"][..n].iter().map(|s| s.to_string()).collect()
        };
        assert_eq!(super::or_list(&items(0)), "");
        assert_eq!(super::or_list(&items(1)), "a");
        assert_eq!(super::or_list(&items(2)), "a or b");
        assert_eq!(super::joined(&items(3), "and"), "a, b and c");
    }

    #[test]
    fn shell_words_paste_back_as_one_argument() {
        assert_eq!(super::shell_word("price"), "price");
        assert_eq!(super::shell_word("a,b"), "a,b");
        assert_eq!(super::shell_word("--lr=0.1"), "--lr=0.1");
        assert_eq!(super::shell_word("price, USD"), "'price, USD'");
        assert_eq!(super::shell_word(""), "''");
        assert_eq!(super::shell_word("it's"), r"'it'\''s'");
    }

    use super::*;

    /// Fixed decimals, but where they would show one digit at most.
    #[test]
    fn small_values_keep_three_digits_where_decimals_would_lose_them() {
        assert_eq!(decimals(0.002681, 2), "0.00268");
        assert_eq!(decimals(0.0567, 2), "0.0567");
        assert_eq!(decimals(0.0994, 2), "0.0994");
        assert_eq!(decimals(0.0995, 2), "0.10");
        assert_eq!(decimals(12.345, 2), "12.35");
        assert_eq!(decimals(0.0049, 3), "0.0049");
        assert_eq!(decimals(0.00022, 3), "0.00022");
        assert_eq!(decimals(0.0123, 3), "0.012");
        // Zero, negatives and what is not a number as the decimals write them.
        assert_eq!(decimals(0.0, 2), "0.00");
        assert_eq!(decimals(-0.002, 2), "-0.00");
        assert_eq!(decimals(f64::NAN, 3), "NaN");
        assert_eq!(decimals(f64::INFINITY, 3), "inf");
    }

    #[test]
    fn counts_sizes_and_durations_read_as_words() {
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(0, "row"), "0 rows");
        assert_eq!(count(32, "thread"), "32 threads");
        assert_eq!(count(2, "process"), "2 processes");
        assert_eq!(r2(-0.00001), "0.0000");
        assert_eq!(r2(-0.00005), "-0.0001");
        assert_eq!(r2(0.98765), "0.9877");
        assert_eq!(r2(-9999.0), "-9999.0000");
        assert_eq!(r2(-3.4589998e41), "-3.4590e41");
        assert_eq!(bytes(1), "1 byte");
        assert_eq!(bytes(1023), "1023 bytes");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(103_079_215_108), "96.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
        assert_eq!(seconds(Duration::from_secs(600)), "600 s");
        assert_eq!(seconds(Duration::from_secs_f64(0.0001)), "0.0001 s");
    }

    /// Each unit begins at its threshold exactly: R² of -10,000 is in
    /// exponent form, 1024 bytes are 1 KiB and 1024 KiB are 1 MiB.
    #[test]
    fn units_change_at_their_thresholds() {
        assert_eq!(r2(-10_000.0), "-1.0000e4");
        assert_eq!(r2(-9999.99994), "-9999.9999");
        // One that four decimals round to five digits is in exponent form.
        assert_eq!(r2(-9999.99996), "-1.0000e4");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1024 * 1024), "1.0 MiB");
        // A size that one decimal rounds up to 1024 is in the next unit.
        assert_eq!(bytes(1024 * 1024 - 1), "1.0 MiB");
        assert_eq!(bytes(1024 * 1024 - 52), "1023.9 KiB");
    }
}
