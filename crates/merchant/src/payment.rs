//! Starting a payment: pricing a checkout on the chosen network and token, and creating its
//! gateway order. The checkout's id is the gateway `orderNo`, and what it asks is kept before
//! the gateway is called, so a retry (a double click, a lost answer, a restart between the
//! gateway's answer and our write) asks for the same order again and finds it, instead of
//! making a second one or asking at a rate that has moved.

use std::time::Duration;

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::Cryptocurrency;
use usdt_checkout_protocol::pricing::fiat_to_token;
use usdt_checkout_protocol::{ChainId, TokenAmount};

use crate::app::App;
use crate::checkouts::Checkouts;
use crate::clock::now_ms;
use crate::domain::{Asked, Checkout, PaymentTerms, Price};
use crate::gateway::{CreatedOrder, GatewayClient, GatewayError, NewOrder};
use crate::matching::unique_amount;
use crate::store::StoreError;
use crate::tolerance::Tolerance;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{symbol} on chain {chain} is not accepted")]
    UnsupportedToken { chain: ChainId, symbol: String },
    #[error("this checkout is already being paid with {symbol} on chain {chain}")]
    AlreadyStarted { chain: ChainId, symbol: String },
    #[error("this checkout can no longer be paid (it is {0})")]
    Finished(&'static str),
    #[error("no {base}/{quote} rate is configured to price this")]
    NoRate { base: String, quote: String },
    #[error("the price cannot be charged: {0}")]
    Pricing(String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error("the gateway answered with an order that does not match the request: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a checkout that already has a gateway order, or is over, answers a request to pay it on
/// `chain`/`symbol`; `None` while an order may be made for it.
fn started(
    checkout: Checkout,
    chain: ChainId,
    symbol: &str,
) -> Option<Result<Checkout, StartError>> {
    if let Some(terms) = &checkout.terms {
        return Some(if terms.chain_id == chain && terms.symbol == symbol {
            Ok(checkout)
        } else {
            Err(StartError::AlreadyStarted {
                chain: terms.chain_id,
                symbol: terms.symbol.clone(),
            })
        });
    }
    (checkout.state != CheckoutState::OPEN)
        .then(|| Err(StartError::Finished(checkout.state.as_str())))
}

/// What a checkout may be paid with, as the shopper chose it and the server allows it: the
/// token, the confirmations its chain requires, and how long an order lasts.
#[derive(Debug, Clone)]
pub struct Offer {
    pub token: Cryptocurrency,
    pub confirmations: u32,
    pub lifetime: Duration,
    /// How far short of the amount a payment may fall and still count as paid, as configured
    /// for the token on its chain now: fixed into the order's terms when they are.
    pub tolerance: Tolerance,
}

/// The token `symbol` on `chain`, if the gateway accepts it there (its public list, cached),
/// with the confirmations its chain requires: as configured for a watched chain, else as the
/// gateway's list says, else one.
pub async fn accepted_token(app: &App, chain: ChainId, symbol: &str) -> Result<Offer, StartError> {
    let catalog = app.catalog.get(&app.gateway, &app.config.registry).await?;
    let token = catalog
        .tokens
        .iter()
        .find(|t| t.chain_id == chain && t.symbol == symbol)
        .ok_or_else(|| StartError::UnsupportedToken {
            chain,
            symbol: symbol.into(),
        })?
        .clone();
    let confirmations = app
        .config
        .chains
        .get(&chain)
        .map(|c| c.confirmations)
        .or_else(|| {
            catalog
                .networks
                .iter()
                .find(|n| n.chain_id == chain)
                .map(|n| n.required_confirmations)
                .filter(|n| *n > 0)
        })
        .unwrap_or(1);
    let tolerance = app
        .config
        .chains
        .get(&chain)
        .and_then(|c| c.underpaid_tolerance.get(symbol))
        .copied()
        .unwrap_or_default();
    Ok(Offer {
        token,
        confirmations,
        lifetime: app.config.order_lifetime,
        tolerance,
    })
}

/// What `price` costs in `token`, in its atomic units: as is, or converted at the configured
/// rate.
pub async fn priced(app: &App, price: &Price, token: &Cryptocurrency) -> Result<u128, StartError> {
    if price.currency == token.symbol {
        return price
            .amount
            .to_positive_units(token.decimals)
            .map_err(|e| StartError::Pricing(e.to_string()));
    }
    let rate = app
        .catalog
        .rate(
            &app.gateway,
            &app.config.rates,
            &token.symbol,
            &price.currency,
        )
        .await?
        .ok_or_else(|| StartError::NoRate {
            base: token.symbol.clone(),
            quote: price.currency.clone(),
        })?;
    fiat_to_token(price.amount.as_str(), &rate, token.decimals)
        .map_err(|e| StartError::Pricing(e.to_string()))
}

/// Makes sure `checkout` has a gateway order as `offer`ed, creating it if needed: an amount
/// asked for the first time is `price`d (see [`priced`]) in the offered token.
pub async fn start_payment(
    checkouts: &Checkouts,
    gateway: &GatewayClient,
    checkout: Checkout,
    offer: &Offer,
    price: impl AsyncFnOnce(&Price) -> Result<u128, StartError>,
) -> Result<Checkout, StartError> {
    let token = &offer.token;
    let (chain, symbol) = (token.chain_id, token.symbol.as_str());
    if let Some(started) = started(checkout.clone(), chain, symbol) {
        return started;
    }
    // One creation at a time for this checkout, here and on every server sharing the
    // database, for as long as the gateway is asked: a request that waited its turn may find
    // the order made by another request for the same checkout (the same idempotency key, sent
    // twice), which stands, and the gateway is not asked again.
    let _own_turn = checkouts.checkout_turn(&checkout.id).await?;
    let checkout = checkouts
        .reload(&checkout.id)
        .await?
        .ok_or(StoreError::Corrupt("checkout"))?;
    if let Some(started) = started(checkout.clone(), chain, symbol) {
        return started;
    }
    // Asked before: an earlier request's answer was lost, so the gateway may hold the order
    // whatever this request is told.
    let asked_before = checkout.asked.is_some();
    let asked = match checkout.asked.clone() {
        // Asked before, and the answer lost: the gateway may hold this very order, so it is
        // asked for again as it was, whatever the rate says now.
        Some(asked) if asked.chain_id == chain && asked.symbol == symbol => asked,
        Some(asked) => {
            return Err(StartError::AlreadyStarted {
                chain: asked.chain_id,
                symbol: asked.symbol,
            });
        }
        None => {
            let priced = price(&checkout.price).await?;
            // Scan payments must match their order's amount exactly, and a plain transfer
            // names no order: among the orders still awaiting payment on this chain and token,
            // each amount is made unique by the smallest amount asked (10 USDT, then
            // 10.000001). Two creations on one chain and token could choose the same amount,
            // so they choose in turn; kept before the gateway is asked, the amount is taken
            // from then on, and the turn passes to the next creation while this one waits for
            // the gateway.
            let _amount_turn = checkouts.creation_turn(chain, symbol).await?;
            let taken = checkouts.amounts_awaited(chain, symbol);
            let asked = Asked {
                chain_id: chain,
                symbol: symbol.into(),
                amount_atomic: priced,
                pay_amount_atomic: unique_amount(priced, &taken, token.decimals),
            };
            checkouts.ask(&checkout.id, Some(&asked)).await?;
            asked
        }
    };
    let order = NewOrder {
        order_no: checkout.id.clone(),
        chain_id: chain,
        symbol: symbol.into(),
        amount: TokenAmount::new(asked.pay_amount_atomic, token.decimals),
    };
    let created = match gateway.create_order(&order).await {
        Ok(created) => created,
        Err(error) => {
            if !error.may_have_acted() && !asked_before {
                // No order was made: the shopper may choose afresh, at the rate of then. Not
                // after an earlier request's lost answer: a refusal now (a 429, say) says
                // nothing of that one, and the order it may have made must be asked for again
                // with the same amount, never re-priced under the same order number.
                checkouts.ask(&checkout.id, None).await?;
            }
            return Err(error.into());
        }
    };
    let now = now_ms();
    let terms = terms_of(
        &order,
        &created,
        asked.amount_atomic,
        asked.pay_amount_atomic,
        (token.contract, token.decimals),
        offer.confirmations,
        // An order found made already lives from when the gateway made it.
        created.made_at.map_or(now, |at| at.min(now)) + offer.lifetime.as_millis() as u64,
    )?;
    let tolerance = offer
        .tolerance
        .allowance(terms.pay_amount_atomic, terms.decimals);
    let stored = checkouts
        .attach_order_tolerating(&checkout.id, &terms, tolerance)
        .await?;
    tracing::info!(
        "checkout {}: gateway order for {} {symbol} on chain {chain}, paid to {}",
        stored.id,
        order.amount,
        terms.to_address
    );
    Ok(stored)
}

/// The terms of a created order. The gateway documents only where to pay: the amount is what was
/// asked, the expiry the gateway's when it gives one (and it must be in the future), else the
/// server's own.
pub fn terms_of(
    order: &NewOrder,
    created: &CreatedOrder,
    priced: u128,
    pay: u128,
    (token_contract, decimals): (usdt_checkout_protocol::Address, u8),
    required_confirmations: u32,
    own_expiry: u64,
) -> Result<PaymentTerms, StartError> {
    let expires_at = match created.expire_time {
        Some(at) if at <= now_ms() => {
            return Err(StartError::Inconsistent(format!(
                "the order's expireTime {at} has passed"
            )));
        }
        Some(at) => at,
        None => own_expiry,
    };
    Ok(PaymentTerms {
        chain_id: order.chain_id,
        symbol: order.symbol.clone(),
        token_contract,
        decimals,
        amount_atomic: priced,
        gateway_order_no: order.order_no.clone(),
        plat_order_no: created.plat_order_no.clone().unwrap_or_default(),
        pay_amount_atomic: pay,
        to_address: created.to_address,
        cashier_url: created.cashier_url.clone().unwrap_or_default(),
        expires_at,
        required_confirmations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const TO: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

    fn order() -> NewOrder {
        NewOrder {
            order_no: "co_1".into(),
            chain_id: ChainId::LOCAL,
            symbol: "USDT".into(),
            amount: TokenAmount::new(24_995_002, 6),
        }
    }

    fn created(expire_time: Option<u64>) -> CreatedOrder {
        CreatedOrder {
            to_address: TO.parse().unwrap(),
            cashier_url: None,
            plat_order_no: Some("8210000001".into()),
            expire_time,
            made_at: None,
        }
    }

    fn terms(created: &CreatedOrder) -> Result<PaymentTerms, StartError> {
        terms_of(
            &order(),
            created,
            24_995_001,
            24_995_002,
            (TOKEN.parse().unwrap(), 6),
            2,
            now_ms() + 900_000,
        )
    }

    #[test]
    fn the_terms_take_where_to_pay_from_the_gateway_and_the_rest_from_the_server() {
        let terms = terms(&created(None)).unwrap();
        assert_eq!(terms.gateway_order_no, "co_1");
        assert_eq!(terms.plat_order_no, "8210000001");
        assert_eq!(terms.amount_atomic, 24_995_001, "what the server priced");
        assert_eq!(terms.pay_amount_atomic, 24_995_002, "made unique");
        assert_eq!(terms.to_address.to_string(), TO);
        assert_eq!(terms.cashier_url, "");
        assert_eq!(terms.required_confirmations, 2);
        assert!(terms.expires_at > now_ms(), "the server's own lifetime");
        let later = now_ms() + 60_000;
        assert_eq!(terms_of_expiry(Some(later)), Ok(later));
    }

    fn terms_of_expiry(at: Option<u64>) -> Result<u64, String> {
        terms(&created(at))
            .map(|t| t.expires_at)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn an_expiry_already_past_is_refused() {
        let error = terms_of_expiry(Some(1)).unwrap_err();
        assert!(error.contains("expireTime"), "{error}");
    }
}
