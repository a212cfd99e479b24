//! The parse cache: each suite file's parsed model, kept under the user's cache folder and
//! keyed by the file's bytes, so an unchanged file is not parsed again. YAML parsing is most of
//! the time of `list`, `validate` and a run's start (10,000 cases: ~0.3 s parsing, ~25 ms
//! reading the cached model back). Nothing depends on it: a missing, unreadable or damaged
//! entry is a miss, and a folder that cannot be written is skipped without a word.
//!
//! Where: `$TOKENCONF_CACHE` if set (`off` turns the cache off), else `tokenconf` under the
//! platform's cache folder (`~/.cache` on Linux). One folder per build of tokenconf, since the
//! model's layout is the build's; the last used few are kept.
//!
//! What another user cannot do (security review F2): each entry holds the BLAKE3 hash of the text
//! it was parsed from, compared on read, so an entry for another text (a link or a copy under
//! this text's name) is a miss; entries are read only from a build folder that is ours and
//! private, checked on the folder opened, and neither the folder nor the entry is opened
//! through a link; a cache root that another user could change (it, a folder above it, or a
//! link on the way) is not used, with a warning.

use std::fs;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Once;

use super::model::{CaseFile, SuiteFile};
use super::yaml::{self, Spanned};

/// Build folders kept besides the current one: `cargo test` alone runs five programs that load
/// suites (one a fresh executable each time), beside a release and a debug binary.
const KEEP_BUILDS: usize = 7;
/// Entries in a build's folder before it is emptied: every edit of a suite adds one.
const MAX_ENTRIES: usize = 10_000;

/// The cache of one process, or none.
#[derive(Debug)]
pub struct ParseCache {
    dir: Option<PathBuf>,
    /// Why the cache the environment names is not used, to be shown once.
    warning: Option<String>,
    /// The folder is made (or trimmed) once per process, not at every entry written.
    prepared: Once,
    /// A folder read from is marked used once per process: builds are pruned by last use.
    used: Once,
}

impl ParseCache {
    /// The cache the environment names (see the module's doc).
    pub fn from_env() -> ParseCache {
        let root = match std::env::var_os("TOKENCONF_CACHE") {
            Some(v) if v == "off" => None,
            Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
            _ => dirs::cache_dir().map(|d| d.join("tokenconf")),
        };
        let refused = root.as_deref().and_then(open_to_others);
        let mut cache = match refused {
            Some(_) => ParseCache::at(None),
            None => ParseCache::at(root.as_ref().and_then(|root| Some(root.join(build_id()?)))),
        };
        cache.warning = refused.map(|why| {
            format!(
                "the parse cache is not used: {why}, so another user could change the models read \
                 from it; suites are parsed every time (point TOKENCONF_CACHE at a folder of your \
                 own, or set it to `off`)"
            )
        });
        cache
    }

    /// A cache kept in `dir` (used as given, no build folder), or none.
    pub fn at(dir: Option<PathBuf>) -> ParseCache {
        ParseCache {
            dir,
            warning: None,
            prepared: Once::new(),
            used: Once::new(),
        }
    }

    /// Why the cache the environment named is not used, if it is not.
    pub fn warning(&self) -> Option<&str> {
        self.warning.as_deref()
    }

    /// The model cached for a file holding `text`, read with its parts on several threads and
    /// on this one alone: the two must agree, a hit or a miss alike.
    #[cfg(test)]
    pub fn get(&self, text: &str) -> Option<SuiteFile> {
        let (file, frame) = self.entry(text)?;
        let spread = read_model(&Source::File(&file), &frame, true);
        let alone = read_model(&Source::File(&file), &frame, false);
        assert_eq!(format!("{spread:?}"), format!("{alone:?}"));
        spread
    }

    /// [`ParseCache::get`] in three steps, so a large file's parts are read and made into
    /// something on every core: `head` gets the model without its cases (and how many there
    /// are) and makes what all parts share (`S`) and what is kept (`U`); `part` makes something
    /// of each part of cases, on any thread; and `take` gets both, and what `part` made in the
    /// file's order, as it comes. A part that cannot be read ends them early and makes this a
    /// miss, whatever `take` made of them. With `spread` false the parts are read on this
    /// thread alone: the caller keeps the other cores busy with other files.
    pub fn get_with<S: Sync, U, T: Send, R>(
        &self,
        text: &str,
        spread: bool,
        head: impl FnOnce(SuiteFile, usize) -> (S, U),
        part: impl Fn(&S, Part) -> T + Sync,
        take: impl FnOnce(&S, U, &mut dyn Iterator<Item = T>) -> R,
    ) -> Option<R> {
        let (file, frame) = self.entry(text)?;
        read_streaming(&Source::File(&file), &frame, spread, head, part, take)
    }

