//! One order's history as a timeline, oldest first: what the store keeps of it, gathered into
//! entries by [`timeline`] (pure, so each kind of event is tested without a database) and drawn
//! by [`render`]. It reads only what is kept: the chain payments attached, the gateway's
//! webhooks (their signatures verified) and reports refused, its own facts of when the gateway said paid or
//! expired, the fulfillment event with each attempt and its answer, claims under review, the
//! receipt once paid, its refunds, and the staff's notes and actions.

use maud::{Markup, html};
use usdt_checkout_protocol::{ChainId, ChainRegistry, format_units};

use super::layout::{self, query_value, state_label};
use crate::domain::Checkout;
use crate::store::{AuditRecord, OrderHistory};

mod refunds;

/// A fact an entry shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    /// An id, a hash, an address: shown as code.
    Code(String),
    /// A link away (an explorer's page) or to the receipt.
    Link {
        href: String,
        text: String,
    },
}

/// One event: when, what, and its facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub at: u64,
    pub title: String,
    pub facts: Vec<(&'static str, Value)>,
}

impl Entry {
    fn new(at: u64, title: impl Into<String>) -> Self {
        Self {
            at,
            title: title.into(),
            facts: vec![],
        }
    }

    fn with(mut self, label: &'static str, value: Value) -> Self {
        self.facts.push((label, value));
        self
    }

    fn text(self, label: &'static str, text: impl Into<String>) -> Self {
        self.with(label, Value::Text(text.into()))
    }

    fn code(self, label: &'static str, text: impl Into<String>) -> Self {
        self.with(label, Value::Code(text.into()))
    }
}

/// What [`timeline`] reads besides the checkout.
pub struct Facts<'a> {
    pub history: &'a OrderHistory,
    /// The staff's entries about the order, in any order.
    pub audit: &'a [AuditRecord],
    pub registry: &'a ChainRegistry,
    /// A chain's name as the console shows it.
    pub network: &'a dyn Fn(ChainId) -> String,
    /// The last block read on the order's chain, when its watcher has read one.
    pub head: Option<u64>,
    /// The receipt's address, when one is issued (the order is paid).
    pub receipt: Option<String>,
}

/// The order's ask: its chain, token symbol and decimals (when known), and the amount asked: the
/// order's terms, or before its order what was asked for (the export reads it too).
pub(super) fn ask(
    checkout: &Checkout,
    registry: &ChainRegistry,
) -> Option<(ChainId, String, Option<u8>, u128)> {
    match (&checkout.terms, &checkout.asked) {
        (Some(t), _) => Some((
            t.chain_id,
            t.symbol.clone(),
            Some(t.decimals),
            t.pay_amount_atomic,
        )),
        (None, Some(a)) => Some((
            a.chain_id,
            a.symbol.clone(),
            registry
                .token(a.chain_id, &a.symbol)
                .ok()
                .map(|t| t.decimals),
            a.pay_amount_atomic,
        )),
        (None, None) => None,
    }
}

