//! Starting a payment: pricing a checkout on the chosen network and token, and creating its
//! gateway order. The checkout's id is the gateway `orderNo`, so a retry (a double click, a
//! timeout, a restart between the gateway's answer and our write) finds the same gateway order
//! instead of making a second one.

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::{CreateOrderRequest, DecimalText, GatewayOrder};
use usdt_checkout_protocol::pricing::fiat_to_token;
use usdt_checkout_protocol::{ChainId, format_units, parse_positive_units};

use crate::app::App;
use crate::domain::{Checkout, PaymentTerms};
use crate::gateway::GatewayError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{symbol} on chain {chain} is not accepted")]
    UnsupportedToken { chain: ChainId, symbol: String },
    #[error("this checkout is already being paid with {symbol} on chain {chain}")]
    AlreadyStarted { chain: ChainId, symbol: String },
    #[error("this checkout can no longer be paid (it is {0})")]
    Finished(&'static str),
    #[error("the gateway has no {base}/{quote} rate to price this")]
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

/// Makes sure `checkout` has a gateway order on `chain`/`symbol`, creating it if needed.
pub async fn start_payment(
    app: &App,
    checkout: Checkout,
    chain: ChainId,
    symbol: &str,
) -> Result<Checkout, StartError> {
    if let Some(terms) = &checkout.terms {
        return if terms.chain_id == chain && terms.symbol == symbol {
            Ok(checkout)
        } else {
            Err(StartError::AlreadyStarted {
                chain: terms.chain_id,
                symbol: terms.symbol.clone(),
            })
        };
    }
    if checkout.state != CheckoutState::OPEN {
        return Err(StartError::Finished(checkout.state.as_str()));
    }
    let catalog = app.catalog.get(&app.gateway).await?;
    let token = catalog
        .tokens
        .iter()
        .find(|t| t.chain_id == chain && t.symbol == symbol)
        .ok_or_else(|| StartError::UnsupportedToken {
            chain,
            symbol: symbol.into(),
        })?
        .clone();
    let atomic = if checkout.price_currency == symbol {
        parse_positive_units(&checkout.price_amount, token.decimals)
            .map_err(|e| StartError::Pricing(e.to_string()))?
    } else {
        let rate = catalog
            .rates
            .iter()
            .find(|r| r.base == symbol && r.quote == checkout.price_currency)
            .ok_or_else(|| StartError::NoRate {
                base: symbol.into(),
                quote: checkout.price_currency.clone(),
            })?;
        fiat_to_token(&checkout.price_amount, &rate.rate, token.decimals)
            .map_err(|e| StartError::Pricing(e.to_string()))?
    };
    let request = CreateOrderRequest {
        order_no: checkout.id.clone(),
        chain_id: chain,
        symbol: symbol.into(),
        amount: DecimalText(format_units(atomic, token.decimals)),
        cust_no: None,
        expire_seconds: Some(app.config.order_lifetime.as_secs()),
    };
    let order = app.gateway.create_order(&request).await?;
    let terms = terms_of(&order, &request, atomic, token.contract, token.decimals)?;
    let stored = app.checkouts.attach_order(&checkout.id, &terms).await?;
    tracing::info!(
        "checkout {}: gateway order {} for {} {symbol} on chain {chain}",
        stored.id,
        order.plat_order_no,
        order.pay_amount
    );
    Ok(stored)
}

/// The gateway's order, checked against what was asked: a gateway that answers for another order,
/// token or amount must not be believed.
pub fn terms_of(
    order: &GatewayOrder,
    request: &CreateOrderRequest,
    atomic: u128,
    token: usdt_checkout_protocol::Address,
    decimals: u8,
) -> Result<PaymentTerms, StartError> {
    let inconsistent = |what: &str| Err(StartError::Inconsistent(what.into()));
    if order.order_no != request.order_no {
        return inconsistent("another orderNo");
    }
    if order.chain_id != request.chain_id || order.symbol != request.symbol {
        return inconsistent("another chain or token");
    }
    if order.token_contract != token || order.decimals != decimals {
        return inconsistent("another token contract or decimals");
    }
    let pay: u128 = order
        .pay_amount_atomic
        .parse()
        .or(Err(StartError::Inconsistent(
            "payAmountAtomic is not a number".into(),
        )))?;
    // The gateway may raise the amount by a few smallest units to make it unique; never lower
    // it, and never by more than a cent's worth.
    if pay < atomic || pay - atomic > 10u128.pow(u32::from(decimals.saturating_sub(2))) {
        return inconsistent("an amount to pay that differs from the price");
    }
    Ok(PaymentTerms {
        chain_id: order.chain_id,
        symbol: order.symbol.clone(),
        token_contract: order.token_contract,
        decimals,
        amount_atomic: atomic,
        gateway_order_no: order.order_no.clone(),
        plat_order_no: order.plat_order_no.clone(),
        pay_amount_atomic: pay,
        to_address: order.to_address,
        cashier_url: order.cashier_url.clone(),
        expires_at: order.expire_time,
        required_confirmations: order.required_confirmations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use usdt_checkout_protocol::Address;

    const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

    fn request() -> CreateOrderRequest {
        CreateOrderRequest {
            order_no: "co_1".into(),
            chain_id: ChainId::LOCAL,
            symbol: "USDT".into(),
            amount: DecimalText("24.995001".into()),
            cust_no: None,
            expire_seconds: Some(900),
        }
    }

    /// The gateway's answer to [`request`], changed by `edit`.
    fn order(edit: impl FnOnce(&mut serde_json::Value)) -> GatewayOrder {
        let mut order = json!({
            "platOrderNo": "P1", "orderNo": "co_1", "chainId": 31337, "network": "Local chain",
            "symbol": "USDT", "tokenContract": TOKEN, "decimals": 6, "amount": "24.995001",
            "payAmount": "24.995002", "payAmountAtomic": "24995002",
            "toAddress": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
            "cashierUrl": "http://gateway.test/cashier/P1", "status": 0, "state": "waiting",
            "paidAmount": "0", "remainingAmount": "24.995002", "overpaidAmount": "0",
            "requiredConfirmations": 2, "payments": [], "createTime": 1, "expireTime": 900001,
            "updateTime": 1,
        });
        edit(&mut order);
        serde_json::from_value(order).unwrap()
    }

    fn terms(order: &GatewayOrder) -> Result<PaymentTerms, StartError> {
        let token: Address = TOKEN.parse().unwrap();
        terms_of(order, &request(), 24_995_001, token, 6)
    }

    #[test]
    fn the_answer_that_matches_the_request_gives_the_terms() {
        let terms = terms(&order(|_| {})).unwrap();
        assert_eq!(terms.gateway_order_no, "co_1");
        assert_eq!(terms.plat_order_no, "P1");
        assert_eq!(terms.amount_atomic, 24_995_001, "what the server priced");
        assert_eq!(terms.pay_amount_atomic, 24_995_002, "what the gateway asks");
        assert_eq!(terms.expires_at, 900_001);
        assert_eq!(terms.required_confirmations, 2);
        assert_eq!(
            terms.to_address.to_string(),
            "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        );
    }

    #[test]
    fn an_answer_for_anything_else_is_refused() {
        let refused = |edit: fn(&mut serde_json::Value), why: &str| match terms(&order(edit)) {
            Err(StartError::Inconsistent(what)) => assert!(what.contains(why), "{what}"),
            other => panic!("{why}: {other:?}"),
        };
        refused(|o| o["orderNo"] = json!("co_2"), "orderNo");
        refused(|o| o["chainId"] = json!(1), "chain");
        refused(|o| o["symbol"] = json!("USDC"), "token");
        refused(
            |o| o["tokenContract"] = json!("0xdAC17F958D2ee523a2206206994597C13D831ec7"),
            "token contract",
        );
        refused(|o| o["decimals"] = json!(18), "decimals");
        refused(
            |o| o["payAmountAtomic"] = json!("24.995002"),
            "not a number",
        );
        refused(|o| o["payAmountAtomic"] = json!("24995000"), "differs");
        // A cent's worth (10^4 units of a 6-decimal token) above the price is the most a
        // gateway may add to make an amount unique.
        refused(|o| o["payAmountAtomic"] = json!("25005002"), "differs");
        assert!(
            terms(&order(|o| o["payAmountAtomic"] = json!("25005001"))).is_ok(),
            "exactly a cent more is still the price made unique"
        );
    }
}
