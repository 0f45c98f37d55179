//! The payment gateway, behind one boundary. [`GatewayClient`] does the I/O every gateway shares
//! (the budget, signing, 429/418 pauses, retries); a [`Dialect`] is one gateway's documented
//! wire and keys: the pure translation between the server's questions and its answers, and how
//! its calls are signed and its webhooks checked. Another gateway is one more module and one
//! more [`GatewayApi`] variant. Only fields the gateway documents are read; see
//! `docs/blockatm-api.md`.

mod blockatm_v1;
mod blockatm_v2;
mod client;
mod outcome;

use usdt_checkout_protocol::gateway::{Answer, AnswerError, DecimalText, GatewayStatus};
use usdt_checkout_protocol::signature::Verifier;
use usdt_checkout_protocol::{Address, AmountError, ChainId, Decimal, TokenAmount, TxHash};

use crate::domain::PaymentTerms;

pub use blockatm_v1::BlockatmV1;
pub use blockatm_v2::BlockatmV2;
pub use client::{GatewayClient, GatewayHealth, random};
pub use outcome::GatewayError;

/// An order the server asks the gateway to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The checkout's id: the merchant's `orderNo`, which makes creation idempotent.
    pub order_no: String,
    pub chain_id: ChainId,
    pub symbol: String,
    /// The exact amount to pay.
    pub amount: TokenAmount,
}

/// What creation tells the server: where the shopper pays, and what else the gateway gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedOrder {
    pub to_address: Address,
    pub cashier_url: Option<String>,
    pub plat_order_no: Option<String>,
    /// Unix ms; the server's own lifetime applies when the gateway gives none.
    pub expire_time: Option<u64>,
    /// When the gateway made the order (Unix ms), for an order found made already rather than
    /// made now: the server's own lifetime counts from then.
    pub made_at: Option<u64>,
}

/// What the gateway says of an order, from a webhook or a query: its documented status, and the
/// amount and transaction when it gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    /// The merchant's order number; none for a payment that named no order (V1 type 3).
    pub order_no: Option<String>,
    pub plat_order_no: Option<String>,
    pub status: GatewayStatus,
    /// "Actual payment amount by the customer", in the order's token.
    pub amount: Option<Decimal>,
    pub tx_id: Option<TxHash>,
    /// The chain and token the gateway names, when it does: they must be the order's.
    pub chain_id: Option<ChainId>,
    pub symbol: Option<String>,
    /// The merchant account the gateway names (V2's `cashierId`), when it does.
    pub account: Option<String>,
}

/// Whose order a report is about (see [`GatewayReport::fit`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fit {
    /// This checkout's order; `bind` is the gateway's own id for it, first learnt from this
    /// report, to keep.
    Ours { bind: Option<String> },
    /// It may be this checkout's order, but nothing proves it yet: a webhook signed with the
    /// gateway's one key (V1) naming our order number, before the gateway's own id for the
    /// order is known. Ask the gateway, with a call of our own, before believing it.
    Unproven,
    /// Another order than this checkout's, whatever order number it names: why.
    Foreign(String),
}

/// How far a report can be taken at its word: who could have sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// The gateway's answer to the server's own signed query about its own order number.
    Query,
    /// A webhook signed with a key that is this merchant's alone (V2's webhook secret).
    MerchantSigned,
    /// A webhook signed with the gateway's one key, which signs every merchant's callbacks
    /// (V1): another merchant at the same gateway holds genuine ones, order numbers included,
    /// since those are unique per merchant only.
    GatewaySigned,
}

impl GatewayReport {
    /// The same report again (a retried webhook) has the same key. BlockATM's webhooks carry no
    /// event id, so the key is made of the documented facts: the order, its status, the amount
    /// and the transaction. A new payment or a new status is a new key.
    /// The fields are written as a JSON array, so no value can move the boundary between two
    /// (joined with `|`, `"a|"` then `""` and `"a"` then `"|"` were one key, and a second,
    /// genuine report was dropped as a retry of the first).
    pub fn key(&self) -> String {
        serde_json::json!([
            self.plat_order_no,
            self.order_no,
            self.status.as_str(),
            self.amount,
            self.tx_id,
        ])
        .to_string()
    }

