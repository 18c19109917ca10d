//! [`TrafficLogReader`]: every record of a traffic-log folder, in write order.

use super::{BlockRecord, FORMAT_VERSION, writer::log_files};
use crate::error::{Error, Result};
use std::{
    fs::File,
    io::{BufRead, BufReader, Lines},
    path::{Path, PathBuf},
};

/// Reads the `traffic-NNNNNN.jsonl` files of a folder in order, one [`BlockRecord`] per line.
///
/// Strict: a line that does not parse, or has another [`FORMAT_VERSION`], is an error naming
/// the file and line. Blank lines are skipped.
#[derive(Debug)]
pub struct TrafficLogReader {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, Lines<BufReader<File>>, usize)>,
}

impl TrafficLogReader {
    /// Opens a log folder (or a single log file).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let files = if path.is_file() {
            vec![path.to_owned()]
        } else {
            log_files(path)?
        };
        Ok(Self {
            files: files.into_iter(),
            current: None,
        })
    }

    /// Reads every record.
    pub fn read_all(path: impl AsRef<Path>) -> Result<Vec<BlockRecord>> {
        Self::open(path)?.collect()
    }
}

impl Iterator for TrafficLogReader {
    type Item = Result<BlockRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match File::open(&path) {
                    Ok(file) => self.current = Some((path, BufReader::new(file).lines(), 0)),
                    Err(source) => return Some(Err(Error::Io { path, source })),
                }
            }
            let (path, lines, line_no) = self.current.as_mut()?;
            match lines.next() {
                None => self.current = None,
                Some(Err(source)) => {
                    let path = path.clone();
                    self.current = None;
                    return Some(Err(Error::Io { path, source }));
                }
                Some(Ok(line)) => {
                    *line_no += 1;
                    if line.trim().is_empty() {
                        continue;
                    }
                    return Some(parse_line(path, *line_no, &line));
                }
            }
        }
    }
}

fn parse_line(path: &Path, line: usize, text: &str) -> Result<BlockRecord> {
    let corrupt = |reason: String| Error::CorruptRecord {
        path: path.to_owned(),
        line,
        reason,
    };
    // The version is checked before the shape, so a future format reports its version
    // instead of whichever field changed.
    #[derive(serde::Deserialize)]
    struct Version {
        version: u32,
    }
    let version: Version = serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))?;
    if version.version != FORMAT_VERSION {
        return Err(Error::RecordVersion {
            path: path.to_owned(),
            line,
            expected: FORMAT_VERSION,
            found: version.version,
        });
    }
    serde_json::from_str(text).map_err(|e| corrupt(e.to_string()))
}
