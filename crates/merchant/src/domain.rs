//! What a checkout is, and the pure rules that change it: which gateway reports are news, and
//! which prices can be charged. No I/O here; the store keeps what these rules decide.

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::pricing::PRICE_DECIMALS;
use usdt_checkout_protocol::status::IllegalTransition;
use usdt_checkout_protocol::{Address, ChainId, ChainRegistry, OrderStatus, parse_positive_units};

use crate::clock::now_ms;

/// Who asked for a checkout: the widget (for a catalog item, priced by this server) or the
/// storefront's backend (with its own total, through the admin API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedBy {
    Widget,
    Storefront,
}

impl CreatedBy {
    /// The name in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Widget => "widget",
            Self::Storefront => "storefront",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Widget, Self::Storefront]
            .into_iter()
            .find(|c| c.as_str() == name)
    }
}

/// The payment half of a checkout, fixed when its gateway order is created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentTerms {
    pub chain_id: ChainId,
    pub symbol: String,
    pub token_contract: Address,
    pub decimals: u8,
    /// What the server priced it at.
    pub amount_atomic: u128,
    pub gateway_order_no: String,
    pub plat_order_no: String,
    /// What the gateway asks the shopper to send (possibly made unique).
    pub pay_amount_atomic: u128,
    pub to_address: Address,
    pub cashier_url: String,
    pub expires_at: u64,
    pub required_confirmations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub id: String,
    pub created_by: CreatedBy,
    pub idempotency_key: Option<String>,
    pub item_id: Option<String>,
    pub description: String,
    pub price_amount: String,
    pub price_currency: String,
    pub reference: Option<String>,
    pub terms: Option<PaymentTerms>,
    pub state: CheckoutState,
    pub paid_atomic: u128,
    pub remaining_atomic: Option<u128>,
    pub overpaid_atomic: u128,
    pub confirmations: Option<u32>,
    pub tx_hashes: Vec<String>,
    pub gateway_update_time: u64,
    pub created_at: u64,
    pub updated_at: u64,
    /// Bumped on every change: the status view's ETag, and what keeps a cache from going back.
    pub version: i64,
}

impl Checkout {
    /// A priced checkout that waits for the shopper to choose a network and token.
    pub fn open(
        id: String,
        created_by: CreatedBy,
        description: String,
        price_amount: String,
        price_currency: String,
    ) -> Self {
        let now = now_ms();
        Self {
            id,
            created_by,
            idempotency_key: None,
            item_id: None,
            description,
            price_amount,
            price_currency,
            reference: None,
            terms: None,
            state: CheckoutState::OPEN,
            paid_atomic: 0,
            remaining_atomic: None,
            overpaid_atomic: 0,
            confirmations: None,
            tx_hashes: vec![],
            gateway_update_time: 0,
            created_at: now,
            updated_at: now,
            version: 1,
        }
    }

    /// The checkout once `report` is applied at `now`: the gateway's facts, the next version.
    pub fn reported(&self, report: &GatewayReport, now: u64) -> Self {
        Self {
            state: CheckoutState::Order(report.state),
            paid_atomic: report.paid_atomic,
            remaining_atomic: Some(report.remaining_atomic),
            overpaid_atomic: report.overpaid_atomic,
            confirmations: report.confirmations,
            tx_hashes: report.tx_hashes.clone(),
            gateway_update_time: report.time,
            updated_at: now,
            version: self.version + 1,
            ..self.clone()
        }
    }
}

/// What the gateway reports of an order, from a webhook or a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayReport {
    pub order_no: String,
    pub state: OrderStatus,
    pub paid_atomic: u128,
    pub remaining_atomic: u128,
    pub overpaid_atomic: u128,
    pub confirmations: Option<u32>,
    pub tx_hashes: Vec<String>,
    /// When the gateway decided this state.
    pub time: u64,
}

/// What to do with a gateway report about a checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// News: apply it. `fulfil` when it makes the checkout paid (or paid late), which queues the
    /// merchant's fulfillment event (at most one per checkout: the store makes sure).
    Apply { fulfil: bool },
    /// Older than the report applied last: webhooks and queries arrive out of order.
    Older,
    /// The state and amounts already stored: a retry, or a query that found nothing new.
    SameFacts,
    /// The status machine forbids it; above all, a final state is final.
    Illegal(IllegalTransition),
    /// The checkout has no gateway order yet, so nothing the gateway says can be about it.
    NoOrder,
}

