//! What a call to the gateway came to, as a caller can act on it: the errors, how long a 429 or
//! a 418 pauses calls (clamped, whatever the gateway asks), the gateway's health once it
//! answered, and a dialect's reading of an answer as a result. Pure: the client applies them.

use std::time::Duration;

use usdt_checkout_protocol::checkout::GatewayHealth;
use usdt_checkout_protocol::gateway::Answer;

use crate::budget::Budget;
use crate::clock::now_ms;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("the gateway is rate-limiting this server; calls resume in {0:?}")]
    RateLimited(Duration),
    #[error("the gateway has blocked this server's key for {0:?}")]
    Blocked(Duration),
    #[error("the gateway did not answer usefully: {0}")]
    Unreachable(String),
    #[error("the gateway answered with something that is not its API: {0}")]
    Garbage(String),
    #[error("the gateway refused the request (HTTP {status}, code {code}): {msg}")]
    Rejected {
        status: u16,
        code: String,
        msg: String,
    },
    #[error("this server's gateway budget is used up for now; retry in {0:?}")]
    OverBudget(Duration),
}

impl GatewayError {
    /// Whether the gateway may have done what it was asked, though the caller cannot tell: the
    /// request may have been processed before the connection dropped, the 5xx was sent, or the
    /// answer was garbled. A refusal, a pause or a call never sent did nothing.
    pub fn may_have_acted(&self) -> bool {
        matches!(self, Self::Unreachable(_) | Self::Garbage(_))
    }

    /// What kind of outcome this is, as `/metrics` labels it.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected { .. } => "rejected",
            Self::RateLimited(_) => "rate_limited",
            Self::Blocked(_) => "blocked",
            Self::Unreachable(_) => "unreachable",
            Self::Garbage(_) => "garbage",
            Self::OverBudget(_) => "over_budget",
        }
    }

    /// When a caller may try again, if the error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited(after) | Self::Blocked(after) | Self::OverBudget(after) => {
                Some(*after)
            }
            Self::Unreachable(_) | Self::Garbage(_) => Some(Duration::from_secs(2)),
            Self::Rejected { .. } => None,
        }
    }
}

/// Without a `Retry-After`, how long a 429 or a 418 pauses calls.
pub(super) const DEFAULT_LIMITED: Duration = Duration::from_secs(60);
pub(super) const DEFAULT_BLOCKED: Duration = Duration::from_secs(300);
/// The longest a 429 pauses calls, whatever its `Retry-After` says: BlockATM counts a key's
/// calls per minute, so a minute on none of the calls that went over count any more. One header
/// asking an hour stopped every new checkout for the hour.
pub(super) const MAX_LIMITED: Duration = Duration::from_secs(60);
/// The longest a 418 pauses calls: BlockATM documents the block but not how long it lasts (the
/// sandbox's, 5 minutes). After it one call finds out, and a 418 again pauses again.
pub(super) const MAX_BLOCKED: Duration = Duration::from_secs(300);
/// The longest pause this client keeps from now, whoever set it: one read back from the
/// database (another server's, or one kept across a restart, even by an earlier version) is cut
/// to it. The longest an answer may ask.
pub(super) const MAX_PAUSE: Duration = MAX_BLOCKED;

/// How long a 429 or 418 pauses calls: its `Retry-After` in seconds (anything else, an HTTP
/// date included, is read as absent), at least a second and at most `max`.
pub(super) fn pause_for(retry_after: Option<&str>, default: Duration, max: Duration) -> Duration {
    let seconds = retry_after.map(str::trim).and_then(|v| {
        // Digits too many for a u64 still mean "a very long time".
        (!v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<u64>().unwrap_or(u64::MAX))
    });
    seconds
        .map_or(default, Duration::from_secs)
        .clamp(Duration::from_secs(1), max)
}

/// `budget` with its pause cut to end at `ceiling` at the latest.
pub(super) fn pause_at_most(budget: &mut Budget, per_minute: usize, ceiling: u64) {
    let (sent, paused) = budget.kept();
    if paused > ceiling {
        *budget = Budget::restore(per_minute, sent, ceiling);
    }
}

/// The moment `after` from now, in Unix milliseconds, never overflowing.
pub(super) fn later(after: Duration) -> u64 {
    now_ms().saturating_add(u64::try_from(after.as_millis()).unwrap_or(u64::MAX))
}

/// What a creation that gives up says: an attempt whose answer was lost may have made the
/// order, whatever a later attempt was told (a 429 says nothing of the attempt before it), so
/// the caller keeps what it asked for and asks the same again.
pub(super) fn given_up(lost: Option<GatewayError>, last: GatewayError) -> GatewayError {
    match lost {
        Some(lost) if !last.may_have_acted() => lost,
        _ => last,
    }
}

/// The gateway's health once it answered: available, unless a 429's or 418's pause is still
/// running. A call sent before the refusal may answer after it, and the calls stay paused
/// meanwhile, so shoppers must not be told all is well while checkouts are refused.
pub(super) fn answered_health(current: GatewayHealth, now: u64) -> GatewayHealth {
    match current {
        GatewayHealth::RateLimited { until } | GatewayHealth::Blocked { until } if now < until => {
            current
        }
        _ => GatewayHealth::Available,
    }
}

