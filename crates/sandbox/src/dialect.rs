//! What an order looks like in each of BlockATM's documented dialects, and nothing more: V1's
//! payment record (its callback and, by the sandbox's reading, a query's answer) and V2's payment
//! event and order detail, built from the protocol crate's wire types
//! (`usdt_checkout_protocol::gateway::{v1, v2}`), so the wire format has one definition.
//!
//! Where BlockATM's docs are silent the sandbox decides here (and `API.md` says so):
//! - `amount` is what the order has received so far, in every record (the callback's "actual
//!   payment amount by the customer");
//! - `txId`, `fromAddress` and `blockTime` are the latest credited payment's;
//! - `type`/`orderType` is 1 when the latest payment was a `deposit` through the receiving
//!   contract, else 2 (the order was made as a QR order);
//! - `fee` is `"0"`: the sandbox charges none;
//! - the sandbox's detailed states map onto the documented statuses as [`gateway_status`] says.
//!
//! When a webhook is sent is the outbox's to say.

use usdt_checkout_chain::PaymentKind;
use usdt_checkout_protocol::OrderStatus;
use usdt_checkout_protocol::format_units;
use usdt_checkout_protocol::gateway::{DecimalText, GatewayStatus, IdText, PaymentType, v1, v2};

use crate::config::Api;
use crate::ledger::Order;

/// The documented status of a detailed state: open ones are pending (V1 0, `PENDING`), paid
/// ones success (1, `SUCCESS`), an expired order `EXPIRED` and one the gateway cancelled
/// `CANCELLED` (both V1's -1).
pub const fn gateway_status(state: OrderStatus) -> GatewayStatus {
    match state {
        OrderStatus::Waiting | OrderStatus::PartiallyPaid | OrderStatus::Confirming => {
            GatewayStatus::Pending
        }
        OrderStatus::Paid | OrderStatus::PaidLate => GatewayStatus::Success,
        OrderStatus::Expired => GatewayStatus::Expired,
        OrderStatus::Failed => GatewayStatus::Cancelled,
    }
}

/// 1 (contract payment) when the latest payment was a deposit, else 2 (QR code payment).
pub fn payment_type(order: &Order) -> PaymentType {
    match order.payments.last().map(|p| p.kind) {
        Some(PaymentKind::Deposit) => PaymentType::Contract,
        _ => PaymentType::QrCode,
    }
}

fn received(order: &Order) -> DecimalText {
    DecimalText(format_units(order.received(), order.decimals))
}

fn latest_tx(order: &Order) -> Option<String> {
    order.payments.last().map(|p| p.tx_id.to_string())
}

/// V1's payment record: the callback's body, and a query's answer.
pub fn v1_payment(order: &Order) -> v1::Payment {
    v1::Payment {
        plat_order_no: IdText(order.plat_order_no.clone()),
        order_no: Some(order.order_no.clone()),
        cust_no: order.cust_no.clone(),
        amount: received(order),
        fee: Some(DecimalText("0".into())),
        chain_id: order.chain_id,
        network: Some(order.network.clone()),
        symbol: order.symbol.clone(),
        tx_id: latest_tx(order),
        kind: payment_type(order),
        status: gateway_status(order.state),
        create_time: Some(order.create_time),
    }
}

/// V2's payment event, for the merchant whose cashier id is `cashier_id`.
pub fn v2_event(order: &Order, cashier_id: u64) -> v2::PaymentEvent {
    let latest = order.payments.last();
    v2::PaymentEvent {
        id: IdText(order.plat_order_no.clone()),
        order_no: Some(order.order_no.clone()),
        cust_no: order.cust_no.clone(),
        cashier_id: Some(IdText(cashier_id.to_string())),
        chain_id: order.chain_id,
        network: Some(order.network.clone()),
        symbol: order.symbol.clone(),
        amount: received(order),
        tx_id: latest_tx(order),
        order_type: Some(payment_type(order)),
        status: gateway_status(order.state),
        from_address: latest.map(|p| p.from.to_string()),
        block_time: latest.map(|p| p.timestamp_ms),
    }
}

/// V2's order detail (`payorder/detail`, and each of `payorder/list`'s).
pub fn v2_detail(order: &Order, cashier_id: u64) -> v2::OrderDetail {
    v2::OrderDetail {
        order_no: order.order_no.clone(),
        cashier_id: Some(IdText(cashier_id.to_string())),
        amount: received(order),
        symbol: order.symbol.clone(),
        chain_id: order.chain_id,
        status: gateway_status(order.state),
        tx_id: latest_tx(order),
        create_time: Some(order.create_time),
        update_time: Some(order.update_time),
    }
}

/// A webhook: its `BlockATM-Event` header and its exact body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub event: &'static str,
    pub body: String,
}

/// The webhook that reports `order` as it is now, in dialect `api`.
pub fn webhook(api: Api, order: &Order, cashier_id: u64) -> Webhook {
    match api {
        Api::V1 => {
            let payment = v1_payment(order);
            Webhook {
                event: match payment.kind {
                    PaymentType::Contract => v1::EVENT_PAYMENT,
                    _ => v1::EVENT_QR_PAYMENT,
                },
                body: serde_json::to_string(&payment).expect("a payment serialises"),
            }
        }
        Api::V2 => Webhook {
            event: v2::EVENT_PAYMENT,
            body: serde_json::to_string(&v2_event(order, cashier_id)).expect("an event serialises"),
        },
    }
}