/// Whether `report` changes `current`, and how.
pub fn decide(current: &Checkout, report: &GatewayReport) -> Decision {
    let CheckoutState::Order(stored) = current.state else {
        return Decision::NoOrder;
    };
    if report.time < current.gateway_update_time {
        return Decision::Older;
    }
    let same_facts = stored == report.state
        && current.paid_atomic == report.paid_atomic
        && current.confirmations == report.confirmations
        && current.tx_hashes == report.tx_hashes;
    if same_facts {
        return Decision::SameFacts;
    }
    match usdt_checkout_protocol::transition(stored, report.state) {
        Err(illegal) => Decision::Illegal(illegal),
        Ok(_) => Decision::Apply {
            fulfil: matches!(report.state, OrderStatus::Paid | OrderStatus::PaidLate),
        },
    }
}

/// A price the server can charge: a positive decimal in a fiat currency (converted at the
/// gateway's rate, read to [`PRICE_DECIMALS`]), or in a token, which must be able to carry it
/// on every chain that has the token (a 7-decimal USDT price cannot be paid with 6-decimal USDT).
pub fn check_price(
    amount: &str,
    currency: &str,
    registry: &ChainRegistry,
) -> Result<(), PriceError> {
    if currency.is_empty() || currency.len() > 10 || !currency.is_ascii() {
        return Err(PriceError::Currency(currency.to_owned()));
    }
    let token_decimals = registry
        .chains()
        .flat_map(|chain| chain.tokens.iter().map(move |t| (chain, t)))
        .filter(|(_, token)| token.symbol == currency)
        .min_by_key(|(_, token)| token.decimals);
    match token_decimals {
        None => parse_positive_units(amount, PRICE_DECIMALS)
            .map(drop)
            .map_err(|e| PriceError::Amount(e.to_string())),
        Some((chain, token)) => parse_positive_units(amount, token.decimals)
            .map(drop)
            .map_err(|e| PriceError::Token {
                reason: e.to_string(),
                symbol: token.symbol.clone(),
                decimals: token.decimals,
                chain: chain.name.clone(),
            }),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    #[error("currency {0:?} must be a currency code such as USD, or a token symbol such as USDT")]
    Currency(String),
    #[error("price: {0}")]
    Amount(String),
    #[error("price: {reason}; {symbol} has {decimals} decimals on {chain}")]
    Token {
        reason: String,
        symbol: String,
        decimals: u8,
        chain: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paying(state: OrderStatus, paid: u128, time: u64) -> Checkout {
        Checkout {
            state: CheckoutState::Order(state),
            paid_atomic: paid,
            tx_hashes: if paid > 0 { vec!["0xa".into()] } else { vec![] },
            gateway_update_time: time,
            ..Checkout::open(
                "co_1".into(),
                CreatedBy::Widget,
                "T-shirt".into(),
                "25".into(),
                "USDT".into(),
            )
        }
    }

    fn report(state: OrderStatus, paid: u128, time: u64) -> GatewayReport {
        GatewayReport {
            order_no: "co_1".into(),
            state,
            paid_atomic: paid,
            remaining_atomic: 25_000_000u128.saturating_sub(paid),
            overpaid_atomic: paid.saturating_sub(25_000_000),
            confirmations: None,
            tx_hashes: if paid > 0 { vec!["0xa".into()] } else { vec![] },
            time,
        }
    }

    use OrderStatus::*;

    #[test]
    fn a_newer_report_applies_and_paid_fulfils() {
        let waiting = paying(Waiting, 0, 10);
        assert_eq!(
            decide(&waiting, &report(Confirming, 25_000_000, 11)),
            Decision::Apply { fulfil: false }
        );
        assert_eq!(
            decide(&waiting, &report(Paid, 25_000_000, 11)),
            Decision::Apply { fulfil: true }
        );
        let expired = paying(Expired, 0, 10);
        assert_eq!(
            decide(&expired, &report(PaidLate, 25_000_000, 11)),
            Decision::Apply { fulfil: true }
        );
        // A report at the same gateway time is not older: two facts can share a millisecond.
        assert_eq!(
            decide(&waiting, &report(PartiallyPaid, 1, 10)),
            Decision::Apply { fulfil: false }
        );
    }

    #[test]
    fn an_older_report_changes_nothing() {
        let confirming = paying(Confirming, 25_000_000, 20);
        assert_eq!(
            decide(&confirming, &report(Waiting, 0, 19)),
            Decision::Older
        );
        assert_eq!(
            decide(&confirming, &report(Paid, 25_000_000, 19)),
            Decision::Older,
            "even good news is refused when it is older than what was applied"
        );
    }

    #[test]
    fn the_same_facts_again_change_nothing() {
        let partly = paying(PartiallyPaid, 10, 20);
        assert_eq!(
            decide(&partly, &report(PartiallyPaid, 10, 30)),
            Decision::SameFacts
        );
        let mut more_confirmed = report(PartiallyPaid, 10, 30);
        more_confirmed.confirmations = Some(1);
        assert_eq!(
            decide(&partly, &more_confirmed),
            Decision::Apply { fulfil: false },
            "a confirmation more is news"
        );
        let mut another_tx = report(PartiallyPaid, 10, 30);
        another_tx.tx_hashes.push("0xb".into());
        assert_eq!(
            decide(&partly, &another_tx),
            Decision::Apply { fulfil: false }
        );
    }

    #[test]
    fn an_illegal_transition_is_refused() {
        let confirming = paying(Confirming, 25_000_000, 20);
        assert_eq!(
            decide(&confirming, &report(PaidLate, 25_000_000, 30)),
            Decision::Apply { fulfil: true },
            "allowed: a late payment buried under enough blocks when first seen"
        );
        let waiting = paying(Waiting, 0, 20);
        let expired = paying(Expired, 0, 20);
        assert_eq!(
            decide(&expired, &report(PartiallyPaid, 10, 30)),
            Decision::Illegal(IllegalTransition {
                from: Expired,
                to: PartiallyPaid
            })
        );
        assert!(matches!(
            decide(&waiting, &report(Waiting, 0, 30)),
            Decision::SameFacts
        ));
    }

    #[test]
    fn final_states_are_sticky() {
        for final_state in [Paid, PaidLate, Failed] {
            let done = paying(final_state, 25_000_000, 20);
            for later in [Waiting, PartiallyPaid, Confirming, Expired] {
                assert_eq!(
                    decide(&done, &report(later, 0, 30)),
                    Decision::Illegal(IllegalTransition {
                        from: final_state,
                        to: later
                    }),
                    "{final_state} then {later}"
                );
            }
        }
        // Paid stays paid; more money after it is recorded as overpaid, not a new state.
        let paid = paying(Paid, 25_000_000, 20);
        assert_eq!(
            decide(&paid, &report(Paid, 26_000_000, 30)),
            Decision::Apply { fulfil: true }
        );
    }

    #[test]
    fn a_checkout_without_an_order_takes_no_report() {
        let open = Checkout::open(
            "co_1".into(),
            CreatedBy::Storefront,
            "Cart".into(),
            "40".into(),
            "USD".into(),
        );
        assert_eq!(decide(&open, &report(Paid, 1, 1)), Decision::NoOrder);
    }

    #[test]
    fn applying_a_report_takes_its_facts_and_the_next_version() {
        let waiting = paying(Waiting, 0, 10);
        let mut partly = report(PartiallyPaid, 10_000_000, 11);
        partly.confirmations = Some(1);
        let applied = waiting.reported(&partly, 99);
        assert_eq!(applied.state, CheckoutState::Order(PartiallyPaid));
        assert_eq!(
            (applied.paid_atomic, applied.remaining_atomic),
            (10_000_000, Some(15_000_000))
        );
        assert_eq!(applied.confirmations, Some(1));
        assert_eq!(applied.gateway_update_time, 11);
        assert_eq!(
            (applied.updated_at, applied.version),
            (99, waiting.version + 1)
        );
        assert_eq!(applied.id, waiting.id);
    }

    #[test]
    fn prices_must_be_chargeable_in_their_currency() {
        let registry = ChainRegistry::builtin();
        assert_eq!(check_price("25.00", "USD", &registry), Ok(()));
        assert_eq!(check_price("12.123456", "USDT", &registry), Ok(()));
        let seven = check_price("12.1234567", "USDT", &registry).unwrap_err();
        assert!(
            matches!(&seven, PriceError::Token { decimals: 6, .. }),
            "USDT has 6 decimals on most chains: {seven}"
        );
        assert!(seven.to_string().contains("6 decimals"), "{seven}");
        assert!(matches!(
            check_price("0", "USD", &registry),
            Err(PriceError::Amount(_))
        ));
        assert!(matches!(
            check_price("-1", "USD", &registry),
            Err(PriceError::Amount(_))
        ));
        assert!(matches!(
            check_price("1", "", &registry),
            Err(PriceError::Currency(_))
        ));
        assert!(matches!(
            check_price("1", "DOLLARS-OF-AMERICA", &registry),
            Err(PriceError::Currency(_))
        ));
    }

    #[test]
    fn who_created_a_checkout_reads_back_from_its_name() {
        for by in [CreatedBy::Widget, CreatedBy::Storefront] {
            assert_eq!(CreatedBy::from_name(by.as_str()), Some(by));
        }
        assert_eq!(CreatedBy::from_name("admin"), None);
    }
}
