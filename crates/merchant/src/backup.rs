//! `checkout-server backup --to FILE`: a consistent copy of the SQLite database, taken while the
//! server runs. `VACUUM INTO` reads the database in one read transaction, so the copy is the
//! database as of one commit, whatever the server writes meanwhile (WAL lets both go on), and
//! is a plain database file, compacted, that `sqlite3` or this server opens as it is.
//!
//! The copy holds what the database holds: the receipts' signing key, staff password hashes,
//! sessions. It is made readable by its owner only, and never over an existing file.

use std::path::{Path, PathBuf};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use crate::store::Database;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "backup copies an SQLite database; this server's is PostgreSQL ({0}): back it up with \
         pg_dump --format=custom (and restore with pg_restore), see the README's \"Running in \
         production\""
    )]
    Postgres(String),
    #[error("{0}: no such database file")]
    NoDatabase(PathBuf),
    #[error("{0} exists: a backup never overwrites a file, name a new one")]
    Exists(PathBuf),
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("copying {from}: {error}")]
    Sqlite { from: PathBuf, error: sqlx::Error },
}

/// What was copied.
#[derive(Debug)]
pub struct Backed {
    pub bytes: u64,
    pub checkouts: i64,
}

/// Copies `database` into the new file `to` (see the module's note).
pub async fn backup(database: &Database, to: &Path) -> Result<Backed, BackupError> {
    let from = match database {
        Database::Sqlite(path) => path,
        Database::Postgres(_) => return Err(BackupError::Postgres(database.to_string())),
    };
    if !from.is_file() {
        return Err(BackupError::NoDatabase(from.clone()));
    }
    let io = |error| BackupError::Io {
        path: to.to_owned(),
        error,
    };
    // Made here first, exclusively and for its owner only: an existing file (or a symlink
    // planted at the name) is refused rather than replaced, and the copy is never readable by
    // others, not even while it is written. SQLite writes into an empty file as into a new one.
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(to)
            .map_err(|error| match error.kind() {
                std::io::ErrorKind::AlreadyExists => BackupError::Exists(to.to_owned()),
                _ => io(error),
            })?;
    }
    let copied = copy(from, to).await;
    if copied.is_err() {
        // Half a copy is no backup: it goes, so it is never restored by mistake.
        let _ = std::fs::remove_file(to);
    }
    let checkouts = copied?;
    // On disk before it is said made.
    let file = std::fs::File::open(to).map_err(io)?;
    file.sync_all().map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    Ok(Backed { bytes, checkouts })
}

/// `VACUUM INTO`, then the copy opened and checked: its checkouts counted, its pages sound.
async fn copy(from: &Path, to: &Path) -> Result<i64, BackupError> {
    let failed = |error| BackupError::Sqlite {
        from: from.to_owned(),
        error,
    };
    // Not through `Store::open`: a backup migrates nothing and creates no database.
    let mut source = SqliteConnectOptions::new()
        .filename(from)
        .create_if_missing(false)
        // The server may be committing: wait for its lock, as its own writers do.
        .busy_timeout(std::time::Duration::from_secs(5))
        .connect()
        .await
        .map_err(failed)?;
    let target = to.to_str().ok_or_else(|| BackupError::Io {
        path: to.to_owned(),
        error: std::io::Error::other("the path is not UTF-8"),
    })?;
    sqlx::query("VACUUM INTO $1")
        .bind(target)
        .execute(&mut source)
        .await
        .map_err(failed)?;
    source.close().await.map_err(failed)?;

    let mut copied = SqliteConnectOptions::new()
        .filename(to)
        .read_only(true)
        .connect()
        .await
        .map_err(failed)?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut copied)
        .await
        .map_err(failed)?;
    if check != "ok" {
        return Err(failed(sqlx::Error::Protocol(format!(
            "the copy fails its check: {check}"
        ))));
    }
    let checkouts = sqlx::query_scalar("SELECT COUNT(*) FROM checkouts")
        .fetch_one(&mut copied)
        .await
        .map_err(failed)?;
    copied.close().await.map_err(failed)?;
    Ok(checkouts)
}
