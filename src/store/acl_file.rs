//! The ACL accounts file on disk: read (with a clear error naming the path), write atomically
//! (a temporary file renamed over it, so a reader never sees half a file), and its modification
//! time for the reload watcher.
use crate::config::acl::AclFile;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

/// Read and parse `path`.
pub fn read(path: &Path) -> Result<AclFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read the ACL file {}: {e}", path.display()))?;
    AclFile::parse(&text).map_err(|e| format!("ACL file {}: {e}", path.display()))
}

/// Write `file` to `path` (tmp file beside it, fsync, rename).
pub fn write(path: &Path, file: &AclFile) -> Result<(), String> {
    let err = |e: std::io::Error| format!("cannot write the ACL file {}: {e}", path.display());
    let tmp = path.with_extension("yml.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(err)?;
    f.write_all(file.to_yaml().as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The file's modification time and length (None when it cannot be read).
pub fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}
