//! `checkout-server`: the merchant's checkout backend, and the tools a merchant needs beside it
//! (a key pair for the gateway's console; signing and verifying by hand when the gateway says 401).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use usdt_checkout_protocol::receipt::{ReceiptError, SignedReceipt};
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey};
use usdt_checkout_protocol::signed_string;
use usdt_checkout_server::{config, server};

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
}

#[derive(Subcommand)]
enum ReceiptAction {
    /// Exit 0 and print what it says if the receipt FILE is signed by the key, 1 if not, 2 if
    /// the file or key cannot be read (or the file is no receipt).
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
    let receipt = match signed.verify(&key) {
        Ok(receipt) => receipt,
        Err(ReceiptError::Signature(e)) => {
            println!("invalid: {}: {e}", file.display());
            return Ok(false);
        }
        // Signed by the key, yet no receipt: nothing a receipt's reader can judge.
        Err(e @ ReceiptError::Malformed(_)) => return Err(format!("{}: {e}", file.display())),
    };
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
    for tx in &receipt.transactions {
        println!("transaction {}", tx.hash);
    }
    Ok(true)
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "usdt_checkout_server=info,checkout_server=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = config::load(config_path.as_deref(), |name| std::env::var(name).ok())?;
    tokio::runtime::Runtime::new()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(server::serve(config))
}
