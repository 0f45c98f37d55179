//! What the gateway says of an order, from a webhook or a query, read into one form the store
//! applies. Amounts are parsed strictly; a report that does not parse changes nothing.

use usdt_checkout_protocol::gateway::{GatewayOrder, PaymentEvent};
use usdt_checkout_protocol::parse_units;

use crate::store::GatewayReport;

pub fn from_order(order: &GatewayOrder) -> Result<GatewayReport, String> {
    let units = |text: &str, field: &str| {
        parse_units(text, order.decimals).map_err(|e| format!("{field}: {e}"))
    };
    Ok(GatewayReport {
        order_no: order.order_no.clone(),
        state: order.state,
        paid_atomic: units(&order.paid_amount, "paidAmount")?,
        remaining_atomic: units(&order.remaining_amount, "remainingAmount")?,
        overpaid_atomic: units(&order.overpaid_amount, "overpaidAmount")?,
        confirmations: order.confirmations,
        tx_hashes: order.payments.iter().map(|p| p.tx_id.clone()).collect(),
        time: order.update_time,
    })
}

/// A webhook carries the latest transaction only; the ones already known are kept beside it.
pub fn from_event(
    event: &PaymentEvent,
    decimals: u8,
    known: &[String],
) -> Result<GatewayReport, String> {
    let units =
        |text: &str, field: &str| parse_units(text, decimals).map_err(|e| format!("{field}: {e}"));
    let mut tx_hashes = known.to_vec();
    if let Some(tx) = &event.tx_id
        && !tx_hashes.contains(tx)
    {
        tx_hashes.push(tx.clone());
    }
    Ok(GatewayReport {
        order_no: event.order_no.clone(),
        state: event.state,
        paid_atomic: units(&event.amount, "amount")?,
        remaining_atomic: units(&event.remaining_amount, "remainingAmount")?,
        overpaid_atomic: units(&event.overpaid_amount, "overpaidAmount")?,
        confirmations: event.confirmations,
        tx_hashes,
        time: event.event_time,
    })
}
