//! The store layer's error enum.
use std::path::PathBuf;

/// Everything the store can fail with. Expected outcomes (no message, offset moved) are values of
/// [`super::GetStatus`], not errors.
#[derive(thiserror::Error, Debug)]
pub enum StoreError {
    #[error("disk full: {0}")]
    DiskFull(String),
    /// The inner error's message names the file.
    #[error("I/O error: {0}")]
    Io(std::io::Error),
    #[error("corrupt data in {path} at offset {offset}: {reason}")]
    Corrupt { path: PathBuf, offset: i64, reason: String },
    #[error("message too large for the commit log (see StoreConfig::max_message_size)")]
    MessageTooLarge,
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    #[error("flush to disk did not complete within the sync flush timeout")]
    FlushTimeout,
    #[error("metadata store error: {0}")]
    Meta(String),
    #[error("cannot open data directory {dir}: {reason}")]
    OpenFailed { dir: PathBuf, reason: String },
    #[error("the store is shut down")]
    Shutdown,
    /// A slave's store takes only its master's bytes.
    #[error("the broker is a slave: messages are written to its master only")]
    ReadOnly,
}

impl StoreError {
    /// Whether the same put can never succeed (the message itself is refused), as opposed to a
    /// condition that may pass (disk full, I/O, shutdown).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::MessageTooLarge | StoreError::InvalidMessage(_))
    }

    /// Map an I/O error on `path`, turning ENOSPC into [`StoreError::DiskFull`].
    pub fn io(path: &std::path::Path, e: std::io::Error) -> StoreError {
        if e.raw_os_error() == Some(libc::ENOSPC) {
            StoreError::DiskFull(format!("{}: {e}", path.display()))
        } else {
            StoreError::Io(std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
        }
    }
}
