//! Any bytes given to the model and checkpoint loaders give a model or an
//! error, never a panic; a model that loads saves back to bytes that load
//! to the same model.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use shadertrain::io::{checkpoint_from_bytes, model_from_bytes, model_to_bytes};

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz.safetensors");
    if let Ok(model) = model_from_bytes(path, bytes) {
        assert_eq!(model.params.len(), model.layout.len());
        let again = model_from_bytes(path, &model_to_bytes(&model).unwrap()).unwrap();
        assert_eq!(again, model);
    }
    let _ = checkpoint_from_bytes(path, bytes);
});
