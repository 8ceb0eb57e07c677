//! Files: model files (safetensors, PyTorch `nn.Linear` layout), loss
//! histories, data sets as CSV, and the atomic write every output goes
//! through.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors};

use crate::data::{
    Category, DataDigest, Dataset, FeatureRanges, Imputation, Standardization, TargetTransform,
};
use crate::error::{Error, Result};
use crate::model::{Activation, Layout, Model};
use crate::optim::Saved;
use crate::train::Kept;

/// Refuses an output path that can never be written before any work
/// starts: a directory (or a path with a trailing slash), a missing parent
/// directory, something that is neither a regular file, a character device
/// nor a FIFO, or a folder where a file cannot be created.
pub fn check_output_path(path: &Path) -> Result<()> {
    not_a_folder(path)?;
    match resolve_output(path)? {
        Target::Stream => Ok(()),
        Target::File(resolved) => {
            let parent = parent_dir(&resolved);
            if !parent.is_dir() {
                return Err(no_directory(path, &parent));
            }
            check_name_length(path, &resolved)?;
            let regular = std::fs::metadata(&resolved).is_ok_and(|m| m.is_file());
            if regular && File::open(&resolved).is_ok() && starts_with(&resolved, HISTORY_MAGIC) {
                return Err(Error::Config(format!(
                    "{} is a checkpoint's history file (it starts with {}), which the checkpoint that names it reads to resume, and writing there would replace it; give another path, or delete it if no checkpoint needs it",
                    path.display(),
                    String::from_utf8_lossy(HISTORY_MAGIC)
                )));
            }
            // A file that is written in place, where it can be opened
            // for writing (not a read-only mount).
            if let Some(why) = regular.then(|| written_in_place(&resolved)).flatten() {
                if let Err(e) = std::fs::OpenOptions::new().write(true).open(&resolved) {
                    return Err(Error::Config(format!(
                        "cannot write {}: it is {why}, so it is written in place, not replaced, and it cannot be opened for writing ({e})",
                        path.display()
                    )));
                }
                warn_once(
                    &resolved,
                    &format!(
                        "warning: {} is {why}, so it is written in place, not replaced by a whole new file: a crash or a kill during the write leaves it cut short",
                        path.display()
                    ),
                );
            }
            // Whether a file can be made there (permissions, a read-only
            // mount): a temp file named as the write's is created and
            // removed.
            let name = resolved.file_name().unwrap_or_default();
            let prefix = temp_prefix(name, name_max(&parent));
            match create_temp(&parent, &prefix) {
                Ok((_, probe)) => {
                    let _ = std::fs::remove_file(&probe);
                    Ok(())
                }
                // The file is written beside and renamed over, so a folder
                // that takes no new file (/proc, a read-only mount) cannot
                // hold it, even where it exists.
                Err(e) => Err(Error::Config(format!(
                    "cannot write {}: the directory {} does not take new files (every output is written to a new temp file there, then renamed; creating one: {e})",
                    path.display(),
                    parent.display()
                ))),
            }
        }
    }
}

/// Says `text` about the file at `resolved` once in this process, however
/// often its path is checked.
fn warn_once(resolved: &Path, text: &str) {
    static WARNED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
    let mut warned = WARNED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !warned.iter().any(|p| p == resolved) {
        warned.push(resolved.to_path_buf());
        crate::say!("{text}");
    }
}

/// Refuses a checkpoint path whose history files cannot be written: the
/// checkpoint keeps its history beside it under `NAME.history` or
/// `NAME.history.1` (whichever the checkpoint in place does not name), so
/// each must be free or a regular file.
pub fn check_checkpoint_history(path: &Path) -> Result<()> {
    for side in checkpoint_history_files(path) {
        if let Some((len, most)) = name_too_long(&side) {
            return Err(Error::Config(format!(
                "a checkpoint at {} keeps its history beside it in {}, a name {len} bytes long, \
                 and that folder takes names of at most {most}; give --checkpoint a shorter name",
                path.display(),
                side.display()
            )));
        }
        let Ok(meta) = std::fs::metadata(&side) else {
            continue;
        };
        if !meta.is_file() {
            let what = match meta.is_dir() {
                true => "a directory",
                false => "not a regular file",
            };
            return Err(Error::Config(format!(
                "{} is {what}, and a checkpoint at {} keeps its history in a file of that name; \
                 move it, or give --checkpoint another path",
                side.display(),
                path.display()
            )));
        }
        if !(meta.len() == 0 || starts_with(&side, HISTORY_MAGIC)) {
            return Err(Error::Config(format!(
                "{} is not a checkpoint's history (it does not start as one does), and a checkpoint \
                 at {} keeps its history in a file of that name, which would be written over; move \
                 it, or give --checkpoint another path",
                side.display(),
                path.display()
            )));
        }
    }
    Ok(())
}

/// Whether the file at `path` starts with `magic`; where it cannot be
/// read, true (writing it will say why it cannot be).
fn starts_with(path: &Path, magic: &[u8]) -> bool {
    use std::io::Read;
    let mut head = vec![0; magic.len()];
    match File::open(path) {
        Ok(mut f) => f.read_exact(&mut head).is_ok() && head == magic,
        Err(_) => true,
    }
}

/// [`check_output_path`] for the option `flag`, which its error names.
pub fn check_output(flag: &str, path: &Path) -> Result<()> {
    check_output_path(path).map_err(|e| with_flag(flag, e))
}

/// Refuses a name with another format's extension than the option
/// `flag` writes (`other_format`), led by the flag. The
/// commands check it after an output's place and after outputs that are
/// the same file as another or an input, whose error says more.
pub fn check_format(flag: &str, path: &Path) -> Result<()> {
    other_format(flag, path).map_err(|e| with_flag(flag, e))?;
    // Only --save and --checkpoint write a model over one.
    if !["--save", "--checkpoint"].contains(&flag) && holds_safetensors(path) {
        return Err(Error::Config(format!(
            "{flag}: {} is a model or checkpoint (safetensors), which {flag} would replace with another kind of file; give another path, or delete it if no longer needed",
            path.display()
        )));
    }
    Ok(())
}

/// Whether `path` is a regular file that starts as a safetensors file
/// does and is no checkpoint: a model `--save` wrote, which a run's
/// checkpoints would replace.
pub fn holds_saved_model(path: &Path) -> bool {
    holds_safetensors(path)
        && header_metadata(path).is_some_and(|m| m.get("checkpoint_epoch").is_none())
}

/// Whether `path` is a regular file that starts as a safetensors file
/// does ([`starts_as_safetensors`]).
fn holds_safetensors(path: &Path) -> bool {
    use std::io::Read;
    let Some(meta) = std::fs::metadata(path).ok().filter(|m| m.is_file()) else {
        return false;
    };
    let mut head = [0u8; 9];
    let read = File::open(path).and_then(|mut f| f.read_exact(&mut head));
    read.is_ok() && starts_as_safetensors(&head, meta.len())
}

/// Whether `head`, the start of a file of `len` bytes, is a safetensors
/// file's: a header's length in 8 bytes, then the header's `{`, the
/// header within the file.
pub fn starts_as_safetensors(head: &[u8], len: u64) -> bool {
    let length = (head.get(..8)).and_then(|b| Some(u64::from_le_bytes(b.try_into().ok()?)));
    length.is_some_and(|n| head.get(8) == Some(&b'{') && n.saturating_add(8) <= len)
}

/// `e`, a configuration error, led by the option `flag` it is about.
fn with_flag(flag: &str, e: Error) -> Error {
    match e {
        Error::Config(message) => Error::Config(format!("{flag}: {message}")),
        e => e,
    }
}

/// Refuses a file that the output option `flag` would write in one format
/// under a name whose extension (any case) is another's: a model written
/// to `model.csv`, the loss history to `loss.png`. The files are
/// safetensors for `--save` and `--checkpoint`, CSV for `--history`,
/// `--fold-predictions` and `--out`, and JSON for `--json`; a name with
/// no extension, or one not listed here, is taken as given.
fn other_format(flag: &str, path: &Path) -> Result<()> {
    let (writes, right) = match flag {
        "--save" | "--checkpoint" => ("a model (safetensors)", "safetensors"),
        "--history" | "--fold-predictions" | "--out" => ("CSV", "csv"),
        "--json" => ("JSON", "json"),
        _ => return Ok(()),
    };
    let ext = (path.extension())
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let named = match ext.as_deref() {
        Some("safetensors") => "a model (safetensors)",
        Some("csv") => "CSV",
        Some("json") => "JSON",
        Some("png") => "a PNG image",
        Some("svg") => "an SVG image",
        _ => return Ok(()),
    };
    if ext.as_deref() == Some(right) {
        return Ok(());
    }
    // Where the file the name asks for is another option's.
    let instead = match (right, ext.as_deref()) {
        ("safetensors", Some("csv")) => {
            " (predictions as CSV come from predict --out, the loss per epoch from train --history)"
        }
        (_, Some("png" | "svg")) => {
            " (train --plot draws the loss curve as PNG or SVG, and bench --plot its chart)"
        }
        ("csv", Some("safetensors")) => " (train --save writes the model)",
        _ => "",
    };
    Err(Error::Config(format!(
        "it writes {writes}, but the extension of {} names {named}; give it .{right}{instead}",
        path.display()
    )))
}

/// Refuses `path`, whose file at `resolved` (symlinks followed) has a
/// longer name than its folder takes: the write would fail only at its
/// end.
fn check_name_length(path: &Path, resolved: &Path) -> Result<()> {
    let Some((len, most)) = name_too_long(resolved) else {
        return Ok(());
    };
    let which = match path == resolved {
        true => "its name".to_string(),
        false => format!("the name of {}, which it links to,", resolved.display()),
    };
    Err(Error::Config(format!(
        "cannot write {}: {which} is {len} bytes long, and its folder takes names of at most {most}",
        path.display()
    )))
}

/// The length of `path`'s file name in bytes and the most its folder
/// takes, where it is longer.
fn name_too_long(path: &Path) -> Option<(usize, usize)> {
    use std::os::unix::ffi::OsStrExt;
    let len = path.file_name()?.as_bytes().len();
    let most = name_max(&parent_dir(path));
    (len > most).then_some((len, most))
}

/// The longest file name the folder `dir` takes (NAME_MAX); 255, Linux's
/// for its file systems, where that cannot be asked.
fn name_max(dir: &Path) -> usize {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return 255;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call, which
    // only reads it.
    let most = unsafe { libc::pathconf(c.as_ptr(), libc::_PC_NAME_MAX) };
    usize::try_from(most).ok().filter(|&m| m > 0).unwrap_or(255)
}

/// The prefix of the temp files written beside a file named `name` in a
/// folder that takes names of up to `most` bytes: `.NAME.tmp-`, NAME cut
/// short where the whole temp name (`PID-N` after the prefix) could pass
/// `most`, so that any name the folder takes can be written.
fn temp_prefix(name: &std::ffi::OsStr, most: usize) -> String {
    let name = name.to_string_lossy();
    // Room for ".", ".tmp-" and "PID-N" (10 digits, "-", up to 20).
    let mut end = name.len().min(most.saturating_sub(1 + 5 + 31));
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!(".{}.tmp-", &name[..end])
}

/// The error for `path`, whose folder `parent` is not one.
fn no_directory(path: &Path, parent: &Path) -> Error {
    let why = match std::fs::metadata(parent) {
        Ok(_) => "is not a directory".to_string(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist".to_string(),
        // Too long a path, a loop of links, a file where a folder goes.
        Err(e) => format!("cannot be reached ({e})"),
    };
    Error::Config(format!(
        "cannot write {}: {} {why}",
        path.display(),
        parent.display()
    ))
}

fn ends_with_separator(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_os_str().as_bytes();
    bytes.ends_with(b"/") || bytes.ends_with(b"/.") || bytes == b"." || bytes.ends_with(b"/..")
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Where an output goes.
enum Target {
    /// A character device or a FIFO (such as `/dev/stdout` or `/dev/null`),
    /// or a file reached through `/proc` (a process's open file): written
    /// straight through, never replaced.
    Stream,
    /// A regular file, existing or not, at the end of any symlinks: written
    /// to a temp file beside it and renamed over it.
    File(PathBuf),
}

/// Follows `path`'s symlinks (a dangling one names the file to create) and
/// says how to write what is at the end.
fn resolve_output(path: &Path) -> Result<Target> {
    use std::os::unix::fs::FileTypeExt;
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        let Ok(meta) = std::fs::symlink_metadata(&current) else {
            return Ok(Target::File(current));
        };
        let kind = meta.file_type();
        if kind.is_symlink() {
            // A link relative to its folder as the folder really is
            // (/dev/fd is a link to /proc/self/fd).
            let folder = parent_dir(&current);
            let folder = std::fs::canonicalize(&folder).unwrap_or(folder);
            let link = std::fs::read_link(&current).map_err(|e| Error::io(&current, e))?;
            let next = folder.join(link);
            // /dev/stdout → /proc/self/fd/1: a pipe, a terminal or a file
            // the shell opened; write through the open file, never rename.
            if next.starts_with("/proc") {
                return Ok(Target::Stream);
            }
            // /dev/fd/N, a link in /proc to what descriptor N has open: a
            // pipe (a shell's `>(…)`) or a terminal is written through; a
            // regular file is replaced at its own path, as any link's is.
            // (One whose link names no path, a deleted file's "/x
            // (deleted)" or a memfd's "/memfd:…", is written through.)
            let named = std::fs::metadata(&next).is_ok_and(|m| m.is_file());
            let open_file = std::fs::metadata(&current).is_ok_and(|m| m.is_file()) && named;
            if folder.starts_with("/proc") && !open_file {
                return Ok(Target::Stream);
            }
            current = next;
        } else if kind.is_file() {
            return Ok(Target::File(current));
        } else if kind.is_char_device() || kind.is_fifo() {
            return Ok(Target::Stream);
        } else {
            return Err(Error::Config(format!(
                "{} is not a regular file, a character device or a FIFO; give a file path to write",
                path.display()
            )));
        }
    }
    Err(Error::Config(format!(
        "{}: too many levels of symbolic links",
        path.display()
    )))
}

/// Writes `path` so that it either keeps its old contents or holds the
/// complete new ones: a temp file in the same directory, fsync, rename, then
/// fsync of the directory. The temp file is removed on any failure. A
/// symlink is followed and its target replaced; a character device or a
/// FIFO (`/dev/null`, `/dev/stdout`) is written straight through.
pub fn write_atomically(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<Output>) -> std::io::Result<()>,
) -> Result<()> {
    not_a_folder(path)?;
    // Standard output by any name (/dev/fd/1 and /proc/self/fd/1 link to
    // the file behind it): through its descriptor, never by rename.
    if standard_stream(path).is_some() {
        return write_through(path, body);
    }
    let path = match resolve_output(path)? {
        Target::Stream => return write_through(path, body),
        Target::File(resolved) => resolved,
    };
    let path = path.as_path();
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(no_directory(path, &dir));
    }
    let name = path
        .file_name()
        .ok_or_else(|| Error::Config(format!("{} has no file name", path.display())))?;
    let prefix = temp_prefix(name, name_max(&dir));
    remove_stale_temps(&dir, &prefix);
    let watch = WatchedWrite::start();
    let (file, tmp) = create_temp(&dir, &prefix).map_err(|e| Error::io(path, e))?;
    let result = (|| {
        // The replaced file's permissions, and where this process may give
        // it (root) its owner, carry over to the new one.
        if let Ok(old) = std::fs::metadata(path) {
            use std::os::unix::fs::MetadataExt;
            let _ = std::os::unix::fs::fchown(&file, Some(old.uid()), Some(old.gid()));
            file.set_permissions(old.permissions())?;
        }
        let mut w = BufWriter::new(Output(file));
        body(&mut w)?;
        let Output(file) = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        write_stopped()?;
        if let Err(e) = std::fs::rename(&tmp, path) {
            return overwrite(&tmp, path, e);
        }
        // The rename is durable only once the directory entry is.
        File::open(&dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        // The command reports a stopped write, and exits with its status.
        STOP_SIGNAL.store(0, std::sync::atomic::Ordering::SeqCst);
    }
    drop(watch);
    result.map_err(|e| Error::io(path, e))
}

/// Why the regular file at `resolved` is one that [`overwrite`] writes in
/// place, as no rename can replace it: a mount point (its mount is not its
/// folder's), or another user's file in a sticky folder that is not this
/// user's either (root may replace it).
fn written_in_place(resolved: &Path) -> Option<&'static str> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::MetadataExt;
    let mount = |p: &Path| {
        let name = std::ffi::CString::new(p.as_os_str().as_bytes()).ok()?;
        // SAFETY: statx writes only into the struct it is given, and reads
        // the NUL-terminated name.
        let mut stat: libc::statx = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::statx(
                libc::AT_FDCWD,
                name.as_ptr(),
                0,
                libc::STATX_MNT_ID,
                &mut stat,
            )
        };
        (rc == 0 && stat.stx_mask & libc::STATX_MNT_ID != 0).then_some(stat.stx_mnt_id)
    };
    let folder = parent_dir(resolved);
    if let (Some(file), Some(dir)) = (mount(resolved), mount(&folder)) {
        if file != dir {
            return Some("a mount point (a file mounted there on its own)");
        }
    }
    // SAFETY: geteuid reads this process's effective user and cannot fail.
    let me = unsafe { libc::geteuid() };
    let (file, dir) = (
        std::fs::metadata(resolved).ok()?,
        std::fs::metadata(&folder).ok()?,
    );
    let sticky = dir.mode() & libc::S_ISVTX != 0;
    (sticky && me != 0 && file.uid() != me && dir.uid() != me)
        .then_some("another user's file in a sticky folder (only its owner may replace it)")
}

