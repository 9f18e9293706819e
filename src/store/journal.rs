//! An append-only journal of small records (one per line), used for POP state: checkpoints, acks,
//! invisible-time changes and cursors (see `core::pop`).
//!
//! Every [`Journal::append`] is one `write` to a file opened for appending, so a record is in the
//! OS page cache when the call returns: a killed process (`kill -9`) loses nothing appended. An OS
//! crash may lose what was not yet written back (like the commit log under ASYNC_FLUSH).
//! [`Journal::rewrite`] replaces the whole file with a snapshot (written beside it, fsynced, then
//! renamed over it), which keeps the file bounded. On open, a last line without its newline (a
//! torn write) is ignored; the caller decides what a line means.
use super::StoreError;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    bytes: AtomicU64,
}

impl Journal {
    /// Open (creating) the journal at `path`; returns it and every complete line it holds.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Vec<u8>>), StoreError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let mut lines = Vec::new();
        let mut good_len = 0u64;
        if let Ok(f) = File::open(path) {
            let mut r = BufReader::new(f);
            loop {
                let mut line = Vec::new();
                let n = r.read_until(b'\n', &mut line).map_err(|e| StoreError::io(path, e))?;
                if n == 0 || line.last() != Some(&b'\n') {
                    if n > 0 {
                        tracing::warn!(path = %path.display(), bytes = n, "journal ends with a torn record; ignored");
                    }
                    break;
                }
                good_len += n as u64;
                line.pop();
                lines.push(line);
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| StoreError::io(path, e))?;
        // Drop a torn tail so the next record starts on a line of its own.
        if file.metadata().map(|m| m.len()).unwrap_or(0) > good_len {
            file.set_len(good_len).map_err(|e| StoreError::io(path, e))?;
        }
        Ok((Journal { path: path.to_path_buf(), file: Mutex::new(file), bytes: AtomicU64::new(good_len) }, lines))
    }

    /// Append records (each must be free of newlines), in one write.
    pub fn append(&self, records: &[&[u8]]) -> Result<(), StoreError> {
        let mut buf = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum());
        for r in records {
            buf.extend_from_slice(r);
            buf.push(b'\n');
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&buf).map_err(|e| StoreError::io(&self.path, e))?;
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Replace the journal with these records (a snapshot of the live state).
    pub fn rewrite(&self, records: impl Iterator<Item = Vec<u8>>) -> Result<(), StoreError> {
        let tmp = self.path.with_extension("tmp");
        let mut total = 0u64;
        {
            let mut out = std::io::BufWriter::new(File::create(&tmp).map_err(|e| StoreError::io(&tmp, e))?);
            for mut r in records {
                r.push(b'\n');
                total += r.len() as u64;
                out.write_all(&r).map_err(|e| StoreError::io(&tmp, e))?;
            }
            let f = out.into_inner().map_err(|e| StoreError::io(&tmp, e.into_error()))?;
            f.sync_data().map_err(|e| StoreError::io(&tmp, e))?;
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::rename(&tmp, &self.path).map_err(|e| StoreError::io(&self.path, e))?;
        *f = OpenOptions::new().append(true).open(&self.path).map_err(|e| StoreError::io(&self.path, e))?;
        self.bytes.store(total, Ordering::Relaxed);
        Ok(())
    }

    /// Bytes in the journal now.
    pub fn len_bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_reopen_torn_tail_and_rewrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pop").join("journal");
        let (j, lines) = Journal::open(&p).unwrap();
        assert!(lines.is_empty());
        j.append(&[b"one", b"two"]).unwrap();
        drop(j);
        // A torn record at the end is ignored and cut.
        std::fs::OpenOptions::new().append(true).open(&p).unwrap().write_all(b"thr").unwrap();
        let (j, lines) = Journal::open(&p).unwrap();
        assert_eq!(lines, vec![b"one".to_vec(), b"two".to_vec()]);
        j.append(&[b"three"]).unwrap();
        let (_, lines) = Journal::open(&p).unwrap();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[2], b"three");
        j.rewrite(vec![b"snap".to_vec()].into_iter()).unwrap();
        j.append(&[b"after"]).unwrap();
        let (_, lines) = Journal::open(&p).unwrap();
        assert_eq!(lines, vec![b"snap".to_vec(), b"after".to_vec()]);
    }
}
