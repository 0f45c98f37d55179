//! An order's status, derived from what the chain shows, and the changes between statuses that
//! are allowed.
//!
//! The status is not accumulated from events, because events come late, twice or out of order
//! (webhooks retried, a reconciler catching up, a reorg taking a payment back). It is recomputed
//! from the facts, the order's terms and the payments seen with their confirmations, by
//! [`assess`]; and then [`transition`] decides whether moving from the stored status to the new
//! one is allowed. A final status (paid, paid late, failed) never changes again: a reorg deeper
//! than the required confirmations is an incident for a person, not a state.
//!
//! ```text
//!  waiting ──► partially_paid ──► confirming ──► paid
//!     │   ◄────────┘  ◄──(reorg)──────┘ │
//!     └────────────┴──► expired ──► confirming (late) ──► paid_late
//!                          └──► paid (mined in time, learned of late)
//!  any unfinished status ──► failed (the gateway cancelled the order)
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Open, nothing received yet.
    Waiting,
    /// Open, some received, less than the amount due.
    PartiallyPaid,
    /// The full amount has been seen, not yet with enough confirmations.
    Confirming,
    /// The full amount arrived before expiry and is confirmed. Final.
    Paid,
    /// The order's time ran out before the full amount arrived. What was received stays recorded.
    Expired,
    /// The full amount was completed after expiry and is confirmed. Final; the merchant decides
    /// whether to honour it.
    PaidLate,
    /// The gateway cancelled or rejected the order. Final.
    Failed,
}

impl OrderStatus {
    pub const ALL: [Self; 7] = [
        Self::Waiting,
        Self::PartiallyPaid,
        Self::Confirming,
        Self::Paid,
        Self::Expired,
        Self::PaidLate,
        Self::Failed,
    ];

    pub const fn is_final(self) -> bool {
        matches!(self, Self::Paid | Self::PaidLate | Self::Failed)
    }

    /// The name on the wire and in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::PartiallyPaid => "partially_paid",
            Self::Confirming => "confirming",
            Self::Paid => "paid",
            Self::Expired => "expired",
            Self::PaidLate => "paid_late",
            Self::Failed => "failed",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == name)
    }

    /// Whether an order may move from `self` to `next` (a different status).
    pub const fn can_become(self, next: Self) -> bool {
        use OrderStatus::*;
        match (self, next) {
            (Paid | PaidLate | Failed, _) => false,
            // Not final: the gateway may cancel it.
            (_, Failed) => true,
            // Payments seen while open; a reorg may take them back.
            (Waiting, PartiallyPaid | Confirming | Paid) => true,
            (PartiallyPaid, Waiting | Confirming | Paid) => true,
            (Confirming, Waiting | PartiallyPaid | Paid) => true,
            // Time runs out on an order without its full amount confirmed-or-seen in time; a
            // reorg can also take back the payment that was confirming.
            (Waiting | PartiallyPaid | Confirming, Expired) => true,
            // The rest arrives after expiry. A late payment already buried under enough blocks
            // when first seen (after downtime, say) skips confirming.
            (Waiting | PartiallyPaid | Expired | Confirming, PaidLate) => true,
            (Expired, Confirming) => true,
            // A payment mined in time but learned of after expiry (a late webhook, a reconciler
            // catching up) was still paid in time.
            (Expired, Paid) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

/// Whether moving from `from` to `to` changes anything, or is not allowed at all.
pub fn transition(from: OrderStatus, to: OrderStatus) -> Result<bool, IllegalTransition> {
    if from == to {
        Ok(false)
    } else if from.can_become(to) {
        Ok(true)
    } else {
        Err(IllegalTransition { from, to })
    }
}

/// What an order asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderTerms {
    pub amount_due: u128,
    pub expires_at_ms: u64,
    /// Blocks (the payment's own included) after which a payment counts as settled.
    pub required_confirmations: u32,
}

/// One transfer seen on chain toward an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentObservation {
    pub atomic_units: u128,
    pub confirmations: u32,
    /// When its block was mined: what decides whether it was in time.
    pub seen_at_ms: u64,
}

