//! [`TrafficLogWriter`]: appends block records to size-rotated JSON Lines files.

use super::BlockRecord;
use crate::error::{Error, Result};
use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Write},
    path::{Path, PathBuf},
};

/// File names are `traffic-NNNNNN.jsonl`, numbered in write order.
pub(crate) const FILE_PREFIX: &str = "traffic-";
/// Extension of log files.
pub(crate) const FILE_SUFFIX: &str = ".jsonl";

/// Where and how to write traffic logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrafficLogOptions {
    /// A file is closed and a new one started once the next record would take it past this
    /// size. A single record larger than this still goes whole into a file of its own.
    pub max_file_bytes: u64,
}

impl Default for TrafficLogOptions {
    /// 64 MiB files: a few hundred mainnet blocks each, quick to read back and to ship.
    fn default() -> Self {
        Self {
            max_file_bytes: 64 << 20,
        }
    }
}

/// Appends [`BlockRecord`]s to `traffic-NNNNNN.jsonl` files in one folder, rotating by size.
///
/// A record is written whole or not at all from the caller's view: `append` returns an error
/// when it cannot be written. Records are buffered; [`TrafficLogWriter::flush`] pushes them to
/// the file and syncs it, rotation does the same to the file it closes, and dropping the writer
/// flushes (errors on drop are logged, since they cannot be returned). A writer never
/// overwrites: it starts after the highest-numbered file already in the folder.
#[derive(Debug)]
pub struct TrafficLogWriter {
    dir: PathBuf,
    options: TrafficLogOptions,
    next_seq: u64,
    current: Option<Current>,
}

#[derive(Debug)]
struct Current {
    path: PathBuf,
    out: BufWriter<File>,
    bytes: u64,
}

impl TrafficLogWriter {
    /// Opens (creating if needed) a log folder with the default options.
    pub fn create(dir: impl AsRef<Path>) -> Result<Self> {
        Self::with_options(dir, TrafficLogOptions::default())
    }

    /// Opens (creating if needed) a log folder.
    pub fn with_options(dir: impl AsRef<Path>, options: TrafficLogOptions) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
        let next_seq = log_files(&dir)?
            .last()
            .and_then(|p| file_seq(p))
            .map_or(0, |s| s + 1);
        Ok(Self {
            dir,
            options,
            next_seq,
            current: None,
        })
    }

    /// The folder written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file currently written, if any record was appended since the last rotation.
    pub fn current_file(&self) -> Option<&Path> {
        self.current.as_ref().map(|c| c.path.as_path())
    }

    /// Appends one record as one line, rotating first if the file would grow past the limit.
    pub fn append(&mut self, record: &BlockRecord) -> Result<()> {
        let mut line = serde_json::to_vec(record).map_err(|e| Error::CorruptRecord {
            path: self.dir.clone(),
            line: 0,
            reason: format!("cannot serialize block {}: {e}", record.number),
        })?;
        line.push(b'\n');
        let len = line.len() as u64;
        if let Some(current) = &self.current
            && current.bytes > 0
            && current.bytes + len > self.options.max_file_bytes
        {
            self.rotate()?;
        }
        if self.current.is_none() {
            self.current = Some(self.open_next()?);
        }
        let Some(current) = self.current.as_mut() else {
            unreachable!("a file was just opened")
        };
        current
            .out
            .write_all(&line)
            .map_err(Error::io(&current.path))?;
        current.bytes += len;
        Ok(())
    }

    /// Writes buffered records to the file and syncs it to disk.
    pub fn flush(&mut self) -> Result<()> {
        if let Some(current) = &mut self.current {
            current.out.flush().map_err(Error::io(&current.path))?;
            current
                .out
                .get_ref()
                .sync_data()
                .map_err(Error::io(&current.path))?;
        }
        Ok(())
    }

    /// Flushes and closes the current file; the next record starts a new one.
    pub fn rotate(&mut self) -> Result<()> {
        self.flush()?;
        self.current = None;
        Ok(())
    }

    fn open_next(&mut self) -> Result<Current> {
        let path = self
            .dir
            .join(format!("{FILE_PREFIX}{:06}{FILE_SUFFIX}", self.next_seq));
        self.next_seq += 1;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        Ok(Current {
            path,
            out: BufWriter::with_capacity(1 << 16, file),
            bytes: 0,
        })
    }
}

impl Drop for TrafficLogWriter {
    fn drop(&mut self) {
        if let Err(err) = self.flush() {
            tracing::error!(dir = %self.dir.display(), cause = %err, "traffic log flush failed on drop");
        }
    }
}

/// The log files of a folder, in write order.
pub(crate) fn log_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(Error::io(dir))? {
        let path = entry.map_err(Error::io(dir))?.path();
        if path.is_file() && file_seq(&path).is_some() {
            files.push(path);
        }
    }
    files.sort_by_key(|p| file_seq(p));
    Ok(files)
}

fn file_seq(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    name.strip_prefix(FILE_PREFIX)?
        .strip_suffix(FILE_SUFFIX)?
        .parse()
        .ok()
}
