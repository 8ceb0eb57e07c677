//! Dates and times read as numbers (`train --date`): a cell such as
//! `2024-03-01` or `2024-03-01T14:30:00Z` becomes the days since
//! 1970-01-01 00:00 UTC, a time of day as the day's fraction, so that a
//! network sees a date's place in time as one number.
//!
//! The forms read are ISO 8601's: `YYYY-MM-DD`, then optionally `T` (or
//! `t`, or a space) and `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff…`, then
//! optionally `Z` or an offset `±HH:MM`, `±HHMM` or `±HH` (the time is
//! that far ahead of UTC, so it is taken off). A date and time without a
//! zone are read as UTC. The whitespace around a cell is trimmed, as for
//! numbers.

/// The days since 1970-01-01 00:00 UTC of the date (and time) `cell`, or
/// why it is not one.
pub fn days(cell: &[u8]) -> Result<f64, String> {
    let text = cell.trim_ascii();
    let shown = || super::shown_cell(&String::from_utf8_lossy(text));
    let not_a_date = || {
        format!(
            "'{}' is not a date; expected YYYY-MM-DD, optionally with a time such as T14:30:00 and a zone such as Z or +01:00",
            shown()
        )
    };
    let (date, rest) = text.split_at_checked(10).ok_or_else(not_a_date)?;
    let (y, m, d) = match date {
        [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1] => (
            digits(&[*y0, *y1, *y2, *y3]),
            digits(&[*m0, *m1]),
            digits(&[*d0, *d1]),
        ),
        _ => return Err(not_a_date()),
    };
    let (Some(y), Some(m), Some(d)) = (y, m, d) else {
        return Err(not_a_date());
    };
    if !(1..=12).contains(&m) {
        return Err(format!(
            "'{}' is not a date: there is no month {m}; expected 01 to 12",
            shown()
        ));
    }
    if d < 1 || d > month_days(y, m) {
        return Err(format!(
            "'{}' is not a date: {y} has no day {d} in month {m}",
            shown()
        ));
    }
    let seconds = match rest {
        [] => 0.0,
        [b'T' | b't' | b' ', time @ ..] => time_of_day(time)
            .ok_or_else(not_a_date)?
            .map_err(|why| format!("'{}' is not a date: {why}", shown()))?,
        _ => return Err(not_a_date()),
    };
    Ok(civil_days(y as i64, m, d) as f64 + seconds / 86_400.0)
}

/// The seconds since midnight UTC of `HH:MM[:SS[.fff…]][zone]` (a
/// fraction only after the seconds): `None` where the text is not of that
/// form, an error where a part is out of range.
fn time_of_day(time: &[u8]) -> Option<Result<f64, String>> {
    let (hm, rest) = time.split_at_checked(5)?;
    let [h0, h1, b':', m0, m1] = hm else {
        return None;
    };
    let (h, m) = (digits(&[*h0, *h1])?, digits(&[*m0, *m1])?);
    let (s, fraction, zone) = match rest {
        [b':', s0, s1, b'.', rest @ ..] => {
            let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if n == 0 {
                return None;
            }
            let text = std::str::from_utf8(&rest[..n]).ok()?;
            let fraction = format!("0.{text}").parse::<f64>().ok()?;
            (digits(&[*s0, *s1])?, fraction, &rest[n..])
        }
        [b':', s0, s1, rest @ ..] => (digits(&[*s0, *s1])?, 0.0, rest),
        _ => (0, 0.0, rest),
    };
    let offset = match zone_seconds(zone)? {
        Ok(offset) => offset,
        Err(why) => return Some(Err(why)),
    };
    if h > 23 || m > 59 || s > 59 {
        return Some(Err(format!(
            "{h:02}:{m:02}:{s:02} is not a time of day; expected hours 00 to 23, minutes and seconds 00 to 59"
        )));
    }
    let seconds = (h * 3600 + m * 60 + s) as f64;
    Some(Ok(seconds + fraction - offset))
}

/// The seconds a zone suffix puts the time ahead of UTC: 0 for none or
/// `Z`, ±(HH·3600 + MM·60) for `±HH:MM`, `±HHMM` or `±HH`; `None` for
/// anything else, an error for hours past 23 or minutes past 59.
fn zone_seconds(zone: &[u8]) -> Option<Result<f64, String>> {
    let (sign, rest) = match zone {
        [] | [b'Z' | b'z'] => return Some(Ok(0.0)),
        [b'+', rest @ ..] => (1.0, rest),
        [b'-', rest @ ..] => (-1.0, rest),
        _ => return None,
    };
    let (h, m) = match rest {
        [h0, h1] => (digits(&[*h0, *h1])?, 0),
        [h0, h1, m0, m1] | [h0, h1, b':', m0, m1] => (digits(&[*h0, *h1])?, digits(&[*m0, *m1])?),
        _ => return None,
    };
    if h > 23 || m > 59 {
        let zone = String::from_utf8_lossy(zone);
        return Some(Err(format!(
            "{zone} is not a zone offset; expected hours 00 to 23 and minutes 00 to 59"
        )));
    }
    Some(Ok(sign * (h * 3600 + m * 60) as f64))
}

/// The number `bytes` write in decimal digits, if they are all digits.
fn digits(bytes: &[u8]) -> Option<u32> {
    (bytes.iter()).try_fold(0u32, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + (b - b'0') as u32)
    })
}

