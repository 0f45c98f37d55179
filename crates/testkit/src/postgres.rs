//! A real PostgreSQL for tests: each test gets a new, empty database of its own, on one cluster
//! shared by the whole test process (a cluster per test would cost a second or more each).
//!
//! With `DATABASE_URL` set, the databases are made on that server, which the caller runs.
//! Otherwise a throwaway cluster is started from Debian's binaries (`cargo xtask setup` installs
//! them), and it stops when the test process ends, however it ends.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::sync::OnceCell;

const MISSING: &str = "PostgreSQL's server binaries are missing: run `cargo xtask setup` \
                       (installs Debian's postgresql), or set DATABASE_URL";

/// The server every database of this process is made on.
struct Server {
    /// Where to connect to run `CREATE DATABASE`.
    admin_url: String,
    /// Kept open for the process's life (statics are never dropped): the watchdog shell stops
    /// the cluster when it reads end-of-file, which happens when this process exits, killed or
    /// not.
    _watchdog: Option<(Child, ChildStdin)>,
}

static SERVER: OnceCell<Server> = OnceCell::const_new();

/// The `postgres://` URL of a new, empty database, named after `name`, on the process's shared
/// server (started on first use). Databases are never dropped: a throwaway cluster goes with
/// its directory, and on a caller's server they are the caller's to clear.
pub async fn fresh_database(name: &str) -> String {
    let server = SERVER.get_or_init(start).await;
    let database = unique_name(name);
    let mut connection = PgConnection::connect(&server.admin_url)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", server.admin_url));
    // A raw statement: CREATE DATABASE takes no parameters, and the name is ours, already a
    // plain identifier.
    sqlx::raw_sql(&format!("CREATE DATABASE \"{database}\""))
        .execute(&mut connection)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE {database} failed: {e}"));
    let _ = connection.close().await;
    with_database(&server.admin_url, &database)
}

/// `test_<name>_<pid>_<ms>_<n>`: lowercase, a valid unquoted identifier within PostgreSQL's 63
/// bytes, and unique across processes and runs that share a `DATABASE_URL` server.
fn unique_name(name: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stem: String = name
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '_',
        })
        .take(24)
        .collect();
    format!(
        "test_{stem}_{}_{}_{n}",
        std::process::id(),
        super::now_ms() % 1_000_000_000
    )
}

/// `url` with its path (the database) replaced by `database`, user, host and query kept.
fn with_database(url: &str, database: &str) -> String {
    let (scheme, rest) = url
        .split_once("://")
        .unwrap_or_else(|| panic!("{url} is not a postgres:// URL"));
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let authority = before_query.split('/').next().unwrap();
    let mut out = format!("{scheme}://{authority}/{database}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn start() -> Server {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        assert!(
            url.starts_with("postgres://") || url.starts_with("postgresql://"),
            "DATABASE_URL must be a postgres:// URL, not {url}"
        );
        return Server {
            admin_url: url,
            _watchdog: None,
        };
    }
    start_cluster().await
}

/// The newest `/usr/lib/postgresql/<version>/bin` holding a server.
fn server_binaries() -> PathBuf {
    let versions = std::fs::read_dir("/usr/lib/postgresql").unwrap_or_else(|_| panic!("{MISSING}"));
    versions
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version)
        .map(|(_, bin)| bin)
        .unwrap_or_else(|| panic!("{MISSING}"))
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.trim_ascii() == b"0")
}

/// `program args…`, run as the `postgres` user when we are root: initdb and postgres refuse to
/// run as root.
fn as_cluster_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

async fn start_cluster() -> Server {
    let started = Instant::now();
    let bin = server_binaries();
    let root = running_as_root();
    let dir = std::env::temp_dir().join(format!(
        "testkit-postgres-{}-{}",
        std::process::id(),
        super::now_ms()
    ));
    let data = dir.join("data");
    let log = dir.join("postgres.log");
    std::fs::create_dir_all(&dir).unwrap();
    if root {
        let chown = Command::new("chown")
            .arg("postgres:")
            .arg(&dir)
            .status()
            .expect("chown runs");
        assert!(
            chown.success(),
            "cannot chown {} to postgres",
            dir.display()
        );
    }

    // Trust, no locale: nothing but this process's tests reaches the cluster, and a container's
    // LANG often names a locale that is not installed, which initdb would refuse. --no-sync: the
    // data is thrown away, so waiting for the disk buys nothing.
    let initdb = as_cluster_owner(root, &bin.join("initdb"))
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale"])
        .arg("--no-sync")
        // The postgres user may not be allowed into our working directory.
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run initdb: {e}; {MISSING}"));
    if !initdb.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&initdb.stdout),
            String::from_utf8_lossy(&initdb.stderr)
        );
    }

    let port = super::free_port();
    let postgres = format!(
        "{} -D {} -p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
        quote(&bin.join("postgres")),
        quote(&data),
        quote(&dir),
    );
    // The watchdog: postgres runs while `read` waits on our stdin. When this process exits, by
    // any means, SIGKILL included, the pipe's last writer is gone, `read` returns, and the shell
    // stops postgres (SIGINT: fast shutdown) and removes the directory.
    let script = format!(
        "{postgres} >{log} 2>&1 & pid=$!; read _; kill -INT $pid; wait $pid; rm -rf {dir}",
        log = quote(&log),
        dir = quote(&dir),
    );
    let mut watchdog = as_cluster_owner(root, Path::new("sh"));
    watchdog
        .args(["-c", &script])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group: a Ctrl-C at the terminal would otherwise kill the shell too,
    // before it could remove the directory; the closed pipe is what stops it.
    std::os::unix::process::CommandExt::process_group(&mut watchdog, 0);
    let mut child = watchdog.spawn().expect("sh starts");
    let stdin = child.stdin.take().expect("stdin is piped");

    let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    super::eventually(
        &format!("PostgreSQL to accept connections on port {port}"),
        Duration::from_secs(60),
        || async {
            if let Ok(connection) = PgConnection::connect(&admin_url).await {
                let _ = connection.close().await;
                return Some(());
            }
            // A server that cannot start says why in its log; waiting out the limit would not.
            // Our own early attempts are refused with a FATAL too, which is no failure.
            let written = std::fs::read_to_string(&log).unwrap_or_default();
            let failed = written.lines().any(|line| {
                line.contains("PANIC")
                    || (line.contains("FATAL")
                        && !line.contains("starting up")
                        && !line.contains("not yet accepting connections"))
            });
            if failed {
                panic!("PostgreSQL did not start:\n{written}");
            }
            None
        },
    )
    .await;
    eprintln!(
        "testkit: PostgreSQL from {} ready on port {port} in {:.1?}",
        bin.display(),
        started.elapsed()
    );
    Server {
        admin_url,
        _watchdog: Some((child, stdin)),
    }
}

/// `path` in single quotes for sh.
fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_replaces_only_the_path() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "t1"),
            "postgres://u:p@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "t2"), "postgresql://h/t2");
    }

    #[test]
    fn names_are_plain_identifiers() {
        let name = unique_name("Journeys: V2 / paid-late");
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with("test_journeys__v2___paid_late_"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
        assert_ne!(unique_name("x"), unique_name("x"));
    }
}