    /// Whether this report is about the order of a checkout with `terms`, given who could have
    /// sent it and the merchant `account` configured. An order number alone proves nothing: it
    /// is the merchant's own, so another merchant can make an order with the same one. The
    /// gateway's own id for the order (`platOrderNo`, V2's `id`), kept from the creation
    /// answer or the first report that could only be ours, must match, as must the chain,
    /// token and account where the report names them.
    pub fn fit(&self, terms: &PaymentTerms, provenance: Provenance, account: Option<&str>) -> Fit {
        if let Some(chain) = self.chain_id.filter(|c| *c != terms.chain_id) {
            return Fit::Foreign(format!(
                "it is on chain {chain}, the order on {}",
                terms.chain_id
            ));
        }
        if let Some(symbol) = self
            .symbol
            .as_deref()
            .filter(|s| !s.eq_ignore_ascii_case(&terms.symbol))
        {
            return Fit::Foreign(format!("it is in {symbol}, the order in {}", terms.symbol));
        }
        if let (Some(named), Some(ours)) = (self.account.as_deref(), account)
            && named != ours
        {
            return Fit::Foreign(format!("it is for account {named}, ours is {ours}"));
        }
        let known = Some(terms.plat_order_no.as_str()).filter(|id| !id.is_empty());
        let forwardable = provenance == Provenance::GatewaySigned;
        match (known, self.plat_order_no.as_deref()) {
            (Some(ours), Some(named)) if named != ours => Fit::Foreign(format!(
                "it names the gateway's order {named}, ours is {ours}"
            )),
            (Some(_), Some(_)) => Fit::Ours { bind: None },
            // A webhook any merchant could forward says nothing until the gateway does.
            (_, None) | (None, _) if forwardable => Fit::Unproven,
            (Some(_), None) => Fit::Ours { bind: None },
            // Learnt only from a report that names our cashier, where one is configured: a
            // stray second order with our number (another cashier's) must not take the id.
            (None, named) if account.is_none() || self.account.is_some() => Fit::Ours {
                bind: named.map(str::to_owned),
            },
            (None, _) => Fit::Ours { bind: None },
        }
    }
}

/// One call to the gateway, before signing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// A JSON body, signed.
    Post { path: &'static str, body: String },
    /// A query string, already in ASCII order so every reading of the signed string agrees.
    Get { path: &'static str, query: String },
}

impl Call {
    /// The endpoint called, without its query.
    pub fn path(&self) -> &'static str {
        let (Call::Post { path, .. } | Call::Get { path, .. }) = self;
        path
    }
}

/// How old a webhook may be, at most, whatever `BlockATM-Rec_Window` it declares: the header is
/// not signed, so a replayed callback could name any window. V1's default request window.
pub const WEBHOOK_WINDOW_MS: u64 = usdt_checkout_protocol::signed_string::DEFAULT_RECV_WINDOW_MS;

/// The gateway dialect a configuration names, with its keys: a dialect holds only its own, so
/// one configured with another's key cannot be made.
#[derive(Debug, Clone)]
pub enum GatewayApi {
    BlockatmV1(BlockatmV1),
    BlockatmV2(BlockatmV2),
}

impl GatewayApi {
    /// The dialect's wire and keys.
    pub fn dialect(&self) -> &dyn Dialect {
        match self {
            Self::BlockatmV1(v1) => v1,
            Self::BlockatmV2(v2) => v2,
        }
    }
}

