//! Any bytes given to the CSV reader give a table or an error, never a panic;
//! a table's every cell is finite and the columns line up.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shadertrain::data::Table;

fuzz_target!(|bytes: &[u8]| {
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
