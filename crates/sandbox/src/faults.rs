//! Fault injection for integrators' resilience tests (test mode): added latency, a share of
//! server errors or malformed bodies, forced 429 or 418, creations whose answers are lost, and
//! dropped, delayed, duplicated or reordered webhooks. Shares are applied
//! deterministically (an error rate of 0.25 fails exactly every fourth request), so a test that
//! sets them gets the same sequence every run.

use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Faults {
    /// Added before every gateway API answer.
    pub latency_ms: u64,
    /// Share of gateway API requests answered 503, from 0 to 1.
    pub error_rate: f64,
    /// Share answered 200 with a body that is not JSON, from 0 to 1.
    pub malformed_rate: f64,
    /// 429 or 418 for every gateway API request while set.
    pub force_status: Option<u16>,
    /// Webhook deliveries are not sent (each counts as a failed attempt and is retried).
    pub drop_webhooks: bool,
    /// Each webhook delivery attempt is held this long past when it was due, so a merchant can
    /// learn of a payment from the chain before the gateway tells it.
    pub webhook_delay_ms: u64,
    /// Each webhook delivered is delivered a second time at once, as a gateway that retries a
    /// delivery whose acknowledgement it missed does.
    pub duplicate_webhooks: bool,
    /// Deliveries due together are sent newest first, so a merchant hears of a payment before
    /// the order's earlier news.
    pub reorder_webhooks: bool,
    /// The next this many order creations are made (or, for an order number used before,
    /// answered as the dialect does: the same order in V1, `000201` in V2), and then their
    /// answers are lost: the merchant gets a 503 and cannot tell whether the order exists, as
    /// when the connection drops after the gateway wrote it.
    pub lose_answers: u32,
}

/// The longest a webhook can be held: ten minutes.
const MAX_WEBHOOK_DELAY_MS: u64 = 600_000;

/// What to do with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    Pass,
    Status(u16),
    ServerError,
    Malformed,
    /// Answer the request as usual, then lose the answer.
    LoseAnswer,
}

#[derive(Default)]
pub struct FaultState {
    pub faults: Faults,
    error_debt: f64,
    malformed_debt: f64,
    answers_to_lose: u32,
}

impl FaultState {
    pub fn set(&mut self, faults: Faults) -> Result<(), String> {
        for (name, rate) in [
            ("errorRate", faults.error_rate),
            ("malformedRate", faults.malformed_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if let Some(status) = faults.force_status
            && status != 429
            && status != 418
        {
            return Err("forceStatus must be 429 or 418".into());
        }
        if faults.webhook_delay_ms > MAX_WEBHOOK_DELAY_MS {
            return Err(format!(
                "webhookDelayMs must be at most {MAX_WEBHOOK_DELAY_MS}"
            ));
        }
        *self = Self {
            answers_to_lose: faults.lose_answers,
            faults,
            ..Self::default()
        };
        Ok(())
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.faults.latency_ms)
    }

    /// How long past its due time a webhook delivery is held.
    pub fn webhook_delay(&self) -> Duration {
        Duration::from_millis(self.faults.webhook_delay_ms)
    }

    /// What to do with the next request; `creation` when it makes an order (a POST).
    pub fn decide(&mut self, creation: bool) -> Injected {
        if let Some(status) = self.faults.force_status {
            return Injected::Status(status);
        }
        if creation && self.answers_to_lose > 0 {
            self.answers_to_lose -= 1;
            return Injected::LoseAnswer;
        }
        self.error_debt += self.faults.error_rate;
        if self.error_debt >= 1.0 {
            self.error_debt -= 1.0;
            return Injected::ServerError;
        }
        self.malformed_debt += self.faults.malformed_rate;
        if self.malformed_debt >= 1.0 {
            self.malformed_debt -= 1.0;
            return Injected::Malformed;
        }
        Injected::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_exact_and_repeatable() {
        let mut state = FaultState::default();
        state
            .set(Faults {
                error_rate: 0.25,
                ..Faults::default()
            })
            .unwrap();
        let decisions: Vec<Injected> = (0..8).map(|_| state.decide(false)).collect();
        let errors = decisions
            .iter()
            .filter(|d| **d == Injected::ServerError)
            .count();
        assert_eq!(errors, 2);
        assert_eq!(decisions[3], Injected::ServerError);
    }

    #[test]
    fn forced_statuses_and_bad_settings() {
        let mut state = FaultState::default();
        assert!(
            state
                .set(Faults {
                    force_status: Some(500),
                    ..Faults::default()
                })
                .is_err()
        );
        assert!(
            state
                .set(Faults {
                    error_rate: 1.5,
                    ..Faults::default()
                })
                .is_err()
        );
        assert!(
            state
                .set(Faults {
                    webhook_delay_ms: MAX_WEBHOOK_DELAY_MS + 1,
                    ..Faults::default()
                })
                .is_err()
        );
        state
            .set(Faults {
                force_status: Some(418),
                ..Faults::default()
            })
            .unwrap();
        assert_eq!(state.decide(true), Injected::Status(418));
    }

    #[test]
    fn only_the_given_number_of_creations_lose_their_answers() {
        let mut state = FaultState::default();
        state
            .set(Faults {
                lose_answers: 2,
                ..Faults::default()
            })
            .unwrap();
        assert_eq!(state.decide(false), Injected::Pass, "a query is answered");
        assert_eq!(state.decide(true), Injected::LoseAnswer);
        assert_eq!(state.decide(true), Injected::LoseAnswer);
        assert_eq!(state.decide(true), Injected::Pass);
    }
}
