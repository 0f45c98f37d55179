//! `checkout-server`: the merchant's checkout backend, and the tools a merchant needs beside it
//! (a key pair for the gateway's console; signing and verifying by hand when the gateway says 401;
//! the staff who sign in to its console; checking a configuration; backing the database up).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use usdt_checkout_protocol::receipt::{
    Issued, Receipt, ReceiptError, RefundReceipt, SignedReceipt,
};
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_server::console::{accounts, layout};
use usdt_checkout_server::staff::{self, Role};
use usdt_checkout_server::{backup, check_config, config, log_format, server, store};

#[derive(Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve {
        /// Configuration file (TOML); settings also come from CHECKOUT_* variables.
        #[arg(long, env = "CHECKOUT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check a configuration as startup does, and print the settings it makes (secrets
    /// redacted); exit 2 with startup's message if it would not start.
    CheckConfig {
        /// Configuration file (TOML); CHECKOUT_* variables apply over it, as when serving.
        #[arg(long, env = "CHECKOUT_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Copy the SQLite database, consistently, while the server runs (`VACUUM INTO`), into a
    /// new file readable by its owner only. On PostgreSQL, use pg_dump.
    Backup {
        /// Where to write the copy: a file that does not exist yet.
        #[arg(long)]
        to: PathBuf,
        /// Configuration file (TOML), for its `database`; CHECKOUT_DATABASE or --database
        /// instead name the database alone.
        #[arg(long, env = "CHECKOUT_CONFIG")]
        config: Option<PathBuf>,
        /// The database: an SQLite file (checkout.sqlite unless said).
        #[arg(long, env = "CHECKOUT_DATABASE")]
        database: Option<String>,
    },
    /// Make a V1 key pair: keep the private key on the server, upload the public key to the
    /// gateway's console.
    Keygen,
    /// Sign or verify a gateway request by hand.
    Signature {
        #[command(subcommand)]
        action: SignatureAction,
    },
    /// Check a receipt the checkout server issued.
    Receipt {
        #[command(subcommand)]
        action: ReceiptAction,
    },
    /// Manage the staff who sign in to the console (/console/), on the server's database.
    Staff {
        /// Configuration file (TOML), for its `database`; CHECKOUT_DATABASE or --database
        /// instead name the database alone.
        #[arg(long, env = "CHECKOUT_CONFIG", global = true)]
        config: Option<PathBuf>,
        /// The database: a postgres:// URL or an SQLite file (checkout.sqlite unless said).
        #[arg(long, env = "CHECKOUT_DATABASE", global = true)]
        database: Option<String>,
        #[command(subcommand)]
        action: StaffAction,
    },
}

#[derive(Subcommand)]
enum StaffAction {
    /// Add a member of staff. The password is asked for twice, unseen; when standard input is
    /// not a terminal, its first line is the password.
    Add {
        name: String,
        /// viewer (reads), operator (also acts on orders) or owner (also manages staff).
        #[arg(long, value_parser = ["viewer", "operator", "owner"])]
        role: String,
    },
    /// List the staff: name, role, since when, and whether locked.
    List,
    /// Remove a member of staff; their sessions end at once.
    Remove { name: String },
    /// Set a member of staff's password (asked for as with `add`): lifts a lockout, and ends
    /// their sessions.
    Passwd { name: String },
}

#[derive(Subcommand)]
enum ReceiptAction {
    /// Exit 0 and print what it says if the receipt FILE (a payment's or a refund's) is signed
    /// by the key, 1 if not, 2 if the file or key cannot be read (or the file is no receipt).
    Verify {
        /// A receipt file, as `GET /api/checkouts/{id}/receipt` gives it.
        file: PathBuf,
        /// The server's receipt key: base64 SPKI, or @FILE (its
        /// /.well-known/usdt-checkout/receipt-key gives it as `publicKey`).
        #[arg(long)]
        public_key: String,
    },
}

#[derive(Subcommand)]
enum SignatureAction {
    /// Print the signed string and its base64 signature.
    Sign {
        /// Base64 PKCS#8 private key, or @FILE.
        #[arg(long)]
        private_key: String,
        #[command(flatten)]
        request: RequestArgs,
    },
    /// Exit 0 if the signature is valid for the request, 1 if not.
    Verify {
        /// Base64 SPKI public key, or @FILE.
        #[arg(long)]
        public_key: String,
        #[arg(long)]
        signature: String,
        #[command(flatten)]
        request: RequestArgs,
    },
}

#[derive(clap::Args)]
struct RequestArgs {
    /// BlockATM-Request-Time, Unix ms.
    #[arg(long)]
    time: u64,
    /// A file holding the JSON body.
    #[arg(long, conflicts_with = "query")]
    body: Option<PathBuf>,
    /// The query string of a GET (without `?`).
    #[arg(long)]
    query: Option<String>,
}

