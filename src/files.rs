//! The data folder's files are the server's alone: the folder is created 0700, the database
//! with its WAL and SHM files and the key files 0600, and a secret file that other users can
//! read is refused (it may already have been copied). Unix modes; elsewhere these do nothing.

use std::{fs, path::Path};

use anyhow::{bail, Context};

/// Creates `dir` and its missing parents, readable by the owner only (0700; existing folders
/// keep their mode: they may be shared, like `/var/lib`).
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("cannot create the folder {}", dir.display()))
}

/// Options that open a file only its owner can read (mode 0600 on Unix), for writing.
pub fn private_file_options() -> fs::OpenOptions {
    let mut options = fs::OpenOptions::new();
    options.write(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes an existing `path` readable by its owner only (0600): the database of a version that
/// created it world-readable. SQLite gives its WAL and SHM files the database's mode. Returns
/// whether the mode changed.
pub fn make_private(path: &Path) -> anyhow::Result<bool> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let Ok(meta) = fs::metadata(path) else {
            return Ok(false);
        };
        if meta.permissions().mode() & 0o077 != 0 {
            fs::set_permissions(path, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot make {} private (chmod 600)", path.display()))?;
            return Ok(true);
        }
    }
    let _ = path;
    Ok(false)
}

/// Refuses secret file `path` when users other than its owner may read or change it.
pub fn check_secret_file(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} holds a secret but other users may read it (mode {:o}); if they could \
                 have copied it, replace it; then run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    let _ = path;
    Ok(())
}
