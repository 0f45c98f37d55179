//! An order's refunds on its timeline: each asked (by the shopper, proven by the paying wallet's
//! signature or not, or started by a member of staff), then approved or refused (with the reason
//! the shopper reads, and by whom), then sent (the transfer that paid it, and its signed
//! receipt). Read from the refunds as kept: their own audit entries are about the refund, not
//! the order, so nothing here is said twice.

use usdt_checkout_protocol::format_units;

use super::{Entry, Facts, Value};
use crate::api::refund_receipt::refund_receipt_path;
use crate::console::refunds::path;
use crate::refunds::{Refund, RefundState};

/// The entries of every refund of the order, in no particular order (the timeline sorts them).
pub(super) fn entries(facts: &Facts) -> Vec<Entry> {
    facts
        .history
        .refunds
        .iter()
        .flat_map(|refund| of(refund, facts))
        .collect()
}

/// One refund's entries: asked, then decided, then sent, as far as it went.
fn of(refund: &Refund, facts: &Facts) -> Vec<Entry> {
    let chain = facts.registry.get(refund.chain_id);
    let token = chain.and_then(|c| c.tokens.iter().find(|t| t.contract == refund.token));
    let amount = match token {
        Some(t) => format!(
            "{} {}",
            format_units(refund.amount_atomic, t.decimals),
            t.symbol
        ),
        None => format!("{} units of {}", refund.amount_atomic, refund.token),
    };
    let transaction = |entry: Entry, label: &'static str, tx: &str| match chain
        .and_then(|c| c.transaction_url(tx))
    {
        Some(href) => entry.with(
            label,
            Value::Link {
                href,
                text: tx.to_owned(),
            },
        ),
        None => entry.code(label, tx),
    };
    let mut entries = vec![];

    let asked = match &refund.requested_by {
        Some(by) => format!("Refund of {amount} started by {by}, approved"),
        None => format!("Refund of {amount} asked by the shopper"),
    };
    let mut entry = Entry::new(refund.requested_at, asked);
    if refund.requested_by.is_none() {
        entry = entry.text(
            "Proof",
            if refund.proven() {
                "signed by the wallet that paid"
            } else {
                "UNPROVEN: no signature by the wallet that paid"
            },
        );
        if let Some(email) = &refund.email {
            entry = entry.text("Shopper's email", email.clone());
        }
    }
    entry = entry
        .code("To", refund.destination.to_string())
        .text("Network", (facts.network)(refund.chain_id));
    entry = transaction(entry, "Of the payment", refund.source_tx.as_str());
    entries.push(entry.with(
        "Refund",
        Value::Link {
            href: path(&refund.id),
            text: refund.id.clone(),
        },
    ));

    // A refund the staff started was approved as it was made: said above.
    if refund.requested_by.is_none()
        && let Some(at) = refund.approved_at
    {
        let by = refund
            .approved_by
            .as_deref()
            .map_or_else(String::new, |by| format!(" by {by}"));
        let decided = if refund.state == RefundState::Refused {
            "refused"
        } else {
            "approved"
        };
        let mut entry = Entry::new(at, format!("Refund of {amount} {decided}{by}"));
        if let Some(reason) = &refund.reason {
            entry = entry.text("Reason given", reason.clone());
        }
        entries.push(entry);
    }

    if let Some(sent) = &refund.sent {
        let mut entry = Entry::new(sent.mined_at, format!("Refund of {amount} sent"));
        entry = transaction(entry, "Transfer", sent.tx.as_str())
            .text("Log", sent.log_index.to_string())
            .text("Block", sent.block_number.to_string());
        entries.push(entry.with(
            "Receipt",
            Value::Link {
                href: refund_receipt_path(&refund.id),
                text: "Signed refund receipt".into(),
            },
        ));
    }
    entries
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::{Chain, ChainId, ChainRegistry};

    use super::super::{render, timeline};
    use super::*;
    use crate::domain::{Checkout, CreatedBy, Price};
    use crate::refunds::SentTransfer;
    use crate::store::OrderHistory;

    fn registry() -> ChainRegistry {
        let mut registry = ChainRegistry::builtin();
        let local = registry.chain(ChainId(31337)).unwrap().clone();
        registry
            .set([Chain {
                explorer_url: Some("https://scan.example".into()),
                ..local
            }])
            .unwrap();
        registry
    }

    fn refund(registry: &ChainRegistry, id: &str, requested_at: u64) -> Refund {
        let chain = registry.get(ChainId(31337)).unwrap();
        Refund {
            id: id.into(),
            checkout_id: Some("co_1".into()),
            chain_id: ChainId(31337),
            source_tx: format!("0x{}", "ab".repeat(32)).parse().unwrap(),
            source_log_index: 0,
            token: chain.token("USDT").unwrap().contract,
            amount_atomic: 1_500_000,
            destination: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
                .parse()
                .unwrap(),
            signature: None,
            email: None,
            state: RefundState::Requested,
            reason: None,
            requested_at,
            requested_by: None,
            approved_at: None,
            approved_by: None,
            approved_block: None,
            sent: None,
        }
    }

    fn titles(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.title.as_str()).collect()
    }

    fn fact<'a>(entry: &'a Entry, label: &str) -> Option<&'a Value> {
        entry
            .facts
            .iter()
            .find(|(l, _)| *l == label)
            .map(|(_, v)| v)
    }

    #[test]
    fn each_refund_is_asked_then_decided_then_sent_on_the_timeline() {
        let registry = registry();
        // Proven, approved, then paid.
        let mut paid = refund(&registry, "rf_paid", 2_000);
        paid.signature = Some("0xsig".into());
        paid.state = RefundState::Sent;
        paid.approved_at = Some(3_000);
        paid.approved_by = Some("ana".into());
        paid.sent = Some(SentTransfer {
            tx: format!("0x{}", "cd".repeat(32)).parse().unwrap(),
            log_index: 2,
            block_number: 120,
            mined_at: 4_000,
        });
        // Unproven, with an email, refused with a hostile reason.
        let mut refused = refund(&registry, "rf_refused", 2_500);
        refused.email = Some("shopper@example.com".into());
        refused.state = RefundState::Refused;
        refused.approved_at = Some(5_000);
        refused.approved_by = Some("oli".into());
        refused.reason = Some("<script>alert(1)</script> not yours".into());
        // Started by the staff: approved as made, not yet paid.
        let mut started = refund(&registry, "rf_started", 6_000);
        started.state = RefundState::Approved;
        started.requested_by = Some("ana".into());
        started.approved_at = Some(6_000);
        started.approved_by = Some("ana".into());
        // Asked, not decided.
        let waiting = refund(&registry, "rf_waiting", 7_000);

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
        let history = OrderHistory {
            refunds: vec![waiting, started, refused, paid],
            ..OrderHistory::default()
        };
        let network = |c: ChainId| format!("chain {c}");
        let facts = Facts {
            history: &history,
            audit: &[],
            registry: &registry,
            network: &network,
            head: None,
            receipt: None,
        };
        let entries = timeline(&checkout, &facts);
        assert_eq!(
            titles(&entries),
            [
                "Created",
                "Refund of 1.5 USDT asked by the shopper",
                "Refund of 1.5 USDT asked by the shopper",
                "Refund of 1.5 USDT approved by ana",
                "Refund of 1.5 USDT sent",
                "Refund of 1.5 USDT refused by oli",
                "Refund of 1.5 USDT started by ana, approved",
                "Refund of 1.5 USDT asked by the shopper",
            ]
        );
        let proof = |e: &Entry| fact(e, "Proof").cloned();
        assert_eq!(
            proof(&entries[1]),
            Some(Value::Text("signed by the wallet that paid".into()))
        );
        assert_eq!(
            proof(&entries[2]),
            Some(Value::Text(
                "UNPROVEN: no signature by the wallet that paid".into()
            ))
        );
        assert_eq!(
            fact(&entries[2], "Shopper's email"),
            Some(&Value::Text("shopper@example.com".into()))
        );
        assert_eq!(
            fact(&entries[1], "Refund"),
            Some(&Value::Link {
                href: "/console/refunds/rf_paid".into(),
                text: "rf_paid".into()
            })
        );
        let source = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            fact(&entries[1], "Of the payment"),
            Some(&Value::Link {
                href: format!("https://scan.example/tx/{source}"),
                text: source.clone()
            })
        );
        let sent = &entries[4];
        let transfer = format!("0x{}", "cd".repeat(32));
        assert_eq!(
            fact(sent, "Transfer"),
            Some(&Value::Link {
                href: format!("https://scan.example/tx/{transfer}"),
                text: transfer
            })
        );
        assert_eq!(
            fact(sent, "Receipt"),
            Some(&Value::Link {
                href: "/api/refunds/rf_paid/receipt".into(),
                text: "Signed refund receipt".into()
            })
        );
        assert_eq!(
            fact(&entries[5], "Reason given"),
            Some(&Value::Text("<script>alert(1)</script> not yours".into()))
        );
        // The staff's own refund says no proof: the merchant needs none.
        assert_eq!(proof(&entries[6]), None);
        assert!(
            entries[7..]
                .iter()
                .all(|e| fact(e, "Reason given").is_none())
        );

        let html = render(&entries).into_string();
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; not yours"));
        assert!(!html.contains("<script>"));
    }
}
