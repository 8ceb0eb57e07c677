//! Any bytes given to the CSV reader give a table or an error, never a panic;
//! a table's every cell is finite and the columns line up; and the rows cut
//! into pieces parsed on threads give what one piece gives.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shadertrain::data::Table;

/// A result as a comparable value: the header, the cells' bits and the
/// rows, or the error's text (file, line, column and message).
fn outcome(bytes: &[u8], pieces: usize) -> Result<(Vec<String>, Vec<u32>, usize), String> {
    match Table::parse_in(Path::new("fuzz.csv"), bytes, pieces, 1) {
        Ok(t) => Ok((t.header, t.cells.iter().map(|v| v.to_bits()).collect(), t.rows)),
        Err(e) => Err(e.to_string()),
    }
}

fuzz_target!(|bytes: &[u8]| {
    assert_eq!(outcome(bytes, 7), outcome(bytes, 1));
    if let Ok(table) = Table::parse(Path::new("fuzz.csv"), bytes) {
        assert_eq!(table.cells.len(), table.rows * table.header.len());
        assert!(table.cells.iter().all(|v| v.is_finite()));
        let names = table.header.clone();
        if let Ok(d) = table.clone().into_dataset(None) {
            assert_eq!(d.x.len(), d.rows * d.features);
        }
        let _ = table.select_named(&names[..names.len().saturating_sub(1)], "y");
    }
});