/// Where the complete `tmp` cannot be renamed over the file at `path`
/// (`refused`) because that file is a mount point (a file bind-mounted
/// into a container: EBUSY) or another user's in a sticky folder such as
/// /tmp (EPERM), that file is written in place from it instead, then
/// `tmp` removed. Not atomic: a crash in the copy leaves the file cut
/// short, where a rename would have left the old one.
fn overwrite(tmp: &Path, path: &Path, refused: std::io::Error) -> std::io::Result<()> {
    let in_place = [libc::EBUSY, libc::EPERM].contains(&refused.raw_os_error().unwrap_or(0));
    if !in_place || !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Err(refused);
    }
    let mut new = File::open(tmp)?;
    let mut target = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("it cannot be replaced ({refused}) nor written in place ({e})"),
            )
        })?;
    // Its own file system (a mounted file's is not its folder's) must
    // hold the new contents once the old are gone, or the old are kept.
    let (old_len, new_len) = (target.metadata()?.len(), new.metadata()?.len());
    if let Some(free) = fd_free_bytes(&target) {
        if new_len > free.saturating_add(old_len) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::StorageFull,
                format!("it cannot be replaced ({refused}), and its file system has no room to write it in place; it is left as it was"),
            ));
        }
    }
    target.set_len(0)?;
    std::io::copy(&mut new, &mut target)?;
    target.sync_all()?;
    std::fs::remove_file(tmp)
}

/// A claim on a checkpoint path for this process's run, held until
/// dropped: an advisory lock (flock) on a hidden file beside the
/// checkpoint, `.NAME.lock`. A run that writes the checkpoint holds it
/// alone and writes its PID there; runs that only read it (`--resume`
/// into another checkpoint) share it. Two runs at one checkpoint, or a
/// `--resume` of a checkpoint whose run was still going, had mixed one
/// history file from both (the checkpoint then could not be resumed) with
/// no word to either.
#[derive(Debug)]
pub struct CheckpointLock {
    path: PathBuf,
    file: File,
}

impl Drop for CheckpointLock {
    fn drop(&mut self) {
        use std::os::fd::AsRawFd;
        // Removed while held alone (a reader's share made exclusive where
        // no other run holds it): a run that opened this file and locks
        // it after the close finds it gone from its path, and tries again
        // with a new one.
        // SAFETY: flock only reads the descriptor, which `file` owns.
        let alone = unsafe { libc::flock(self.file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if alone == 0 {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Who holds a checkpoint's lock where [`lock_checkpoint`] could not take it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockHeld {
    /// A run that writes it, with its PID where it has written it yet.
    Writer(Option<u32>),
    /// Runs that read it (they resume from it).
    Readers,
}

/// Locks the checkpoint at `path` for this run ([`CheckpointLock`]):
/// alone where it `writes` the checkpoint, shared where it only reads it.
/// None where no lock can be had there (a read-only folder, a stream, a
/// file system without flock): the lock is a safeguard, and the write's
/// own checks say what is wrong.
pub fn lock_checkpoint(
    path: &Path,
    writes: bool,
) -> std::result::Result<Option<CheckpointLock>, LockHeld> {
    use std::io::{Read, Seek};
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let Ok(Target::File(resolved)) = resolve_output(path) else {
        return Ok(None);
    };
    let Some(name) = resolved.file_name() else {
        return Ok(None);
    };
    let mut lock_name = std::ffi::OsString::from(".");
    lock_name.push(name);
    lock_name.push(".lock");
    let lock = parent_dir(&resolved).join(lock_name);
    let flock = |file: &File, how: i32| {
        // SAFETY: flock only reads the descriptor, which `file` owns.
        match unsafe { libc::flock(file.as_raw_fd(), how | libc::LOCK_NB) } {
            0 => Ok(true),
            _ => match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EWOULDBLOCK) => Ok(false),
                // No locks here (ENOLCK, EOPNOTSUPP): none is held.
                _ => Err(()),
            },
        }
    };
    for _ in 0..8 {
        // Not through a link someone left at its name.
        let open = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock);
        let Ok(mut file) = open else {
            return Ok(None);
        };
        let how = if writes { libc::LOCK_EX } else { libc::LOCK_SH };
        match flock(&file, how) {
            Err(()) => return Ok(None),
            Ok(true) => {}
            // Readers share it: a writer, or a reader where a writer holds it,
            // is told who.
            Ok(false) => {
                let mut pid = String::new();
                let _ = file.read_to_string(&mut pid);
                let writer = !writes || flock(&file, libc::LOCK_SH) != Ok(true);
                return Err(match writer {
                    true => LockHeld::Writer(pid.trim().parse().ok()),
                    false => LockHeld::Readers,
                });
            }
        }
        // The file locked must still be the one at its path (a run that
        // ended removed it after this one opened it).
        let same = |m: std::fs::Metadata| (m.dev(), m.ino());
        if file.metadata().map(same).ok() != std::fs::metadata(&lock).map(same).ok() {
            continue;
        }
        if writes {
            let pid = format!("{}\n", std::process::id());
            let written = file
                .set_len(0)
                .and_then(|()| file.rewind())
                .and_then(|()| file.write_all(pid.as_bytes()));
            if written.is_err() {
                let _ = std::fs::remove_file(&lock);
                return Ok(None);
            }
        }
        return Ok(Some(CheckpointLock { path: lock, file }));
    }
    Ok(None)
}

/// Refuses an output path that is a directory, or ends in a separator as
/// a directory's name does.
fn not_a_folder(path: &Path) -> Result<()> {
    if path.as_os_str().is_empty() {
        return Err(Error::Config(
            "the path is empty; give a file path to write".into(),
        ));
    }
    let why = if path.is_dir() {
        "is a directory"
    } else if ends_with_separator(path) {
        "ends in '/', as a directory's name does"
    } else {
        return Ok(());
    };
    Err(Error::Config(format!(
        "{} {why}; give a file path to write",
        path.display()
    )))
}

/// A new file `{prefix}PID-N` in `dir`, for the first N from 0 whose name
/// is free: created exclusively, so nothing already there (a file, or a
/// symlink to one elsewhere) is opened or followed, and two writes of one
/// process never share a temp file.
fn create_temp(dir: &Path, prefix: &str) -> std::io::Result<(File, PathBuf)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dir.join(format!("{prefix}{}-{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
        {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Removes the temp files `{prefix}PID-N` in `dir` that earlier runs, killed
/// mid-write, left behind: regular files whose PID is not this process
/// and not a live one (no `/proc/PID`). Done once per folder and name in a
/// process, so periodic checkpoints do not list the folder each time;
/// nothing is removed where `/proc` cannot tell a live process, and a
/// failure to list or remove is ignored (the write goes on).
fn remove_stale_temps(dir: &Path, prefix: &str) {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    static SWEPT: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    let key = dir.join(prefix);
    let mut swept = SWEPT
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if !swept.insert(key) || !Path::new("/proc/self").exists() {
        return;
    }
    drop(swept);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let own = std::process::id();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(temp_pid)
        else {
            continue;
        };
        let regular = entry.file_type().is_ok_and(|t| t.is_file());
        if regular && pid != own && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The PID in a temp file's name after its prefix: `PID-N`, or `PID` as
/// earlier builds named them.
fn temp_pid(rest: &str) -> Option<u32> {
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    let (pid, n) = rest.split_once('-').unwrap_or((rest, "0"));
    (digits(pid) && digits(n)).then(|| pid.parse().ok())?
}

/// The signal, by number, that came last in a process whose handlers let
/// a blocking open go on ([`watch_waits`]), which ends [`open_fifo`]'s
/// wait for a reader; 0 for none.
static WAIT_SIGNAL: std::sync::LazyLock<std::sync::Arc<std::sync::atomic::AtomicUsize>> =
    std::sync::LazyLock::new(Default::default);

/// Has `signal`, which the caller now handles, end a wait for a FIFO's
/// reader (`open_fifo`): a handler that only raises a flag is restarted
/// out of a blocking open(2), which would then wait for a reader for ever
/// whatever came. Called where the handlers are installed.
pub fn watch_waits(signal: i32) -> std::io::Result<()> {
    let flag = std::sync::Arc::clone(&WAIT_SIGNAL);
    signal_hook::flag::register_usize(signal, flag, signal as usize).map(|_| ())
}

/// How often [`open_fifo`] tries the FIFO again while no process reads it.
const FIFO_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// Opens the FIFO at `path` for writing. open(2) blocks until a process
/// opens it for reading, and a handled signal would not end that wait
/// ([`watch_waits`]): this tries without blocking until a reader is
/// there, says once after a second that it waits, and gives up at a
/// signal.
fn open_fifo(path: &Path) -> std::io::Result<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    use std::sync::atomic::Ordering;
    // A signal is never lowered: one that stopped the run before its
    // reports are written ends a wait for a reader at once.
    let start = std::time::Instant::now();
    let mut said = false;
    loop {
        let open = (std::fs::OpenOptions::new().write(true))
            .custom_flags(libc::O_NONBLOCK)
            .open(path);
        match open {
            Ok(file) => {
                // Writes block again, as to any FIFO.
                // SAFETY: fcntl reads and sets the flags of a descriptor
                // that `file` owns.
                unsafe {
                    let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
                    if flags < 0
                        || libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags & !libc::O_NONBLOCK)
                            < 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                return Ok(file);
            }
            // No reader yet.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => {}
            Err(e) => return Err(e),
        }
        match WAIT_SIGNAL.load(Ordering::SeqCst) {
            0 => {}
            signal => {
                let name = signal_hook::low_level::signal_name(signal as i32).unwrap_or("a signal");
                return Err(std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    format!("stopped by {name} while waiting for a process to open the FIFO for reading"),
                ));
            }
        }
        if !said && start.elapsed() >= std::time::Duration::from_secs(1) {
            crate::say!(
                "waiting for a process to open the FIFO {} for reading",
                path.display()
            );
            said = true;
        }
        std::thread::sleep(FIFO_POLL);
    }
}

/// The signal, by number, that came during an atomic write of a command
/// that called [`stop_writes_on_signals`]; 0 for none.
static STOP_SIGNAL: std::sync::LazyLock<std::sync::Arc<std::sync::atomic::AtomicUsize>> =
    std::sync::LazyLock::new(Default::default);
/// Raised except while such a write is under way: a signal then ends the
/// process as by default.
static OUTSIDE_WRITE: std::sync::LazyLock<std::sync::Arc<std::sync::atomic::AtomicBool>> =
    std::sync::LazyLock::new(|| std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true)));
/// Whether the handlers are installed.
static WATCHED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The signals whose handlers a command may install, and whose
/// disposition at the start [`ignored_at_start`] keeps.
const HANDLED_SIGNALS: [i32; 5] = [
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGHUP,
    signal_hook::consts::SIGQUIT,
    signal_hook::consts::SIGTSTP,
];

/// Whether `signal` was ignored when the process started, as `nohup`
/// leaves SIGHUP, and a shell SIGINT and SIGQUIT for a job it runs in the
/// background: a handler would undo that (a run started under `nohup`
/// stopped when the terminal closed), so none is installed for it, and it
/// stays ignored. The dispositions are read once, at the first call,
/// which `main` makes before any handler is installed.
pub fn ignored_at_start(signal: i32) -> bool {
    static IGNORED: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();
    let ignored = IGNORED.get_or_init(|| {
        let ignored_now = |signal: i32| {
            // SAFETY: sigaction(2) with no new action only writes `old`,
            // a zeroed struct of ours.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction == libc::SIG_IGN
            }
        };
        HANDLED_SIGNALS
            .into_iter()
            .filter(|&s| ignored_now(s))
            .collect()
    });
    ignored.contains(&signal)
}

/// From now on SIGINT, SIGTERM and SIGHUP that come while an output is
/// written to a temp file ([`write_atomically`] to a regular file) stop
/// it at its next write or before its rename ([`WriteStopped`]): the temp
/// file is removed and the command ends with the signal's status. At any
/// other time, and while a stream (a FIFO, standard output) is written,
/// they end the process as by default. For commands whose work is one
/// long write (`gen`, `predict`).
pub fn stop_writes_on_signals() -> Result<()> {
    use signal_hook::flag;
    use std::sync::atomic::Ordering;
    if !WATCHED.swap(true, Ordering::SeqCst) {
        let signals = [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ];
        for signal in signals.into_iter().filter(|&s| !ignored_at_start(s)) {
            flag::register_conditional_default(signal, OUTSIDE_WRITE.clone())
                .and_then(|_| flag::register_usize(signal, STOP_SIGNAL.clone(), signal as usize))
                .and_then(|_| watch_waits(signal))
                .map_err(|e| Error::Config(format!("installing a signal handler: {e}")))?;
        }
    }
    Ok(())
}

/// The signal that came during a watched write, as [`WriteStopped`].
fn write_stopped() -> std::io::Result<()> {
    match STOP_SIGNAL.load(std::sync::atomic::Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(std::io::Error::other(WriteStopped(signal as i32))),
    }
}

/// Marks an atomic write under way (signals stop it) where
/// [`stop_writes_on_signals`] was called, until dropped; a signal that came
/// after its last check then ends the process as by default.
struct WatchedWrite(bool);

impl WatchedWrite {
    fn start() -> WatchedWrite {
        use std::sync::atomic::Ordering;
        let watched = WATCHED.load(Ordering::SeqCst);
        if watched {
            OUTSIDE_WRITE.store(false, Ordering::SeqCst);
        }
        WatchedWrite(watched)
    }
}