    /// The entry for `text`, opened, and where its parts are, if it is ours, private and for
    /// this very text. Only its start is read here: its parts are read where they are made
    /// into something, each into a buffer its thread reuses (reading the whole entry first
    /// was a third of the time before a large file's parts were started on).
    fn entry(&self, text: &str) -> Option<(fs::File, Frame)> {
        let dir = self.dir.as_deref()?;
        let digest = digest(text);
        let folder = open_folder(dir)?;
        let file = open_entry(&folder, &entry_name(&digest))?;
        let meta = file.metadata().ok()?;
        // Checked on the file opened, not its path: nothing can be swapped in between.
        if !meta.is_file() || !private(&meta) {
            return None;
        }
        let len = usize::try_from(meta.len()).ok()?;
        let mut start = vec![0; len.min(START_LEN)];
        read_at(&file, &mut start, 0)?;
        let (stored, model) = start.split_at_checked(DIGEST_LEN)?;
        // The entry is for this very text, whatever its name or the path that led to it.
        if stored != digest.as_slice() {
            return None;
        }
        let frame = frame(model, len - DIGEST_LEN)?;
        self.used.call_once(|| mark_used(&folder));
        Some((file, frame))
    }

    /// Keeps `model`, parsed from `text`, if it reads back as itself; best effort.
    pub fn put(&self, text: &str, model: &mut SuiteFile) {
        let Some(dir) = self.dir.as_deref() else {
            return;
        };
        let digest = digest(text);
        let path = dir.join(entry_name(&digest));
        self.prepared.call_once(|| prepare(dir));
        let Some(json) = write_model(model) else {
            return;
        };
        // What JSON cannot hold (YAML's .inf and .nan) would come back as something else (a
        // condition gone): kept only if what reads back writes the same bytes again. That
        // catches it because every optional field is left out when absent (the null written for
        // a non-finite number reads back as absent, then is not written), and because the parser
        // makes no two models that write alike.
        // Framed as the reader frames it, from the start it reads.
        if frame(&json[..json.len().min(START_LEN - DIGEST_LEN)], json.len())
            .and_then(|frame| read_model(&Source::Bytes(&json), &frame, true))
            .and_then(|mut back| write_model(&mut back))
            .as_ref()
            != Some(&json)
        {
            return;
        }
        let _ = store(dir, &path, &digest, &json);
    }

    #[cfg(test)]
    pub(super) fn entry_path(&self, text: &str) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(entry_name(&digest(text))))
    }
}

/// Where part `i` of an entry's cases starts, in the entry's bytes.
#[cfg(test)]
pub(super) fn part_start(entry: &[u8], i: usize) -> usize {
    let frame = frame(&entry[DIGEST_LEN..], entry.len() - DIGEST_LEN).expect("an entry");
    DIGEST_LEN + frame.parts[i].start
}

/// Cases per part of an entry: a file with more is read on several threads. Small enough that
/// the last part read leaves the other cores idle briefly (of 10 parts of 1,000, one thread read
/// the last alone for a tenth of `list`'s time), large enough that a part's overhead is noise.
/// The index line must fit in [`START_LEN`]: at about 7 bytes a part, some 2 million cases in
/// one file; a larger file is not cached, only parsed each time.
const CASES_PER_PART: usize = 250;
/// The most of an entry read before its frame is known: its digest and its index line.
const START_LEN: usize = 64 * 1024;

/// An entry's model: an index line (the number of cases, then the length of each JSON that
/// follows), the suite without its cases, then its cases in parts of [`CASES_PER_PART`], each
/// compact JSON. The index says where each part is, so each is read on its own.
fn write_model(model: &mut SuiteFile) -> Option<Vec<u8>> {
    let cases = std::mem::take(&mut model.cases);
    let head = serde_json::to_vec(&*model);
    model.cases = cases;
    let mut body = head.ok()?;
    let mut index = format!("{} {}", model.cases.len(), body.len());
    for part in model.cases.chunks(CASES_PER_PART) {
        let start = body.len();
        serde_json::to_writer(&mut body, part).ok()?;
        index.push_str(&format!(" {}", body.len() - start));
    }
    index.push('\n');
    let mut out = index.into_bytes();
    out.extend_from_slice(&body);
    Some(out)
}

/// Where an entry's suite and parts of cases are, in its model's bytes.
struct Frame {
    head: Range<usize>,
    parts: Vec<Range<usize>>,
    count: usize,
}

/// The frame of a model of `len` bytes that starts with `start`, if its index line is whole,
/// the parts are as many as its number of cases makes, each long enough for its cases (so the
/// number of cases, which is reserved for before any part is read, is bounded by the entry's
/// size), and they end where the model does.
fn frame(start: &[u8], len: usize) -> Option<Frame> {
    let line_end = memchr::memchr(b'\n', start)?;
    let mut numbers = std::str::from_utf8(&start[..line_end])
        .ok()?
        .split(' ')
        .map(|n| n.parse::<usize>().ok());
    let count = numbers.next()??;
    let mut at = line_end + 1;
    let mut next = |n: usize| {
        let range = at..at.checked_add(n)?;
        at = range.end;
        Some(range)
    };
    let head = next(numbers.next()??)?;
    let parts = numbers.map(|n| next(n?)).collect::<Option<Vec<_>>>()?;
    // A JSON array of n values takes at least 2n + 1 bytes.
    let fits = |(i, part): (usize, &Range<usize>)| part.len() > 2 * part_len(i, count);
    let whole = parts.len() == count.div_ceil(CASES_PER_PART) && at == len;
    (whole && parts.iter().enumerate().all(fits)).then_some(Frame { head, parts, count })
}

