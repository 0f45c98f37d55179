//! Pure types and rules of usdt-checkout, shared by the widget, the merchant server and the
//! sandbox gateway: amounts in atomic units, chains and tokens, EVM addresses, transaction
//! hashes, the gateway's signed string and (with the `signing` feature) its signatures, payment
//! URIs, and the order status machine. No I/O: it builds for wasm32 and native alike.

pub mod address;
pub mod amount;
pub mod api_error;
pub mod backoff;
pub mod chain;
pub mod checkout;
pub mod gateway;
pub mod hex;
pub mod payment_uri;
pub mod pricing;
#[cfg(feature = "signing")]
pub mod receipt;
pub mod refund;
#[cfg(feature = "signing")]
pub mod signature;
#[cfg(feature = "gateway-wire")]
pub mod signed_string;
pub mod status;
pub mod tx_hash;
pub mod wallet_proof;

/// How deeply nested outside JSON may be where this project's own code walks it (the signed
/// string of a body): serde_json's own limit when it parses into a type, so a body either
/// parser takes is no deeper. Read before any signature is checked, so it must hold for anyone's
/// body: a walk that recursed once per level without it overflowed the stack.
pub const MAX_JSON_DEPTH: usize = 128;

pub use address::Address;
pub use amount::{
    AmountError, Decimal, TokenAmount, format_units, parse_positive_units, parse_units,
};
pub use chain::{Chain, ChainId, ChainRegistry, RegistryError, Token};
pub use payment_uri::TransferRequest;
pub use status::{Assessment, OrderStatus, OrderTerms, PaymentObservation, assess, transition};
pub use tx_hash::{TxHash, TxHashError};