/// The days in month `m` (1 to 12) of year `y` of the Gregorian calendar.
fn month_days(y: u32, m: u32) -> u32 {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The days from 1970-01-01 to `y-m-d` of the proleptic Gregorian
/// calendar. Counted in years that start on March 1, so that a leap day
/// ends its year: such a year's day of the year is (153·(m − 3) + 2)/5 +
/// d − 1 for months 3 to 12 (and 13, 14 for January and February), and
/// 400 years are 146,097 days; 719,468 is 0000-03-01's distance from
/// 1970-01-01.
fn civil_days(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let month_from_march = (m as i64 + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + d as i64 - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01 falls on, as `YYYY-MM-DD` (its
/// time of day left out); none outside the years 0 to 9999, which the
/// form cannot write. `civil_days` backwards: the day of its 400-year
/// era, then the year of the era that starts on March 1, then the month.
pub fn text(days: f64) -> Option<String> {
    const FIRST: f64 = -719_528.0; // 0000-01-01
    const PAST_LAST: f64 = 2_932_897.0; // 10000-01-01
    if !(FIRST..PAST_LAST).contains(&days) {
        return None;
    }
    let z = days.floor() as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let d = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let m = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let y = year_of_era + era * 400 + i64::from(m <= 2);
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_days_since_1970() {
        let cases: [(&str, f64); 12] = [
            ("1970-01-01", 0.0),
            ("1970-01-02", 1.0),
            ("1969-12-31", -1.0),
            ("2000-01-01", 10_957.0),
            ("2000-02-29", 11_016.0),
            ("2000-03-01", 11_017.0),
            ("2024-02-29", 19_782.0),
            ("1900-03-01", -25_508.0),
            (" 2024-03-01 ", 19_783.0),
            ("2024-03-01T12:00", 19_783.5),
            ("2024-03-01 06:00:00Z", 19_783.25),
            ("2024-03-01T02:00:00+02:00", 19_783.0),
        ];
        for (cell, want) in cases {
            assert_eq!(days(cell.as_bytes()), Ok(want), "{cell}");
        }
        // Each day of 400 years, one after the other: 146,097 of them.
        let mut n = civil_days(2000, 1, 1);
        for y in 2000..2400 {
            for m in 1..=12 {
                for d in 1..=month_days(y, m) {
                    assert_eq!(civil_days(y as i64, m, d), n, "{y}-{m}-{d}");
                    let back = text(n as f64 + 0.75).expect("a date of the years 0 to 9999");
                    assert_eq!(back, format!("{y:04}-{m:02}-{d:02}"));
                    n += 1;
                }
            }
        }
        assert_eq!(n - civil_days(2000, 1, 1), 146_097);
        // The form's ends, and past them.
        assert_eq!(text(-719_528.0).as_deref(), Some("0000-01-01"));
        assert_eq!(text(2_932_896.5).as_deref(), Some("9999-12-31"));
        assert_eq!(text(-1.5).as_deref(), Some("1969-12-30"));
        assert_eq!(
            (text(-719_528.5), text(2_932_897.0), text(1e30)),
            (None, None, None)
        );
    }

    #[test]
    fn times_zones_and_fractions() {
        // In seconds from 2024-03-01T12:00Z, to a microsecond (a day
        // count near 2·10⁴ holds about 3·10⁻¹² of a day, 0.3 µs).
        let at = |cell: &str| (days(cell.as_bytes()).unwrap() - 19_783.5) * 86_400.0;
        let near = |cell: &str, want: f64| {
            let got = at(cell);
            assert!((got - want).abs() < 1e-6, "{cell}: {got} s, not {want} s");
        };
        near("2024-03-01T12:00:00", 0.0);
        near("2024-03-01t12:00:00.5", 0.5);
        near("2024-03-01T12:00:07.25", 7.25);
        near("2024-03-01T12:00-0130", 5_400.0);
        near("2024-03-01T12:00:00-01", 3_600.0);
        near("2024-03-01T12:00z", 0.0);
        // The day before, where an offset crosses midnight.
        near("2024-03-01T00:30+01:00", at("2024-02-29T23:30Z"));
        near("2024-02-29T23:30Z", -12.5 * 3_600.0);
    }

    #[test]
    fn what_is_not_a_date_says_why() {
        for cell in [
            "",
            "2024",
            "2024-3-01",
            "2024/03/01",
            "01-03-2024",
            "2024-03-01x",
            "2024-03-01T",
            "2024-03-01T12",
            "2024-03-01T12:00:0",
            "2024-03-01T12:00.",
            "2024-03-01T12:00+1",
            "2024-03-01T12:00 Z",
            "20240301",
            "abcd-ef-gh",
            "2024-03-01T12:00.5",
        ] {
            let err = days(cell.as_bytes()).unwrap_err();
            assert!(
                err.contains("is not a date; expected YYYY-MM-DD"),
                "{cell}: {err}"
            );
        }
        let err = days(b"2023-02-29").unwrap_err();
        assert_eq!(
            err,
            "'2023-02-29' is not a date: 2023 has no day 29 in month 2"
        );
        let err = days(b"2024-13-01").unwrap_err();
        assert_eq!(
            err,
            "'2024-13-01' is not a date: there is no month 13; expected 01 to 12"
        );
        assert!(days(b"2024-00-10")
            .unwrap_err()
            .contains("there is no month 0;"));
        let err = days(b"2024-03-01T12:00+24:00").unwrap_err();
        let says = ": +24:00 is not a zone offset; expected hours 00 to 23 and minutes 00 to 59";
        assert!(err.ends_with(says), "{err}");
        assert!(days(b"2024-03-01T12:00-0560")
            .unwrap_err()
            .contains("-0560 is not a zone offset"));
        assert!(days(b"2024-04-31").is_err() && days(b"2024-01-00").is_err());
        let err = days(b"2024-03-01T24:00").unwrap_err();
        assert!(
            err.starts_with("'2024-03-01T24:00' is not a date: 24:00:00 is not a time of day"),
            "{err}"
        );
        assert!(days(b"2024-03-01T12:60").is_err() && days(b"2024-03-01T12:00:60").is_err());
    }
}