impl Drop for WatchedWrite {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        if self.0 {
            OUTSIDE_WRITE.store(true, Ordering::SeqCst);
            let signal = STOP_SIGNAL.load(Ordering::SeqCst);
            if signal != 0 && !std::thread::panicking() {
                // Came after the rename: the file is whole, the status the
                // signal's. (A stopped write returns its error first, and
                // the command exits with the signal's status.)
                let _ = signal_hook::low_level::emulate_default_handler(signal as i32);
            }
        }
    }
}

/// The signal that stopped a write (see [`stop_writes_on_signals`]).
#[derive(Debug, thiserror::Error)]
#[error("interrupted by signal {0}")]
pub struct WriteStopped(pub i32);

/// The file an output is written to: each write gives up with
/// [`WriteStopped`] once a signal came during a watched write.
pub struct Output(File);

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stopped()?;
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Writes a stream (a device, a FIFO, an open file under `/proc`) in place;
/// this process's standard output or error through its open descriptor.
fn write_through(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<Output>) -> std::io::Result<()>,
) -> Result<()> {
    let result = (|| {
        let file = match standard_stream(path) {
            Some(file) => {
                std::io::stdout().flush()?;
                file
            }
            None if is_fifo(path) => open_fifo(path)?,
            None => std::fs::OpenOptions::new().write(true).open(path)?,
        };
        let mut w = BufWriter::new(Output(file));
        body(&mut w)?;
        w.flush()
    })();
    result.map_err(|e| Error::io(path, e))
}

/// Whether `path` is, at the end of its links, a FIFO (a pipe under
/// /proc/self/fd too).
pub fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo())
}

/// The device and inode of the file behind `fd`.
fn fd_identity(fd: std::os::fd::BorrowedFd) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = fd_metadata(fd)?;
    Some((meta.dev(), meta.ino()))
}

/// What is open at `fd`, through a copy of the descriptor.
fn fd_metadata(fd: std::os::fd::BorrowedFd) -> Option<std::fs::Metadata> {
    File::from(fd.try_clone_to_owned().ok()?).metadata().ok()
}

/// The device and inode of the file at `path`, symlinks followed; none
/// for the null device, which is the same file for everyone.
fn stream_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let id = |m: std::fs::Metadata| (m.dev(), m.ino());
    let target = std::fs::metadata(path).ok().map(id)?;
    let null = std::fs::metadata("/dev/null").ok().map(id);
    (null != Some(target)).then_some(target)
}

/// A copy of this process's standard output's or error's descriptor, where
/// `path` is that file (the same device and inode, as `/dev/stdout` is).
/// Written through it, the output goes on from the descriptor's offset,
/// or appends where the shell opened it with `>>`; opened again by name,
/// a file behind it would be written from its start, over what is there.
fn standard_stream(path: &Path) -> Option<File> {
    use std::os::fd::AsFd;
    let target = stream_identity(path)?;
    let (out, err) = (std::io::stdout(), std::io::stderr());
    let fd = [out.as_fd(), err.as_fd()]
        .into_iter()
        .find(|&fd| fd_identity(fd) == Some(target))?;
    fd.try_clone_to_owned().ok().map(File::from)
}

/// Whether `path` is this process's standard output: by its names
/// (`-`, which the options read as `/dev/stdout`, `/dev/fd/1`), or as the
/// file behind it (not the null device, which is everyone's, unless so
/// named): then a command prints its report on standard error instead,
/// so that the report does not mix into the file written there.
pub fn is_standard_output(path: &Path) -> bool {
    use std::os::fd::AsFd;
    // By its own names even where it is the null device (`> /dev/null`):
    // the output asked for it, and the report goes to standard error.
    let named = ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"];
    if named.iter().any(|n| path == Path::new(n)) {
        return true;
    }
    let target = stream_identity(path);
    target.is_some() && target == fd_identity(std::io::stdout().as_fd())
}

/// Whether `path` is this process's standard input by any name (`-`, which
/// the options read as `/dev/stdin`, `/dev/fd/0`, or a FIFO's own name
/// where that FIFO is standard input), not the null device.
pub fn is_standard_input(path: &Path) -> bool {
    use std::os::fd::AsFd;
    let named = ["/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"];
    if named.iter().any(|n| path == Path::new(n)) {
        return true;
    }
    // Where standard input is a regular file, another path to that file
    // reads it by name, from its start: no stream is shared.
    let stdin = std::io::stdin();
    let regular = fd_metadata(stdin.as_fd()).is_some_and(|m| m.is_file());
    let target = stream_identity(path);
    !regular && target.is_some() && target == fd_identity(stdin.as_fd())
}

/// What names a file for [`same_file`]: its canonical path (the parent's,
/// plus the name, when it does not exist yet) and, when it exists, its
/// device and inode.
fn identity(path: &Path) -> (Option<PathBuf>, Option<(u64, u64)>) {
    use std::os::unix::fs::MetadataExt;
    let id = std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let canonical = std::fs::canonicalize(path).ok().or_else(|| {
        let resolved = match resolve_output(path) {
            Ok(Target::File(p)) => p,
            _ => path.to_path_buf(),
        };
        let name = resolved.file_name()?;
        let parent = std::fs::canonicalize(parent_dir(&resolved)).ok()?;
        Some(parent.join(name))
    });
    (canonical, id)
}

/// Whether two paths name the same file, existing or to be created. A
/// device or a FIFO (two outputs to `/dev/null`) is never the same file;
/// a stream that is a regular file open on a descriptor (`-` where the
/// shell gave `< data.csv` or `>> data.csv`) is that file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let stream = |p: &Path| matches!(resolve_output(p), Ok(Target::Stream));
    if stream(a) || stream(b) {
        let regular = |p: &Path| {
            let meta = std::fs::metadata(p).ok().filter(|m| m.is_file())?;
            Some((meta.dev(), meta.ino()))
        };
        let id = regular(a);
        return id.is_some() && id == regular(b);
    }
    let (path_a, id_a) = identity(a);
    let (path_b, id_b) = identity(b);
    if let (Some(x), Some(y)) = (id_a, id_b) {
        return x == y;
    }
    path_a.is_some() && path_a == path_b
}

/// Refuses, before any work, two of `paths` (flag, path) that name the
/// same file when at least one of them is written. A pair in `allowed`
/// (flags, in either order) may share a file: an input replaced by design.
pub fn check_distinct(
    outputs: &[(&str, &Path)],
    inputs: &[(&str, &Path)],
    allowed: &[(&str, &str)],
) -> Result<()> {
    let ok = |a: &str, b: &str| {
        allowed
            .iter()
            .any(|&(x, y)| (x, y) == (a, b) || (y, x) == (a, b))
    };
    // Two readers of one stream would each get part of it.
    let stdin: Vec<&str> = (inputs.iter())
        .filter(|(_, path)| is_standard_input(path))
        .map(|(flag, _)| *flag)
        .collect();
    if let [first, second, ..] = stdin[..] {
        return Err(Error::Config(format!(
            "{first} and {second} both read standard input; give one of them a file"
        )));
    }
    for (i, &(flag, path)) in outputs.iter().enumerate() {
        let others = outputs[i + 1..].iter().chain(inputs);
        for &(other, other_path) in others {
            if !ok(flag, other) && same_file(path, other_path) {
                return Err(Error::Config(format!(
                    "{} and {} are the same file; give each its own path",
                    option_file(flag, path),
                    option_file(other, other_path)
                )));
            }
        }
    }
    Ok(())
}

/// `flag` and its file as [`check_distinct`] names them: standard input
/// or output by what the shell opened there (`--data (standard input:
/// /data/d.csv)`), as the user may have given no name.
fn option_file(flag: &str, path: &Path) -> String {
    use std::os::fd::AsRawFd;
    let fd = if matches!(resolve_output(path), Ok(Target::File(_))) {
        None
    } else if is_standard_input(path) {
        Some(("input", std::io::stdin().as_raw_fd()))
    } else if is_standard_output(path) {
        Some(("output", std::io::stdout().as_raw_fd()))
    } else {
        None
    };
    match fd {
        Some((stream, fd)) => {
            let file = std::fs::read_link(format!("/proc/self/fd/{fd}"));
            let file = file
                .map(|f| format!(": {}", f.display()))
                .unwrap_or_default();
            format!("{flag} (standard {stream}{file})")
        }
        None => format!("{flag} {}", path.display()),
    }
}

fn weight_name(i: usize) -> String {
    format!("layers.{i}.weight")
}

fn bias_name(i: usize) -> String {
    format!("layers.{i}.bias")
}

/// The layer a tensor named as [`weight_name`] or [`bias_name`] names
/// belongs to, its index written as they write it; None for any other name.
fn layer_of(name: &str) -> Option<usize> {
    let (index, part) = name.strip_prefix("layers.")?.split_once('.')?;
    let i: usize = index.parse().ok()?;
    (i.to_string() == index && ["weight", "bias"].contains(&part)).then_some(i)
}

/// The model as safetensors bytes: `layers.{i}.weight` (out, in) and
/// `layers.{i}.bias` (out) in f32, with the activation, feature names and
/// target name as metadata. The header's keys are sorted, so the same model
/// always gives the same bytes (the safetensors crate's writer takes the
/// metadata as a `HashMap`, whose order changes from run to run).
pub fn model_to_bytes(model: &Model) -> Result<Vec<u8>> {
    model_to_bytes_with(model, &[])
}

/// Names of a checkpoint's optimizer-state tensors start with this.
pub const OPTIMIZER_PREFIX: &str = "optimizer.";
/// The tensor of a checkpoint that holds `--keep best`'s or `best-val`'s
/// parameters.
pub const KEPT_TENSOR: &str = "kept.params";
/// The tensor of a checkpoint of an `--lr auto` run that holds the run's
/// initial parameters, which a retry at a lower rate starts again from.
pub const LR_AUTO_START_TENSOR: &str = "lr_auto.start";

/// How `--lr auto` chose a checkpointed run's rate, so that a resumed run
/// that diverges is retried as the run would have been.
#[derive(Clone, Debug, PartialEq)]
pub struct LrAuto {
    /// The range test's findings and the retries so far, as `--json`'s
    /// `lr_range_test` (metadata `lr_auto`).
    pub found: crate::optim::range::Found,
    /// The run's initial parameters ([`LR_AUTO_START_TENSOR`]).
    pub start: Vec<f32>,
}

/// [`model_to_bytes`] with extra metadata entries (a checkpoint's).
pub fn model_to_bytes_with(model: &Model, extra: &[(&str, String)]) -> Result<Vec<u8>> {
    model_to_bytes_with_state(model, extra, &Saved::default(), None, None)
}

/// [`model_to_bytes_with`] plus an optimizer's state: each of its vectors
/// as an F64 tensor `optimizer.{name}`, and its step count as metadata
/// `optimizer_steps`; and `--keep`'s parameters as the tensor
/// [`KEPT_TENSOR`] with metadata `kept_epoch` and `kept_loss`; and an
/// `--lr auto` run's findings as metadata `lr_auto` with its initial
/// parameters as [`LR_AUTO_START_TENSOR`].
pub fn model_to_bytes_with_state(
    model: &Model,
    extra: &[(&str, String)],
    state: &Saved,
    kept: Option<&Kept>,
    lr_auto: Option<&LrAuto>,
) -> Result<Vec<u8>> {
    use serde_json::{json, Map, Value};
    model.check()?;
    // Nothing is written that model_from_bytes would refuse.
    let unsaved = |m: String| Error::Config(format!("the model cannot be saved: {m}"));
    let names = model.feature_names.len();
    if names != model.layout.features() {
        return Err(unsaved(format!(
            "it names {} but takes {}; give Model::feature_names one name per input",
            crate::units::count(names, "feature"),
            crate::units::count(model.layout.features(), "feature")
        )));
    }
    check_names(&model.feature_names, &model.target_name).map_err(unsaved)?;
    if let Some(k) = model.params.iter().position(|v| !v.is_finite()) {
        return Err(unsaved(format!(
            "parameter {k} is {}; a model file holds finite values",
            model.params[k]
        )));
    }
    let mut header = Map::new();
    let mut data = Vec::with_capacity(model.params.len() * 4);
    let mut ranges = Vec::new();
    let mut tensor = |name: String, dtype: &str, shape: Vec<usize>, bytes: Vec<u8>| {
        let start = data.len();
        data.extend(bytes);
        header.insert(
            name.clone(),
            json!({ "dtype": dtype, "shape": shape, "data_offsets": [start, data.len()] }),
        );
        ranges.push((name, start..data.len()));
    };
    let f32s = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect();
    for (name, values) in &state.tensors {
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        tensor(
            format!("{OPTIMIZER_PREFIX}{name}"),
            "F64",
            vec![values.len()],
            bytes,
        );
    }
    if let Some(k) = kept {
        tensor(
            KEPT_TENSOR.to_string(),
            "F32",
            vec![k.params.len()],
            f32s(&k.params),
        );
    }
    if let Some(a) = lr_auto {
        let n = a.start.len();
        tensor(LR_AUTO_START_TENSOR.into(), "F32", vec![n], f32s(&a.start));
    }
    for (i, layer) in model.layout.layers().iter().enumerate() {
        tensor(
            weight_name(i),
            "F32",
            vec![layer.outputs, layer.inputs],
            f32s(&model.params[layer.weight.clone()]),
        );
        tensor(
            bias_name(i),
            "F32",
            vec![layer.outputs],
            f32s(&model.params[layer.bias.clone()]),
        );
    }
    let feature_names =
        serde_json::to_string(&model.feature_names).expect("a list of strings serialises");
    // The struct's fields serialise in declaration order and floats in
    // their shortest exact form, so the text is the same for the same stats.
    let standardization = model.standardization.as_ref().map(|s| {
        (
            "standardization",
            serde_json::to_string(s).expect("the statistics serialise"),
        )
    });
    let imputation = model.imputation.as_ref().map(|m| {
        (
            "imputation",
            serde_json::to_string(m).expect("the means serialise"),
        )
    });
    let categories = (!model.categories.is_empty()).then(|| {
        (
            "categories",
            serde_json::to_string(&model.categories).expect("the categories serialise"),
        )
    });
    let dates = (!model.dates.is_empty()).then(|| {
        (
            "dates",
            serde_json::to_string(&model.dates).expect("the names serialise"),
        )
    });
    let feature_ranges = model.ranges.as_ref().map(|r| {
        (
            FEATURE_RANGES,
            serde_json::to_string(r).expect("the ranges serialise"),
        )
    });
    let transform = (!model.target_transform.is_none())
        .then(|| (TARGET_TRANSFORM, model.target_transform.name().to_string()));
    // A model of a transformed target has a format of its own, which
    // versions that know no transform refuse rather than predict t(y).
    let format = match model.target_transform.is_none() {
        true => FORMAT,
        false => FORMAT_TRANSFORMED,
    };
    let meta: Map<String, Value> = [
        ("activation", model.activation.name().to_string()),
        ("feature_names", feature_names),
        ("format", format.to_string()),
        ("target_name", model.target_name.clone()),
    ]
    .into_iter()
    .chain(standardization)
    .chain(imputation)
    .chain(categories)
    .chain(dates)
    .chain(transform)
    .chain(feature_ranges)
    .chain(extra.iter().map(|(k, v)| (*k, v.clone())))
    .chain(
        (!state.tensors.is_empty() || state.steps > 0)
            .then(|| ("optimizer_steps", state.steps.to_string())),
    )
    .chain(kept.into_iter().flat_map(|k| {
        [
            ("kept_epoch", k.epoch.to_string()),
            ("kept_loss", format!("{:?}", k.loss)),
        ]
    }))
    .chain(lr_auto.map(|a| {
        let found = serde_json::to_string(&a.found).expect("a range test serialises");
        ("lr_auto", found)
    }))
    .chain([(
        TENSORS_DIGEST,
        tensors_digest(ranges.iter().map(|(n, r)| (n.as_str(), &data[r.clone()]))).hex(),
    )])
    .map(|(k, v)| (k.to_string(), Value::String(v)))
    .collect();
    let mut meta = meta;
    let digest = metadata_digest(
        meta.iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?))),
    );
    meta.insert(METADATA_DIGEST.into(), Value::String(digest.hex()));
    header.insert("__metadata__".to_string(), Value::Object(meta));
    let mut text = Value::Object(header).to_string().into_bytes();
    // The data starts 8-byte aligned; the header is padded with spaces.
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut bytes = Vec::with_capacity(8 + text.len() + data.len());
    bytes.extend((text.len() as u64).to_le_bytes());
    bytes.extend(text);
    bytes.extend(data);
    Ok(bytes)
}