/// Every event of `checkout`, oldest first (events of one millisecond as listed here: its
/// creation first).
pub fn timeline(checkout: &Checkout, facts: &Facts) -> Vec<Entry> {
    let network = facts.network;
    let ask = ask(checkout, facts.registry);
    let mut entries = vec![];
    let mut created = Entry::new(checkout.created_at, "Created").text(
        "Price",
        format!("{} {}", checkout.price.amount, checkout.price.currency),
    );
    if let Some((chain, symbol, decimals, amount)) = &ask {
        let amount =
            decimals.map_or_else(|| format!("{amount} units"), |d| format_units(*amount, d));
        created = created.text("Asked", format!("{amount} {symbol} on {}", network(*chain)));
    }
    if let Some(terms) = &checkout.terms {
        created = created
            .code("Gateway order", terms.gateway_order_no.clone())
            .code("To", terms.to_address.to_string());
    }
    entries.push(created);

    let chain = ask.as_ref().map(|(chain, ..)| *chain);
    let explorer = chain.and_then(|c| facts.registry.get(c));
    for payment in &checkout.chain_payments {
        let token = explorer.and_then(|c| c.tokens.iter().find(|t| t.contract == payment.token));
        let amount = match token {
            Some(t) => format!("{} {}", format_units(payment.value, t.decimals), t.symbol),
            None => format!("{} units of {}", payment.value, payment.token),
        };
        let tx = payment.tx_id.as_str().to_owned();
        let mut entry = Entry::new(payment.timestamp_ms, format!("Chain payment of {amount}"))
            .text("Block", payment.block_number.to_string());
        if let Some(head) = facts.head.filter(|h| *h >= payment.block_number) {
            entry = entry.text(
                "Confirmations",
                (head - payment.block_number + 1).to_string(),
            );
        }
        entry = entry.code("Payer", payment.from.to_string());
        entry = match explorer.and_then(|c| c.transaction_url(&tx)) {
            Some(href) => entry.with("Transaction", Value::Link { href, text: tx }),
            None => entry.code("Transaction", tx),
        };
        entries.push(entry);
    }

    let refused_keys: Vec<&str> = facts
        .history
        .refused
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    for webhook in &facts.history.webhooks {
        // A webhook refused as about another order has its own entry, which says why.
        if refused_keys.contains(&webhook.event_id.as_str()) {
            continue;
        }
        entries.push(
            Entry::new(
                webhook.received_at,
                format!("Gateway webhook: {}", webhook.state),
            )
            .text("Signature", "verified"),
        );
    }
    for (_, refused) in &facts.history.refused {
        let mut entry = Entry::new(
            refused.received_at,
            format!(
                "Gateway report refused ({}): {}",
                refused.source, refused.status
            ),
        )
        .text("Why", refused.reason.clone());
        if let Some(plat) = &refused.plat_order_no {
            entry = entry.code("About the gateway's order", plat.clone());
        }
        if let Some(amount) = &refused.amount {
            entry = entry.text("Amount", amount.clone());
        }
        if let Some(tx) = &refused.tx_hash {
            entry = entry.code("Transaction", tx.as_str().to_owned());
        }
        entries.push(entry);
    }
    let gateway = &checkout.gateway;
    for (at, what) in [
        (gateway.paid_at, "The gateway saw it paid"),
        (gateway.success_at, "The gateway confirmed it paid"),
        (gateway.expired_at, "The gateway expired it"),
    ] {
        if let Some(at) = at {
            entries.push(Entry::new(at, what));
        }
    }
    for claim in &facts.history.claims {
        entries.push(
            Entry::new(
                claim.requested_at,
                "The shopper claimed a payment: under review",
            )
            .text("Network", network(ChainId(claim.chain_id)))
            .code("Transaction", claim.tx_hash.clone())
            .text("Log", claim.log_index.to_string()),
        );
    }
    if let Some(f) = &facts.history.fulfillment {
        let mut queued = Entry::new(f.created_at, "Fulfillment event queued")
            .code("Event", f.id.clone())
            .text("Attempts", f.attempts.to_string());
        if let Some(error) = &f.last_error {
            queued = queued.text("Latest answer", error.clone());
        }
        match (f.delivered_at, f.next_attempt_at) {
            (Some(_), _) => {}
            (None, Some(next)) => queued = queued.text("Next attempt", layout::utc(next)),
            (None, None) => queued = queued.text("Next attempt", "none: given up"),
        }
        entries.push(queued);
        // Numbered as made: a resend starts the outbox's own count again.
        for (n, answer) in f.answers.iter().enumerate() {
            let outcome = if answer.error.is_none() {
                "delivered"
            } else {
                "failed"
            };
            let said = match (&answer.error, answer.status_code) {
                (Some(error), _) => error.clone(),
                (None, Some(code)) => format!("HTTP {code}"),
                (None, None) => "acknowledged".into(),
            };
            entries.push(
                Entry::new(answer.at, format!("Delivery attempt {}: {outcome}", n + 1))
                    .text("Answer", said),
            );
        }
        if let Some(at) = f.delivered_at {
            entries.push(
                Entry::new(at, "Fulfillment event delivered")
                    .text("Attempts", f.attempts.to_string()),
            );
        }
    }
    entries.extend(refunds::entries(facts));
    if let Some(href) = &facts.receipt {
        let at = gateway.success_at.unwrap_or(checkout.updated_at);
        entries.push(Entry::new(at, "Signed receipt issued").with(
            "Receipt",
            Value::Link {
                href: href.clone(),
                text: "Download the signed receipt".into(),
            },
        ));
    }
    for record in facts.audit {
        let e = &record.entry;
        // The exception queue's actions say what they changed in their own words (a payment
        // attached, a delivery's attempts, an exception open then resolved), not as states.
        let (title, in_words) = match e.action.as_str() {
            "order.note" => ("Note", false),
            "payment.attach" => ("Payment attached", true),
            "fulfillment.resend" => ("Fulfillment event sent again", true),
            "exception.resolve" => ("Exception marked resolved", true),
            action => (action, false),
        };
        let mut entry = Entry::new(e.at, format!("{title} by {}", e.actor));
        if let (Some(before), Some(after)) = (&e.before, &e.after)
            && before != after
        {
            entry = if in_words {
                entry
                    .text("Before", before.clone())
                    .text("After", after.clone())
            } else {
                entry.text(
                    "State",
                    format!("{} to {}", state_label(before), state_label(after)),
                )
            };
        }
        if let Some(note) = &e.note {
            entry = entry.text("Note", note.clone());
        }
        entries.push(entry);
    }
    // Stable: what happened in one millisecond stays in the order listed. Created stays first:
    // a block's time is in whole seconds, so a payment mined in the second the order was made
    // would read as before it.
    entries[1..].sort_by_key(|e| e.at);
    entries
}

