//! Reading the files tokenconf reads (suites, targets, schemas, secret files, CA certificates,
//! recordings, earlier runs' summary.json): only regular files, and never more than a limit, so `/dev/zero` or a 10 GB log named by
//! mistake is a clear error instead of memory growing until allocation fails.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// What a file is for, and how large it may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Suite,
    Targets,
    Schema,
    SecretFile,
    CaCert,
    /// A recording's index, cassette or shape.
    Recording,
    /// An earlier run's summary.json (`report --history`).
    Summary,
    /// An expected-findings file (`--expected`).
    Expected,
    /// A known-deviations file (`--known-deviations`, or a built-in one).
    KnownDeviations,
    /// A vendor page's stored passages (`specs/<vendor>/sources/`).
    StoredSource,
}

impl FileKind {
    /// Far above any real file of the kind; small enough that a wrong file fails fast.
    pub fn limit(self) -> u64 {
        match self {
            // 100,000 cases of a few hundred bytes each fit; parsed, such a file takes a few GB.
            FileKind::Suite => 64 << 20,
            FileKind::Targets | FileKind::Schema => 4 << 20,
            FileKind::Expected | FileKind::KnownDeviations | FileKind::StoredSource => 4 << 20,
            FileKind::SecretFile => 1 << 20,
            FileKind::CaCert => 4 << 20,
            // A cassette holds one case's exchanges; an index, one line per case.
            FileKind::Recording => 64 << 20,
            // 200,000 cases take about 25 MB.
            FileKind::Summary => 256 << 20,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Suite => "suite file",
            FileKind::Targets => "targets file",
            FileKind::Schema => "schema",
            FileKind::SecretFile => "secret file",
            FileKind::CaCert => "CA certificate file",
            FileKind::Recording => "recording file",
            FileKind::Summary => "summary.json",
            FileKind::Expected => "expected-findings file",
            FileKind::KnownDeviations => "known-deviations file",
            FileKind::StoredSource => "stored vendor page",
        }
    }
}

/// Why a named file could not be used; its `Display` names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub path: PathBuf,
    /// Without the path: "is not a regular file", "is larger than …".
    pub reason: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

impl std::error::Error for ReadError {}

impl From<ReadError> for crate::error::ConfigError {
    fn from(e: ReadError) -> Self {
        crate::error::ConfigError::File {
            path: e.path,
            message: e.reason,
        }
    }
}

/// The bytes of `path`, refusing anything but a regular file and anything above `kind`'s limit.
pub fn read_bytes(path: &Path, kind: FileKind) -> Result<Vec<u8>, ReadError> {
    let fail = |reason: String| ReadError {
        path: path.to_path_buf(),
        reason,
    };
    let limit = kind.limit();
    // Checked before opening: opening a FIFO would block until someone writes to it.
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(fail(format!(
            "a {} must be a regular file, not {}",
            kind.name(),
            what_it_is(&meta)
        )));
    }
    if meta.len() > limit {
        return Err(fail(too_large(kind, meta.len())));
    }
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    // What was opened, checked again: the path may have been swapped since.
    let opened = file
        .metadata()
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    if !opened.is_file() {
        return Err(fail(format!(
            "a {} must be a regular file, not {}",
            kind.name(),
            what_it_is(&opened)
        )));
    }
    // Sized at once: grown as it is read, a large file was copied several times over.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0) + 1);
    // Capped again while reading: the file may grow between the check and the read.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| fail(format!("cannot read: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(fail(too_large(kind, bytes.len() as u64)));
    }
    Ok(bytes)
}

/// The text of `path` (as [`read_bytes`]); text that is not UTF-8 is an error naming the line
/// and byte offset of the first bad byte.
pub fn read_text(path: &Path, kind: FileKind) -> Result<String, ReadError> {
    let bytes = read_bytes(path, kind)?;
    String::from_utf8(bytes).map_err(|e| ReadError {
        path: path.to_path_buf(),
        reason: not_utf8(e.as_bytes(), e.utf8_error().valid_up_to()),
    })
}