/// The `format` of a model file.
const FORMAT: &str = "shadertrain-mlp";

/// The `format` of a model file of a transformed target, which a version
/// before [`Model::target_transform`] refuses.
const FORMAT_TRANSFORMED: &str = "shadertrain-mlp+target-transform";

/// The metadata entry of the transform of a model's target
/// ([`Model::target_transform`]), written where there is one.
const TARGET_TRANSFORM: &str = "target_transform";

/// The metadata key of a model's [`FeatureRanges`]: JSON `{"min": [...],
/// "max": [...]}`, a value per feature. A reader that knows no such key
/// ignores it, so an earlier version reads the model as before.
const FEATURE_RANGES: &str = "feature_ranges";

/// The metadata entry of the digest of a model file's tensors.
const TENSORS_DIGEST: &str = "tensors_fnv1a64";

/// The metadata entry of the digest of a model file's other metadata.
const METADATA_DIGEST: &str = "metadata_fnv1a64";

/// FNV-1a 64 over a model file's metadata entries but the two digests,
/// in the byte order of their keys, each key and value followed by a 0
/// byte: a damaged or edited statistic, level or name fails the load
/// rather than predicting from it unseen, as the tensors' digest does
/// for the parameters (whose entry, left out, can still be deleted to
/// read a file whose tensors were changed).
fn metadata_digest<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> Fnv1a {
    let mut entries: Vec<_> = (entries.into_iter())
        .filter(|&(key, _)| key != METADATA_DIGEST && key != TENSORS_DIGEST)
        .collect();
    entries.sort_unstable();
    let mut digest = Fnv1a::new();
    for (key, value) in entries {
        for text in [key, value] {
            digest.update(text.as_bytes());
            digest.update(&[0]);
        }
    }
    digest
}

/// FNV-1a 64 over a model file's tensors, each one's bytes in turn, in
/// the byte order of their names: a damaged byte there fails the load
/// rather than training or predicting from a wrong parameter, and a tool
/// that writes the same tensors in another order (the safetensors
/// package sorts them) leaves it valid.
fn tensors_digest<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Fnv1a {
    let mut tensors: Vec<_> = tensors.into_iter().collect();
    tensors.sort_unstable_by_key(|&(name, _)| name);
    let mut digest = Fnv1a::new();
    for (_, bytes) in tensors {
        digest.update(bytes);
    }
    digest
}

pub fn save_model(model: &Model, path: &Path) -> Result<()> {
    save_model_with(model, path, &[])
}

/// [`save_model`] with extra metadata entries (the optimizer that trained it).
pub fn save_model_with(model: &Model, path: &Path, extra: &[(&str, String)]) -> Result<()> {
    let bytes = model_to_bytes_with(model, extra)?;
    write_atomically(path, |w| w.write_all(&bytes))
}

pub fn load_model(path: &Path) -> Result<Model> {
    let bytes = read_model_file(path)?;
    model_from_bytes(path, &bytes)
}

/// A model or checkpoint file's bytes, read no further than a model file
/// could run. Its first 8 bytes are its header's length: where that is 0
/// or more than [`MAX_HEADER`], the first bytes alone are returned, for
/// [`model_from_bytes`] to say what the file is instead (text, zeros:
/// a 2 GB file of zeros was read whole first). A regular file is then
/// read whole once its size is known to fit (the bytes and the parameters
/// parsed from them take about twice the file); another (a pipe, a
/// device, whose size is not known first) as far as the header and the
/// tensors' bytes it places, and one byte more, which where it is there
/// is an error (how many follow is not read): `/dev/zero` or a stream of
/// random bytes is refused at once rather than read without end.
fn read_model_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read as _;
    let io = |e| Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    let mut bytes = Vec::new();
    // Reads on until `bytes` holds `upto` (or the file ends).
    let mut fill = |bytes: &mut Vec<u8>, upto: u64| {
        let more = upto.saturating_sub(bytes.len() as u64);
        (&mut file).take(more).read_to_end(bytes)
    };
    // Enough to tell text after a UTF-8 byte-order mark.
    fill(&mut bytes, 16).map_err(io)?;
    let length = (bytes.get(..8))
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
        .filter(|&n| n > 0 && n <= MAX_HEADER);
    let Some(length) = length else {
        return Ok(bytes);
    };
    if meta.is_file() {
        fits_twice(path, meta.len())?;
        fill(&mut bytes, u64::MAX).map_err(io)?;
        return Ok(bytes);
    }
    let header_end = 8 + length;
    fill(&mut bytes, header_end).map_err(io)?;
    let header = bytes.get(8..).unwrap_or_default();
    let Ok(header) = serde_json::from_slice::<serde_json::Value>(header) else {
        return Ok(bytes);
    };
    // The end of the tensors' bytes: the last of their data_offsets.
    let end = (header.as_object().into_iter().flatten())
        .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let total = header_end.saturating_add(end);
    fits_twice(path, total)?;
    fill(&mut bytes, total.saturating_add(1)).map_err(io)?;
    if bytes.len() as u64 > total {
        return Err(Error::model_file(
            path,
            "more bytes follow its tensors' end (was something appended to it?)",
        ));
    }
    Ok(bytes)
}

/// Whether a model file of `len` bytes, and what is parsed from it, fits.
fn fits_twice(path: &Path, len: u64) -> Result<()> {
    crate::memory::check(
        len.checked_mul(2),
        || format!("loading {} ({})", path.display(), crate::units::bytes(len)),
        "is it the model file you meant?",
    )
}

/// The largest header a model file's first 8 bytes may announce, as the
/// safetensors reader allows; more is refused before it is read.
const MAX_HEADER: u64 = 100_000_000;

/// Why a model's names cannot be a model file's (its target's and its
/// features'), which [`model_from_bytes`] would refuse: each column is
/// matched to the model by name, so each must name one.
fn check_names(feature_names: &[String], target_name: &str) -> std::result::Result<(), String> {
    if target_name.is_empty() {
        return Err("metadata 'target_name' is empty; the target needs a name".into());
    }
    if let Some(k) = feature_names.iter().position(String::is_empty) {
        return Err(format!(
            "metadata 'feature_names' has an empty name (feature {}); each input column needs a name",
            k + 1
        ));
    }
    let mut seen = std::collections::HashSet::new();
    if let Some(twice) = feature_names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(format!(
            "metadata 'feature_names' names the feature '{twice}' twice; each input column must have its own name"
        ));
    }
    if feature_names.iter().any(|n| n == target_name) {
        return Err(format!(
            "the target '{target_name}' is also one of the model's features; a model cannot take its own target as an input"
        ));
    }
    Ok(())
}

/// Parses and checks a model file: every tensor present with the right dtype
/// and a shape that chains from the features to one output, nothing else,
/// and metadata that names a known activation and one name per feature.
pub fn model_from_bytes(path: &Path, bytes: &[u8]) -> Result<Model> {
    let bad = |m: String| Error::model_file(path, m);
    // A safetensors file starts with its header's length, 8 bytes that are
    // never all text (they would be a header of over 6e17 bytes), and then
    // the header's '{'.
    if bytes.starts_with(HISTORY_MAGIC) {
        return Err(bad(format!(
            "not a model file: it starts with {}, as the history file beside a checkpoint does, which that checkpoint reads; give the checkpoint, or a model file that train --save wrote",
            String::from_utf8_lossy(HISTORY_MAGIC)
        )));
    }
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    if text.len() >= 8
        && text[..8]
            .iter()
            .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
    {
        return Err(bad(
            "not a safetensors file: it starts with text (is it a CSV file?); a model file is what train --save or --checkpoint writes".into(),
        ));
    }
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(not_valid(bytes, &e)))?;
    let (length, header) =
        SafeTensors::read_metadata(bytes).map_err(|e| bad(not_valid(bytes, &e)))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if let Some(want) = meta.get(TENSORS_DIGEST) {
        let views = tensors.tensors();
        let got = tensors_digest(views.iter().map(|(n, t)| (n.as_str(), t.data()))).hex();
        // Files written before the digest went by name took it over the
        // data as laid out.
        let laid_out = || {
            let mut digest = Fnv1a::new();
            digest.update(&bytes[8 + length..]);
            digest.hex()
        };
        if *want != got && *want != laid_out() {
            return Err(bad(format!(
                "its tensors' bytes are not those it was written with (FNV-1a digest {got}, and metadata '{TENSORS_DIGEST}' says {want}): the file is damaged, or a tensor in it was changed since (delete that entry to read it anyway)"
            )));
        }
    }
    if let Some(want) = meta.get(METADATA_DIGEST) {
        let got = metadata_digest(meta.iter().map(|(k, v)| (k.as_str(), v.as_str()))).hex();
        if *want != got {
            return Err(bad(format!(
                "its metadata is not what it was written with (FNV-1a digest {got}, and metadata '{METADATA_DIGEST}' says {want}): the file is damaged, or an entry in it (a statistic, a name, a level) was edited since (delete that entry to read it anyway)"
            )));
        }
    }
    let get = |key: &str| {
        meta.get(key)
            .ok_or_else(|| bad(format!("metadata has no '{key}'")))
    };
    if ["format", "activation", "feature_names"]
        .iter()
        .all(|k| !meta.contains_key(*k))
    {
        return Err(bad(format!(
            "not a shadertrain model: a safetensors file whose metadata holds none of the keys train --save writes ('format', 'activation', 'feature_names'), such as another tool's weights ({}); a model file is what train --save or --checkpoint writes",
            crate::units::count(tensors.len(), "tensor")
        )));
    }
    if let Some(format) =
        (meta.get("format")).filter(|f| ![FORMAT, FORMAT_TRANSFORMED].contains(&f.as_str()))
    {
        return Err(bad(format!(
            "metadata 'format' is '{format}'; expected {FORMAT}, or {FORMAT_TRANSFORMED} for a model trained on a transform of its target"
        )));
    }
    let activation_name = get("activation")?;
    let activation = Activation::parse(activation_name).ok_or_else(|| {
        bad(format!(
            "unknown activation '{activation_name}'; expected sigmoid or tanh"
        ))
    })?;
    let feature_names: Vec<String> = serde_json::from_str(get("feature_names")?).map_err(|e| {
        bad(format!(
            "metadata 'feature_names' is not a JSON list of strings ({e})"
        ))
    })?;
    let target_name = get("target_name")?.clone();
    check_names(&feature_names, &target_name).map_err(bad)?;
    // Per-feature statistics, each checked against the features named.
    fn per_feature<T: serde::de::DeserializeOwned>(
        meta: &std::collections::HashMap<String, String>,
        key: &str,
        what: &str,
        check: impl Fn(&T) -> std::result::Result<(), String>,
        bad: impl Fn(String) -> Error,
    ) -> Result<Option<T>> {
        let Some(text) = meta.get(key) else {
            return Ok(None);
        };
        let value: T = serde_json::from_str(text)
            .map_err(|e| bad(format!("metadata '{key}' is not {what} ({e})")))?;
        check(&value).map_err(|m| bad(format!("metadata '{key}' {m}")))?;
        Ok(Some(value))
    }
    let f = feature_names.len();
    let standardization = per_feature(
        &meta,
        "standardization",
        "a set of statistics",
        |s: &Standardization| s.check(f),
        bad,
    )?;
    let imputation = per_feature(
        &meta,
        "imputation",
        "a set of feature means or medians",
        |m: &Imputation| m.check(f),
        bad,
    )?;
    let categories = per_feature(
        &meta,
        "categories",
        "a list of one-hot encoded columns",
        |c: &Vec<Category>| crate::model::check_categories(c, &feature_names),
        bad,
    )?
    .unwrap_or_default();
    let dates = per_feature(
        &meta,
        "dates",
        "a list of feature names",
        |d: &Vec<String>| crate::model::check_dates(d, &feature_names, &categories),
        bad,
    )?
    .unwrap_or_default();
    // Left out by earlier models, and for rows never on the host.
    let ranges = per_feature(
        &meta,
        FEATURE_RANGES,
        "a set of feature ranges",
        |r: &FeatureRanges| r.check(f),
        bad,
    )?;
    // Left out where the target is as it is (and by older versions).
    let target_transform = match meta.get(TARGET_TRANSFORM) {
        None if meta.get("format").is_some_and(|f| f == FORMAT_TRANSFORMED) => {
            return Err(bad(format!(
                "metadata 'format' is {FORMAT_TRANSFORMED}, but there is no '{TARGET_TRANSFORM}' to say which transform to undo"
            )));
        }
        None => TargetTransform::None,
        Some(name) if meta.get("format").is_some_and(|f| f == FORMAT) => {
            return Err(bad(format!(
                "metadata '{TARGET_TRANSFORM}' is '{}', but 'format' is {FORMAT}, which a model of a transformed target is not written with ({FORMAT_TRANSFORMED})",
                crate::data::shown_cell(name)
            )));
        }
        Some(name) => TargetTransform::parse(name).ok_or_else(|| {
            bad(format!(
                "metadata '{TARGET_TRANSFORM}' is '{}'; expected log or asinh (or none)",
                crate::data::shown_cell(name)
            ))
        })?,
    };

    // A checkpoint's optimizer state rides along under its own prefix,
    // and `--keep`'s and `--lr auto`'s parameters under their own names.
    let mut names: Vec<&str> = tensors
        .names()
        .into_iter()
        .filter(|n| !n.starts_with(OPTIMIZER_PREFIX))
        .filter(|n| ![KEPT_TENSOR, LR_AUTO_START_TENSOR].contains(n))
        .collect();
    names.sort();
    let layers = names
        .iter()
        .filter_map(|n| layer_of(n))
        .max()
        .map_or(0, |i| i + 1);
    let unknown = names.iter().find(|n| layer_of(n).is_none());
    let missing = (0..layers)
        .flat_map(|i| [weight_name(i), bias_name(i)])
        .find(|n| !names.contains(&n.as_str()));
    const HOLDS: &str = "a model file holds layers.{i}.weight and layers.{i}.bias for each layer i from 0, and a checkpoint its optimizer's state";
    match (missing, unknown) {
        (Some(missing), Some(unknown)) => {
            return Err(bad(format!(
                "missing tensor '{missing}', and tensor '{unknown}' is none of a model's ({HOLDS})"
            )));
        }
        (Some(missing), None) => return Err(bad(format!("missing tensor '{missing}'"))),
        (None, Some(unknown)) => {
            return Err(bad(format!(
                "tensor '{unknown}' is none of a model's ({HOLDS})"
            )));
        }
        (None, None) => {}
    }
    if layers < 2 {
        return Err(bad(format!(
            "expected pairs layers.{{i}}.weight/bias for at least 2 layers (a hidden layer and the output), found {}",
            crate::units::count(names.len(), "tensor")
        )));
    }
    let mut params = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..layers {
        let read = |name: String, rank: usize| -> Result<(Vec<usize>, Vec<f32>)> {
            let t = tensors
                .tensor(&name)
                .map_err(|_| bad(format!("missing tensor '{name}'")))?;
            if t.dtype() != Dtype::F32 {
                return Err(bad(format!(
                    "tensor '{name}' is {:?}; expected F32",
                    t.dtype()
                )));
            }
            if t.shape().len() != rank {
                return Err(bad(format!(
                    "tensor '{name}' has shape {:?}; expected {rank} dimensions",
                    t.shape()
                )));
            }
            let values = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok((t.shape().to_vec(), values))
        };
        let (wshape, w) = read(weight_name(i), 2)?;
        let (bshape, b) = read(bias_name(i), 1)?;
        let (out, inp) = (wshape[0], wshape[1]);
        if i == 0 {
            if inp != feature_names.len() {
                return Err(bad(format!(
                    "tensor '{}' has shape {wshape:?}; expected [outputs, {}] (nn.Linear's [out, in]) for the {} the metadata names",
                    weight_name(i),
                    feature_names.len(),
                    crate::units::count(feature_names.len(), "feature")
                )));
            }
            sizes.push(inp);
        } else if inp != sizes[i] {
            return Err(bad(format!(
                "tensor '{}' has shape {wshape:?}; expected [{out}, {}] to follow the previous layer",
                weight_name(i),
                sizes[i]
            )));
        }
        if bshape[0] != out {
            return Err(bad(format!(
                "tensor '{}' has shape {bshape:?}; expected [{out}], as '{}' has shape {wshape:?} ([out, in])",
                bias_name(i),
                weight_name(i)
            )));
        }
        if w.iter().chain(&b).any(|v| !v.is_finite()) {
            return Err(bad(format!("layer {i} holds a non-finite value")));
        }
        sizes.push(out);
        params.extend(w);
        params.extend(b);
    }
    if sizes[layers] != 1 {
        return Err(bad(format!(
            "the output layer has {} units; expected 1",
            sizes[layers]
        )));
    }
    let layout = Layout::new(sizes[0], &sizes[1..layers])
        .map_err(|e| bad(format!("bad layer sizes: {e}")))?;
    Ok(Model {
        layout,
        activation,
        params,
        feature_names,
        target_name,
        standardization,
        imputation,
        categories,
        dates,
        target_transform,
        ranges,
    })
}

