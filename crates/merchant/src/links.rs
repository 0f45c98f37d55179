//! Payment links: checkouts the merchant makes to be paid on the hosted page at `/pay/{id}`,
//! from the console or the admin API, each with an optional end after which no shopper may start
//! paying it. Here, the pure rules: what a request for one must hold, until when it may run, and
//! what state a link is in. The store keeps links (`payment_links`), the console lists and makes
//! them, and the hosted page is the API's.

use usdt_checkout_protocol::ChainRegistry;
use usdt_checkout_protocol::OrderStatus;
use usdt_checkout_protocol::checkout::CheckoutState;

use crate::domain::{Checkout, Price};

/// The soonest a link may end: a shopper given it needs at least a minute to open it.
pub const MIN_LIFETIME_MS: u64 = 60_000;
/// The latest a link may end: a year. Further is more likely a typo (a year 20261) than a plan,
/// and a price fixed in fiat for longer is not one a merchant means to honour.
pub const MAX_LIFETIME_MS: u64 = 365 * 86_400_000;
/// What a shopper reads on the pay page, and the merchant's own reference: short texts.
pub const MAX_DESCRIPTION_CHARS: usize = 500;
pub const MAX_REFERENCE_CHARS: usize = 200;

/// Where a link was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Console,
    /// The admin API, with the storefront's bearer token.
    Api,
}

impl Via {
    /// The name in storage.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Console => "console",
            Self::Api => "api",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Console, Self::Api]
            .into_iter()
            .find(|v| v.as_str() == name)
    }
}

/// A link, as kept beside its checkout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentLink {
    pub checkout_id: String,
    pub via: Via,
    /// The member of staff who made it in the console.
    pub staff: Option<String>,
    /// Unix ms; `None`: it does not end.
    pub expires_at: Option<u64>,
    pub created_at: u64,
}

impl PaymentLink {
    /// Who made it, as people read it.
    pub fn made_by(&self) -> &str {
        match (&self.staff, self.via) {
            (Some(name), _) => name,
            (None, Via::Api) => "admin API",
            (None, Via::Console) => "console",
        }
    }

    pub fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|end| now >= end)
    }

    /// Whether a shopper may no longer start paying `checkout` through it: past its end, with no
    /// gateway order yet. An order made before the end stands until its own expiry, as any
    /// order's does: the shopper may be paying it right now.
    pub fn refuses_start(&self, checkout: &Checkout, now: u64) -> bool {
        checkout.terms.is_none() && self.expired(now)
    }

    /// The link's state, from its checkout's at `now`.
    pub fn state(&self, checkout: &Checkout, now: u64) -> LinkState {
        match checkout.state {
            CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate) => LinkState::Paid,
            CheckoutState::Order(status) => LinkState::Order(status),
            CheckoutState::Open(_) if self.refuses_start(checkout, now) => LinkState::Expired,
            CheckoutState::Open(_) => LinkState::Open,
        }
    }
}

/// Where a link is, as the console lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waiting for a shopper to choose a network and token.
    Open,
    /// Past its end before any shopper started paying it.
    Expired,
    /// Its checkout is paid (on time or late).
    Paid,
    /// A shopper started paying: the order's own state (waiting, confirming, expired, ...).
    Order(OrderStatus),
}

impl LinkState {
    /// Its name, as the checkout states are named (`open`, `waiting`, ...); `link_expired` for a
    /// link that ended unstarted, told apart from an order that expired.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Expired => "link_expired",
            Self::Paid => "paid",
            Self::Order(status) => status.as_str(),
        }
    }
}

/// Why a link was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Price(String),
    #[error("a description is required")]
    NoDescription,
    #[error("a description has at most {MAX_DESCRIPTION_CHARS} characters")]
    LongDescription,
    #[error("a reference has at most {MAX_REFERENCE_CHARS} characters")]
    LongReference,
    #[error("expiresAt must be at least a minute from now (Unix ms)")]
    ExpiryTooSoon,
    #[error("expiresAt must be within a year from now (Unix ms)")]
    ExpiryTooFar,
}

/// A link asked for, as it came (from a form or the admin API).
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub amount: &'a str,
    pub currency: &'a str,
    pub description: &'a str,
    pub reference: Option<&'a str>,
    /// Unix ms.
    pub expires_at: Option<u64>,
}

/// A link to make, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLink {
    pub price: Price,
    pub description: String,
    pub reference: Option<String>,
    pub expires_at: Option<u64>,
}

impl NewLink {
    /// `asked`, if it can be made at `now`: a price the server can charge, a description, a
    /// reference if any (blank is none), and an end from a minute to a year away.
    pub fn parse(asked: Asked<'_>, now: u64, registry: &ChainRegistry) -> Result<Self, Refused> {
        let price = Price::parse(asked.amount.trim(), asked.currency.trim(), registry)
            .map_err(|e| Refused::Price(e.to_string()))?;
        let description = asked.description.trim();
        if description.is_empty() {
            return Err(Refused::NoDescription);
        }
        if description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(Refused::LongDescription);
        }
        let reference = asked.reference.map(str::trim).filter(|r| !r.is_empty());
        if reference.is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS) {
            return Err(Refused::LongReference);
        }
        let expires_at = asked.expires_at.map(|end| expiry(end, now)).transpose()?;
        Ok(Self {
            price,
            description: description.to_owned(),
            reference: reference.map(str::to_owned),
            expires_at,
        })
    }
}