/// Why a dialect could not read what the gateway sent, or use it.
#[derive(Debug, thiserror::Error)]
pub enum DialectError {
    #[error(transparent)]
    Answer(#[from] AnswerError),
    /// A webhook's body that is not the payment event it names (V1's callback, V2's event).
    #[error("not a payment {what}: {error}")]
    NotAPayment {
        what: &'static str,
        error: serde_json::Error,
    },
    /// A query's record in neither shape it may take.
    #[error("{error}: {record}")]
    Record {
        error: serde_json::Error,
        record: String,
    },
    #[error("amount {text:?}: {error}")]
    Amount { text: String, error: AmountError },
    /// Where to pay on `chain` is the merchant's to configure, and is not.
    #[error("no receiving address for chain {0}: set gateway.receiving_addresses")]
    NoReceivingAddress(ChainId),
    /// The order read back is another than the one asked about.
    #[error("the detail of order {0} names another")]
    AnotherOrder(String),
    /// The dialect has no way to read an order back.
    #[error("{0} reads no order back")]
    NoReadBack(&'static str),
}

/// One gateway's documented wire, as pure functions: what to send, how it is signed, and how to
/// read what comes back. Answers may be bare or enveloped; a refusal comes back as
/// [`Answer::Refused`].
pub trait Dialect: Send + Sync {
    /// `blockatm-v1`, as configured.
    fn name(&self) -> &'static str;
    /// The header that signs a call, and its value, from the call's signed string.
    fn sign(&self, signed_string: &str) -> (&'static str, String);
    /// What checks the gateway's webhooks (signature and freshness).
    fn webhook_verifier(&self) -> Verifier;
    /// The public lists of networks and tokens.
    fn networks_path(&self) -> &'static str;
    fn tokens_path(&self) -> &'static str;
    fn create(&self, order: &NewOrder) -> Call;
    fn created(&self, order: &NewOrder, answer: &str)
    -> Result<Answer<CreatedOrder>, DialectError>;
    /// The refusal codes with which the gateway may answer a creation whose order number it
    /// has made an order with already (V2's `000201` "Data Already Exists"), where it does not
    /// answer with the order itself: the order was made, by an earlier attempt whose answer
    /// was lost, and is read back with [`Dialect::query`] and [`Dialect::found`].
    fn exists_codes(&self) -> &'static [&'static str] {
        &[]
    }
    /// The order `order` found made already, from the answer to [`Dialect::query`] for its
    /// number: where to pay, once the order's terms are found to be those asked; a refusal
    /// (code the first of [`Dialect::exists_codes`]) saying which differs, else.
    fn found(&self, order: &NewOrder, answer: &str) -> Result<Answer<CreatedOrder>, DialectError> {
        let _ = (order, answer);
        Err(DialectError::NoReadBack(self.name()))
    }
    /// A query for one order's status.
    fn query(&self, order_no: &str) -> Call;
    fn queried(&self, answer: &str) -> Result<Answer<Vec<GatewayReport>>, DialectError>;
    /// A verified webhook's body; `None` for an event that is not about a payment (a payout).
    fn webhook(
        &self,
        event: Option<&str>,
        body: &str,
    ) -> Result<Option<GatewayReport>, DialectError>;
    /// Who could have signed a webhook that verifies.
    fn webhook_provenance(&self) -> Provenance;
    /// The merchant account the gateway's reports name, where one is configured.
    fn account(&self) -> Option<&str> {
        None
    }
}

/// The transaction a report names, from the text the gateway wrote: none where it names none
/// (absent or empty), and none, said in the log, where it is not an EVM transaction hash (the
/// documented V1 example's `"1t"`, on TRON): no payment this server reads could be it.
fn reported_tx(text: Option<String>) -> Option<TxHash> {
    let text = text.filter(|tx| !tx.is_empty())?;
    text.parse()
        .map_err(|e| tracing::warn!("the gateway names transaction {text:?}: {e}; ignored"))
        .ok()
}

/// The amount a report says was paid, as the gateway wrote it: a decimal, whose token's
/// precision is checked once the report meets its order.
fn reported_amount(text: DecimalText) -> Result<Decimal, DialectError> {
    text.0.parse().map_err(|error| DialectError::Amount {
        text: text.0,
        error,
    })
}

/// A query string from pairs, sorted by key.
fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut pairs = pairs.to_vec();
    pairs.sort_by_key(|(key, _)| *key);
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes what is not unreserved. Order numbers are letters, digits, `-` and `_`, so in
/// practice nothing changes, and the signed string stays the query as sent.
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
pub(super) mod tests {
    use usdt_checkout_protocol::gateway::HEADER_REQUEST_TIME;
    use usdt_checkout_protocol::signature::{Signed, VerifyError};
    use usdt_checkout_protocol::signed_string;

    use super::*;

    /// What `dialect`'s webhook check says of a webhook signed by `sign` (a signature header
    /// from the signed string).
    pub fn check_webhook(
        dialect: &dyn Dialect,
        sign: impl Fn(&str) -> (&'static str, String),
    ) -> Result<(), VerifyError> {
        let (body, time) = (r#"{"orderNo":"co_1"}"#, 1_700_000_000_000u64);
        let signed = signed_string::for_json_body(body, time).expect("signable");
        let headers = [sign(&signed), (HEADER_REQUEST_TIME, time.to_string())];
        let header = |name: &str| {
            let found = headers.iter().find(|(n, _)| *n == name);
            found.map(|(_, value)| value.as_str())
        };
        dialect
            .webhook_verifier()
            .verify_request(header, Signed::Body(body), time)
    }

    #[test]
    fn a_report_keys_on_its_documented_facts() {
        let report = GatewayReport {
            order_no: Some("co_1".into()),
            plat_order_no: Some("8210000001".into()),
            status: GatewayStatus::Pending,
            amount: Some("10".parse().unwrap()),
            tx_id: Some(TxHash::from_bytes([0xa; 32])),
            chain_id: None,
            symbol: None,
            account: None,
        };
        let same = report.clone();
        assert_eq!(report.key(), same.key());
        let paid = GatewayReport {
            status: GatewayStatus::Success,
            ..report.clone()
        };
        let more = GatewayReport {
            amount: Some("25".parse().unwrap()),
            tx_id: Some(TxHash::from_bytes([0xb; 32])),
            ..report.clone()
        };
        assert_ne!(report.key(), paid.key());
        assert_ne!(report.key(), more.key());
        let split = |plat: &str, order_no: &str| GatewayReport {
            plat_order_no: Some(plat.into()),
            order_no: Some(order_no.into()),
            ..report.clone()
        };
        assert_ne!(
            split("8210|", "co_1").key(),
            split("8210", "|co_1").key(),
            "a separator inside a value moves no boundary"
        );
        let absent = GatewayReport {
            order_no: None,
            ..report.clone()
        };
        let empty = GatewayReport {
            order_no: Some(String::new()),
            ..report
        };
        assert_ne!(absent.key(), empty.key());
    }

    fn terms(plat_order_no: &str) -> PaymentTerms {
        PaymentTerms {
            chain_id: ChainId(31337),
            symbol: "USDT".into(),
            token_contract: Address::from_bytes([0xaa; 20]),
            decimals: 6,
            amount_atomic: 25_000_000,
            gateway_order_no: "co_1".into(),
            plat_order_no: plat_order_no.into(),
            pay_amount_atomic: 25_000_000,
            to_address: Address::from_bytes([0x55; 20]),
            cashier_url: String::new(),
            expires_at: 0,
            required_confirmations: 2,
        }
    }

    fn paid(plat_order_no: Option<&str>) -> GatewayReport {
        GatewayReport {
            order_no: Some("co_1".into()),
            plat_order_no: plat_order_no.map(Into::into),
            status: GatewayStatus::Success,
            amount: Some("0.000001".parse().unwrap()),
            tx_id: None,
            chain_id: Some(ChainId(31337)),
            symbol: Some("USDT".into()),
            account: None,
        }
    }

    #[test]
    fn a_report_applies_only_to_the_order_the_gateways_own_id_names() {
        use Provenance::*;
        let ours = terms("8210000001");
        for provenance in [Query, MerchantSigned, GatewaySigned] {
            assert_eq!(
                paid(Some("8210000001")).fit(&ours, provenance, None),
                Fit::Ours { bind: None }
            );
            // Another merchant's order, made with our order number and paid with a dust
            // amount: its genuine signed callback, forwarded to us.
            assert!(matches!(
                paid(Some("8210009999")).fit(&ours, provenance, None),
                Fit::Foreign(why) if why.contains("8210009999")
            ));
        }
        let elsewhere = GatewayReport {
            chain_id: Some(ChainId(56)),
            ..paid(Some("8210000001"))
        };
        assert!(matches!(elsewhere.fit(&ours, Query, None), Fit::Foreign(_)));
        let other_token = GatewayReport {
            symbol: Some("USDC".into()),
            ..paid(Some("8210000001"))
        };
        assert!(matches!(
            other_token.fit(&ours, Query, None),
            Fit::Foreign(_)
        ));
        let other_cashier = GatewayReport {
            account: Some("92".into()),
            ..paid(Some("8210000001"))
        };
        assert!(matches!(
            other_cashier.fit(&ours, MerchantSigned, Some("91")),
            Fit::Foreign(_)
        ));
        assert_eq!(
            other_cashier.fit(&ours, MerchantSigned, None),
            Fit::Ours { bind: None },
            "no account configured: nothing to compare"
        );
    }

    #[test]
    fn the_gateways_id_is_learnt_only_from_what_could_only_be_ours() {
        use Provenance::*;
        let unbound = terms("");
        assert_eq!(
            paid(Some("8210000001")).fit(&unbound, Query, None),
            Fit::Ours {
                bind: Some("8210000001".into())
            }
        );
        assert_eq!(
            paid(Some("8210000001")).fit(&unbound, MerchantSigned, None),
            Fit::Ours {
                bind: Some("8210000001".into())
            }
        );
        assert_eq!(
            paid(None).fit(&unbound, Query, None),
            Fit::Ours { bind: None }
        );
        assert_eq!(
            paid(Some("8210000001")).fit(&unbound, MerchantSigned, Some("91")),
            Fit::Ours { bind: None },
            "with a cashier configured, only a report naming it teaches the id"
        );
        assert_eq!(
            paid(Some("8210000001")).fit(&unbound, GatewaySigned, None),
            Fit::Unproven,
            "any merchant at the gateway holds callbacks signed with its key"
        );
    }

    #[test]
    fn queries_are_sorted_and_encoded() {
        assert_eq!(
            query_string(&[("orderNo", "co_1"), ("chainId", "5")]),
            "chainId=5&orderNo=co_1"
        );
        assert_eq!(query_string(&[("q", "a b&c")]), "q=a%20b%26c");
    }
}