/// FNV-1a, 64 bits: a fixed, fast digest (not a cryptographic one) of a
/// data file's values and of a checkpoint's history. It streams, so a
/// digest of records can be carried on as records are appended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv1a(pub u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Fnv1a {
        Fnv1a(Self::OFFSET)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    /// The digest as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a::new()
    }
}

/// What a checkpoint adds to a model file.
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Updates done; the model holds the parameters after them.
    pub epoch: usize,
    /// The loss before each of those updates (`epoch` values).
    pub history: Vec<f64>,
    /// The run's options as JSON, to resume it with.
    pub options: serde_json::Value,
    /// (epoch, validation loss) where it was measured, epochs ≤ `epoch`;
    /// empty without a validation split.
    pub val_history: Vec<(usize, f64)>,
    /// The optimizer's state after those updates.
    pub optimizer: Saved,
    /// The `--data` file's rows, columns and digest; `None` for synthetic
    /// data and for checkpoints written before it was recorded.
    pub data: Option<DataDigest>,
    /// The history file the history was read from; `None` when it came
    /// from the header (checkpoints written before history files).
    pub history_file: Option<HistoryFile>,
    /// `--keep best`'s or `best-val`'s parameters so far, with the loss
    /// they were kept for; they may be the checkpoint's own.
    pub kept: Option<Kept>,
    /// The backend that wrote it (`cpu`, `reference` or `gpu`); `None` for
    /// checkpoints written before it was recorded.
    pub backend: Option<String>,
    /// The threads (`--threads`, 0 read as the machine's cores) of a run
    /// in one pass on the cpu backend, or of one whose held-out rows the
    /// host scored beside another backend, which fix the order of their
    /// sums; `None` for other runs, and for checkpoints written before it
    /// was recorded.
    pub threads: Option<usize>,
    /// The GPU backend's `--kernels` where the run gave other than auto
    /// (`fused`, `tiled`, `layered` or `wide`), which fix the order of its
    /// sums; `None` otherwise, and for checkpoints written before it was
    /// recorded.
    pub kernels: Option<String>,
    /// `mixed` where the run trained in mixed precision on the GPU, whose
    /// f16 products a run in f32 does not repeat; `None` otherwise, and
    /// for checkpoints written before it was recorded.
    pub precision: Option<String>,
    /// How `--lr auto` chose the rate; `None` for a rate given, and for
    /// checkpoints written before it was recorded.
    pub lr_auto: Option<LrAuto>,
    /// See [`CheckpointView::ended`]; false for checkpoints written before
    /// it was recorded.
    pub ended: bool,
}

/// A checkpoint's history file, as read: where, its record width and the
/// digest of the records the checkpoint holds.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryFile {
    pub path: PathBuf,
    pub columns: usize,
    pub digest: Fnv1a,
}

/// A checkpoint to write, borrowed from the run (no copy of its history).
pub struct CheckpointView<'a> {
    pub epoch: usize,
    /// At least `epoch` losses; the first `epoch` are recorded.
    pub history: &'a [f64],
    pub options: &'a serde_json::Value,
    /// (epoch, loss) in ascending epochs; those up to `epoch` are recorded.
    pub val_history: &'a [(usize, f64)],
    pub optimizer: &'a Saved,
    pub data: Option<&'a DataDigest>,
    /// `--keep`'s parameters so far.
    pub kept: Option<&'a Kept>,
    /// The backend training the run.
    pub backend: Option<&'a str>,
    /// See [`Checkpoint::threads`].
    pub threads: Option<usize>,
    /// See [`Checkpoint::kernels`].
    pub kernels: Option<&'a str>,
    /// See [`Checkpoint::precision`].
    pub precision: Option<&'a str>,
    /// How `--lr auto` chose the rate, where it did.
    pub lr_auto: Option<&'a LrAuto>,
    /// The run ended here on its own (its --epochs, a stop rule, a
    /// divergence), rather than being cut short (a signal, --max-time) or
    /// going on: a new run refuses to replace a checkpoint that says it
    /// did not ([`cut_short_checkpoint`]).
    pub ended: bool,
}

impl Checkpoint {
    pub fn view(&self) -> CheckpointView<'_> {
        CheckpointView {
            epoch: self.epoch,
            history: &self.history,
            options: &self.options,
            val_history: &self.val_history,
            optimizer: &self.optimizer,
            data: self.data.as_ref(),
            kept: self.kept.as_ref(),
            backend: self.backend.as_deref(),
            threads: self.threads,
            kernels: self.kernels.as_deref(),
            precision: self.precision.as_deref(),
            lr_auto: self.lr_auto.as_ref(),
            ended: self.ended,
        }
    }
}

/// The first bytes of a history file.
pub const HISTORY_MAGIC: &[u8; 8] = b"STHIST01";
/// The magic and the record width (u64, in f64 values).
const HISTORY_HEADER: u64 = 16;

/// Writes a checkpoint atomically: a model file (loadable by `predict`) with
/// `checkpoint_epoch` and `options` in its metadata, and the history in a
/// file beside it. See [`CheckpointWriter`].
pub fn save_checkpoint(model: &Model, ck: &Checkpoint, path: &Path) -> Result<()> {
    CheckpointWriter::new(path, None).write(model, &ck.view())
}

/// Writes the checkpoints of one run to one path, each costing the same
/// however long the run: the model, the optimizer state and the options go
/// in the checkpoint file (rewritten atomically each time), the history in
/// an append-only file beside it, `NAME.history` (or `NAME.history.1`),
/// whose records past the last checkpoint are appended and synced before
/// the checkpoint that counts them is renamed into place.
///
/// The checkpoint records the history file's name, how many records
/// belong to it and their FNV-1a digest; records past that count (a kill
/// between the append and the rename) are ignored on reading and
/// overwritten by the next append. A run that starts a new history at the
/// path (a new run, or a resume from elsewhere) writes the one of the two
/// names that the checkpoint in place does not refer to, and removes the
/// other once its own checkpoint has replaced the old one: a kill at any
/// moment leaves a checkpoint whose history file holds its records.
pub struct CheckpointWriter {
    path: PathBuf,
    /// The history file being appended to, once known.
    side: Option<SideHistory>,
    /// Where the run resumed from a checkpoint at another path (a copy):
    /// the history file that checkpoint reads, up to its records, which
    /// the history beside `path` never truncates nor removes, since the
    /// copy still reads it.
    from_copy: Option<SideHistory>,
}

/// The state of a history file this run appends to.
#[derive(Clone)]
struct SideHistory {
    path: PathBuf,
    columns: usize,
    /// Records written and synced.
    records: usize,
    /// Of those records' bytes.
    digest: Fnv1a,
    /// The other name at the path, removed after the first checkpoint
    /// that refers to this file.
    replaces: Option<PathBuf>,
}

impl CheckpointWriter {
    /// A writer to `path`, which continues `resumed` (the checkpoint read
    /// from `resumed.0`) in place when that is the same file: its history
    /// file then grows from the checkpoint's records, without a copy.
    pub fn new(path: &Path, resumed: Option<(&Path, &Checkpoint)>) -> CheckpointWriter {
        let read = resumed.and_then(|(from, ck)| {
            let h = ck.history_file.as_ref()?;
            let side = SideHistory {
                path: h.path.clone(),
                columns: h.columns,
                records: ck.epoch,
                digest: h.digest,
                replaces: None,
            };
            Some((side, same_file(from, path)))
        });
        let in_place = read.clone().and_then(|(side, same)| {
            let Ok(Target::File(resolved)) = resolve_output(path) else {
                return None;
            };
            let own = history_names(&resolved)?;
            let same_dir = std::fs::canonicalize(parent_dir(&resolved)).ok()
                == side.path.parent().map(Path::to_path_buf);
            let named = own.iter().any(|n| n.file_name() == side.path.file_name());
            (same && same_dir && named).then_some(side)
        });
        CheckpointWriter {
            path: path.to_path_buf(),
            side: in_place,
            from_copy: read.and_then(|(side, same)| (!same).then_some(side)),
        }
    }

    /// Refuses, before the run trains, a checkpoint whose first write
    /// would start its history in a file that holds another checkpoint's
    /// (one renamed or copied from this path reads it by name).
    pub fn check(&self) -> Result<()> {
        let Ok(Target::File(resolved)) = resolve_output(&self.path) else {
            return Ok(());
        };
        match (&self.side, history_slots(&resolved)) {
            (None, Some((fresh, ..))) => free_for(&resolved, &fresh, self.from_copy.as_ref()),
            _ => Ok(()),
        }
    }

    /// Appends the history past the last checkpoint and syncs it, then
    /// writes the checkpoint file atomically.
    pub fn write(&mut self, model: &Model, ck: &CheckpointView) -> Result<()> {
        let resolved = match resolve_output(&self.path)? {
            Target::File(p) => p,
            // A device or a FIFO has no file beside it: the history goes in
            // the header, as checkpoints before history files had it.
            Target::Stream => {
                let bytes = header_history_checkpoint(model, ck)?;
                return write_atomically(&self.path, |w| w.write_all(&bytes));
            }
        };
        let val = &ck.val_history[..ck.val_history.partition_point(|&(k, _)| k < ck.epoch)];
        let at_epoch = ck
            .val_history
            .iter()
            .find(|&&(k, _)| k == ck.epoch)
            .map(|&(_, l)| l);
        let columns = if ck.val_history.is_empty() { 1 } else { 2 };
        let mut side = match self.side.take() {
            Some(s) if s.columns == columns => s,
            _ => start_history(&resolved, columns, self.from_copy.as_ref())?,
        };
        if ck.epoch < side.records {
            // A rollback: the records before it are the same values, so
            // only the digest is taken again.
            side.digest = Fnv1a::new();
            side.digest
                .update(&encode_records(ck.history, val, 0, ck.epoch, columns));
            side.records = ck.epoch;
        }
        let bytes = encode_records(ck.history, val, side.records, ck.epoch, columns);
        let appended = (|| {
            use std::io::{Seek, SeekFrom};
            let mut f = std::fs::OpenOptions::new().write(true).open(&side.path)?;
            let offset = HISTORY_HEADER + (side.records * columns * 8) as u64;
            f.seek(SeekFrom::Start(offset))?;
            f.write_all(&bytes)?;
            f.sync_data()
        })();
        appended.map_err(|e| Error::io(&side.path, e))?;
        side.digest.update(&bytes);
        side.records = ck.epoch;
        let name = side
            .path
            .file_name()
            .expect("a history file has a name")
            .to_string_lossy()
            .into_owned();
        let mut extra = vec![
            ("checkpoint_epoch", ck.epoch.to_string()),
            ("history_file", name),
            ("history_records", ck.epoch.to_string()),
            ("history_columns", columns.to_string()),
            ("history_fnv1a64", side.digest.hex()),
            ("options", ck.options.to_string()),
        ];
        if let Some(l) = at_epoch {
            extra.push(("checkpoint_val_loss", format!("{l:?}")));
        }
        extra.extend(run_metadata(ck));
        let bytes = model_to_bytes_with_state(model, &extra, ck.optimizer, ck.kept, ck.lr_auto)?;
        let written = write_atomically(&self.path, |w| w.write_all(&bytes));
        if written.is_ok() {
            if let Some(old) = side.replaces.take() {
                // No checkpoint at this path refers to it any more.
                let _ = std::fs::remove_file(old);
            }
        }
        self.side = Some(side);
        written
    }
}