/// `end` (Unix ms), if it is from a minute to a year after `now`.
pub fn expiry(end: u64, now: u64) -> Result<u64, Refused> {
    if end < now.saturating_add(MIN_LIFETIME_MS) {
        Err(Refused::ExpiryTooSoon)
    } else if end > now.saturating_add(MAX_LIFETIME_MS) {
        Err(Refused::ExpiryTooFar)
    } else {
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CreatedBy;

    const NOW: u64 = 1_800_000_000_000;

    fn asked(expires_at: Option<u64>) -> Asked<'static> {
        Asked {
            amount: " 25.50 ",
            currency: "USD",
            description: "  Invoice 7  ",
            reference: Some("  "),
            expires_at,
        }
    }

    fn link(expires_at: Option<u64>) -> PaymentLink {
        PaymentLink {
            checkout_id: "co_1".into(),
            via: Via::Console,
            staff: Some("ana".into()),
            expires_at,
            created_at: NOW,
        }
    }

    #[test]
    fn a_link_is_read_trimmed_with_an_end_a_minute_to_a_year_away() {
        let registry = ChainRegistry::builtin();
        let made = NewLink::parse(asked(None), NOW, &registry).unwrap();
        assert_eq!(made.description, "Invoice 7");
        assert_eq!(made.reference, None, "a blank reference is none");
        assert_eq!(made.price.currency, "USD");
        for end in [NOW + MIN_LIFETIME_MS, NOW + MAX_LIFETIME_MS] {
            assert_eq!(
                NewLink::parse(asked(Some(end)), NOW, &registry)
                    .unwrap()
                    .expires_at,
                Some(end)
            );
        }
        for (end, why) in [
            (0, Refused::ExpiryTooSoon),
            (NOW - 1, Refused::ExpiryTooSoon),
            (NOW + MIN_LIFETIME_MS - 1, Refused::ExpiryTooSoon),
            (NOW + MAX_LIFETIME_MS + 1, Refused::ExpiryTooFar),
            (u64::MAX, Refused::ExpiryTooFar),
        ] {
            assert_eq!(
                NewLink::parse(asked(Some(end)), NOW, &registry),
                Err(why),
                "{end}"
            );
        }
        let blank = Asked {
            description: " ",
            ..asked(None)
        };
        assert_eq!(
            NewLink::parse(blank, NOW, &registry),
            Err(Refused::NoDescription)
        );
        let long = "x".repeat(MAX_DESCRIPTION_CHARS + 1);
        let long = Asked {
            description: &long,
            ..asked(None)
        };
        assert_eq!(
            NewLink::parse(long, NOW, &registry),
            Err(Refused::LongDescription)
        );
        let free = Asked {
            amount: "0",
            ..asked(None)
        };
        assert!(matches!(
            NewLink::parse(free, NOW, &registry),
            Err(Refused::Price(_))
        ));
    }

    #[test]
    fn an_unstarted_link_past_its_end_is_expired_and_refuses_to_start() {
        let mut checkout = Checkout::open(
            "co_1".into(),
            CreatedBy::Storefront,
            "Invoice".into(),
            Price::parse("10", "USD", &ChainRegistry::builtin()).unwrap(),
        );
        let ending = link(Some(NOW + 1000));
        assert_eq!(ending.state(&checkout, NOW), LinkState::Open);
        assert!(!ending.refuses_start(&checkout, NOW + 999));
        assert!(ending.refuses_start(&checkout, NOW + 1000));
        assert_eq!(ending.state(&checkout, NOW + 1000), LinkState::Expired);
        assert_eq!(LinkState::Expired.as_str(), "link_expired");
        let forever = link(None);
        assert!(!forever.refuses_start(&checkout, u64::MAX));
        assert_eq!(forever.state(&checkout, u64::MAX), LinkState::Open);

        checkout.state = CheckoutState::Order(OrderStatus::PaidLate);
        assert_eq!(ending.state(&checkout, NOW + 1000), LinkState::Paid);
        checkout.state = CheckoutState::Order(OrderStatus::Confirming);
        assert_eq!(
            ending.state(&checkout, NOW + 1000),
            LinkState::Order(OrderStatus::Confirming)
        );
    }

    #[test]
    fn who_made_a_link_is_named() {
        assert_eq!(link(None).made_by(), "ana");
        let api = PaymentLink {
            via: Via::Api,
            staff: None,
            ..link(None)
        };
        assert_eq!(api.made_by(), "admin API");
        for via in [Via::Console, Via::Api] {
            assert_eq!(Via::from_name(via.as_str()), Some(via));
        }
        assert_eq!(Via::from_name("widget"), None);
    }
}
