//! Typed errors of the model crate.

use std::path::PathBuf;

/// A `Result` whose error is this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong reading logs, training, or loading and using a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A traffic-log line is not a valid record.
    #[error("{}:{line}: corrupt traffic record: {reason}", path.display())]
    CorruptRecord {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },

    /// A traffic-log record has a format version this build does not read.
    #[error("{}:{line}: traffic record format version {found}, expected {expected}", path.display())]
    RecordVersion {
        /// The log file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The version this build reads and writes.
        expected: u32,
        /// The version in the record.
        found: u32,
    },

    /// A record could not be built from an execution (inputs of different lengths).
    #[error("cannot build a traffic record: {0}")]
    InvalidExecution(String),

    /// The model file is not valid JSON, or lacks or garbles a field.
    #[error("{}: corrupt model file: {reason}", path.display())]
    CorruptModel {
        /// The model file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The model file was trained with another feature schema; it cannot score pairs built by
    /// this build.
    #[error(
        "{}: feature schema mismatch: expected schema v{expected_version} ({expected_hash}), \
         found v{found_version} ({found_hash}); retrain the model with this build",
        path.display()
    )]
    SchemaMismatch {
        /// The model file.
        path: PathBuf,
        /// Schema version of this build.
        expected_version: u32,
        /// Schema hash of this build.
        expected_hash: String,
        /// Schema version in the file.
        found_version: u32,
        /// Schema hash in the file.
        found_hash: String,
    },

    /// Training cannot proceed with these options or this data.
    #[error("cannot train: {0}")]
    Training(String),

    /// linfa rejected the data or the parameters.
    #[error("linfa: {0}")]
    Linfa(String),
}

impl Error {
    /// Returns `true` when the error is about a model file that must be replaced (retrained or
    /// re-copied), as opposed to an I/O problem that may pass.
    pub fn is_bad_model(&self) -> bool {
        matches!(
            self,
            Self::CorruptModel { .. } | Self::SchemaMismatch { .. }
        )
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