/// How many cases part `i` of `count` holds.
fn part_len(i: usize, count: usize) -> usize {
    count.saturating_sub(i * CASES_PER_PART).min(CASES_PER_PART)
}

/// A part of an entry's cases.
pub type Part = Vec<Spanned<Box<CaseFile>>>;

/// Where an entry's model is read from: bytes in memory, or the entry's file (after its digest).
enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a fs::File),
}

impl Source<'_> {
    /// The model's bytes in `range`, read into `buf` if they are in the file.
    fn read<'b>(&'b self, range: Range<usize>, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
        match self {
            Source::Bytes(bytes) => bytes.get(range),
            Source::File(file) => {
                buf.clear();
                buf.resize(range.len(), 0);
                read_at(file, buf, DIGEST_LEN + range.start)?;
                Some(buf)
            }
        }
    }
}

/// Fills `buf` from `file` at `offset`; `None` if the file ends first.
#[cfg(unix)]
fn read_at(file: &fs::File, buf: &mut [u8], offset: usize) -> Option<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, u64::try_from(offset).ok()?).ok()
}

/// Entries are not opened here (see [`open_entry`]).
#[cfg(not(unix))]
fn read_at(_file: &fs::File, _buf: &mut [u8], _offset: usize) -> Option<()> {
    None
}

/// Checked as UTF-8 once, not string by string (7% of reading a part).
fn read_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    let text = std::str::from_utf8(bytes).ok()?;
    yaml::reading_cache(|| serde_json::from_str(text).ok())
}

/// An entry's model handed over as [`ParseCache::get_with`] says: with `spread`, the parts of
/// a large file read on other threads, each into a buffer the thread reuses; else, and for a
/// single part, on this one.
fn read_streaming<S: Sync, U, T: Send, R>(
    source: &Source,
    frame: &Frame,
    spread: bool,
    head: impl FnOnce(SuiteFile, usize) -> (S, U),
    part: impl Fn(&S, Part) -> T + Sync,
    take: impl FnOnce(&S, U, &mut dyn Iterator<Item = T>) -> R,
) -> Option<R> {
    let Frame {
        head: first,
        parts,
        count,
    } = frame;
    let model: SuiteFile = read_json(source.read(first.clone(), &mut Vec::new())?)?;
    if !model.cases.is_empty() {
        return None;
    }
    let read = |i: usize, buf: &mut Vec<u8>| {
        read_json::<Part>(source.read(parts[i].clone(), buf)?)
            .filter(|p| p.len() == part_len(i, *count))
    };
    if parts.len() <= 1 || !spread {
        let (shared, kept) = head(model, *count);
        let mut buf = Vec::new();
        let all = parts.len().max(1);
        let mut made_count = 0;
        // Each part made as `take` asks for it; the first that cannot be read ends them, for
        // good. A hit only if `take` had every part, as on several threads.
        let mut made = (0..all)
            .map_while(|i| {
                let cases = match parts.get(i) {
                    Some(_) => read(i, &mut buf)?,
                    None => Vec::new(),
                };
                made_count += 1;
                Some(part(&shared, cases))
            })
            .fuse();
        let done = take(&shared, kept, &mut made);
        drop(made);
        return (made_count == all).then_some(done);
    }
    let (shared, kept) = head(model, *count);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        let (sent, received) = std::sync::mpsc::channel();
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(parts.len());
        for _ in 0..threads {
            let sent = sent.clone();
            let (next, parts, shared, part, read) = (&next, &parts, &shared, &part, &read);
            scope.spawn(move || {
                let mut buf = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= parts.len() {
                        break;
                    }
                    if sent
                        .send((i, read(i, &mut buf).map(|p| part(shared, p))))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(sent);
        let mut done = InOrder {
            received,
            early: std::collections::BTreeMap::new(),
            next: 0,
            parts: parts.len(),
            failed: false,
        };
        let made = take(&shared, kept, &mut done);
        let whole = !done.failed && done.next == done.parts;
        whole.then_some(made)
    })
}

/// An entry's model read back whole.
fn read_model(source: &Source, frame: &Frame, spread: bool) -> Option<SuiteFile> {
    read_streaming(
        source,
        frame,
        spread,
        |model, _| ((), model),
        |_, part| part,
        |_, mut model, parts| {
            model.cases.extend(parts.flatten());
            model
        },
    )
}

/// What parts read on other threads made, in the file's order.
struct InOrder<T> {
    received: std::sync::mpsc::Receiver<(usize, Option<T>)>,
    /// Parts done before the ones ahead of them.
    early: std::collections::BTreeMap<usize, Option<T>>,
    /// The part to take next.
    next: usize,
    parts: usize,
    /// A part could not be read: no more.
    failed: bool,
}

impl<T> Iterator for InOrder<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.failed || self.next == self.parts {
            return None;
        }
        let part = match self.early.remove(&self.next) {
            Some(part) => part,
            None => loop {
                match self.received.recv() {
                    Ok((i, part)) if i == self.next => break part,
                    Ok((i, part)) => {
                        self.early.insert(i, part);
                    }
                    // Every reader gone before this part: one panicked (the scope raises that
                    // panic again when it ends).
                    Err(_) => break None,
                }
            },
        };
        match part {
            Some(made) => {
                self.next += 1;
                Some(made)
            }
            None => {
                self.failed = true;
                None
            }
        }
    }
}