impl RequestArgs {
    fn signed_string(&self) -> Result<String, String> {
        match (&self.body, &self.query) {
            (Some(path), None) => {
                let body = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                signed_string::for_json_body(&body, self.time).map_err(|e| e.to_string())
            }
            (None, query) => signed_string::for_query(query.as_deref().unwrap_or(""), self.time)
                .map_err(|e| e.to_string()),
            (Some(_), Some(_)) => Err("give --body or --query, not both".into()),
        }
    }
}

/// Exit 0 for a receipt the key signed, 1 for one it did not (any byte of it changed), 2 when
/// there is nothing to judge: a key or file that cannot be read, a file that is no receipt.
fn receipt(file: &std::path::Path, public_key: &str) -> ExitCode {
    match verify_receipt(file, public_key) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("checkout-server: {error}");
            ExitCode::from(2)
        }
    }
}

/// Whether the receipt in `file` is signed by `public_key`, printing what it says or why not; an
/// error when the file or key cannot be read as one.
fn verify_receipt(file: &std::path::Path, public_key: &str) -> Result<bool, String> {
    let key = V1PublicKey::from_base64_spki(&key_text(public_key)?)
        .map_err(|e| format!("--public-key: {e}"))?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let signed = SignedReceipt::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let issued = match signed.verify_any(&key) {
        Ok(issued) => issued,
        Err(ReceiptError::Signature(e)) => {
            println!("invalid: {}: {e}", file.display());
            return Ok(false);
        }
        // Signed by the key, yet no receipt: nothing a receipt's reader can judge.
        Err(e @ ReceiptError::Malformed(_)) => return Err(format!("{}: {e}", file.display())),
    };
    match issued {
        Issued::Payment(receipt) => print_payment(&receipt),
        Issued::Refund(refund) => print_refund(&refund),
    }
    Ok(true)
}

fn print_payment(receipt: &Receipt) {
    println!(
        "valid: {} paid {} {} on {} for {} ({} {}), checkout {}, {}",
        receipt.merchant,
        receipt.paid,
        receipt.symbol,
        receipt.network,
        receipt.description,
        receipt.price.amount,
        receipt.price.currency,
        receipt.checkout_id,
        receipt.state
    );
    if let Some(shortfall) = &receipt.shortfall {
        println!(
            "accepted short by {shortfall} {} (within the merchant's tolerance)",
            receipt.symbol
        );
    }
    for tx in &receipt.transactions {
        println!("transaction {}", tx.hash);
    }
}

/// A refund's receipt says so first: its reader must not take it for a payment.
fn print_refund(refund: &RefundReceipt) {
    println!(
        "valid refund: {} refunded {} {} on {} to {} ({}), refund {}{}",
        refund.merchant,
        refund.refunded,
        refund.symbol,
        refund.network,
        refund.destination,
        if refund.proven {
            "proven by the paying wallet"
        } else {
            "unproven, approved by the merchant"
        },
        refund.refund_id,
        refund
            .checkout_id
            .as_ref()
            .map(|id| format!(", checkout {id}"))
            .unwrap_or_default()
    );
    println!(
        "refunds payment {} (log {})",
        refund.source_tx, refund.source_log_index
    );
    println!("transaction {}", refund.transaction.hash);
}

/// A key given inline, or as @FILE.
fn key_text(argument: &str) -> Result<String, String> {
    match argument.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}")),
        None => Ok(argument.to_owned()),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match args.command.unwrap_or(Command::Serve { config: None }) {
        Command::Serve { config } => serve(config),
        Command::CheckConfig { config } => {
            check_config::check(config.as_deref(), |name| std::env::var(name).ok())
                .map(|text| print!("{text}"))
        }
        Command::Backup {
            to,
            config,
            database,
        } => backup(config, database, &to),
        Command::Keygen => {
            let key = V1PrivateKey::generate();
            println!("private key (keep on the server, e.g. CHECKOUT_GATEWAY_PRIVATE_KEY):");
            println!("{}", key.to_base64_pkcs8());
            println!("public key (upload to the gateway's console):");
            println!("{}", key.public_key().to_base64_spki());
            Ok(())
        }
        Command::Signature { action } => return signature(action),
        Command::Receipt {
            action: ReceiptAction::Verify { file, public_key },
        } => return receipt(&file, &public_key),
        Command::Staff {
            config,
            database,
            action,
        } => staff(config, database, action),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("checkout-server: {error}");
            ExitCode::from(2)
        }
    }
}

fn signature(action: SignatureAction) -> ExitCode {
    let result = match action {
        SignatureAction::Sign {
            private_key,
            request,
        } => key_text(&private_key)
            .and_then(|k| V1PrivateKey::from_base64_pkcs8(&k).map_err(|e| e.to_string()))
            .and_then(|key| {
                let signed = request.signed_string()?;
                println!("signed string: {signed}");
                println!("signature: {}", key.sign(&signed));
                Ok(true)
            }),
        SignatureAction::Verify {
            public_key,
            signature,
            request,
        } => key_text(&public_key)
            .and_then(|k| V1PublicKey::from_base64_spki(&k).map_err(|e| e.to_string()))
            .and_then(|key| {
                let signed = request.signed_string()?;
                println!("signed string: {signed}");
                match key.verify(&signed, &signature) {
                    Ok(()) => {
                        println!("valid");
                        Ok(true)
                    }
                    Err(e) => {
                        println!("invalid: {e}");
                        Ok(false)
                    }
                }
            }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("checkout-server: {error}");
            ExitCode::from(2)
        }
    }
}