/// "is not UTF-8 text: line 3 has a byte that is not (byte offset 57)".
fn not_utf8(bytes: &[u8], at: usize) -> String {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = at
        - before
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |i| i + 1)
        + 1;
    format!(
        "is not UTF-8 text: the first bad byte is at line {line}, byte {column} of the line (byte offset {at}); save the file as UTF-8"
    )
}

fn too_large(kind: FileKind, size: u64) -> String {
    let advice = match kind {
        FileKind::Suite => "; split its cases over several files",
        _ => "",
    };
    format!(
        "is larger than the {} limit for a {} ({} bytes or more){advice}",
        human(kind.limit()),
        kind.name(),
        size
    )
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else {
        format!("{bytes} bytes")
    }
}

fn what_it_is(meta: &std::fs::Metadata) -> &'static str {
    if meta.is_dir() {
        return "a folder";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a pipe";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    "a special file"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tokenconf-input-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[cfg(unix)]
    #[test]
    fn a_device_is_refused_without_reading_it() {
        for kind in [FileKind::Suite, FileKind::Schema, FileKind::CaCert] {
            let e = read_bytes(Path::new("/dev/zero"), kind).unwrap_err();
            assert!(e.reason.contains("regular file"), "{e}");
            assert!(e.reason.contains("a device"), "{e}");
            assert!(e.to_string().starts_with("/dev/zero: "), "{e}");
        }
    }

    #[test]
    fn a_folder_is_refused() {
        let dir = scratch("folder");
        let e = read_text(&dir, FileKind::Targets).unwrap_err();
        assert!(e.reason.contains("not a folder"), "{e}");
    }

    #[test]
    fn a_file_above_the_limit_is_refused_naming_the_limit() {
        let dir = scratch("large");
        let big = dir.join("big.pem");
        std::fs::write(
            &big,
            vec![b'a'; (FileKind::SecretFile.limit() + 1) as usize],
        )
        .unwrap();
        let e = read_bytes(&big, FileKind::SecretFile).unwrap_err();
        assert!(e.reason.contains("1 MiB limit for a secret file"), "{e}");
        let ok = dir.join("ok.pem");
        std::fs::write(&ok, b"fine").unwrap();
        assert_eq!(read_bytes(&ok, FileKind::SecretFile).unwrap(), b"fine");
    }

    #[test]
    fn text_that_is_not_utf8_names_the_line_and_offset_of_the_first_bad_byte() {
        let dir = scratch("latin1");
        let f = dir.join("suite.yaml");
        std::fs::write(&f, b"api: x\nvars:\n  n: caf\xe9\n").unwrap();
        let e = read_text(&f, FileKind::Suite).unwrap_err();
        assert!(e.reason.contains("line 3"), "{e}");
        assert!(e.reason.contains("byte offset 21"), "{e}");
        assert!(e.reason.contains("byte 9 of the line"), "{e}");
    }

    #[test]
    fn a_large_file_reads_whole_and_a_bad_byte_deep_in_it_is_placed() {
        let dir = scratch("large-text");
        let f = dir.join("big.yaml");
        let mut bytes: Vec<u8> = (0..3 * (1 << 20) + 7)
            .map(|i| {
                if i % 80 == 79 {
                    b'\n'
                } else {
                    b'a' + (i % 26) as u8
                }
            })
            .collect();
        std::fs::write(&f, &bytes).unwrap();
        // Compared without printing megabytes when they differ.
        assert!(
            read_bytes(&f, FileKind::Suite).unwrap() == bytes,
            "read whole"
        );
        let at = 2 * (1 << 20) + 85;
        bytes[at] = 0xe9;
        std::fs::write(&f, &bytes).unwrap();
        let e = read_text(&f, FileKind::Suite).unwrap_err();
        let (line, byte) = (at / 80 + 1, at % 80 + 1);
        assert!(
            e.reason.contains(&format!("line {line}, byte {byte} ")),
            "{e}"
        );
        assert!(e.reason.contains(&format!("byte offset {at})")), "{e}");
    }
}
