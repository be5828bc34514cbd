//! The data directory and the SQLite file: owner-only (0700 and 0600), since they hold the
//! server's private keys, its secret key and every stored (encrypted) passphrase; and the
//! generated first password, written to a file there instead of the log.
use std::{
    fs,
    io::Write,
    os::unix::fs::{OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
};

use anyhow::Context;
use sea_orm::DatabaseConnection;

use crate::{config::Config, db};

/// Where a generated password of the first superuser is written.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Makes the data directory (0700, also when it existed with a looser mode), the SQLite file
/// (0600) when the database is one, connects and applies the migrations.
pub async fn open_database(config: &Config) -> anyhow::Result<DatabaseConnection> {
    prepare(&config.data_dir)?;
    let url = config.database_url()?;
    if let Some(file) = sqlite_file(&url) {
        prepare_file(&file)?;
    }
    let db = db::connect(&url).await?;
    db::migrate(&db).await?;
    Ok(db)
}

fn prepare(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir)
        .with_context(|| format!("creating the data directory {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("setting the mode of {}", dir.display()))
}

/// The file of a `sqlite://PATH?…` URL (not an in-memory database).
pub(crate) fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or(rest);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// Creates the database file owner-only before SQLite does (SQLite gives its WAL and shared
/// memory files the database file's mode), or tightens an existing one.
fn prepare_file(file: &Path) -> anyhow::Result<()> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(file)
        .with_context(|| format!("creating {}", file.display()))?;
    for f in [
        file.to_path_buf(),
        PathBuf::from(format!("{}-wal", file.display())),
        PathBuf::from(format!("{}-shm", file.display())),
    ] {
        if f.exists() {
            fs::set_permissions(&f, fs::Permissions::from_mode(0o600))
                .with_context(|| format!("setting the mode of {}", f.display()))?;
        }
    }
    Ok(())
}

/// Writes the generated password of the first superuser to an owner-only file in the data
/// directory; answers its path.
pub fn write_initial_password(dir: &Path, password: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(INITIAL_PASSWORD_FILE);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("writing {}", path.display()))?;
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
    writeln!(f, "{password}")?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_files_of_urls() {
        assert_eq!(
            sqlite_file("sqlite:///var/lib/c/db.sqlite?mode=rwc"),
            Some(PathBuf::from("/var/lib/c/db.sqlite"))
        );
        assert_eq!(
            sqlite_file("sqlite://./data/x.db"),
            Some(PathBuf::from("./data/x.db"))
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://u@h/db"), None);
    }
}