/// The files a checkpoint at `path` (symlinks followed) keeps its history
/// in, `NAME.history` and `NAME.history.1`; none for a device or a FIFO,
/// whose checkpoint holds its history.
pub fn checkpoint_history_files(path: &Path) -> Vec<PathBuf> {
    match resolve_output(path) {
        Ok(Target::File(resolved)) => (history_names(&resolved).into_iter().flatten())
            .map(|p| {
                p.strip_prefix(".")
                    .map_or_else(|_| p.clone(), Path::to_path_buf)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The two names a checkpoint at `resolved` may keep its history under.
fn history_names(resolved: &Path) -> Option<[PathBuf; 2]> {
    let name = resolved.file_name()?.to_string_lossy().into_owned();
    let dir = parent_dir(resolved);
    Some([
        dir.join(format!("{name}.history")),
        dir.join(format!("{name}.history.1")),
    ])
}

/// Creates an empty history file for a checkpoint at `resolved`, under the
/// name the checkpoint now there (if any) does not refer to; synced, and
/// its directory entry too. Where that name is the history file of the
/// copy the run resumed from (`copy`), it goes on from the copy's records
/// instead, which are this run's first ones (the copy ignores the records
/// past its count, and no checkpoint at `resolved` refers to them); the
/// file the copy reads is never removed.
fn start_history(
    resolved: &Path,
    columns: usize,
    copy: Option<&SideHistory>,
) -> Result<SideHistory> {
    let (path, other, read) = history_slots(resolved)
        .ok_or_else(|| Error::Config(format!("{} has no file name", resolved.display())))?;
    free_for(resolved, &path, copy)?;
    let copys = |p: &Path| copy.is_some_and(|c| same_file(p, &c.path));
    // The history of the checkpoint this one replaces goes once that is
    // replaced; one that no checkpoint here reads is left alone where it
    // holds records (a checkpoint renamed or copied from here may read it).
    let replaces = (std::fs::symlink_metadata(&other).is_ok_and(|m| m.is_file())
        && !copys(&other)
        && (read || !holds_records(&other)))
    .then_some(other);
    if let Some(c) = copy.filter(|_| copys(&path)) {
        if c.columns != columns {
            return Err(Error::Config(format!(
                "{} would start a new history in {}, which --resume's checkpoint reads; give --checkpoint another path",
                resolved.display(),
                path.display()
            )));
        }
        return Ok(SideHistory {
            replaces,
            ..c.clone()
        });
    }
    let created = (|| {
        let mut f = File::create(&path)?;
        f.write_all(HISTORY_MAGIC)?;
        f.write_all(&(columns as u64).to_le_bytes())?;
        f.sync_all()?;
        File::open(parent_dir(&path))?.sync_all()
    })();
    created.map_err(|e| Error::io(&path, e))?;
    Ok(SideHistory {
        path,
        columns,
        records: 0,
        digest: Fnv1a::new(),
        replaces,
    })
}

/// Whether the file at `path` is a history file that holds a record:
/// some checkpoint's, which a new history must not write over.
fn holds_records(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() > HISTORY_HEADER)
        && File::open(path).is_ok()
        && starts_with(path, HISTORY_MAGIC)
}

/// Where a new history for a checkpoint at `resolved` starts: the one of
/// its two names the checkpoint there (if any) does not read
/// ([`history_in_use`]); then the other, and whether that checkpoint
/// reads it.
fn history_slots(resolved: &Path) -> Option<(PathBuf, PathBuf, bool)> {
    let [first, second] = history_names(resolved)?;
    let in_use = history_in_use(resolved);
    let reads = |p: &Path| in_use.as_deref().is_some_and(|u| same_file(u, p));
    Some(match reads(&first) {
        true => (second, first, true),
        false => {
            let read = reads(&second);
            (first, second, read)
        }
    })
}

/// The history records a checkpoint's metadata names: the file by its
/// name, their count and width, and their digest.
struct HistoryWanted<'a> {
    name: &'a str,
    records: usize,
    columns: usize,
    digest: Fnv1a,
}

/// The history file the checkpoint at `path` reads, with its records:
/// where the file it names is another checkpoint's (it was renamed or
/// copied), its own name for one first (NAME.history, NAME.history.1),
/// which holds the same records where the history was renamed or copied
/// with it, and which a run at the other checkpoint's path never writes
/// over; then the file it names, in its folder.
fn find_history(path: &Path, want: &HistoryWanted) -> Result<(PathBuf, (Vec<f64>, ValHistory))> {
    let canonical = std::fs::canonicalize(path).ok();
    let dir = canonical
        .as_deref()
        .map_or_else(|| parent_dir(path), parent_dir);
    let named = dir.join(want.name);
    let read = |f: &Path| read_history_file(f, want.records, want.columns, want.digest);
    let own: Vec<PathBuf> = (canonical.as_deref().and_then(history_names))
        .into_iter()
        .flatten()
        .collect();
    if own.contains(&named) {
        return Ok((named.clone(), read(&named)?));
    }
    if let Some(found) = own
        .iter()
        .find_map(|o| read(o).ok().map(|r| (o.clone(), r)))
    {
        return Ok(found);
    }
    read(&named).map(|r| (named, r)).map_err(|e| {
        // An own name that holds other records: said, since it was
        // looked at first.
        let other = own.iter().find(|o| o.is_file());
        match (e, other) {
            (Error::ModelFile { path, message }, Some(other)) => Error::ModelFile {
                path,
                message: format!(
                    "{message}; {} beside the checkpoint holds other records",
                    other.display()
                ),
            },
            (e, _) => e,
        }
    })
}

/// The history file the checkpoint at `path` reads ([`find_history`]),
/// from its header; `None` where there is no such checkpoint, or no
/// file holds its records.
fn history_in_use(path: &Path) -> Option<PathBuf> {
    let meta = header_metadata(path)?;
    let text = |key: &str| meta[key].as_str();
    let want = HistoryWanted {
        name: text("history_file")?,
        records: text("history_records")?.parse().ok()?,
        columns: text("history_columns")?.parse().ok()?,
        digest: Fnv1a(u64::from_str_radix(text("history_fnv1a64")?, 16).ok()?),
    };
    find_history(path, &want).ok().map(|(file, _)| file)
}

/// Whether a new history for a checkpoint at `resolved` may start in
/// `side`: not where it holds another checkpoint's records, unless they
/// are those of the copy the run resumed from (`copy`), which it goes on
/// from.
fn free_for(resolved: &Path, side: &Path, copy: Option<&SideHistory>) -> Result<()> {
    let copys = copy.is_some_and(|c| same_file(side, &c.path));
    match !copys && holds_records(side) {
        true => Err(foreign_history(resolved, side)),
        false => Ok(()),
    }
}

/// The refusal to start a history for a checkpoint at `resolved` in
/// `side`, which holds another checkpoint's records, or (where the
/// checkpoint at `resolved` names `side`) records that do not match it.
fn foreign_history(resolved: &Path, side: &Path) -> Error {
    let at = resolved.display();
    let shown = side.strip_prefix(".").unwrap_or(side).display();
    let names = header_metadata(resolved).is_some_and(|meta| {
        let name = meta["history_file"].as_str();
        name.is_some_and(|n| side.file_name() == Some(std::ffi::OsStr::new(n)))
    });
    if names {
        return Error::Config(format!(
            "{shown} is the history the checkpoint at {at} names, but its records do not match the checkpoint's (the file is damaged, or another run wrote over it), so that run cannot be resumed, and a new checkpoint there would start its history in that file, writing over it: delete {shown} and {at} to start anew there, or give --checkpoint another path"
        ));
    }
    Error::Config(format!(
        "{shown} holds a checkpoint's history that no checkpoint at {at} reads, and a new checkpoint there would start its history in that file, writing over it; a checkpoint renamed or copied from {at} may read it (by that name, or as NAME.history beside itself), or a run was stopped while it wrote its first checkpoint there: move it beside the checkpoint that reads it as NAME.history, delete it if none does, or give --checkpoint another path",
    ))
}

/// The metadata of the model or checkpoint file at `path`, read from its
/// header alone; `None` where there is no such file or it is not one
/// (loading it says why).
fn header_metadata(path: &Path) -> Option<serde_json::Value> {
    use std::io::Read;
    let mut f = File::open(path).ok()?;
    let mut len = [0u8; 8];
    f.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    if len > 100_000_000 {
        return None;
    }
    let mut text = vec![0u8; len as usize];
    f.read_exact(&mut text).ok()?;
    let mut header: serde_json::Value = serde_json::from_slice(&text).ok()?;
    Some(header["__metadata__"].take())
}

/// Whether the model at `path` was trained on standardized rows (it holds
/// the statistics), read from its header alone; `None` where that cannot
/// be read without taking it from a later load: not a regular file (a
/// pipe is read once), or not a model (loading it says why).
pub fn model_standardizes(path: &Path) -> Option<bool> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    Some(header_metadata(path)?.get("standardization").is_some())
}

/// Records `from..to` of a history file: the loss before each update, and
/// with `columns` = 2 the validation loss measured at that epoch (NaN
/// where it was not), as little-endian f64.
fn encode_records(
    history: &[f64],
    val: &[(usize, f64)],
    from: usize,
    to: usize,
    columns: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(to.saturating_sub(from) * columns * 8);
    let mut measured = val[val.partition_point(|&(k, _)| k < from)..]
        .iter()
        .peekable();
    for (k, loss) in history.iter().enumerate().take(to).skip(from) {
        out.extend(loss.to_le_bytes());
        if columns == 2 {
            let v = measured
                .next_if(|&&(e, _)| e == k)
                .map_or(f64::NAN, |&(_, l)| l);
            out.extend(v.to_le_bytes());
        }
    }
    out
}

/// A checkpoint with its history in the header, as JSON (for a device or
/// a FIFO, and as checkpoints were written before history files).
fn header_history_checkpoint(model: &Model, ck: &CheckpointView) -> Result<Vec<u8>> {
    let history =
        serde_json::to_string(&ck.history[..ck.epoch]).expect("a list of numbers serialises");
    let mut extra = vec![
        ("checkpoint_epoch", ck.epoch.to_string()),
        ("history", history),
        ("options", ck.options.to_string()),
    ];
    let val = &ck.val_history[..ck.val_history.partition_point(|&(k, _)| k <= ck.epoch)];
    if !val.is_empty() {
        let val = serde_json::to_string(val).expect("pairs of numbers serialise");
        extra.push(("val_history", val));
    }
    extra.extend(run_metadata(ck));
    model_to_bytes_with_state(model, &extra, ck.optimizer, ck.kept, ck.lr_auto)
}

/// The metadata of a checkpoint's run that both its forms record, where
/// known: the data's digest, the backend, its threads, its kernels, its
/// precision, and whether the run ended there.
fn run_metadata(ck: &CheckpointView) -> Vec<(&'static str, String)> {
    let data = (ck.data).map(|d| serde_json::to_string(d).expect("a digest serialises"));
    [
        ("data", data),
        ("backend", ck.backend.map(str::to_string)),
        ("threads", ck.threads.map(|t| t.to_string())),
        ("kernels", ck.kernels.map(str::to_string)),
        ("precision", ck.precision.map(str::to_string)),
        ("checkpoint_ended", Some(ck.ended.to_string())),
    ]
    .into_iter()
    .filter_map(|(key, value)| Some((key, value?)))
    .collect()
}

/// The epoch of the checkpoint at `path` where it is one whose run did
/// not end there (interrupted, stopped by --max-time, killed, or its
/// last checkpoint not written: metadata `checkpoint_ended` "false"),
/// which --resume would continue; `None` where `path` is no regular file,
/// not a checkpoint, or one whose run ended there. A checkpoint written
/// before the entry counts as ended where it reached its run's
/// `--epochs`. Reads the file's header alone.
pub fn cut_short_checkpoint(path: &Path) -> Option<usize> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let meta = header_metadata(path)?;
    let epoch: usize = meta.get("checkpoint_epoch")?.as_str()?.parse().ok()?;
    let ended = match meta.get("checkpoint_ended").and_then(|e| e.as_str()) {
        Some(said) => said == "true",
        None => {
            let options = meta.get("options").and_then(|o| o.as_str());
            let options: Option<serde_json::Value> =
                options.and_then(|o| serde_json::from_str(o).ok());
            let epochs = options.as_ref().and_then(|o| o.get("epochs")?.as_u64());
            epochs.is_none_or(|epochs| epoch as u64 >= epochs)
        }
    };
    (!ended).then_some(epoch)
}

/// What a checkpoint read as a model holds, from its header
/// ([`checkpoint_as_model`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsModel {
    /// The epoch whose parameters it holds as its model's.
    pub epoch: usize,
    /// Whether its run went on past it ([`cut_short_checkpoint`]'s none).
    pub cut_short: bool,
    /// The epoch of `--keep`'s parameters, where it keeps another's.
    pub kept_epoch: Option<usize>,
}

/// [`AsModel`] of the checkpoint at `path`; `None` where `path` is no
/// regular file (a pipe is read once) or not a checkpoint. Reads the
/// file's header alone.
pub fn checkpoint_as_model(path: &Path) -> Option<AsModel> {
    if !std::fs::metadata(path).ok()?.is_file() {
        return None;
    }
    let meta = header_metadata(path)?;
    let number = |key: &str| meta.get(key)?.as_str()?.parse::<usize>().ok();
    let epoch = number("checkpoint_epoch")?;
    Some(AsModel {
        epoch,
        cut_short: cut_short_checkpoint(path).is_some(),
        kept_epoch: number("kept_epoch").filter(|&k| k != epoch),
    })
}

/// Reads a checkpoint, and its history file when it has one.
pub fn load_checkpoint(path: &Path) -> Result<(Model, Checkpoint)> {
    let bytes = read_model_file(path)?;
    checkpoint_from_bytes(path, &bytes)
}

/// Why `bytes` are not a safetensors file, from the parser's error `e`:
/// a file cut short (a copy or a write that stopped) says so, with the
/// bytes its header promises and the bytes there are, and one with bytes
/// past its tensors says how many.
fn not_valid(bytes: &[u8], e: &SafeTensorError) -> String {
    let count = crate::units::count;
    let len = bytes.len();
    let said = match (e, tensor_bytes(bytes)) {
        (SafeTensorError::HeaderTooSmall, _) if len == 0 => Some("it is empty".into()),
        (SafeTensorError::HeaderTooSmall, _) => Some(format!(
            "it has {}, fewer than the 8 that give a header's length",
            count(len, "byte")
        )),
        (SafeTensorError::InvalidHeaderLength, _) => {
            let header =
                u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes, or HeaderTooSmall"));
            // A file cut at 8 bytes ends before its header's first byte.
            let opens = bytes.get(8).is_none_or(|&b| b == b'{');
            let past = (len as u64) < header.saturating_add(8);
            // A whole header there all the same, with bytes after it other
            // than the header's padding (spaces): its length is what
            // changed. (A file cut inside the padding is just cut short.)
            let changed = whole_header(&bytes[8..])
                .filter(|&whole| bytes[8 + whole..].iter().any(|&b| b != b' '));
            if let (true, Some(whole)) = (opens && past, changed) {
                return format!(
                    "the file is damaged: its first 8 bytes give a header of {}, more than the file holds, but a whole header of {} follows them (were its first bytes changed?)",
                    count(header as usize, "byte"),
                    count(whole, "byte")
                );
            }
            (opens && past).then(|| {
                format!(
                    "its header is {} long and the file ends {} into it",
                    count(header as usize, "byte"),
                    count(len - 8, "byte")
                )
            })
        }
        (SafeTensorError::MetadataIncompleteBuffer, Some((header, data))) => {
            let have = len - 8 - header;
            if have > data {
                return format!(
                    "the file has {} past its tensors' end (was something appended to it?)",
                    count(have - data, "byte")
                );
            }
            Some(format!(
                "its tensors take {} after the header and the file holds {}",
                count(data, "byte"),
                count(have, "byte")
            ))
        }
        _ => None,
    };
    match said {
        Some(said) => format!("{CUT_SHORT}: {said}{UNFINISHED}"),
        None => format!("not a valid safetensors file ({e})"),
    }
}

/// The length of the JSON object `bytes` start with, where it is whole.
fn whole_header(bytes: &[u8]) -> Option<usize> {
    let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<serde_json::Value>();
    match values.next() {
        Some(Ok(serde_json::Value::Object(_))) => Some(values.byte_offset()),
        _ => None,
    }
}

/// How a model, checkpoint or history file that ends early is described:
/// `{CUT_SHORT}: what it holds{UNFINISHED}`.
const CUT_SHORT: &str = "the file is cut short";
const UNFINISHED: &str = " (a copy or a write that did not finish?)";

/// A safetensors file's header length and the bytes its tensors take
/// after it (the largest end offset), read from the header's JSON alone;
/// None where the file is shorter than its header or the header is not
/// that.
fn tensor_bytes(bytes: &[u8]) -> Option<(usize, usize)> {
    let header = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
    let json = bytes.get(8..8usize.checked_add(header)?)?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(json).ok()?;
    let ends = (map.iter())
        .filter(|(name, _)| *name != "__metadata__")
        .map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64());
    let end = ends
        .collect::<Option<Vec<u64>>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    Some((header, usize::try_from(end).ok()?))
}

