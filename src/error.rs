//! Every failure the library reports, with the context a user needs to act:
//! the file, line and column of bad data, the epoch of a divergence, the
//! kernel or buffer behind a device error.

use std::path::PathBuf;

use crate::units;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Options that cannot work together, caught before any work starts.
    #[error("{0}")]
    Config(String),

    /// Bad data in a CSV file. `line` is 1-based and counts the header;
    /// `column` is 1-based, 0 when the problem is the whole line, which is
    /// then printed as `FILE:LINE: …`.
    #[error("{}:{line}:{}{message}", path.display(), column_part(*column))]
    Csv {
        path: PathBuf,
        line: u64,
        column: usize,
        message: String,
    },

    /// A file that could not be read or written. The I/O error is part of
    /// the message and not also a `source()`, so an error chain printed
    /// with `{:#}` says it once.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },

    /// A model file that is not what shadertrain writes.
    #[error("{}: {message}", path.display())]
    ModelFile { path: PathBuf, message: String },

    /// A picture that could not be drawn (the file is not written).
    #[error("{}: could not draw the plot: {message}", path.display())]
    Plot { path: PathBuf, message: String },

    /// A loss that is not finite: at `epoch` after the updates at `lr`,
    /// or at epoch 0, before any update, where no rate led to it.
    #[error("{}", diverged(*epoch, *loss, *lr))]
    Diverged { epoch: usize, loss: f64, lr: f64 },

    #[error("no suitable GPU adapter: {0}")]
    NoAdapter(String),

    /// `--precision mixed` on an adapter without the cooperative matrices
    /// it needs: what the adapter lacks.
    #[error("--precision mixed: {0}")]
    NoMixed(String),

    /// A buffer larger than the adapter's limits allow
    /// (max_storage_buffer_binding_size, max_buffer_size); `fewer_rows`
    /// where fewer rows at a time would also fit.
    #[error("the job needs {} of {what}, but the adapter allows {}; use fewer hidden units (train's --hidden, bench's shapes) or features{}", units::bytes(*need), units::bytes(*have), match fewer_rows {
        true => ", or fewer rows at a time (train's --batch-size)",
        false => "",
    })]
    TooLarge {
        what: String,
        need: u64,
        have: u64,
        fewer_rows: bool,
    },

    /// A job larger than the machine's memory, refused before allocating.
    /// `need` is `None` when the size overflowed while it was counted;
    /// `have` is `None` where the available memory is unknown.
    #[error("{what} needs {} of memory, but {}; {advice}",
        need.map_or_else(|| "more than 16 EiB".to_string(), |n| format!("about {}", units::bytes(n))),
        have.map_or_else(|| "no process can address that much".to_string(), |h| format!("only {} is available", units::bytes(h))))]
    NotEnoughMemory {
        what: String,
        need: Option<u64>,
        have: Option<u64>,
        advice: String,
    },

    #[error("GPU validation error in {label}: {message}")]
    Validation { label: String, message: String },

    #[error("GPU out of memory creating {label}{}", need.map_or(String::new(), |n| format!(": the job needs {} of device memory in all (wgpu does not report how much the adapter has)", units::bytes(n))))]
    OutOfMemory { label: String, need: Option<u64> },

    #[error("GPU device lost: {0}")]
    DeviceLost(String),

    #[error("GPU error: {0}")]
    Device(String),
}

/// What follows `FILE:LINE:`: `COLUMN: ` for a cell, a space for a whole
/// line.
fn column_part(column: usize) -> String {
    if column == 0 {
        " ".to_string()
    } else {
        format!("{column}: ")
    }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            error: source,
        }
    }

    pub fn model_file(path: impl Into<PathBuf>, message: impl Into<String>) -> Error {
        Error::ModelFile {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// [`Error::Diverged`]'s message.
fn diverged(epoch: usize, loss: f64, lr: f64) -> String {
    match epoch {
        0 => format!("the loss before any update is {loss}, so no epoch trained (no learning rate led there): the rows or the starting parameters hold a value that is not finite, or values too large for f32's products"),
        _ => format!("diverged at epoch {epoch} (loss = {loss}, lr = {}); try a smaller --lr", crate::optim::short(lr)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_error_names_the_line_and_the_column_where_there_is_one() {
        let csv = |column| Error::Csv {
            path: "d.csv".into(),
            line: 3,
            column,
            message: "expected 2 fields".into(),
        };
        assert_eq!(csv(0).to_string(), "d.csv:3: expected 2 fields");
        assert_eq!(csv(2).to_string(), "d.csv:3:2: expected 2 fields");
    }

    #[test]
    fn size_errors_say_what_is_needed_then_what_there_is() {
        let large = |fewer_rows| Error::TooLarge {
            what: "d_x".into(),
            need: 3 << 30,
            have: 2 << 30,
            fewer_rows,
        };
        assert_eq!(
            large(false).to_string(),
            "the job needs 3.0 GiB of d_x, but the adapter allows 2.0 GiB; use fewer hidden units (train's --hidden, bench's shapes) or features"
        );
        assert!(large(true)
            .to_string()
            .ends_with("or features, or fewer rows at a time (train's --batch-size)"));
        let memory = |need, have| Error::NotEnoughMemory {
            what: "the rows".into(),
            need,
            have,
            advice: "use fewer rows".into(),
        };
        assert_eq!(
            memory(Some(3 << 30), Some(1 << 30)).to_string(),
            "the rows needs about 3.0 GiB of memory, but only 1.0 GiB is available; use fewer rows"
        );
        assert_eq!(
            memory(None, None).to_string(),
            "the rows needs more than 16 EiB of memory, but no process can address that much; use fewer rows"
        );
    }

    #[test]
    fn a_divergence_names_its_epoch_loss_and_rate() {
        let diverged = Error::Diverged {
            epoch: 4,
            loss: f64::INFINITY,
            lr: 0.5,
        };
        assert_eq!(
            diverged.to_string(),
            "diverged at epoch 4 (loss = inf, lr = 0.5); try a smaller --lr"
        );
        let before = Error::Diverged {
            epoch: 0,
            loss: f64::NAN,
            lr: 0.5,
        };
        assert!(before
            .to_string()
            .starts_with("the loss before any update is NaN, so no epoch trained"));
    }
}