/// The webhook `order` would have had when it was made: nothing received, waiting.
pub fn webhook_as_created(api: Api, order: &Order, cashier_id: u64) -> Webhook {
    let created = Order {
        payments: vec![],
        state: OrderStatus::Waiting,
        update_time: order.create_time,
        ..order.clone()
    };
    webhook(api, &created, cashier_id)
}

#[cfg(test)]
mod tests {
    use usdt_checkout_chain::ChainPayment;
    use usdt_checkout_protocol::{Address, ChainId, TxHash};

    use super::*;
    use crate::ledger::plat_order_no;

    fn order(state: OrderStatus, payments: Vec<ChainPayment>) -> Order {
        let address = Address::from_bytes([1; 20]);
        Order {
            merchant: "pk".into(),
            plat_order_no: plat_order_no(1),
            order_no: "A-1".into(),
            cust_no: None,
            chain_id: ChainId::LOCAL,
            network: "Local chain".into(),
            symbol: "USDT".into(),
            token: address,
            decimals: 6,
            to_address: address,
            amount: 25_500_000,
            create_time: 1_700_000_000_000,
            expire_time: 1_700_000_900_000,
            update_time: 1_700_000_000_000,
            state,
            payments,
            terms: String::new(),
        }
    }

    /// A payment in the transaction whose hash is `tx` 32 times over.
    fn paid(kind: PaymentKind, value: u128, tx: u8) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([tx; 32]),
            log_index: 0,
            block_number: 5,
            block_hash: "0xb".into(),
            from: Address::from_bytes([7; 20]),
            to: Address::from_bytes([1; 20]),
            token: Address::from_bytes([1; 20]),
            value,
            kind,
            order_no: None,
            timestamp_ms: 1_700_000_100_000,
        }
    }

    #[test]
    fn every_state_has_its_documented_status() {
        use GatewayStatus::*;
        let expected = [
            (OrderStatus::Waiting, Pending, 0),
            (OrderStatus::PartiallyPaid, Pending, 0),
            (OrderStatus::Confirming, Pending, 0),
            (OrderStatus::Paid, Success, 1),
            (OrderStatus::PaidLate, Success, 1),
            (OrderStatus::Expired, Expired, -1),
            (OrderStatus::Failed, Cancelled, -1),
        ];
        for (state, status, number) in expected {
            assert_eq!(gateway_status(state), status, "{state}");
            assert_eq!(gateway_status(state).v1_number(), number, "{state}");
        }
        assert_eq!(gateway_status(OrderStatus::Failed).v2_name(), "CANCELLED");
    }

    #[test]
    fn a_v1_callback_has_only_the_documented_fields() {
        let order = order(
            OrderStatus::Confirming,
            vec![paid(PaymentKind::Transfer, 25_500_000, 0x7)],
        );
        let hook = webhook(Api::V1, &order, 1);
        assert_eq!(hook.event, "QR-Payment");
        let body: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
        let keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "amount",
                "chainId",
                "createTime",
                "fee",
                "network",
                "orderNo",
                "platOrderNo",
                "status",
                "symbol",
                "txId",
                "type"
            ]
        );
        assert_eq!(body["chainId"], "31337");
        assert_eq!(body["amount"], "25.5");
        assert_eq!(body["platOrderNo"], "8210000001");
        assert_eq!(
            (body["type"].clone(), body["status"].clone()),
            (2.into(), 0.into())
        );
    }

    #[test]
    fn a_deposit_makes_a_contract_payment() {
        let order = order(
            OrderStatus::Paid,
            vec![paid(PaymentKind::Deposit, 25_500_000, 0xd)],
        );
        let hook = webhook(Api::V1, &order, 1);
        assert_eq!(hook.event, "Payment");
        let body: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(
            (body["type"].clone(), body["status"].clone()),
            (1.into(), 1.into())
        );
    }

    #[test]
    fn a_v2_event_has_numeric_ids_and_the_latest_payment() {
        let order = order(
            OrderStatus::PartiallyPaid,
            vec![
                paid(PaymentKind::Transfer, 4_000_000, 1),
                paid(PaymentKind::Transfer, 1_000_000, 2),
            ],
        );
        let hook = webhook(Api::V2, &order, 86_100_021);
        assert_eq!(hook.event, "Payment");
        let body: serde_json::Value = serde_json::from_str(&hook.body).unwrap();
        assert_eq!(body["id"], 8_210_000_001u64);
        assert_eq!(body["cashierId"], 86_100_021);
        assert_eq!(body["status"], "PENDING");
        assert_eq!(body["amount"], "5");
        assert_eq!(body["txId"], TxHash::from_bytes([2; 32]).as_str());
        assert_eq!(body["orderType"], 2);
        assert_eq!(body["blockTime"], 1_700_000_100_000u64);
        assert_eq!(
            body["fromAddress"],
            Address::from_bytes([7; 20]).to_string()
        );
        let waiting = webhook(Api::V2, &self::order(OrderStatus::Waiting, vec![]), 1);
        let body: serde_json::Value = serde_json::from_str(&waiting.body).unwrap();
        assert!(body.get("fromAddress").is_none(), "empty if unpaid");
    }

    #[test]
    fn an_order_as_made_has_nothing_received_and_waits() {
        let order = order(OrderStatus::Paid, vec![paid(PaymentKind::Transfer, 1, 1)]);
        assert_eq!(
            webhook_as_created(Api::V1, &order, 1),
            webhook(Api::V1, &self::order(OrderStatus::Waiting, vec![]), 1)
        );
    }
}