/// Parses and checks a checkpoint. `path` names the source in errors, and
/// its folder holds the history file the checkpoint names (read here).
pub fn checkpoint_from_bytes(path: &Path, bytes: &[u8]) -> Result<(Model, Checkpoint)> {
    let model = model_from_bytes(path, bytes)?;
    let bad = |m: String| Error::model_file(path, m);
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(not_valid(bytes, &e)))?;
    let meta = header.metadata().clone().unwrap_or_default();
    let get = |key: &str| {
        meta.get(key).ok_or_else(|| {
            bad(format!(
                "not a checkpoint: metadata has no '{key}' (write one with train --checkpoint)"
            ))
        })
    };
    let epoch: usize = get("checkpoint_epoch")?
        .parse()
        .map_err(|_| bad("metadata 'checkpoint_epoch' is not a count".into()))?;
    let (history, mut val_history, history_file) = match meta.get("history") {
        Some(text) => {
            let history: Vec<f64> = serde_json::from_str(text)
                .map_err(|e| bad(format!("metadata 'history' is not a list of numbers ({e})")))?;
            let val: Vec<(usize, f64)> = match meta.get("val_history") {
                None => Vec::new(),
                Some(text) => serde_json::from_str(text).map_err(|e| {
                    bad(format!(
                        "metadata 'val_history' is not a list of [epoch, loss] pairs ({e})"
                    ))
                })?,
            };
            (history, val, None)
        }
        None => {
            let count = |key: &str| -> Result<usize> {
                get(key)?
                    .parse()
                    .map_err(|_| bad(format!("metadata '{key}' is not a count")))
            };
            let (records, columns) = (count("history_records")?, count("history_columns")?);
            if records != epoch || !(1..=2).contains(&columns) {
                return Err(bad(format!(
                    "metadata counts {records} history records of {columns} columns; expected {epoch} of 1 or 2"
                )));
            }
            let name = get("history_file")?;
            if name.is_empty() || Path::new(name).file_name() != Some(name.as_ref()) {
                return Err(bad(format!(
                    "metadata 'history_file' ({name}) is not a file name"
                )));
            }
            let digest = u64::from_str_radix(get("history_fnv1a64")?, 16)
                .map_err(|_| bad("metadata 'history_fnv1a64' is not a hex digest".into()))?;
            let want = HistoryWanted {
                name,
                records,
                columns,
                digest: Fnv1a(digest),
            };
            let (file, (history, mut val)) = find_history(path, &want)?;
            if let Some(text) = meta.get("checkpoint_val_loss") {
                let l = text
                    .parse()
                    .map_err(|_| bad("metadata 'checkpoint_val_loss' is not a number".into()))?;
                val.push((epoch, l));
            }
            let file = HistoryFile {
                path: file,
                columns,
                digest: Fnv1a(digest),
            };
            (history, val, Some(file))
        }
    };
    let finite = history.iter().filter(|l| l.is_finite()).count();
    if history.len() != epoch || finite != epoch {
        return Err(bad(format!(
            "the history holds {finite} finite losses; expected {epoch}"
        )));
    }
    val_history.sort_by_key(|&(k, _)| k);
    if val_history
        .iter()
        .any(|&(k, l)| k > epoch || !l.is_finite())
    {
        return Err(bad(format!(
            "the validation history holds an epoch past {epoch} or a non-finite loss"
        )));
    }
    let options = serde_json::from_str(get("options")?)
        .map_err(|e| bad(format!("metadata 'options' is not JSON ({e})")))?;
    let data = meta
        .get("data")
        .map(|text| {
            serde_json::from_str(text).map_err(|e| {
                bad(format!(
                    "metadata 'data' is not a data digest (rows, columns, fnv1a64) ({e})"
                ))
            })
        })
        .transpose()?;
    let optimizer = optimizer_state(path, bytes, meta.get("optimizer_steps"))?;
    let kept = kept_params(path, bytes, &meta, epoch, model.params.len())?;
    let lr_auto = match meta.get("lr_auto") {
        None => None,
        Some(text) => Some(LrAuto {
            found: serde_json::from_str(text).map_err(|e| {
                bad(format!(
                    "metadata 'lr_auto' is not a range test's record ({e})"
                ))
            })?,
            start: params_tensor(path, bytes, LR_AUTO_START_TENSOR, model.params.len())?,
        }),
    };
    let backend = match meta.get("backend").map(String::as_str) {
        None => None,
        Some(b @ ("cpu" | "reference" | "gpu")) => Some(b.to_string()),
        Some(b) => {
            return Err(bad(format!(
                "metadata 'backend' ({b}) is not cpu, reference or gpu"
            )))
        }
    };
    // --threads' bound, or this machine's cores where more: a run with
    // --threads 0 records the cores it ran on.
    let most = crate::cli::MOST_THREADS.max(crate::cpu::cores());
    let threads = match meta.get("threads").map(|t| t.parse::<usize>()) {
        None => None,
        Some(Ok(t)) if (1..=most).contains(&t) => Some(t),
        Some(_) => {
            return Err(bad(format!(
                "metadata 'threads' ({}) is not a thread count from 1 to {most}",
                meta["threads"]
            )))
        }
    };
    let ended = match meta.get("checkpoint_ended").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(e) => {
            return Err(bad(format!(
                "metadata 'checkpoint_ended' ({e}) is not true or false"
            )))
        }
    };
    let kernels = match meta.get("kernels").map(String::as_str) {
        None => None,
        Some(k @ ("fused" | "tiled" | "layered" | "wide")) => Some(k.to_string()),
        Some(k) => {
            return Err(bad(format!(
                "metadata 'kernels' ({k}) is not fused, tiled, layered or wide"
            )))
        }
    };
    let precision = match meta.get("precision").map(String::as_str) {
        None => None,
        Some("mixed") => Some("mixed".to_string()),
        Some(p) => return Err(bad(format!("metadata 'precision' ({p}) is not mixed"))),
    };
    Ok((
        model,
        Checkpoint {
            epoch,
            history,
            options,
            val_history,
            optimizer,
            data,
            history_file,
            kept,
            backend,
            threads,
            kernels,
            precision,
            lr_auto,
            ended,
        },
    ))
}

/// (epoch, validation loss) pairs, ascending.
type ValHistory = Vec<(usize, f64)>;

/// The first `records` records of the history file `path`, checked against
/// the checkpoint's `digest`: the losses, and the validation losses where
/// they were measured.
fn read_history_file(
    path: &Path,
    records: usize,
    columns: usize,
    digest: Fnv1a,
) -> Result<(Vec<f64>, ValHistory)> {
    use std::io::Read;
    let bad = |m: String| Error::model_file(path, m);
    let mut f = File::open(path).map_err(|e| {
        bad(format!(
            "cannot open this checkpoint's history file ({e}); keep it beside the checkpoint, under this name or renamed with it (NAME.history for a checkpoint NAME); a copy made without its history reads the original's, which a later run at the original's path removes"
        ))
    })?;
    let mut head = [0u8; HISTORY_HEADER as usize];
    f.read_exact(&mut head).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => bad(format!(
            "{CUT_SHORT}: it is shorter than the {HISTORY_HEADER} bytes of a history file's header{UNFINISHED}"
        )),
        _ => Error::io(path, e),
    })?;
    if &head[..8] != HISTORY_MAGIC {
        return Err(bad("not a history file (no STHIST01 magic)".into()));
    }
    let width = u64::from_le_bytes(head[8..].try_into().expect("8 bytes"));
    if width != columns as u64 {
        return Err(bad(format!(
            "records of {width} columns; the checkpoint expects {columns}"
        )));
    }
    let len = records
        .checked_mul(columns * 8)
        .ok_or_else(|| bad(format!("{records} records overflow")))?;
    let have = f.metadata().map_err(|e| Error::io(path, e))?.len() - HISTORY_HEADER;
    if have < len as u64 {
        return Err(bad(format!(
            "{CUT_SHORT}: it holds {} and the checkpoint needs {records}{UNFINISHED}",
            crate::units::count((have / (columns as u64 * 8)) as usize, "record")
        )));
    }
    let mut bytes = vec![0u8; len];
    f.read_exact(&mut bytes).map_err(|e| Error::io(path, e))?;
    let mut got = Fnv1a::new();
    got.update(&bytes);
    if got != digest {
        return Err(bad(format!(
            "its records do not match the checkpoint (FNV-1a digest {}, expected {}): the file is damaged, or another run wrote over it",
            got.hex(),
            digest.hex()
        )));
    }
    let values = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8")));
    let mut history = Vec::with_capacity(records);
    let mut val = Vec::new();
    if columns == 1 {
        history.extend(values);
    } else {
        let values: Vec<f64> = values.collect();
        for (k, pair) in values.chunks_exact(2).enumerate() {
            history.push(pair[0]);
            if !pair[1].is_nan() {
                val.push((k, pair[1]));
            }
        }
    }
    Ok((history, val))
}

/// A checkpoint's `--keep` parameters: the `kept.params` tensor (F32,
/// `len` values) with `kept_epoch` (at most `epoch`) and `kept_loss`.
fn kept_params(
    path: &Path,
    bytes: &[u8],
    meta: &std::collections::HashMap<String, String>,
    epoch: usize,
    len: usize,
) -> Result<Option<Kept>> {
    let bad = |m: String| Error::model_file(path, m);
    let Some(at) = meta.get("kept_epoch") else {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(not_valid(bytes, &e)))?;
        if tensors.tensor(KEPT_TENSOR).is_ok() {
            return Err(bad(format!(
                "it holds the tensor '{KEPT_TENSOR}' but no metadata 'kept_epoch' to say when they were kept"
            )));
        }
        return Ok(None);
    };
    let at: usize = at.parse().ok().filter(|&k| k <= epoch).ok_or_else(|| {
        bad(format!(
            "metadata 'kept_epoch' is not an epoch up to {epoch}"
        ))
    })?;
    let loss: f64 = meta
        .get("kept_loss")
        .and_then(|l| l.parse().ok())
        .filter(|l: &f64| l.is_finite())
        .ok_or_else(|| bad("metadata 'kept_loss' is missing or not a finite number".into()))?;
    Ok(Some(Kept {
        epoch: at,
        loss,
        params: params_tensor(path, bytes, KEPT_TENSOR, len)?,
    }))
}

/// The parameter block a checkpoint keeps beside its model as the tensor
/// `name`: F32, `len` values, each finite.
fn params_tensor(path: &Path, bytes: &[u8], name: &str, len: usize) -> Result<Vec<f32>> {
    let bad = |m: String| Error::model_file(path, m);
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(not_valid(bytes, &e)))?;
    let t = (tensors.tensor(name)).map_err(|_| bad(format!("no tensor '{name}'")))?;
    if t.dtype() != Dtype::F32 || t.shape() != [len] {
        return Err(bad(format!(
            "tensor '{name}' is {:?} {:?}; expected F32 [{len}]",
            t.dtype(),
            t.shape()
        )));
    }
    let params: Vec<f32> = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes(b.try_into().expect("chunks of 4")))
        .collect();
    if params.iter().any(|v| !v.is_finite()) {
        return Err(bad(format!("tensor '{name}' holds a non-finite value")));
    }
    Ok(params)
}

/// A checkpoint's optimizer state: its `optimizer.*` F64 tensors (one
/// dimension each, in the file's order of names) and `optimizer_steps`.
fn optimizer_state(path: &Path, bytes: &[u8], steps: Option<&String>) -> Result<Saved> {
    let bad = |m: String| Error::model_file(path, m);
    let tensors = SafeTensors::deserialize(bytes).map_err(|e| bad(not_valid(bytes, &e)))?;
    let count = match steps {
        None => 0,
        Some(s) => s
            .parse()
            .map_err(|_| bad("metadata 'optimizer_steps' is not a count".into()))?,
    };
    let mut names: Vec<&str> = tensors.names();
    names.retain(|n| n.starts_with(OPTIMIZER_PREFIX));
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let t = tensors
            .tensor(name)
            .map_err(|e| bad(format!("tensor '{name}': {e}")))?;
        if t.dtype() != Dtype::F64 || t.shape().len() != 1 {
            return Err(bad(format!(
                "tensor '{name}' is {:?} {:?}; expected one dimension of F64",
                t.dtype(),
                t.shape()
            )));
        }
        let values: Vec<f64> = t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8")))
            .collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad(format!("tensor '{name}' holds a non-finite value")));
        }
        out.push((name[OPTIMIZER_PREFIX.len()..].to_string(), values));
    }
    if steps.is_none() && !out.is_empty() {
        return Err(bad(
            "it holds the optimizer's state but no metadata 'optimizer_steps' to count its updates"
                .into(),
        ));
    }
    Ok(Saved {
        steps: count,
        tensors: out,
    })
}

/// One CSV line (its `\n` included) of `fields`, each quoted where it
/// holds a comma, a quote or a line end, so that [`crate::data::Table`]
/// reads the same names back.
pub fn csv_line<'a>(fields: impl IntoIterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = fields
        .into_iter()
        .map(|f| {
            if f.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", f.replace('"', "\"\""))
            } else {
                f.to_string()
            }
        })
        .collect();
    quoted.join(",") + "\n"
}

/// `v` as a CSV cell, in its shortest form that reads back as the same
/// f64: plain where that is short, with an exponent for magnitudes of
/// 1e16 and more or below 1e-5 (never 300 digits for a 1e300).
pub fn csv_number(v: f64) -> String {
    let plain = v == 0.0 || (1e-5..1e16).contains(&v.abs());
    if plain {
        format!("{v}")
    } else {
        format!("{v:e}")
    }
}

/// Writes `data` as CSV: the feature columns, then the target. Values are
/// written in their shortest exact form, so reading the file back gives
/// the same f32 bits.
pub fn write_csv(path: &Path, data: &Dataset) -> Result<()> {
    write_atomically(path, |w| {
        write_csv_header(w, data)?;
        write_csv_rows(w, data)
    })
}

/// The synthetic data set of [`Dataset::synthetic`] as [`write_csv`]
/// writes it, generated and written a part of about `CSV_PART_VALUES`
/// values (at least a row) at a time, so that a file of any length holds
/// one part in memory. The first part is generated before anything is
/// written: one too large for memory is refused as such, not as a write.
pub fn write_synthetic_csv(path: &Path, rows: usize, features: usize, seed: u64) -> Result<()> {
    crate::data::check_shape(rows, features)?;
    let part = (CSV_PART_VALUES / features.saturating_add(1)).clamp(1, rows);
    // A part's values and the features' names (about 40 bytes each).
    let need = crate::memory::sum(&[
        crate::memory::product(&[part, features.saturating_add(1), 4]),
        crate::memory::product(&[features, 40]),
    ]);
    crate::memory::check(
        need,
        || {
            let count = crate::units::count;
            let (all, part) = (count(rows, "row"), count(part, "row"));
            format!(
                "generating {all} × {} ({part} at a time)",
                count(features, "feature")
            )
        },
        "use fewer features",
    )?;
    let first = Dataset::synthetic_rows(rows, features, seed, 0..part)?;
    // The file's size from its first part's, written in memory (and then
    // to the file as it is), checked against its file system's free space
    // before hours of writing.
    let mut head = Vec::new();
    write_csv_header(&mut head, &first)
        .and_then(|_| write_csv_rows(&mut head, &first))
        .map_err(|e| Error::io(path, e))?;
    let size = head.len() as f64 * rows as f64 / part as f64;
    check_room(path, size, || {
        format!(
            "{} × {}",
            crate::units::count(rows, "row"),
            crate::units::count(features, "feature")
        )
    })?;
    drop(first);
    write_atomically(path, |w| {
        w.write_all(&head)?;
        for start in (part..rows).step_by(part) {
            let range = start..rows.min(start + part);
            let data = Dataset::synthetic_rows(rows, features, seed, range)
                .map_err(std::io::Error::other)?;
            write_csv_rows(w, &data)?;
        }
        Ok(())
    })
}

