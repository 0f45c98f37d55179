//! Starting a payment: pricing a checkout on the chosen network and token, and creating its
//! gateway order. The checkout's id is the gateway `orderNo`, so a retry (a double click, a
//! timeout, a restart between the gateway's answer and our write) finds the same gateway order
//! instead of making a second one.

use usdt_checkout_protocol::checkout::CheckoutState;
use usdt_checkout_protocol::gateway::{CreateOrderRequest, DecimalText, GatewayOrder};
use usdt_checkout_protocol::pricing::fiat_to_token;
use usdt_checkout_protocol::{ChainId, format_units, parse_positive_units};

use crate::app::App;
use crate::gateway::GatewayError;
use crate::store::{Checkout, PaymentTerms, StoreError};

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
    let stored = app.store.attach_order(&checkout.id, &terms).await?;
    app.checkouts.put(stored.clone());
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
fn terms_of(
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