/// An order's state, derived from its terms and payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub status: OrderStatus,
    /// Everything seen, confirmed or not.
    pub received: u128,
    /// What has the required confirmations.
    pub confirmed: u128,
    /// What is still to pay (zero once the full amount has been seen).
    pub remaining: u128,
    /// What was received beyond the amount due, to refund or keep as the merchant decides.
    pub overpaid: u128,
    /// The fewest confirmations among payments that still need more, while any do.
    pub lowest_pending_confirmations: Option<u32>,
}

/// The status the facts imply at `now_ms`. Never [`OrderStatus::Failed`]: only the gateway
/// cancels an order.
///
/// The full amount counts as "in time" when the payments mined before expiry add up to it, even
/// if their confirmations arrive after: a shopper who paid in time has paid in time.
pub fn assess(terms: &OrderTerms, payments: &[PaymentObservation], now_ms: u64) -> Assessment {
    let settled = |p: &&PaymentObservation| p.confirmations >= terms.required_confirmations;
    let sum = |filter: &dyn Fn(&&PaymentObservation) -> bool| -> u128 {
        payments
            .iter()
            .filter(filter)
            .fold(0u128, |total, p| total.saturating_add(p.atomic_units))
    };
    let received = sum(&|_| true);
    let confirmed = sum(&settled);
    let in_time = sum(&|p| p.seen_at_ms < terms.expires_at_ms);
    let expired = now_ms >= terms.expires_at_ms;

    let status = if received >= terms.amount_due {
        let late = in_time < terms.amount_due;
        match (confirmed >= terms.amount_due, late) {
            (true, false) => OrderStatus::Paid,
            (true, true) => OrderStatus::PaidLate,
            (false, _) => OrderStatus::Confirming,
        }
    } else if expired {
        OrderStatus::Expired
    } else if received == 0 {
        OrderStatus::Waiting
    } else {
        OrderStatus::PartiallyPaid
    };

    Assessment {
        status,
        received,
        confirmed,
        remaining: terms.amount_due.saturating_sub(received),
        overpaid: received.saturating_sub(terms.amount_due),
        lowest_pending_confirmations: payments
            .iter()
            .filter(|p| !settled(p))
            .map(|p| p.confirmations)
            .min(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    const TERMS: OrderTerms = OrderTerms {
        amount_due: 100,
        expires_at_ms: 1_000,
        required_confirmations: 2,
    };

    fn paid(atomic_units: u128, confirmations: u32, seen_at_ms: u64) -> PaymentObservation {
        PaymentObservation {
            atomic_units,
            confirmations,
            seen_at_ms,
        }
    }

    #[test]
    fn a_full_payment_confirms_then_is_paid() {
        assert_eq!(assess(&TERMS, &[], 10).status, Waiting);
        let seen = assess(&TERMS, &[paid(100, 1, 500)], 600);
        assert_eq!(seen.status, Confirming);
        assert_eq!(seen.lowest_pending_confirmations, Some(1));
        assert_eq!(seen.remaining, 0);
        let done = assess(&TERMS, &[paid(100, 2, 500)], 700);
        assert_eq!(done.status, Paid);
        assert_eq!(done.lowest_pending_confirmations, None);
    }

    #[test]
    fn partial_payments_add_up_and_say_what_remains() {
        let partial = assess(&TERMS, &[paid(30, 5, 100)], 200);
        assert_eq!((partial.status, partial.remaining), (PartiallyPaid, 70));
        let both = assess(&TERMS, &[paid(30, 5, 100), paid(70, 0, 300)], 300);
        assert_eq!((both.status, both.remaining), (Confirming, 0));
        assert_eq!(
            assess(&TERMS, &[paid(30, 5, 100), paid(70, 2, 300)], 400).status,
            Paid
        );
    }

    #[test]
    fn in_time_payment_confirmed_after_expiry_is_paid_not_late() {
        let a = assess(&TERMS, &[paid(100, 0, 999)], 1_500);
        assert_eq!(a.status, Confirming);
        assert_eq!(assess(&TERMS, &[paid(100, 2, 999)], 2_000).status, Paid);
    }

    #[test]
    fn expiry_then_late_payment_is_paid_late() {
        assert_eq!(assess(&TERMS, &[], 1_000).status, Expired);
        let partial = assess(&TERMS, &[paid(40, 9, 500)], 1_000);
        assert_eq!((partial.status, partial.received), (Expired, 40));
        assert_eq!(
            assess(&TERMS, &[paid(40, 9, 500), paid(60, 0, 1_200)], 1_200).status,
            Confirming
        );
        assert_eq!(
            assess(&TERMS, &[paid(40, 9, 500), paid(60, 2, 1_200)], 1_300).status,
            PaidLate
        );
    }

    #[test]
    fn overpayment_is_paid_and_reported() {
        let a = assess(&TERMS, &[paid(130, 2, 10)], 20);
        assert_eq!((a.status, a.overpaid, a.remaining), (Paid, 30, 0));
    }

    #[test]
    fn huge_sums_saturate_instead_of_wrapping() {
        let a = assess(&TERMS, &[paid(u128::MAX, 2, 1), paid(u128::MAX, 2, 1)], 2);
        assert_eq!(a.received, u128::MAX);
        assert_eq!(a.status, Paid);
    }

    #[test]
    fn final_statuses_never_change() {
        for from in [Paid, PaidLate, Failed] {
            for to in OrderStatus::ALL.into_iter().filter(|s| *s != from) {
                assert_eq!(
                    transition(from, to),
                    Err(IllegalTransition { from, to }),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn the_transition_table() {
        let allowed = |from: OrderStatus, to| transition(from, to);
        assert_eq!(allowed(Waiting, Waiting), Ok(false));
        assert_eq!(allowed(Waiting, Confirming), Ok(true));
        assert_eq!(
            allowed(Confirming, Waiting),
            Ok(true),
            "a reorg took it back"
        );
        assert_eq!(allowed(Expired, Confirming), Ok(true), "late payment");
        assert_eq!(allowed(Expired, PaidLate), Ok(true));
        assert_eq!(allowed(Waiting, Failed), Ok(true));
        assert!(
            allowed(Expired, Waiting).is_err(),
            "time does not run backwards"
        );
        assert!(allowed(Expired, PartiallyPaid).is_err());
        assert_eq!(
            allowed(Expired, Paid),
            Ok(true),
            "paid in time, learned of late"
        );
        assert!(allowed(PartiallyPaid, Expired).is_ok());
    }

    #[test]
    fn every_status_assess_reaches_is_reachable_from_waiting() {
        // Walk the table from `Waiting`: every status must be reachable, or the table is wrong.
        let mut reached = vec![Waiting];
        let mut i = 0;
        while i < reached.len() {
            for next in OrderStatus::ALL {
                if reached[i].can_become(next) && !reached.contains(&next) {
                    reached.push(next);
                }
            }
            i += 1;
        }
        assert_eq!(reached.len(), OrderStatus::ALL.len());
    }

    #[test]
    fn names_round_trip_on_the_wire() {
        for status in OrderStatus::ALL {
            assert_eq!(OrderStatus::from_name(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
    }

    proptest::proptest! {
        /// Payments mined at random times, learned of after random delays, observed at random
        /// moments: from an unfinished status, every change the facts imply must be allowed.
        /// A final status is kept as stored (an in-time payment learned of after "paid late"
        /// shows as overpaid, not as a new status).
        #[test]
        fn derived_statuses_only_make_allowed_transitions(
            payments in proptest::collection::vec((1u128..80, 0u64..2_000, 0u64..600), 0..5),
            mut moments in proptest::collection::vec(0u64..3_000, 1..12),
        ) {
            moments.sort_unstable();
            let view = |now: u64| -> Vec<PaymentObservation> {
                payments
                    .iter()
                    .filter(|(_, mined, delay)| mined + delay <= now)
                    .map(|&(units, mined, _)| paid(units, 1 + ((now - mined) / 100) as u32, mined))
                    .collect()
            };
            let mut stored = assess(&TERMS, &view(moments[0]), moments[0]).status;
            for &now in &moments[1..] {
                let next = assess(&TERMS, &view(now), now).status;
                if !stored.is_final() {
                    proptest::prop_assert!(transition(stored, next).is_ok(), "{stored} -> {next} at {now}");
                    stored = next;
                }
            }
        }
    }
}
