//! Which webhooks are news: a webhook goes out whenever a documented field of an order's record
//! changes, never twice with the same body, and not for an order as it was made.

use std::collections::HashMap;

use crate::config::Api;
use crate::dialect::{self, Webhook};
use crate::ledger::{DeliveryAttempt, Ledger, WebhookEvent};

/// Whether a webhook whose body is `now` is news for an order whose earlier webhooks had
/// `earlier` bodies and which was created looking like `as_created`: a webhook goes out whenever
/// a documented field changes, never twice with the same body, and not for the order as it was
/// made (BlockATM notifies payments, not creations).
pub fn is_news(now: &str, as_created: &str, earlier: &[&str]) -> bool {
    match earlier {
        [] => now != as_created,
        _ => !earlier.contains(&now),
    }
}

/// Takes what a ledger kept by another dialect (or from before dialects) says of its orders now
/// as already said: its webhooks had other bodies, and switching should not resend every order.
/// Each order's current webhook is recorded as not sent; later changes are news as usual.
pub fn adopt(api: Api, ledger: &mut Ledger, cashier_id: impl Fn(&str) -> u64, now: u64) {
    if ledger.api == Some(api) {
        return;
    }
    for (index, hook) in news(api, ledger, cashier_id) {
        ledger.next_event_seq += 1;
        let order = &ledger.orders[index];
        ledger.events.push(WebhookEvent {
            id: format!("evt_{:08}", ledger.next_event_seq),
            merchant: order.merchant.clone(),
            order_no: order.order_no.clone(),
            state: order.state,
            event: hook.event.into(),
            body: hook.body,
            created: now,
            attempts: vec![DeliveryAttempt {
                at: now,
                outcome: format!(
                    "not sent: the order's state when the ledger was first opened in {api:?}"
                ),
            }],
            next_attempt_at: None,
            delivered_at: None,
        });
    }
    ledger.api = Some(api);
}

/// The orders whose webhook now would be news, with that webhook.
pub fn news(api: Api, ledger: &Ledger, cashier_id: impl Fn(&str) -> u64) -> Vec<(usize, Webhook)> {
    let mut sent: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for event in &ledger.events {
        sent.entry((&event.merchant, &event.order_no))
            .or_default()
            .push(&event.body);
    }
    ledger
        .orders
        .iter()
        .enumerate()
        .filter_map(|(index, order)| {
            let cashier_id = cashier_id(&order.merchant);
            let hook = dialect::webhook(api, order, cashier_id);
            let earlier = sent
                .get(&(order.merchant.as_str(), order.order_no.as_str()))
                .map_or(&[][..], Vec::as_slice);
            let as_created = match earlier {
                [] => dialect::webhook_as_created(api, order, cashier_id).body,
                _ => String::new(),
            };
            is_news(&hook.body, &as_created, earlier).then_some((index, hook))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use usdt_checkout_protocol::{Address, ChainId, OrderStatus, Token};

    use super::*;
    use crate::ledger::NewOrder;

    fn new_order(order_no: &str) -> NewOrder {
        NewOrder {
            merchant: "pk".into(),
            order_no: order_no.into(),
            cust_no: None,
            chain_id: ChainId::LOCAL,
            network: "Local".into(),
            token: Token {
                symbol: "USDT".into(),
                contract: Address::from_bytes([0xaa; 20]),
                decimals: 6,
            },
            to_address: Address::from_bytes([0x55; 20]),
            amount: 10,
            lifetime: Duration::from_secs(900),
        }
    }

    /// A paid and a waiting order, as a ledger kept before dialects would have them.
    fn ledger_with_a_paid_order() -> Ledger {
        let mut ledger = Ledger::default();
        ledger.create_order(new_order("A"), 1_000).unwrap();
        ledger.create_order(new_order("B"), 1_000).unwrap();
        ledger.orders[0].state = OrderStatus::Paid;
        ledger
    }

    #[test]
    fn a_ledger_from_another_dialect_does_not_resend_every_order() {
        let mut ledger = ledger_with_a_paid_order();
        assert_eq!(
            news(Api::V1, &ledger, |_| 1).len(),
            1,
            "A is paid: news; B as made is not"
        );
        adopt(Api::V1, &mut ledger, |_| 1, 2_000);
        assert_eq!(ledger.api, Some(Api::V1));
        assert_eq!(ledger.events.len(), 1);
        let carried = &ledger.events[0];
        assert_eq!(
            (carried.order_no.as_str(), carried.next_attempt_at),
            ("A", None)
        );
        assert!(
            news(Api::V1, &ledger, |_| 1).is_empty(),
            "nothing left to say"
        );

        adopt(Api::V1, &mut ledger, |_| 1, 3_000);
        assert_eq!(
            ledger.events.len(),
            1,
            "the same dialect again: nothing to adopt"
        );
        adopt(Api::V2, &mut ledger, |_| 1, 3_000);
        assert_eq!(ledger.events.len(), 2, "V2's body of A is other than V1's");
        assert!(news(Api::V2, &ledger, |_| 1).is_empty());
    }

    #[test]
    fn a_webhook_goes_out_for_each_new_body_and_never_for_the_order_as_made() {
        let created = "{created}";
        assert!(!is_news(created, created, &[]), "nothing happened yet");
        assert!(is_news("{seen}", created, &[]));
        assert!(
            !is_news("{seen}", created, &["{seen}"]),
            "the same body again"
        );
        assert!(is_news("{paid}", created, &["{seen}"]));
        assert!(
            is_news(created, created, &["{seen}"]),
            "a reorg took the payment back: that is news"
        );
        assert!(!is_news("{seen}", created, &["{seen}", created]));
    }
}
