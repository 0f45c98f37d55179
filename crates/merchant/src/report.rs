//! What the gateway says of an order, from a webhook or a query, read into one form the store
//! applies. Amounts are parsed strictly; a report that does not parse changes nothing.

use usdt_checkout_protocol::gateway::{GatewayOrder, PaymentEvent};
use usdt_checkout_protocol::parse_units;

use crate::domain::GatewayReport;

/// An amount field, in atomic units of a token with `decimals`; an error names the field.
fn units(text: &str, field: &str, decimals: u8) -> Result<u128, String> {
    parse_units(text, decimals).map_err(|e| format!("{field}: {e}"))
}

pub fn from_order(order: &GatewayOrder) -> Result<GatewayReport, String> {
    let units = |text: &str, field: &str| units(text, field, order.decimals);
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
    let units = |text: &str, field: &str| units(text, field, decimals);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use usdt_checkout_protocol::OrderStatus;

    fn event(amount: &str, tx: Option<&str>) -> PaymentEvent {
        serde_json::from_value(json!({
            "eventId": "evt_1", "platOrderNo": "P1", "orderNo": "co_1", "amount": amount,
            "fee": "0", "chainId": 31337, "network": "Local chain", "symbol": "USDT",
            "txId": tx, "type": "QR-Payment", "status": 0, "createTime": 1,
            "state": "partially_paid", "payAmount": "25", "remainingAmount": "15",
            "overpaidAmount": "0", "confirmations": 1, "requiredConfirmations": 2,
            "expireTime": 9, "eventTime": 42,
        }))
        .unwrap()
    }

    #[test]
    fn an_event_reads_into_atomic_units_and_keeps_the_known_transactions() {
        let report = from_event(&event("10", Some("0xb")), 6, &["0xa".into()]).unwrap();
        assert_eq!(report.order_no, "co_1");
        assert_eq!(report.state, OrderStatus::PartiallyPaid);
        assert_eq!(
            (
                report.paid_atomic,
                report.remaining_atomic,
                report.overpaid_atomic
            ),
            (10_000_000, 15_000_000, 0)
        );
        assert_eq!(report.confirmations, Some(1));
        assert_eq!(report.tx_hashes, ["0xa", "0xb"]);
        assert_eq!(report.time, 42, "the gateway's time orders reports");

        let again = from_event(&event("10", Some("0xa")), 6, &["0xa".into()]).unwrap();
        assert_eq!(
            again.tx_hashes,
            ["0xa"],
            "a known transaction is not added twice"
        );
        let none = from_event(&event("10", None), 6, &[]).unwrap();
        assert!(none.tx_hashes.is_empty());
    }

    #[test]
    fn an_event_whose_amounts_do_not_parse_is_refused_naming_the_field() {
        let error = from_event(&event("10.1234567", None), 6, &[]).unwrap_err();
        assert!(error.starts_with("amount:"), "{error}");
        let error = from_event(&event("ten", None), 6, &[]).unwrap_err();
        assert!(error.starts_with("amount:"), "{error}");
    }

    #[test]
    fn an_order_reads_with_its_own_decimals_and_all_its_payments() {
        let order: GatewayOrder = serde_json::from_value(json!({
            "platOrderNo": "P1", "orderNo": "co_1", "chainId": 56, "network": "BNB Smart Chain",
            "symbol": "USDT", "tokenContract": "0x55d398326f99059fF775485246999027B3197955",
            "decimals": 18, "amount": "25", "payAmount": "25", "payAmountAtomic": "25000000000000000000",
            "toAddress": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "cashierUrl": "",
            "status": 1, "state": "paid", "paidAmount": "25.5", "remainingAmount": "0",
            "overpaidAmount": "0.5", "requiredConfirmations": 2,
            "payments": [
                {"txId": "0xa", "logIndex": 0, "blockNumber": 1, "blockHash": "0x1",
                 "from": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "amount": "20",
                 "amountAtomic": "20000000000000000000", "kind": "transfer", "confirmations": 3,
                 "timestamp": 1, "late": false},
                {"txId": "0xb", "logIndex": 1, "blockNumber": 2, "blockHash": "0x2",
                 "from": "0x5FbDB2315678afecb367f032d93F642f64180aa3", "amount": "5.5",
                 "amountAtomic": "5500000000000000000", "kind": "transfer", "confirmations": 2,
                 "timestamp": 2, "late": false}
            ],
            "createTime": 1, "expireTime": 9, "updateTime": 77,
        }))
        .unwrap();
        let report = from_order(&order).unwrap();
        assert_eq!(report.paid_atomic, 25_500_000_000_000_000_000);
        assert_eq!(report.overpaid_atomic, 500_000_000_000_000_000);
        assert_eq!(report.tx_hashes, ["0xa", "0xb"]);
        assert_eq!(report.time, 77);

        let mut bad = order;
        bad.remaining_amount = "-1".into();
        assert!(
            from_order(&bad)
                .unwrap_err()
                .starts_with("remainingAmount:")
        );
    }
}