/// BLAKE3 of a suite's text: a 6 MB suite hashes in ~1.7 ms, beside ~0.8 s of parsing it.
const DIGEST_LEN: usize = 32;

fn digest(text: &str) -> [u8; DIGEST_LEN] {
    blake3::hash(text.as_bytes()).into()
}

/// An entry's file name: the digest's first 128 bits in hex (the whole digest is inside).
fn entry_name(digest: &[u8; DIGEST_LEN]) -> String {
    let mut name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    name.push_str(".json");
    name
}

/// A build folder opened without following a link, if it is a folder that is ours and
/// private: checked on what was opened, so it cannot be swapped after the check.
fn open_folder(dir: &Path) -> Option<fs::File> {
    #[cfg(unix)]
    let folder = {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        fs::File::from(rustix::fs::open(dir, flags, Mode::empty()).ok()?)
    };
    #[cfg(not(unix))]
    let folder = fs::File::open(dir).ok()?;
    let meta = folder.metadata().ok()?;
    (meta.is_dir() && private(&meta)).then_some(folder)
}

/// The entry `name` of `folder`, opened without following a link (and without waiting on a
/// FIFO): an entry is never another file under this name.
fn open_entry(folder: &fs::File, name: &str) -> Option<fs::File> {
    #[cfg(unix)]
    {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        Some(fs::File::from(
            rustix::fs::openat(folder, name, flags, Mode::empty()).ok()?,
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = (folder, name);
        None
    }
}

/// Why a cache under `root` could be changed by another user: `root`, or a folder above it,
/// that is not ours (or root's), or that others can write without the sticky bit (in /tmp they
/// cannot rename what is ours); or a link on the way that someone else made. Links are
/// followed to what they point at, which is checked too. Folders not made yet are made ours.
#[cfg(unix)]
fn open_to_others(root: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    let root = std::path::absolute(root).ok()?;
    let mut at = Some(root.as_path());
    while let Some(path) = at {
        at = path.parent();
        let Ok(link) = fs::symlink_metadata(path) else {
            continue;
        };
        if link.file_type().is_symlink() && link.uid() != me && link.uid() != 0 {
            return Some(format!("{} is a link another user made", path.display()));
        }
        let Ok(meta) = fs::metadata(path) else {
            continue;
        };
        if meta.uid() != me && meta.uid() != 0 {
            return Some(format!("{} belongs to another user", path.display()));
        }
        let sticky = meta.mode() & 0o1000 != 0;
        if meta.mode() & 0o022 != 0 && !sticky {
            return Some(format!("others can write {}", path.display()));
        }
    }
    None
}

#[cfg(not(unix))]
fn open_to_others(_root: &Path) -> Option<String> {
    None
}

/// Makes the build's folder (trimming older builds), or empties it when it has grown too large.
fn prepare(dir: &Path) {
    if fs::symlink_metadata(dir).is_err() {
        if create_private_dir(dir).is_ok() {
            if let Some(root) = dir.parent() {
                prune_builds(root, dir);
            }
        }
    } else if ours(dir) {
        if let Ok(entries) = fs::read_dir(dir) {
            if entries.take(MAX_ENTRIES + 1).count() > MAX_ENTRIES {
                empty_build(dir);
            }
        }
    }
}

/// A folder (not a link to one) that is ours and private.
fn ours(dir: &Path) -> bool {
    fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && private(&m))
}

/// Marks a build's folder (opened and checked by [`open_folder`]) as used now: pruning goes by
/// this time.
fn mark_used(folder: &fs::File) {
    let _ = folder.set_modified(std::time::SystemTime::now());
}

fn store(dir: &Path, path: &Path, digest: &[u8], json: &[u8]) -> std::io::Result<()> {
    if !ours(dir) {
        return Ok(());
    }
    // Written aside and renamed into place: a reader sees a whole entry or none. The temporary
    // file is readable by its owner alone, as is the folder: suites are the user's files.
    let mut file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .tempfile_in(dir)?;
    file.write_all(digest)?;
    file.write_all(json)?;
    file.persist(path)?;
    Ok(())
}

/// Whether what `meta` describes is ours and closed to everyone else: a model read from a file
/// others could write could be anything (a cache named in a shared place, made there before us).
fn private(meta: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        meta.uid() == rustix::process::geteuid().as_raw() && meta.mode() & 0o077 == 0
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        true
    }
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Removes the folders of builds beyond the [`KEEP_BUILDS`] last used: only folders named as
/// this module names them, ours and private, and in them only the files it writes.
fn prune_builds(root: &Path, current: &Path) {
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    let mut builds: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| is_build_name(&e.file_name().to_string_lossy()))
        .filter(|e| e.path() != current)
        .filter_map(|e| {
            let meta = fs::symlink_metadata(e.path()).ok()?;
            (meta.is_dir() && private(&meta)).then_some((meta.modified().ok()?, e.path()))
        })
        .collect();
    builds.sort_by_key(|b| std::cmp::Reverse(b.0));
    for (_, old) in builds.into_iter().skip(KEEP_BUILDS) {
        empty_build(&old);
        let _ = fs::remove_dir(old);
    }
}