/// Refuses to write about `size` bytes (`what`) to `path` where it would
/// go to a new file on a file system with less room than that (a
/// stream, standard output included, is not checked).
fn check_room(path: &Path, size: f64, what: impl FnOnce() -> String) -> Result<()> {
    let Some(dir) = file_folder(path) else {
        return Ok(());
    };
    let Some(free) = free_bytes(&dir) else {
        return Ok(());
    };
    if size <= free as f64 {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{}: {} take about {} as CSV, and {} has {} free; write it elsewhere, or fewer rows",
        path.display(),
        what(),
        crate::units::bytes(size as u64),
        dir.display(),
        crate::units::bytes(free)
    )))
}

/// The folder, made absolute, that the new file of an output at `path`
/// goes to (symlinks followed); none for a stream.
fn file_folder(path: &Path) -> Option<PathBuf> {
    if standard_stream(path).is_some() {
        return None;
    }
    let Ok(Target::File(resolved)) = resolve_output(path) else {
        return None;
    };
    let dir = parent_dir(&resolved);
    Some(std::path::absolute(&dir).unwrap_or(dir))
}

/// Refuses, before a run, outputs (flag, path, about how many bytes) that
/// their file systems have too little room for: written at the run's end,
/// they would fail only then, and the run would end unsaved. Each is
/// written to a new file beside the old one before it replaces it, so
/// each needs its own size free, and those sharing a file system need
/// together their sizes less the files they replace. Streams, and file
/// systems whose room cannot be told, are not checked.
pub fn check_room_for(outputs: &[(&str, &Path, u64)]) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    struct System {
        device: u64,
        dir: PathBuf,
        free: u64,
        outputs: Vec<String>,
        /// The outputs' sizes, the largest and the sum less the files they replace.
        largest: u64,
        net: i128,
    }
    let mut systems: Vec<System> = Vec::new();
    for &(flag, path, bytes) in outputs {
        let Some(dir) = file_folder(path) else {
            continue;
        };
        let (Ok(meta), Some(free)) = (std::fs::metadata(&dir), free_bytes(&dir)) else {
            continue;
        };
        let named = format!("{flag} {}", path.display());
        let old = std::fs::metadata(path).map_or(0, |m| if m.is_file() { m.len() } else { 0 });
        let net = i128::from(bytes) - i128::from(old);
        match systems.iter_mut().find(|s| s.device == meta.dev()) {
            Some(s) => {
                s.outputs.push(named);
                s.largest = s.largest.max(bytes);
                s.net += net;
            }
            None => systems.push(System {
                device: meta.dev(),
                dir,
                free,
                outputs: vec![named],
                largest: bytes,
                net,
            }),
        }
    }
    let need = |s: &System| s.net.max(i128::from(s.largest)) as u64;
    match systems.into_iter().find(|s| need(s) > s.free) {
        None => Ok(()),
        Some(s) => {
            let (names, need_s, it) = match s.outputs.len() {
                1 => (s.outputs.concat(), "needs", "it"),
                _ => (crate::units::joined(&s.outputs, "and"), "need", "them"),
            };
            Err(Error::Config(format!(
                "{names} {need_s} about {} free to be written, and {} has {}: the run would end unable to write {it}; free room there or give another path",
                crate::units::bytes(need(&s)),
                s.dir.display(),
                crate::units::bytes(s.free)
            )))
        }
    }
}

/// [`free_bytes`] on the file system of the open `file`.
fn fd_free_bytes(file: &File) -> Option<u64> {
    use std::os::fd::AsRawFd;
    // SAFETY: fstatvfs writes only into the struct it is given, and reads
    // the descriptor, which `file` owns.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::fstatvfs(file.as_raw_fd(), &mut stat) };
    (rc == 0).then(|| room(&stat)).flatten()
}

/// Bytes free to this user on the file system of `dir`; `None` where it
/// cannot be told.
fn free_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let name = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes only into the struct it is given, and reads
    // the NUL-terminated name.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(name.as_ptr(), &mut stat) };
    (rc == 0).then(|| room(&stat)).flatten()
}

/// The bytes free to this user that `stat` reports: to root, the blocks
/// kept back from other users too. None where it cannot tell (some FUSE
/// mounts report no blocks at all).
fn room(stat: &libc::statvfs) -> Option<u64> {
    // SAFETY: geteuid reads this process's effective user and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let blocks = if root { stat.f_bfree } else { stat.f_bavail };
    #[allow(clippy::unnecessary_cast)]
    let free = (blocks as u64).checked_mul(stat.f_frsize as u64);
    (stat.f_blocks != 0).then_some(free).flatten()
}

/// Values [`write_synthetic_csv`] generates at a time (4 MiB of f32s).
const CSV_PART_VALUES: usize = 1 << 20;

fn write_csv_header(w: &mut impl Write, data: &Dataset) -> std::io::Result<()> {
    let names = data.feature_names.iter().chain([&data.target_name]);
    w.write_all(csv_line(names.map(String::as_str)).as_bytes())
}

fn write_csv_rows(w: &mut impl Write, data: &Dataset) -> std::io::Result<()> {
    let mut line = String::new();
    for n in 0..data.rows {
        line.clear();
        for v in data.row(n) {
            line.push_str(&format!("{v},"));
        }
        line.push_str(&format!("{}\n", data.y[n]));
        w.write_all(line.as_bytes())?;
    }
    Ok(())
}

/// `epoch,loss`; row k is the loss at the start of epoch k, and the last row
/// the loss after the final update. Values are written in their shortest
/// exact form.
pub fn write_history(path: &Path, losses: &[f64]) -> Result<()> {
    write_history_with_val(path, losses, None)
}

/// [`write_history`], with a third column `val_loss` when `val` is given:
/// the validation loss of the same parameters at the epochs where it was
/// measured, empty elsewhere.
pub fn write_history_with_val(
    path: &Path,
    losses: &[f64],
    val: Option<&[(usize, f64)]>,
) -> Result<()> {
    write_atomically(path, |w| {
        match val {
            None => writeln!(w, "epoch,loss")?,
            Some(_) => writeln!(w, "epoch,loss,val_loss")?,
        }
        let mut measured = val.unwrap_or_default().iter().peekable();
        for (k, l) in losses.iter().enumerate() {
            if val.is_none() {
                writeln!(w, "{k},{l:?}")?;
                continue;
            }
            while measured.next_if(|(e, _)| *e < k).is_some() {}
            match measured.next_if(|(e, _)| *e == k) {
                Some((_, v)) => writeln!(w, "{k},{l:?},{v:?}")?,
                None => writeln!(w, "{k},{l:?},")?,
            }
        }
        Ok(())
    })
}

/// The training losses of a history file.
pub fn read_history(path: &Path) -> Result<Vec<f64>> {
    read_history_with_val(path).map(|h| h.loss)
}

/// A history file's columns.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Row k: the training loss at the start of epoch k.
    pub loss: Vec<f64>,
    /// With a `val_loss` column: the validation loss per row, `None` where
    /// it was not measured.
    pub val_loss: Option<Vec<Option<f64>>>,
}

/// Reads a history file with or without its `val_loss` column.
pub fn read_history_with_val(path: &Path) -> Result<History> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut lines = text.lines();
    let with_val = match lines.next().map(str::trim) {
        Some("epoch,loss") => false,
        Some("epoch,loss,val_loss") => true,
        _ => {
            return Err(Error::Csv {
                path: path.to_path_buf(),
                line: 1,
                column: 0,
                message: "expected the header 'epoch,loss' or 'epoch,loss,val_loss'".into(),
            })
        }
    };
    let mut losses = Vec::new();
    let mut val = Vec::new();
    for (i, line) in lines.enumerate() {
        let bad = |column: usize, message: String| Error::Csv {
            path: path.to_path_buf(),
            line: i as u64 + 2,
            column,
            message,
        };
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        let width = if with_val { 3 } else { 2 };
        if cells.len() != width {
            return Err(bad(
                0,
                format!("expected {width} cells, found {}", cells.len()),
            ));
        }
        if cells[0].parse::<usize>() != Ok(i) {
            return Err(bad(1, format!("expected epoch {i}")));
        }
        let number = |j: usize| {
            cells[j]
                .parse::<f64>()
                .map_err(|_| bad(j + 1, format!("'{}' is not a number", cells[j])))
        };
        losses.push(number(1)?);
        if with_val {
            val.push(if cells[2].is_empty() {
                None
            } else {
                Some(number(2)?)
            });
        }
    }
    Ok(History {
        loss: losses,
        val_loss: with_val.then_some(val),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_keeps_old_file_on_failure() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.bin");
        std::fs::write(&p, b"old").unwrap();
        let r = write_atomically(&p, |w| {
            w.write_all(b"half")?;
            Err(std::io::Error::other("interrupted"))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomically(&p, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
    }

    /// Whatever sits at a temp file's name, a symlink to a file
    /// elsewhere among them, is neither opened nor followed: the write
    /// goes to a new file, and the file linked to keeps its bytes.
    #[test]
    fn a_write_never_follows_what_sits_at_a_temp_name() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, b"keep").unwrap();
        let p = dir.path().join("h.csv");
        // Every name this process's next writes could take (well past the
        // writes of the other tests in this binary).
        let pid = std::process::id();
        for n in 0..5000 {
            let link = dir.path().join(format!(".h.csv.tmp-{pid}-{n}"));
            std::os::unix::fs::symlink(&victim, link).unwrap();
        }
        write_atomically(&p, |w| w.write_all(b"history")).unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(!std::fs::symlink_metadata(&p).unwrap().is_symlink());
        assert_eq!(std::fs::read(&p).unwrap(), b"history");
    }

    /// Names with commas, quotes or line ends read back as written.
    #[test]
    fn csv_lines_read_back_as_their_fields() {
        let names = ["plain", "price, usd", "say \"hi\"", "two\nlines", "x"];
        let text = csv_line(names) + "1,2,3,4,5\n";
        let table = crate::data::Table::parse(Path::new("t.csv"), text.as_bytes()).unwrap();
        assert_eq!(table.header, names);
        assert_eq!(table.cells, [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(csv_line(["a", "b"]), "a,b\n");
    }

    /// Numbers read back as the same f64, short where they can be.
    #[test]
    fn csv_numbers_read_back_exactly() {
        let values = [
            0.0,
            -0.0,
            1.5,
            100000003.25,
            1e-5,
            9.99e-6,
            1e16,
            -5.76e78,
            1e300,
        ];
        for v in values {
            let text = csv_number(v);
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{text}"
            );
            assert!(text.len() <= 24, "{text}");
        }
        assert_eq!(csv_number(100000003.25), "100000003.25");
        assert_eq!(csv_number(-5.76e78), "-5.76e78");
    }

    /// A replaced file keeps its permission bits; a new one gets the
    /// process's defaults.
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.st");
        write_atomically(&p, |w| w.write_all(b"one")).unwrap();
        let fresh = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomically(&p, |w| w.write_all(b"two")).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640, "a new file had {fresh:o}");
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
    }

    /// Outputs that fit their file system's room alone but not together
    /// are refused together, naming both; a stream is not checked.
    #[test]
    fn outputs_are_refused_where_their_file_system_lacks_room() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        let (a, b) = (dir.path().join("m.st"), dir.path().join("c.st"));
        let three_quarters = free / 4 * 3;
        check_room_for(&[("--save", &a, three_quarters)]).unwrap();
        check_room_for(&[("--checkpoint", &b, three_quarters)]).unwrap();
        let both = [
            ("--save", a.as_path(), three_quarters),
            ("--checkpoint", &b, three_quarters),
        ];
        let err = check_room_for(&both).unwrap_err().to_string();
        let names = format!(
            "--save {} and --checkpoint {} need about",
            a.display(),
            b.display()
        );
        assert!(
            err.starts_with(&names) && err.contains("unable to write them"),
            "{err}"
        );
        let err = check_room_for(&[("--save", &a, free * 2)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("needs about") && err.contains(&format!("{} has", dir.path().display())),
            "{err}"
        );
        check_room_for(&[("--save", Path::new("/dev/null"), u64::MAX / 2)]).unwrap();
    }

    #[test]
    fn a_write_removes_temp_files_of_dead_runs_only() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.st");
        // A PID that was a process and is no more: a reaped child.
        let dead = std::process::Command::new("true")
            .spawn()
            .and_then(|mut c| c.wait().map(|_| c.id()))
            .unwrap();
        assert!(!Path::new(&format!("/proc/{dead}")).exists());
        let live = std::process::id();
        let parent = std::os::unix::process::parent_id();
        let names = [
            format!(".m.st.tmp-{dead}"),
            format!(".m.st.tmp-{dead}-3"),
            ".m.st.tmp-4294967295".to_string(),
            format!(".m.st.tmp-{parent}"),
            format!(".m.st.tmp-{parent}-0"),
            format!(".m.st.tmp-{dead}-"),
            format!(".m.st.tmp-{dead}-1-2"),
            ".m.st.tmp-".to_string(),
            ".m.st.tmp-12x".to_string(),
            format!(".other.st.tmp-{dead}"),
            format!("m.st.tmp-{dead}"),
        ];
        for n in &names {
            std::fs::write(dir.path().join(n), b"partial").unwrap();
        }
        // A folder with a temp file's name is not a file to remove.
        std::fs::create_dir(dir.path().join(".m.st.tmp-4294967294")).unwrap();
        write_atomically(&p, |w| w.write_all(b"model")).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        let mut want: Vec<String> = names[3..].to_vec();
        want.extend(["m.st".to_string(), ".m.st.tmp-4294967294".to_string()]);
        want.sort();
        assert_eq!(left, want, "own pid {live}");
        assert_eq!(std::fs::read(&p).unwrap(), b"model");
    }

    #[test]
    fn history_with_validation_round_trips_with_gaps() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.csv");
        let losses = [4.0, 3.0, 2.5, 0.1 + 0.2];
        write_history_with_val(&p, &losses, Some(&[(0, 5.0), (2, 2.75), (3, 1.0 / 3.0)])).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert_eq!(text.lines().nth(2), Some("1,3.0,"));
        let h = read_history_with_val(&p).unwrap();
        assert_eq!(h.loss, losses);
        assert_eq!(
            h.val_loss.unwrap(),
            [Some(5.0), None, Some(2.75), Some(1.0 / 3.0)]
        );
        write_history(&p, &losses).unwrap();
        assert_eq!(read_history_with_val(&p).unwrap().val_loss, None);
    }

    #[test]
    fn directory_output_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            check_output_path(dir.path()),
            Err(Error::Config(_))
        ));
        let missing = check_output_path(&dir.path().join("no/such/m")).unwrap_err();
        assert!(
            missing.to_string().ends_with("/no/such does not exist"),
            "{missing}"
        );
        // A folder there but out of reach is not called missing: a loop
        // of links, a file where a folder goes.
        std::os::unix::fs::symlink("b", dir.path().join("a")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("b")).unwrap();
        std::fs::write(dir.path().join("f"), "").unwrap();
        for (parent, why) in [("a", "symbolic links"), ("f/g", "Not a directory")] {
            let e = check_output_path(&dir.path().join(parent).join("m")).unwrap_err();
            let e = e.to_string();
            assert!(e.contains("cannot be reached (") && e.contains(why), "{e}");
        }
    }
}