/// A dialect's reading of an answer, as the client's result: data only from a 2xx answer, a
/// refusal with its HTTP status and code, anything else garbage.
pub(super) fn answered<T, E: std::fmt::Display>(
    status: u16,
    answer: Result<Answer<T>, E>,
) -> Result<T, GatewayError> {
    match answer {
        Ok(Answer::Data(data)) if (200..300).contains(&status) => Ok(data),
        Ok(Answer::Data(_)) => Err(GatewayError::Garbage(format!("HTTP {status} with data"))),
        Ok(Answer::Refused { code, msg }) => Err(GatewayError::Rejected { status, code, msg }),
        Err(e) if (200..300).contains(&status) => {
            Err(GatewayError::Garbage(format!("HTTP {status}: {e}")))
        }
        Err(_) => Err(GatewayError::Rejected {
            status,
            code: String::new(),
            msg: format!("HTTP {status}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::budget::Priority;

    #[test]
    fn a_gateways_retry_after_is_clamped_whatever_it_says() {
        let limited = |header| pause_for(header, DEFAULT_LIMITED, MAX_LIMITED);
        assert_eq!(limited(Some("30")), Duration::from_secs(30));
        assert_eq!(limited(Some(" 7 ")), Duration::from_secs(7));
        assert_eq!(limited(None), DEFAULT_LIMITED);
        for extreme in [
            "18446744073709551615",
            "99999999999999999999",
            "31536000",
            "3600",
            "61",
        ] {
            assert_eq!(limited(Some(extreme)), MAX_LIMITED, "{extreme}");
        }
        assert_eq!(MAX_LIMITED, Duration::from_secs(60), "BlockATM's window");
        assert_eq!(
            limited(Some("0")),
            Duration::from_secs(1),
            "never a busy loop"
        );
        for unreadable in ["-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT", ""] {
            assert_eq!(limited(Some(unreadable)), DEFAULT_LIMITED, "{unreadable}");
        }
        let blocked = |header| pause_for(header, DEFAULT_BLOCKED, MAX_BLOCKED);
        assert_eq!(blocked(None), DEFAULT_BLOCKED);
        assert_eq!(blocked(Some("120")), Duration::from_secs(120));
        assert_eq!(blocked(Some("3600")), MAX_BLOCKED);
        assert!(MAX_LIMITED <= MAX_PAUSE && MAX_BLOCKED <= MAX_PAUSE);
    }

    #[test]
    fn a_pause_read_back_ends_no_later_than_the_longest_an_answer_may_ask() {
        let mut budget = Budget::new(90);
        budget.try_take(Priority::Creation, 1_000).unwrap();
        budget.pause_until(3_600_000);
        pause_at_most(&mut budget, 90, 300_000);
        assert_eq!(budget.paused_until(), 300_000);
        assert_eq!(budget.kept().0, vec![1_000], "the calls counted are kept");
        pause_at_most(&mut budget, 90, 500_000);
        assert_eq!(budget.paused_until(), 300_000, "never lengthened");
    }

    #[test]
    fn only_an_answer_lost_on_the_way_may_hide_an_order_made() {
        let maybe = |e: GatewayError| e.may_have_acted();
        assert!(maybe(GatewayError::Unreachable("timed out".into())));
        assert!(maybe(GatewayError::Garbage("not JSON".into())));
        assert!(!maybe(GatewayError::RateLimited(Duration::from_secs(1))));
        assert!(!maybe(GatewayError::Blocked(Duration::from_secs(1))));
        assert!(!maybe(GatewayError::OverBudget(Duration::from_secs(1))));
        assert!(!maybe(GatewayError::Rejected {
            status: 400,
            code: "000100".into(),
            msg: "amount".into()
        }));
    }

    #[test]
    fn a_creation_given_up_after_a_lost_answer_may_have_made_the_order() {
        let lost = || Some(GatewayError::Unreachable("HTTP 503".into()));
        let limited = || GatewayError::RateLimited(Duration::from_secs(9));
        assert!(given_up(lost(), limited()).may_have_acted());
        assert!(!given_up(None, limited()).may_have_acted());
        assert!(matches!(
            given_up(lost(), GatewayError::Garbage("x".into())),
            GatewayError::Garbage(_)
        ));
    }

    #[test]
    fn a_late_answer_does_not_end_a_pause_early() {
        let blocked = GatewayHealth::Blocked { until: 1_000 };
        assert_eq!(answered_health(blocked, 999), blocked, "still blocked");
        assert_eq!(answered_health(blocked, 1_000), GatewayHealth::Available);
        let limited = GatewayHealth::RateLimited { until: 1_000 };
        assert_eq!(answered_health(limited, 10), limited);
        let unreachable = GatewayHealth::Unreachable { since: 5 };
        assert_eq!(answered_health(unreachable, 10), GatewayHealth::Available);
    }

    #[test]
    fn a_moment_far_ahead_saturates_instead_of_overflowing() {
        assert_eq!(later(Duration::MAX), u64::MAX);
        assert_eq!(later(Duration::from_secs(u64::MAX)), u64::MAX);
        assert!(later(Duration::from_secs(1)) > now_ms());
    }
}