/// Removes the entries (and left-over temporary files) of a build's folder, nothing else.
fn empty_build(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = name.starts_with(TEMP_PREFIX)
            || name.strip_suffix(".json").is_some_and(|key| hex(key, 32));
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

const BUILD_PREFIX: &str = "model-";
const TEMP_PREFIX: &str = ".entry-";

/// `model-` and 16 hex digits: [`build_id`]'s names alone.
fn is_build_name(name: &str) -> bool {
    name.strip_prefix(BUILD_PREFIX)
        .is_some_and(|id| hex(id, 16))
}

/// `len` hex digits, as [`entry_name`] and [`build_id`] name what they write.
fn hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// This build of tokenconf: its version, the source of the model's types, and its executable's
/// path, size and modification time (a rebuild changes them, and perhaps the model's layout
/// with them; the source changes whenever the types do, even within one second at one size).
fn build_id() -> Option<String> {
    const MODEL: &str = concat!(include_str!("model.rs"), include_str!("yaml.rs"));
    let exe = std::env::current_exe().ok()?;
    let meta = fs::metadata(&exe).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    let id = format!(
        "{}\0{:x}\0{}\0{}\0{}",
        env!("CARGO_PKG_VERSION"),
        xxhash_rust::xxh3::xxh3_64(MODEL.as_bytes()),
        exe.display(),
        meta.len(),
        modified.as_nanos()
    );
    Some(format!(
        "{BUILD_PREFIX}{:016x}",
        xxhash_rust::xxh3::xxh3_64(id.as_bytes())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> SuiteFile {
        yaml::parse(text, Path::new("t.yaml")).expect("parses")
    }

    /// Every suite the project ships reads back from the cache as the parser made it, places
    /// included.
    #[test]
    fn every_shipped_suite_reads_back_from_the_cache_as_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        let mut seen = 0;
        for entry in walkdir::WalkDir::new(concat!(env!("CARGO_MANIFEST_DIR"), "/suites")) {
            let entry = entry.unwrap();
            if entry.path().extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = fs::read_to_string(entry.path()).unwrap();
            let mut parsed = parse(&text);
            assert!(cache.get(&text).is_none(), "{}", entry.path().display());
            cache.put(&text, &mut parsed);
            let cached = cache.get(&text).expect("a hit after a put");
            assert_eq!(
                format!("{cached:?}"),
                format!("{parsed:?}"),
                "{}",
                entry.path().display()
            );
            seen += 1;
        }
        assert!(seen >= 10, "only {seen} suites found");
    }

    #[test]
    fn every_shape_of_the_model_reads_back() {
        let text = r#"
suite: shapes
api: oauth2
doc: https://example.com/doc
source: RFC 6749 §5.1
profile: second
vars: { n: 1, b: true, f: 1.5, s: "x", big: 18446744073709551615, neg: -9223372036854775808 }
secrets: [client_secret]
jwts:
  assertion:
    alg: RS256
    key: "{{ private_key }}"
    kid: k1
    typ: JWT
    kind: client_assertion
    claims: { iss: a, sub: a, aud: b, exp: "{{ now+300 }}", nested: { list: [1, 2.5, null, true] } }
  grant: { alg: HS256, key: "{{ s }}", kind: jwt_bearer, claims: {} }
  id: { alg: ES256, key: "{{ s }}", kind: identity_token, claims: { sub: x } }
fixtures:
  token:
    request: { path: /token, auth: { client_secret_post: { client_id: 1, client_secret: "{{ client_secret }}" } } }
    expect: { status: 200 }
    capture: { access: $.access_token }
  steps:
    steps:
      - name: first
        request: { method: GET, url: "https://example.com/x", query: { q: 1 }, headers: { x-a: true } }
        capture: { loc: { header: location, regex: "code=([^&]+)" } }
      - request: { path: /y, body: "raw text", timeout_ms: 5000 }
cases:
  - name: shapes
    doc: why
    source: assumed
    requires: [refresh_token, client_id]
    profile: other
    request:
      path: /t
      form: { a: 1, b: "two", c: false }
      auth: { basic: { user: "{{ client_id }}", password: 2 } }
    expect:
      status: [200, 4xx]
      headers: { a: absent, b: exists, c: "text", d: { contains: x, matches: "^y" } }
      json:
        $.a: 1
        $.b: -2
        $.c: 2.5
        $.d: true
        $.e: null
        $.f: { equals: { k: [1, "v"] }, one_of: [1, "a", null], min: 1, max: 2.25, type: integer }
        $.g: { exists: false, absent: true, not_equals: "absent", equals_ignore_case: Bearer }
        $.h: { type: "null" }
      schema: oauth2/token-response.schema.json
      rules: [oauth2.token-response]
      assumed: [status, json $.a]
    capture:
      plain: $.a
      full: { header: location, regex: "code=([^&]+)" }
      json: { json: $.b }
      none: {}
  - name: one status
    request: { path: /t, json: { a: [1, { b: null }], c: "d" }, auth: { bearer: "{{ token.access }}" } }
    expect: { status: 200 }
  - name: class
    request: { path: /t, auth: { private_key_jwt: { client_id: c, jwt: assertion } } }
    expect: { status: 5xx }
  - name: steps
    steps:
      - request: { path: /a, auth: { client_secret_basic: { user: u, password: p } } }
        expect: { json: { $.x: { type: array } } }
      - request: { path: /b }
"#;
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        let mut parsed = parse(text);
        cache.put(text, &mut parsed);
        let cached = cache.get(text).expect("a hit");
        assert_eq!(format!("{cached:?}"), format!("{parsed:?}"));
    }

    /// JSON has no infinity or NaN: a file holding one is parsed every time, never read back
    /// as something else.
    #[test]
    fn what_json_cannot_hold_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        let mut tried = 0;
        for value in [
            "{ min: .inf }",
            "{ max: -.inf }",
            "{ equals: .nan }",
            "{ one_of: [.inf] }",
        ] {
            let text = format!("api: oauth2\ncases:\n  - name: x\n    request: {{ path: /t }}\n    expect: {{ json: {{ $.a: {value} }} }}\n");
            // Where the parser refuses them there is nothing to cache.
            let Ok(mut parsed) = yaml::parse::<SuiteFile>(&text, Path::new("t.yaml")) else {
                continue;
            };
            cache.put(&text, &mut parsed);
            assert!(cache.get(&text).is_none(), "{value} was cached");
            tried += 1;
        }
        assert!(tried >= 2, "only {tried} non-finite values parsed");
        // A bare one is refused where it is written (it would have meant `null`).
        for value in [".nan", ".inf", "-.inf"] {
            let bare = format!("api: oauth2\ncases:\n  - name: x\n    request: {{ path: /t }}\n    expect: {{ json: {{ $.a: {value} }} }}\n");
            let e = yaml::parse::<SuiteFile>(&bare, Path::new("t.yaml")).unwrap_err();
            assert_eq!((e.line, e.column), (5, 28), "{}", e.rendered);
        }
        let fine = "api: oauth2\ncases:\n  - name: x\n    request: { path: /t }\n    expect: { json: { $.a: { min: 1.5 } } }\n";
        cache.put(fine, &mut parse(fine));
        assert!(cache.get(fine).is_some());
    }

    #[test]
    fn a_damaged_or_foreign_entry_is_a_miss() {
        let text = "api: oauth2\ncases: []\n";
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        cache.put(text, &mut parse(text));
        let entry = cache.entry_path(text).unwrap();
        let whole = fs::read(&entry).unwrap();
        fs::write(&entry, &whole[..whole.len() - 3]).unwrap();
        assert!(cache.get(text).is_none(), "a cut entry");
        let mut other_digest = whole.clone();
        other_digest[0] ^= 1;
        fs::write(&entry, &other_digest).unwrap();
        assert!(
            cache.get(text).is_none(),
            "an entry whose digest is another text's"
        );
        fs::write(&entry, &whole).unwrap();
        assert!(cache.get(text).is_some());
    }

    /// A file of more than one part's cases reads back whole and in order (its parts read on
    /// several threads), and a damaged part makes the whole entry a miss.
    #[test]
    fn a_large_file_reads_back_in_parts_and_a_damaged_part_is_a_miss() {
        let mut text = String::from("api: oauth2\ncases:\n");
        for i in 0..2 * CASES_PER_PART + 7 {
            text.push_str(&format!(
                "  - name: case {i}\n    request: {{ path: /p{i} }}\n    expect: {{ status: 200 }}\n"
            ));
        }
        let dir = tempfile::tempdir().unwrap();
        let cache = ParseCache::at(Some(dir.path().join("build")));
        let mut parsed = parse(&text);
        cache.put(&text, &mut parsed);
        let entry = cache.entry_path(&text).unwrap();
        let whole = fs::read(&entry).unwrap();
        let model = &whole[DIGEST_LEN..];
        let parts = frame(model, model.len()).expect("a frame").parts;
        assert_eq!(parts.len(), 3);
        let cached = cache.get(&text).expect("a hit");
        assert_eq!(cached.cases.len(), 2 * CASES_PER_PART + 7);
        assert_eq!(format!("{cached:?}"), format!("{parsed:?}"));
        // The second part's first case made unreadable; the parts around it are whole.
        let mut damaged = whole.clone();
        damaged[part_start(&whole, 1) + 1] = b'}';
        fs::write(&entry, &damaged).unwrap();
        assert!(cache.get(&text).is_none(), "a damaged part");
        // The last part cut off, a part gone, or a part longer than the index says: each a miss.
        let (second, third) = (part_start(&whole, 1), part_start(&whole, 2));
        let cut = whole[..third].to_vec();
        let mut part_gone = whole[..second].to_vec();
        part_gone.extend_from_slice(&whole[third..]);
        let mut longer = whole.clone();
        longer.insert(third - 1, b' ');
        // The number of cases changed, the parts' places kept: one case too many for the
        // last part, or one part too few.
        let count = (2 * CASES_PER_PART + 7).to_string();
        let index = &whole[DIGEST_LEN..DIGEST_LEN + count.len() + 1];
        assert_eq!(index, format!("{count} ").as_bytes());
        // Another count of as many digits, in the same place.
        let with_count = |other: usize| {
            let other = other.to_string();
            assert_eq!(other.len(), count.len());
            let mut bytes = whole.clone();
            bytes[DIGEST_LEN..DIGEST_LEN + count.len()].copy_from_slice(other.as_bytes());
            bytes
        };
        for (what, bytes) in [
            ("the last part cut off", cut),
            ("a part gone", part_gone),
            ("a longer part", longer),
            (
                "a case more than the last part holds",
                with_count(2 * CASES_PER_PART + 8),
            ),
            (
                "a part fewer than the cases need",
                with_count(3 * CASES_PER_PART + 7),
            ),
        ] {
            fs::write(&entry, &bytes).unwrap();
            assert!(cache.get(&text).is_none(), "{what}");
        }
        fs::write(&entry, &whole).unwrap();
        assert!(cache.get(&text).is_some());
    }

    /// An index whose numbers are damaged or absurd is a miss, before anything is reserved for
    /// the cases it claims: each part must be long enough for its cases.
    #[test]
    fn a_hostile_index_is_a_miss() {
        assert!(frame(b"1 2 4\n{}[{}]", 12).is_some(), "a well-formed index");
        let many = CASES_PER_PART * 32_740;
        let mut tiny_parts = format!("{many} 2");
        tiny_parts.push_str(&" 1".repeat(32_740));
        tiny_parts.push('\n');
        let len = tiny_parts.len() + 2 + 32_740;
        for (what, start, len) in [
            (
                "as many cases as 32,740 whole parts hold, in one-byte parts",
                tiny_parts.as_bytes(),
                len,
            ),
            (
                "a length past the end",
                b"1 2 18446744073709551615\n{}".as_slice(),
                4,
            ),
            ("a count past usize", b"18446744073709551616 2 1\n{}x", 5),
            ("a negative length", b"1 2 -4\n{}[{}]", 12),
            ("no index line", &[b'1'; 100], 100),
            ("no lengths", b"1\n{}", 4),
        ] {
            assert!(frame(start, len).is_none(), "{what}");
        }
    }

    /// F2: an entry put under another text's name (copied or linked, the texts of one length)
    /// is a miss, and so is a link for an entry or for the build folder, even to our own.
    #[cfg(unix)]
    #[test]
    fn an_entry_for_another_text_or_through_a_link_is_a_miss() {
        let benign = "api: oauth2\ncases: [] # benign\n";
        let evil = "api: oauth2\ncases: [] # evil!!\n";
        assert_eq!(benign.len(), evil.len());
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("build");
        let cache = ParseCache::at(Some(dir.clone()));
        cache.put(evil, &mut parse(evil));
        let (evil_entry, benign_entry) = (
            cache.entry_path(evil).unwrap(),
            cache.entry_path(benign).unwrap(),
        );
        fs::copy(&evil_entry, &benign_entry).unwrap();
        assert!(
            cache.get(benign).is_none(),
            "a copy of another text's entry"
        );
        fs::remove_file(&benign_entry).unwrap();
        std::os::unix::fs::symlink(&evil_entry, &benign_entry).unwrap();
        assert!(
            cache.get(benign).is_none(),
            "a link to another text's entry"
        );
        fs::remove_file(&benign_entry).unwrap();
        // A link named as the entry, to the very entry for this text, is not followed either.
        let elsewhere = root.path().join("elsewhere");
        create_private_dir(&elsewhere).unwrap();
        ParseCache::at(Some(elsewhere.clone())).put(benign, &mut parse(benign));
        std::os::unix::fs::symlink(
            elsewhere.join(benign_entry.file_name().unwrap()),
            &benign_entry,
        )
        .unwrap();
        assert!(cache.get(benign).is_none(), "an entry through a link");
        // A build folder that is a link to a private folder of ours.
        let linked = ParseCache::at(Some(root.path().join("linked")));
        std::os::unix::fs::symlink(&elsewhere, root.path().join("linked")).unwrap();
        assert!(
            linked.get(benign).is_none(),
            "a build folder through a link"
        );
        assert!(ParseCache::at(Some(elsewhere)).get(benign).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_root_others_can_change_is_named_and_a_private_one_is_not() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let mine = root.path().join("mine");
        create_private_dir(&mine).unwrap();
        // The scratch folder's own parents (/tmp is sticky) are fine.
        assert_eq!(open_to_others(&mine.join("not-made-yet")), None);
        let open = root.path().join("open");
        create_private_dir(&open.join("cache")).unwrap();
        fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
        let why = open_to_others(&open.join("cache")).unwrap();
        assert!(
            why.contains("others can write") && why.contains("open"),
            "{why}"
        );
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&open, &link).unwrap();
        assert!(
            open_to_others(&link.join("cache")).is_some(),
            "through a link"
        );
        let sticky = root.path().join("sticky");
        create_private_dir(&sticky).unwrap();
        fs::set_permissions(&sticky, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(open_to_others(&sticky.join("cache")), None);
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&mine, Some(4242), None).unwrap();
            assert!(open_to_others(&mine).unwrap().contains("another user"));
        }
    }

    #[test]
    fn no_folder_means_no_cache_and_no_error() {
        let text = "api: oauth2\ncases: []\n";
        let cache = ParseCache::at(None);
        cache.put(text, &mut parse(text));
        assert!(cache.get(text).is_none());
        let file = tempfile::NamedTempFile::new().unwrap();
        // A folder that cannot be made (a file is in the way): skipped.
        let cache = ParseCache::at(Some(file.path().join("sub")));
        cache.put(text, &mut parse(text));
        assert!(cache.get(text).is_none());
    }

    #[cfg(unix)]
    #[test]
    fn entries_are_the_owners_alone_and_no_other_is_read_or_written() {
        use std::os::unix::fs::PermissionsExt;
        let text = "api: oauth2\ncases: []\n";
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("build");
        let cache = ParseCache::at(Some(dir.clone()));
        cache.put(text, &mut parse(text));
        let entry = cache.entry_path(text).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&entry), 0o600);
        assert!(cache.get(text).is_some());
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o620)).unwrap();
        assert!(
            cache.get(text).is_none(),
            "read an entry its group can write"
        );
        fs::set_permissions(&entry, fs::Permissions::from_mode(0o600)).unwrap();
        if rustix::process::geteuid().is_root() {
            std::os::unix::fs::chown(&entry, Some(4242), None).unwrap();
            assert!(cache.get(text).is_none(), "read an entry someone else owns");
        }
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        let other = "api: oauth2\ncases: [] # other\n";
        cache.put(other, &mut parse(other));
        assert!(
            !cache.entry_path(other).unwrap().exists(),
            "written to an open folder"
        );
    }

    #[test]
    fn only_the_last_used_builds_are_kept_and_nothing_else_is_touched() {
        let root = tempfile::tempdir().unwrap();
        let build = |i: usize| format!("{BUILD_PREFIX}{i:016x}");
        let text = "api: oauth2\ncases: []\n";
        let count = KEEP_BUILDS + 3;
        for i in 0..count {
            let dir = root.path().join(build(i));
            // Made first, so these puts prune nothing.
            create_private_dir(&dir).unwrap();
            ParseCache::at(Some(dir.clone())).put(text, &mut parse(text));
            if i == 0 {
                // A user's file in an old build's folder keeps it (and the file).
                fs::write(dir.join("notes.txt"), "mine").unwrap();
            }
            let age = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000 + i as u64);
            fs::File::open(&dir).unwrap().set_modified(age).unwrap();
        }
        // Read from: the second oldest build is now the last used.
        assert!(ParseCache::at(Some(root.path().join(build(1))))
            .get(text)
            .is_some());
        // A folder merely named like ours is not ours to remove.
        fs::create_dir(root.path().join("model-final")).unwrap();
        fs::create_dir(root.path().join("unrelated")).unwrap();
        ParseCache::at(Some(root.path().join(build(99)))).put(text, &mut parse(text));
        let mut left: Vec<String> = fs::read_dir(root.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut expected: Vec<String> = [0, 1, 99].into_iter().chain(4..count).map(build).collect();
        expected.extend(["model-final".to_string(), "unrelated".to_string()]);
        expected.sort();
        assert_eq!(left, expected);
        let old: Vec<_> = fs::read_dir(root.path().join(build(0))).unwrap().collect();
        assert_eq!(
            old.len(),
            1,
            "only the user's file is left in the old build"
        );
    }
}
