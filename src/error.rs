//! Every failure the library reports, with the context a user needs to act:
//! the file, line and column of bad data, the epoch of a divergence, the
//! kernel or buffer behind a device error.

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Options that cannot work together, caught before any work starts.
    #[error("{0}")]
    Config(String),

    /// Bad data in a CSV file. `line` is 1-based and counts the header;
    /// `column` is 1-based, 0 when the problem is the whole line.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Csv {
        path: PathBuf,
        line: u64,
        column: usize,
        message: String,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A model file that is not what shadertrain writes.
    #[error("{}: {message}", path.display())]
    ModelFile { path: PathBuf, message: String },

    /// A picture that could not be drawn (the file is not written).
    #[error("{}: could not draw the plot: {message}", path.display())]
    Plot { path: PathBuf, message: String },

    #[error("diverged at epoch {epoch} (loss = {loss}, lr = {lr}); try a smaller --lr")]
    Diverged { epoch: usize, loss: f64, lr: f64 },

    #[error("no suitable GPU adapter: {0}")]
    NoAdapter(String),

    #[error("the job needs {need} bytes of {what}, but the adapter allows {have}")]
    TooLarge { what: String, need: u64, have: u64 },

    #[error("GPU validation error in {label}: {message}")]
    Validation { label: String, message: String },

    #[error("GPU out of memory creating {label}{}", need.map_or(String::new(), |n| format!(": the job needs {n} bytes of device memory in all (wgpu does not report how much the adapter has)")))]
    OutOfMemory { label: String, need: Option<u64> },

    #[error("GPU device lost: {0}")]
    DeviceLost(String),

    #[error("GPU error: {0}")]
    Device(String),
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub fn model_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::ModelFile {
            path: path.into(),
            message: message.into(),
        }
    }
}
