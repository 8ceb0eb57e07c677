//! A usable `XDG_RUNTIME_DIR` before the first wgpu instance exists.
//!
//! On Linux the Vulkan stack loads libwayland-client, which prints
//! `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` each
//! time it looks for a display and the variable is unset, empty or not an
//! absolute path (six lines for `shadertrain info` on lavapipe). libwayland
//! needs no more than an absolute path: a missing directory, a file or a
//! mode-0755 directory keep it quiet. We hold the variable to the XDG base
//! directory rule instead (an existing directory, owned by this user, mode
//! 0700), since that is what anything reading it may assume, and otherwise
//! point it at a private directory of our own in the temporary directory
//! (or, where `TMPDIR` names none that can hold it, in `/tmp`, `/var/tmp`
//! or `/dev/shm`).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

const VAR: &str = "XDG_RUNTIME_DIR";

/// Sets `XDG_RUNTIME_DIR` for this process to a private directory when it
/// is not a usable runtime directory; does nothing after the first call,
/// nothing when it is usable, and nothing when no private directory can be
/// made (the messages then remain, nothing else changes).
///
/// Soundness of `set_var`: the C library's `getenv` reads the environment
/// without the lock that Rust's own `env::var` and `Command` take, so
/// writing it while another thread is in C code that reads it would be a
/// data race. The write happens once, inside `call_once`:
/// - in the binary, `main` calls this before anything starts a thread
///   (the CPU backend's helpers, the sharded runner, MPI's progress threads);
/// - in a library caller such as a test binary, where the harness's threads
///   may already run, every wgpu instance is made after this returns
///   (`context::instance` calls it first, and `call_once` holds back any
///   other thread calling it meanwhile), so no thread can be inside the
///   Vulkan loader or a driver, the C code that reads this variable, while
///   it is written; the other threads' Rust reads of the environment wait
///   for the write on std's lock. C code outside wgpu reading the
///   environment on another thread at that moment is the remaining case,
///   and nothing in this crate or its tests does that.
pub fn ensure() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let uid = effective_uid();
        let current = std::env::var_os(VAR);
        if usable(current.as_deref(), uid) {
            return;
        }
        let bases = [std::env::temp_dir()]
            .into_iter()
            .chain(FALLBACKS.map(PathBuf::from));
        if let Some(dir) = bases
            .map(|base| private_dir(&base, uid))
            .find_map(Result::ok)
        {
            std::env::set_var(VAR, dir);
        }
    });
}

/// Where the private directory goes when the temporary directory
/// (`TMPDIR`) cannot hold it: one that does not exist, or is read-only.
const FALLBACKS: [&str; 3] = ["/tmp", "/var/tmp", "/dev/shm"];

/// Whether `value` names a runtime directory as the XDG base directory
/// specification has it: an absolute path to a directory (not a symbolic
/// link to one) owned by `uid` with mode 0700.
fn usable(value: Option<&OsStr>, uid: u32) -> bool {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return false;
    };
    let path = Path::new(value);
    path.is_absolute() && private_to(path, uid)
}

/// Whether `path` is a directory, not a link, owned by `uid`, mode 0700.
fn private_to(path: &Path, uid: u32) -> bool {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    std::fs::symlink_metadata(path)
        .is_ok_and(|m| m.is_dir() && m.uid() == uid && m.permissions().mode() & 0o7777 == 0o700)
}

/// `base/shadertrain-runtime-UID`, made with mode 0700, or reused when it
/// is already a directory owned by `uid` with mode 0700; an error when
/// it cannot be made, or something else has its name (another user's
/// directory, a link, a file).
fn private_dir(base: &Path, uid: u32) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    let dir = base.join(format!("shadertrain-runtime-{uid}"));
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    // A umask never widens 0700 but may narrow it; the check below then
    // refuses the directory rather than loosening it by hand.
    if private_to(&dir, uid) {
        Ok(dir)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("{} is not a private directory of ours", dir.display()),
        ))
    }
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and
    // cannot fail (POSIX).
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A directory `private` of mode 0700 in `tmp`.
    fn made_private(tmp: &Path) -> std::path::PathBuf {
        let private = tmp.join("private");
        std::fs::create_dir(&private).unwrap();
        mode(&private, 0o700);
        private
    }

    #[test]
    fn a_private_directory_is_kept_and_anything_else_replaced() {
        let uid = effective_uid();
        let tmp = tempfile::tempdir().unwrap();
        let private = made_private(tmp.path());
        assert!(usable(Some(private.as_os_str()), uid));

        let open = tmp.path().join("open");
        std::fs::create_dir(&open).unwrap();
        mode(&open, 0o755);
        let file = tmp.path().join("file");
        std::fs::write(&file, b"").unwrap();
        mode(&file, 0o700);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        let missing = tmp.path().join("missing");
        for bad in [&open, &file, &link, &missing] {
            assert!(!usable(Some(bad.as_os_str()), uid), "{}", bad.display());
        }
        assert!(!usable(None, uid), "unset");
        assert!(!usable(Some(OsStr::new("")), uid), "empty");
        assert!(!usable(Some(OsStr::new("relative/dir")), uid), "relative");
        // Someone else's directory, though private.
        assert!(!usable(Some(private.as_os_str()), uid.wrapping_add(1)));
    }

    #[test]
    fn a_relative_path_or_a_special_mode_bit_is_not_a_runtime_directory() {
        let uid = effective_uid();
        let tmp = tempfile::tempdir().unwrap();
        let private = made_private(tmp.path());
        // The same directory, from the working directory up to the root
        // and down again.
        let here = std::env::current_dir().unwrap();
        let up = "../".repeat(here.components().count() - 1);
        let relative = Path::new(&up).join(private.strip_prefix("/").unwrap());
        assert!(relative.is_relative() && private_to(&relative, uid));
        assert!(!usable(Some(relative.as_os_str()), uid), "{relative:?}");
        // Sticky: more than 0700.
        mode(&private, 0o1700);
        let m = std::fs::metadata(&private).unwrap().permissions().mode();
        assert_eq!(m & 0o7777, 0o1700);
        assert!(!usable(Some(private.as_os_str()), uid));
    }

    #[test]
    fn the_private_directory_is_made_once_then_reused() {
        let uid = effective_uid();
        let tmp = tempfile::tempdir().unwrap();
        let made = private_dir(tmp.path(), uid).unwrap();
        assert_eq!(made, tmp.path().join(format!("shadertrain-runtime-{uid}")));
        assert!(usable(Some(made.as_os_str()), uid));
        std::fs::write(made.join("kept"), b"").unwrap();
        assert_eq!(private_dir(tmp.path(), uid).unwrap(), made);
        assert!(made.join("kept").exists(), "reuse emptied the directory");
        // A directory of that name that is not private is left as it is.
        mode(&made, 0o755);
        assert!(private_dir(tmp.path(), uid).is_err());
        assert_eq!(
            std::fs::metadata(&made).unwrap().permissions().mode() & 0o777,
            0o755
        );
        // So is a file of that name, and a base that does not exist.
        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join(format!("shadertrain-runtime-{uid}")), b"").unwrap();
        assert!(private_dir(other.path(), uid).is_err());
        assert!(private_dir(&tmp.path().join("missing"), uid).is_err());
    }
}