fn serve(config_path: Option<PathBuf>) -> Result<(), String> {
    // Checked before logging starts, which it configures: a configuration that stops startup is
    // said on standard error as `check-config` says it.
    let config = config::load(config_path.as_deref(), |name| std::env::var(name).ok())?;
    log_format::init(config.log_format);
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    let served = runtime.block_on(server::serve(config));
    // What still runs (a connection past the shutdown's bound, the workers) is dropped, not
    // waited for: the bound is the server's.
    runtime.shutdown_background();
    served
}

/// The database `--database` (or CHECKOUT_DATABASE) names, else the configuration's, else
/// `checkout.sqlite`.
fn database_of(
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<config::Database, String> {
    match (database.filter(|d| !d.trim().is_empty()), config) {
        (Some(database), _) => config::Database::parse(&database),
        (None, Some(path)) => {
            Ok(config::load(Some(&path), |name| std::env::var(name).ok())?.database)
        }
        (None, None) => config::Database::parse("checkout.sqlite"),
    }
}

/// `checkout-server backup --to FILE`: see [`backup::backup`].
fn backup(
    config: Option<PathBuf>,
    database: Option<String>,
    to: &std::path::Path,
) -> Result<(), String> {
    let database = database_of(config, database)?;
    let backed = tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(backup::backup(&database, to))
        .map_err(|e| e.to_string())?;
    println!(
        "backed up {database} to {} ({} bytes, {} checkouts)",
        to.display(),
        backed.bytes,
        backed.checkouts
    );
    Ok(())
}

/// `checkout-server staff ...`: on the database `--database` (or CHECKOUT_DATABASE) names, else
/// the configuration's.
fn staff(
    config: Option<PathBuf>,
    database: Option<String>,
    action: StaffAction,
) -> Result<(), String> {
    let database = database_of(config, database)?;
    // Asked for before the database is opened: a typo in the name is not found after a prompt.
    let password = match &action {
        StaffAction::Add { name, .. } | StaffAction::Passwd { name } => Some(read_password(name)?),
        StaffAction::List | StaffAction::Remove { .. } => None,
    };
    let runtime =
        tokio::runtime::Runtime::new().map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let store = store::Store::open(&database)
            .await
            .map_err(|e| format!("{database}: {e}"))?;
        let password = password.as_deref().unwrap_or_default();
        match action {
            StaffAction::Add { name, role } => {
                let role = Role::from_name(&role).ok_or("--role: viewer, operator or owner")?;
                accounts::add(&store, &name, role, password).await?;
                println!("added {name} ({role})");
            }
            StaffAction::List => {
                let now = usdt_checkout_server::clock::now_ms();
                for member in accounts::list(&store).await? {
                    let state = match staff::locked(member.failures, now) {
                        Some(until) => format!("locked until {}", layout::utc(until)),
                        None => "open".into(),
                    };
                    println!(
                        "{}\t{}\t{}\t{state}",
                        member.name,
                        member.role,
                        layout::utc(member.created_at)
                    );
                }
            }
            StaffAction::Remove { name } => {
                accounts::remove(&store, &name).await?;
                println!("removed {name}");
            }
            StaffAction::Passwd { name } => {
                accounts::passwd(&store, &name, password).await?;
                println!("new password for {name}; their sessions ended");
            }
        }
        Ok(())
    })
}

/// A password for `name`: asked twice on the terminal with echo off, or the first line of
/// standard input when it is not a terminal (a script, a pipe).
fn read_password(name: &str) -> Result<String, String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password from standard input: {e}"))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
    }
    let first = read_unseen(&format!("Password for {name}: "))?;
    staff::check_password(name, &first)?;
    if read_unseen("The same again: ")? != first {
        return Err("the two passwords differ; nothing was changed".into());
    }
    Ok(first)
}

/// A line read from the terminal with its echo off, `prompt` written first on standard error.
fn read_unseen(prompt: &str) -> Result<String, String> {
    use std::io::Write;
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    // SAFETY: termios is plain data; tcgetattr fills it, and tcsetattr is given what it filled,
    // the echo flag changed, then restored as it was.
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    let saved = unsafe { libc::tcgetattr(libc::STDIN_FILENO, &mut term) } == 0;
    let original = term;
    if saved {
        term.c_lflag &= !libc::ECHO;
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &term) };
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if saved {
        unsafe { libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, &original) };
    }
    eprintln!();
    read.map_err(|e| format!("reading the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
