//! The widget's state and how each event changes it: a reducer with no I/O, so every screen a
//! shopper can reach is a value that can be rendered (and tested) directly.

use std::rc::Rc;

use usdt_checkout_protocol::checkout::{CheckoutState, CheckoutView};
use usdt_checkout_protocol::{ChainId, OrderStatus};
use yew::Reducible;

use crate::client::{Failure, Offer};

#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Fetching what can be paid with.
    Loading,
    /// The shopper picks a network and token.
    Choosing,
    /// The order is being created.
    Creating,
    /// The payment screen, polled until final.
    /// Shared, not copied: the reducer clones the model on every action.
    Paying(Rc<CheckoutView>),
    /// Nothing can go on: the message says why.
    Stopped(String),
}

/// Something wrong with the connection, shown over the current screen while polling goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    MerchantUnreachable,
    RateLimited,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub phase: Phase,
    pub offer: Rc<Offer>,
    pub chain: Option<ChainId>,
    pub symbol: Option<String>,
    pub notice: Option<Notice>,
    /// A refusal to show beside the chooser (the shopper can pick again).
    pub error: Option<String>,
    /// Bumped by "start again": a new purchase, a new idempotency key.
    pub attempt: u32,
    /// The payment screen is one this browser started before a reload.
    pub resumed: bool,
    /// This widget among those mounted on the page, from 1: each is a landmark, and two
    /// landmarks of one page need different names.
    pub instance: u32,
    /// The widget's heading: where focus goes when the shopper's own action (Continue, Start
    /// again) replaces the screen, taking the control they used with it.
    pub heading: yew::NodeRef,
}

thread_local! {
    static MOUNTED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

impl Default for Model {
    fn default() -> Self {
        Self {
            phase: Phase::Loading,
            offer: Rc::default(),
            chain: None,
            symbol: None,
            notice: None,
            error: None,
            attempt: 0,
            resumed: false,
            // A reducer's first state is made once per widget, when it mounts.
            instance: MOUNTED.with(|n| {
                n.set(n.get() + 1);
                n.get()
            }),
            heading: yew::NodeRef::default(),
        }
    }
}

pub enum Action {
    Offered(Result<Offer, Failure>, Option<ChainId>),
    Choose {
        chain: ChainId,
        symbol: String,
    },
    Start,
    Started(Result<CheckoutView, Failure>),
    /// The checkout this browser started, taken up again after a reload.
    Resumed(CheckoutView),
    Polled(Result<Option<CheckoutView>, Failure>),
    StartAgain,
}

impl Model {
    /// The order's status, once there is one.
    pub fn status(&self) -> Option<OrderStatus> {
        match &self.phase {
            Phase::Paying(view) => match view.state {
                CheckoutState::Order(status) => Some(status),
                CheckoutState::Open(_) => None,
            },
            _ => None,
        }
    }
}

fn failure_message(failure: &Failure) -> Option<String> {
    match failure {
        Failure::Refused { message, .. } => Some(message.clone()),
        _ => None,
    }
}

impl Reducible for Model {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let mut next = (*self).clone();
        let resumed = matches!(action, Action::Resumed(_));
        match action {
            Action::Offered(Ok(offer), default_chain) => {
                next.chain = default_chain
                    .filter(|c| offer.networks.iter().any(|n| n.chain_id == *c))
                    .or_else(|| offer.networks.first().map(|n| n.chain_id));
                next.symbol = next
                    .chain
                    .and_then(|c| offer.tokens.iter().find(|t| t.chain_id == c))
                    .map(|t| t.symbol.clone());
                next.offer = Rc::new(offer);
                next.phase = if next.offer.networks.is_empty() {
                    Phase::Stopped("no network is available for payment".into())
                } else {
                    Phase::Choosing
                };
                next.notice = None;
            }
            Action::Offered(Err(failure), _) => {
                next.notice = Some(notice_for(&failure));
                next.error = failure_message(&failure);
            }
            Action::Choose { chain, symbol } => {
                next.chain = Some(chain);
                next.symbol = Some(symbol);
                next.error = None;
            }
            Action::Start => {
                next.phase = Phase::Creating;
                next.error = None;
            }
            Action::Started(Ok(view)) | Action::Resumed(view) => {
                next.resumed = resumed;
                next.phase = Phase::Paying(Rc::new(view));
                next.notice = None;
            }
            Action::Started(Err(failure)) => {
                next.phase = Phase::Choosing;
                next.notice = match failure {
                    Failure::Refused { .. } => None,
                    _ => Some(notice_for(&failure)),
                };
                next.error = failure_message(&failure);
            }
            Action::Polled(Ok(Some(view))) => {
                next.phase = Phase::Paying(Rc::new(view));
                next.notice = None;
            }
            Action::Polled(Ok(None)) => next.notice = None,
            Action::Polled(Err(failure)) => next.notice = Some(notice_for(&failure)),
            Action::StartAgain => {
                next.phase = Phase::Choosing;
                next.notice = None;
                next.error = None;
                next.attempt += 1;
            }
        }
        Rc::new(next)
    }
}

fn notice_for(failure: &Failure) -> Notice {
    match failure {
        Failure::RateLimited(_) | Failure::Blocked(_) => Notice::RateLimited,
        _ => Notice::MerchantUnreachable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(state: &str) -> CheckoutView {
        serde_json::from_value(serde_json::json!({
            "id": "co_1", "state": state, "description": "T-shirt",
            "price": {"amount": "25.00", "currency": "USD"}, "payment": null,
            "gateway": {"state": "available"}, "expiresAt": null, "serverTime": 0, "version": 1,
        }))
        .unwrap()
    }

    #[test]
    fn a_resumed_payment_stays_resumed_until_the_shopper_starts_again() {
        let model = Rc::new(Model::default()).reduce(Action::Resumed(view("waiting")));
        assert!(model.resumed);
        assert_eq!(model.status(), Some(OrderStatus::Waiting));
        let model = model.reduce(Action::Polled(Ok(Some(view("confirming")))));
        assert!(model.resumed, "polls keep it");
        let model = model.reduce(Action::StartAgain);
        assert_eq!(model.phase, Phase::Choosing);
        let model = model.reduce(Action::Start);
        let model = model.reduce(Action::Started(Ok(view("waiting"))));
        assert!(!model.resumed, "a payment started here is not resumed");
    }
}
