//! BlockATM V2 from the gateway's side of the wire: a payment event's `BlockATM-Event` and body
//! through the merchant's `Dialect` (`BlockatmV2::webhook`), and the answers to its calls
//! (`created`, `queried`: the order detail, one or a page) through the protocol's wire types.
//!
//! Input: the first line is `BlockATM-Event` (empty: absent), the rest the body; every reader
//! gets the same body.
//!
//! Beyond not panicking: an event or order detail the protocol reads is written back with V2's
//! types (ids as numbers, statuses as names) and reads again as the same (V2 has no name for
//! V1's bare failure, so it comes back cancelled), and a report keeps what the event said.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use usdt_checkout_protocol::gateway::GatewayStatus;
use usdt_checkout_protocol::gateway::v2::{OrderDetail, PaymentEvent};
use usdt_checkout_protocol::signature::V2SecretKey;
use usdt_checkout_protocol::{Address, ChainId, Decimal, TokenAmount};
use usdt_checkout_server::gateway::{BlockatmV2, Dialect, NewOrder};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (event, body) = text.split_once('\n').unwrap_or(("", text));
    let event = Some(event).filter(|e| !e.is_empty());
    let to: Address = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
        .parse()
        .expect("an address");
    let dialect = BlockatmV2 {
        secret: V2SecretKey::new("sk_fuzz").expect("a secret"),
        webhook_secret: V2SecretKey::new("whsec_fuzz").expect("a secret"),
        cashier_id: "91".into(),
        receiving_addresses: BTreeMap::from([(ChainId(31337), to)]),
    };

    let report = dialect.webhook(event, body);
    let parsed = serde_json::from_str::<PaymentEvent>(body);
    if let Ok(Some(report)) = &report {
        let event = parsed.as_ref().expect("a report is read from an event");
        assert_eq!(report.plat_order_no.as_deref(), Some(event.id.0.as_str()));
        assert_eq!(
            report.amount.as_ref().map(Decimal::as_str),
            Some(event.amount.0.as_str())
        );
        assert_eq!(report.status, event.status);
        assert!(report.order_no.as_ref().is_none_or(|no| !no.is_empty()));
    }
    if let Ok(event) = parsed {
        let written = serde_json::to_string(&event).expect("an event writes");
        let read: PaymentEvent = serde_json::from_str(&written)
            .unwrap_or_else(|e| panic!("{written} does not read back: {e}"));
        let expected = PaymentEvent {
            status: v2(event.status),
            ..event
        };
        assert_eq!(read, expected, "{written}");
    }
    if let Ok(detail) = serde_json::from_str::<OrderDetail>(body) {
        let written = serde_json::to_string(&detail).expect("a detail writes");
        let read: OrderDetail = serde_json::from_str(&written)
            .unwrap_or_else(|e| panic!("{written} does not read back: {e}"));
        let expected = OrderDetail {
            status: v2(detail.status),
            ..detail
        };
        assert_eq!(read, expected, "{written}");
    }

    let order = NewOrder {
        order_no: "co_1".into(),
        chain_id: ChainId(31337),
        symbol: "USDT".into(),
        amount: TokenAmount::new(25_000_000, 6),
    };
    let _ = dialect.created(&order, body);
    let _ = dialect.queried(body);
});

/// A status as V2's names read it back.
fn v2(status: GatewayStatus) -> GatewayStatus {
    GatewayStatus::parse(status.v2_name()).expect("V2 reads its own names")
}