/// The timeline as a list, oldest first.
pub fn render(entries: &[Entry]) -> Markup {
    html! {
        ol.plain.timeline data-live="timeline" {
            @for entry in entries {
                li {
                    (layout::time(entry.at)) " — " strong { (entry.title) }
                    @if !entry.facts.is_empty() {
                        dl.facts {
                            @for (label, value) in &entry.facts {
                                dt { (label) }
                                dd {
                                    @match value {
                                        Value::Text(text) => { (text) }
                                        Value::Code(text) => { code { (text) } }
                                        Value::Link { href, text } => {
                                            a href=(href) rel="noreferrer noopener" { (text) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Where the API serves a checkout's signed receipt.
pub fn receipt_path(id: &str) -> String {
    format!("/api/checkouts/{}/receipt", query_value(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChainPayment, CreatedBy, PaymentTerms, Price};
    use crate::store::{
        AuditEntry, ClaimUnderReview, DeliveryAttempt, Fulfillment, RefusedReport, WebhookReceived,
    };
    use usdt_checkout_chain::PaymentKind;
    use usdt_checkout_protocol::Chain;

    /// A paid order on the local chain, given an explorer, with one event of every kind.
    fn paid() -> (Checkout, OrderHistory, Vec<AuditRecord>, ChainRegistry) {
        let mut registry = ChainRegistry::builtin();
        let local = registry.chain(ChainId(31337)).unwrap().clone();
        let contract = local.token("USDT").unwrap().contract;
        registry
            .set([Chain {
                explorer_url: Some("https://scan.example".into()),
                ..local
            }])
            .unwrap();
        let mut checkout = Checkout::open(
            "co_1".into(),
            CreatedBy::Storefront,
            "Mug".into(),
            Price {
                amount: "25.00".parse().unwrap(),
                currency: "USD".into(),
            },
        );
        checkout.created_at = 1_000;
        checkout.terms = Some(PaymentTerms {
            chain_id: ChainId(31337),
            symbol: "USDT".into(),
            token_contract: contract,
            decimals: 6,
            amount_atomic: 24_995_001,
            gateway_order_no: "co_1-a".into(),
            plat_order_no: "P-1".into(),
            pay_amount_atomic: 24_995_001,
            to_address: contract,
            cashier_url: String::new(),
            expires_at: 0,
            required_confirmations: 2,
        });
        checkout.chain_payments = vec![ChainPayment {
            tx_id: format!("0x{}", "ab".repeat(32)).parse().unwrap(),
            log_index: 0,
            block_number: 100,
            block_hash: String::new(),
            from: contract,
            to: contract,
            token: contract,
            value: 24_995_001,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: 2_000,
        }];
        checkout.gateway.success_at = Some(4_000);
        let history = OrderHistory {
            webhooks: vec![
                WebhookReceived {
                    received_at: 2_500,
                    event_id: "refused-1".into(),
                    state: "success".into(),
                },
                WebhookReceived {
                    received_at: 3_000,
                    event_id: "ev-1".into(),
                    state: "success".into(),
                },
            ],
            refused: vec![(
                "refused-1".into(),
                RefusedReport {
                    received_at: 2_500,
                    source: "webhook".into(),
                    order_no: Some("co_1-a".into()),
                    plat_order_no: Some("P-other".into()),
                    status: "success".into(),
                    amount: Some("99".into()),
                    tx_hash: None,
                    reason: "another order's".into(),
                },
            )],
            fulfillment: Some(Fulfillment {
                id: "ful-1".into(),
                created_at: 4_000,
                attempts: 2,
                next_attempt_at: None,
                delivered_at: Some(6_000),
                last_error: Some("HTTP 500".into()),
                answers: vec![
                    DeliveryAttempt {
                        attempt: 1,
                        at: 5_000,
                        status_code: Some(500),
                        error: Some("HTTP 500".into()),
                    },
                    DeliveryAttempt {
                        attempt: 2,
                        at: 6_000,
                        status_code: Some(204),
                        error: None,
                    },
                ],
            }),
            claims: vec![ClaimUnderReview {
                chain_id: 31337,
                tx_hash: format!("0x{}", "cd".repeat(32)),
                log_index: 1,
                requested_at: 1_500,
            }],
            refunds: vec![],
        };
        let audit = vec![
            AuditRecord {
                id: "a-1".into(),
                entry: AuditEntry {
                    at: 7_000,
                    actor: "oli".into(),
                    action: "order.note".into(),
                    subject: Some("co_1".into()),
                    note: Some("called the shopper".into()),
                    ..AuditEntry::default()
                },
            },
            AuditRecord {
                id: "a-2".into(),
                entry: AuditEntry {
                    at: 8_000,
                    actor: "ana".into(),
                    action: "exception.resolve".into(),
                    subject: Some("co_1".into()),
                    before: Some("overpaid: open".into()),
                    after: Some("overpaid: resolved".into()),
                    note: Some("refunded the difference".into()),
                    ..AuditEntry::default()
                },
            },
        ];
        (checkout, history, audit, registry)
    }

    #[test]
    fn every_kind_of_event_is_on_the_timeline_oldest_first() {
        let (checkout, history, audit, registry) = paid();
        let entries = timeline(
            &checkout,
            &Facts {
                history: &history,
                audit: &audit,
                registry: &registry,
                network: &|_| "Local".to_owned(),
                head: Some(101),
                receipt: Some(receipt_path(&checkout.id)),
            },
        );
        let titles: Vec<(u64, &str)> = entries.iter().map(|e| (e.at, e.title.as_str())).collect();
        assert_eq!(
            titles,
            [
                (1_000, "Created"),
                (1_500, "The shopper claimed a payment: under review"),
                (2_000, "Chain payment of 24.995001 USDT"),
                (2_500, "Gateway report refused (webhook): success"),
                (3_000, "Gateway webhook: success"),
                (4_000, "The gateway confirmed it paid"),
                (4_000, "Fulfillment event queued"),
                (4_000, "Signed receipt issued"),
                (5_000, "Delivery attempt 1: failed"),
                (6_000, "Delivery attempt 2: delivered"),
                (6_000, "Fulfillment event delivered"),
                (7_000, "Note by oli"),
                (8_000, "Exception marked resolved by ana"),
            ]
        );
        let fact = |title: &str, label: &str| {
            entries
                .iter()
                .find(|e| e.title == title)
                .and_then(|e| e.facts.iter().find(|(l, _)| *l == label))
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("{title}: {label}"))
        };
        assert_eq!(
            fact("Created", "Asked"),
            Value::Text("24.995001 USDT on Local".into())
        );
        let payment = "Chain payment of 24.995001 USDT";
        assert_eq!(fact(payment, "Block"), Value::Text("100".into()));
        assert_eq!(fact(payment, "Confirmations"), Value::Text("2".into()));
        let tx = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            fact(payment, "Transaction"),
            Value::Link {
                href: format!("https://scan.example/tx/{tx}"),
                text: tx
            }
        );
        assert_eq!(
            fact("Fulfillment event queued", "Latest answer"),
            Value::Text("HTTP 500".into())
        );
        let resolved = "Exception marked resolved by ana";
        assert_eq!(
            fact(resolved, "Before"),
            Value::Text("overpaid: open".into())
        );
        assert_eq!(
            fact(resolved, "After"),
            Value::Text("overpaid: resolved".into())
        );
        assert_eq!(
            fact(resolved, "Note"),
            Value::Text("refunded the difference".into())
        );
        assert_eq!(
            fact("Delivery attempt 1: failed", "Answer"),
            Value::Text("HTTP 500".into())
        );
        assert_eq!(
            fact("Delivery attempt 2: delivered", "Answer"),
            Value::Text("HTTP 204".into())
        );
        assert_eq!(
            fact("Signed receipt issued", "Receipt"),
            Value::Link {
                href: "/api/checkouts/co_1/receipt".into(),
                text: "Download the signed receipt".into()
            }
        );
        assert_eq!(
            fact("Note by oli", "Note"),
            Value::Text("called the shopper".into())
        );
    }

    #[test]
    fn without_an_explorer_or_a_head_a_payment_shows_what_is_known() {
        let (mut checkout, history, audit, _) = paid();
        checkout.created_at = 2_400; // In the second of the payment's block (2_000).
        let entries = timeline(
            &checkout,
            &Facts {
                history: &history,
                audit: &audit,
                registry: &ChainRegistry::builtin(),
                network: &|_| "Local".to_owned(),
                head: None,
                receipt: None,
            },
        );
        let payment = entries
            .iter()
            .find(|e| e.title.starts_with("Chain payment"))
            .unwrap();
        let labels: Vec<&str> = payment.facts.iter().map(|(l, _)| *l).collect();
        assert_eq!(labels, ["Block", "Payer", "Transaction"]);
        assert!(matches!(payment.facts[2].1, Value::Code(_)));
        assert!(!entries.iter().any(|e| e.title.contains("receipt")));
        assert_eq!(entries[0].title, "Created", "it opens the timeline");
        let html = render(&entries).into_string();
        assert!(html.contains("<code>0x"), "{html}");
    }
}
