//! The widget's state and how each event changes it: a reducer with no I/O, so every screen a
//! shopper can reach is a value that can be rendered (and tested) directly.

use std::rc::Rc;

use usdt_checkout_protocol::checkout::{CheckoutState, CheckoutView, ErrorCode};
use usdt_checkout_protocol::refund::{RefundView, RefundsView};
use usdt_checkout_protocol::{ChainId, OrderStatus};
use yew::Reducible;

use crate::client::{Failure, Offer};
use crate::wallet::WalletError;

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
    /// Nothing can be paid with: the gateway offers no network this widget can describe.
    NoNetwork,
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
    /// A refusal to show beside the chooser (the shopper can pick again), said by the view in
    /// the shopper's language (shared: the model is copied on every action).
    pub error: Option<Rc<Failure>>,
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
    /// "I already paid", for the checkout on screen.
    pub claim: Claim,
    /// Its refunds, once the server says money is refundable.
    pub refunds: Refunds,
}

/// The refunds of the checkout on screen: what may be asked back and the requests made, as the
/// server last said them, and the request being made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refunds {
    /// As last read (shared: the model is copied on every action).
    pub view: Option<Rc<RefundsView>>,
    /// The address typed for the refund; `None` until the shopper types one (the paying wallet's
    /// is shown).
    pub destination: Option<String>,
    /// A request is being signed (`signing`) or sent.
    pub busy: bool,
    pub signing: bool,
    /// Why the last request was not made or kept.
    pub problem: Option<RefundProblem>,
    /// The refund whose state changed last, said in the polite live region.
    pub news: Option<String>,
    /// The refunds' heading: focus goes there once a request is made (its form is gone).
    pub heading: yew::NodeRef,
    /// Bumped to read the refunds again (see [`crate::hooks::use_refunds`]).
    pub reads: u32,
}

/// A request the shopper makes: for the `index`th payment offered, to the address typed, with
/// `email` (when unproven), signed by `wallet` when there is one.
pub struct Asking {
    pub index: usize,
    pub wallet: Option<crate::wallet::Wallet>,
    pub email: String,
}

/// Why a refund request was not made or not kept.
#[derive(Debug, Clone, PartialEq)]
pub enum RefundProblem {
    /// The address typed is not one (checked as the protocol parses it: EIP-55).
    BadAddress,
    /// The wallet did not sign (nothing was sent).
    Wallet(WalletError),
    /// The server refused it (a `Refund*` code), or did not answer.
    Refused(Rc<Failure>),
}

/// "I already paid": its form, and the claim of a transaction the shopper names.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claim {
    /// A claim is being looked up, or proven (see [`Claim::proving`]).
    pub busy: bool,
    /// Why the last claim did not count (shared: the model is copied on every action).
    pub refused: Option<Rc<Failure>>,
    /// The last claim's payment now counts for the order.
    pub found: bool,
    /// The last claim's payment is kept for the merchant to check: claimed without proof that
    /// the shopper sent it, it counts once the wallet that sent it signs for it. Kept while that
    /// wallet is asked, and when it refuses.
    pub review: Option<Rc<Review>>,
    /// Why the wallet asked to prove the payment under review did not.
    pub unproven: Option<WalletError>,
}

impl Claim {
    /// A wallet is asked to prove the payment under review, and its proof sent.
    pub fn proving(&self) -> bool {
        self.busy && self.review.is_some()
    }
}

/// A payment claimed without proof (the server's `claim_under_review`), and what would prove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    /// The transaction claimed, as the shopper gave it.
    pub tx_hash: String,
    /// The address that sent it (the answer's `sender`).
    pub sender: String,
    /// The text that address's wallet signs to prove it (the answer's `message`).
    pub message: String,
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
            claim: Claim::default(),
            refunds: Refunds::default(),
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
    /// A transaction is claimed.
    Claim,
    /// The payment under review is being proven: its sender's wallet is asked to sign.
    Prove,
    /// The wallet did not sign (nothing was sent to the server).
    Unproven(WalletError),
    /// The server's answer to the claim of transaction `hash` for checkout `id`.
    Claimed {
        id: String,
        hash: String,
        answer: Result<CheckoutView, Failure>,
    },
    /// The refunds are to be read again.
    ReadRefunds,
    /// Checkout `id`'s refunds, as read.
    RefundsRead {
        id: String,
        view: RefundsView,
    },
    /// The shopper typed a refund's address.
    RefundDestination(String),
    /// A refund is asked for, signed first when `signing`.
    AskRefund {
        signing: bool,
    },
    /// The request was not sent.
    RefundNotAsked(RefundProblem),
    /// The server's answer to a request for checkout `id`.
    RefundAsked {
        id: String,
        answer: Result<RefundView, Failure>,
    },
}

impl Model {
    /// Whether checkout `id` is the one on screen.
    fn on_screen(&self, id: &str) -> bool {
        matches!(&self.phase, Phase::Paying(view) if view.id == id)
    }

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

/// A refusal, kept to be said; other failures are notices.
fn refusal(failure: Failure) -> Option<Rc<Failure>> {
    matches!(failure, Failure::Refused { .. }).then(|| Rc::new(failure))
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
                    Phase::NoNetwork
                } else {
                    Phase::Choosing
                };
                next.notice = None;
            }
            Action::Offered(Err(failure), _) => {
                next.notice = Some(notice_for(&failure));
                next.error = refusal(failure);
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
                next.claim = Claim::default();
                next.refunds = Refunds::default();
            }
            Action::Started(Err(failure)) => {
                next.phase = Phase::Choosing;
                next.notice = match failure {
                    Failure::Refused { .. } => None,
                    _ => Some(notice_for(&failure)),
                };
                next.error = refusal(failure);
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
                next.claim = Claim::default();
                next.refunds = Refunds::default();
            }
            Action::Claim => {
                next.claim = Claim {
                    busy: true,
                    ..Claim::default()
                }
            }
            // The payment stays under review whatever the wallet or the server says.
            Action::Prove => {
                next.claim.busy = true;
                next.claim.refused = None;
                next.claim.unproven = None;
            }
            Action::Unproven(error) => {
                // Said only beside the payment it was asked to prove.
                if self.claim.review.is_none() {
                    return self;
                }
                next.claim.busy = false;
                next.claim.unproven = Some(error);
            }
            Action::Claimed { id, hash, answer } => {
                let Phase::Paying(current) = &self.phase else {
                    return self;
                };
                if current.id != id {
                    return self;
                }
                match answer {
                    // Applied as a status poll's answer, unless a poll brought a newer one.
                    Ok(view) => {
                        if view.version >= current.version {
                            next.phase = Phase::Paying(Rc::new(view));
                            next.notice = None;
                        }
                        next.claim = Claim {
                            found: true,
                            ..Claim::default()
                        };
                    }
                    // Not a refusal: kept for the merchant, and provable by the sender's wallet.
                    Err(Failure::Refused {
                        code: ErrorCode::ClaimUnderReview,
                        params,
                        ..
                    }) => {
                        let param = |name: &str| {
                            params
                                .iter()
                                .find(|(key, _)| key == name)
                                .map(|(_, value)| value.clone())
                                .unwrap_or_default()
                        };
                        next.claim = Claim {
                            review: Some(Rc::new(Review {
                                sender: param("sender"),
                                message: param("message"),
                                tx_hash: hash,
                            })),
                            ..Claim::default()
                        };
                    }
                    Err(failure) => {
                        next.claim.busy = false;
                        next.claim.refused = Some(Rc::new(failure));
                    }
                }
            }
            Action::RefundsRead { id, view } => {
                if !self.on_screen(&id) {
                    return self;
                }
                let refunds = &mut next.refunds;
                // What changed since the last read is said (nothing on the first: the
                // shopper reads the list itself).
                if let Some(before) = &self.refunds.view {
                    let changed = view.refunds.iter().find(|refund| {
                        !before
                            .refunds
                            .iter()
                            .any(|seen| seen.id == refund.id && seen.state == refund.state)
                    });
                    if let Some(refund) = changed {
                        refunds.news = Some(refund.id.clone());
                    }
                }
                refunds.view = Some(Rc::new(view));
            }
            Action::ReadRefunds => next.refunds.reads += 1,
            Action::RefundDestination(typed) => {
                next.refunds.destination = Some(typed);
                next.refunds.problem = None;
            }
            Action::AskRefund { signing } => {
                next.refunds.busy = true;
                next.refunds.signing = signing;
                next.refunds.problem = None;
            }
            Action::RefundNotAsked(problem) => {
                next.refunds.busy = false;
                next.refunds.problem = Some(problem);
            }
            Action::RefundAsked { id, answer } => {
                if !self.on_screen(&id) {
                    return self;
                }
                let refunds = &mut next.refunds;
                refunds.busy = false;
                match answer {
                    Ok(refund) => {
                        // Shown at once, the same request sent again in its place.
                        if let Some(view) = &refunds.view {
                            let mut view = (**view).clone();
                            view.refunds.retain(|kept| kept.id != refund.id);
                            view.refunds.push(refund.clone());
                            refunds.view = Some(Rc::new(view));
                        }
                        refunds.news = Some(refund.id);
                    }
                    Err(failure) => {
                        refunds.problem = Some(RefundProblem::Refused(Rc::new(failure)))
                    }
                }
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

    const HASH: &str = "0xabab";

    fn claimed(id: &str, answer: Result<CheckoutView, Failure>) -> Action {
        Action::Claimed {
            id: id.into(),
            hash: HASH.into(),
            answer,
        }
    }

    fn refusal(status: u16, code: ErrorCode, params: &[(&str, &str)]) -> Failure {
        Failure::Refused {
            status,
            code,
            retry_after: None,
            params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn a_claim_under_review_is_kept_through_a_failed_proof_until_one_succeeds() {
        let model = Rc::new(Model::default()).reduce(Action::Started(Ok(view("waiting"))));
        let model = model.reduce(Action::Claim);
        let review = refusal(
            202,
            ErrorCode::ClaimUnderReview,
            &[("sender", "0xSender"), ("message", "I sent it")],
        );
        let model = model.reduce(claimed("co_1", Err(review)));
        let expected = Review {
            tx_hash: HASH.into(),
            sender: "0xSender".into(),
            message: "I sent it".into(),
        };
        assert_eq!(model.claim.review.as_deref(), Some(&expected));
        assert_eq!(model.claim.refused, None, "not a refusal");
        assert!(!model.claim.busy && !model.claim.proving());
        assert_eq!(
            model.status(),
            Some(OrderStatus::Waiting),
            "nothing counted"
        );

        let model = model.reduce(Action::Prove);
        assert!(model.claim.proving());
        let model = model.reduce(Action::Unproven(WalletError::Rejected));
        assert_eq!(model.claim.unproven, Some(WalletError::Rejected));
        assert!(!model.claim.busy);
        assert_eq!(model.claim.review.as_deref(), Some(&expected), "still kept");

        let model = model.reduce(Action::Prove);
        assert_eq!(
            model.claim.unproven, None,
            "a new proof clears the last answer"
        );
        let not_sender = refusal(
            422,
            ErrorCode::ClaimNotSender,
            &[("sender", "0xSender"), ("signer", "0xOther")],
        );
        let model = model.reduce(claimed("co_1", Err(not_sender.clone())));
        assert_eq!(model.claim.refused.as_deref(), Some(&not_sender));
        assert_eq!(model.claim.review.as_deref(), Some(&expected), "still kept");

        let model = model.reduce(Action::Prove);
        assert_eq!(model.claim.refused, None);
        let model = model.reduce(claimed("co_1", Ok(view("paid"))));
        assert_eq!(model.status(), Some(OrderStatus::Paid));
        assert_eq!(
            model.claim,
            Claim {
                found: true,
                ..Claim::default()
            }
        );
        let late = model.reduce(Action::Unproven(WalletError::Rejected));
        assert_eq!(late.claim.unproven, None, "no review, nothing to say");

        let model = Rc::new(Model::default()).reduce(Action::Started(Ok(view("waiting"))));
        let model = model.reduce(claimed(
            "co_1",
            Err(refusal(202, ErrorCode::ClaimUnderReview, &[])),
        ));
        let model = model.reduce(Action::Claim);
        assert_eq!(model.claim.review, None, "another hash, another claim");
    }

    #[test]
    fn a_claim_found_is_applied_as_a_poll_and_one_refused_says_why() {
        let model = Rc::new(Model::default()).reduce(Action::Started(Ok(view("waiting"))));
        let model = model.reduce(Action::Claim);
        assert!(model.claim.busy);
        let refusal = Failure::Refused {
            status: 422,
            code: ErrorCode::TxNotMined,
            retry_after: None,
            params: vec![],
        };
        let model = model.reduce(claimed("co_1", Err(refusal.clone())));
        assert!(!model.claim.busy);
        assert_eq!(model.claim.refused.as_deref(), Some(&refusal));
        let model = model.reduce(Action::Claim);
        assert_eq!(
            model.claim.refused, None,
            "a new claim clears the last answer"
        );

        let elsewhere = model.clone().reduce(claimed("co_2", Ok(view("paid"))));
        assert_eq!(elsewhere.status(), Some(OrderStatus::Waiting));
        assert!(
            elsewhere.claim.busy,
            "another checkout's answer changes nothing"
        );

        let mut older = view("partially_paid");
        older.version = 0;
        let kept = model.clone().reduce(claimed("co_1", Ok(older)));
        assert_eq!(
            kept.status(),
            Some(OrderStatus::Waiting),
            "an older view than the one on screen is not applied"
        );
        assert!(kept.claim.found);

        let model = model.reduce(claimed("co_1", Ok(view("paid"))));
        assert_eq!(model.status(), Some(OrderStatus::Paid));
        assert_eq!(
            model.claim,
            Claim {
                found: true,
                ..Claim::default()
            }
        );
        let model = model.reduce(Action::StartAgain);
        assert_eq!(model.claim, Claim::default());
    }

    #[test]
    fn a_refused_creation_is_kept_to_be_said_and_no_network_stops_the_widget() {
        let model = Rc::new(Model::default()).reduce(Action::Offered(Ok(Offer::default()), None));
        assert_eq!(model.phase, Phase::NoNetwork);

        let model = Rc::new(Model::default()).reduce(Action::Start);
        let unsupported = refusal(400, ErrorCode::Unsupported, &[]);
        let model = model.reduce(Action::Started(Err(unsupported.clone())));
        assert_eq!(model.phase, Phase::Choosing, "the shopper can pick again");
        assert_eq!(model.error.as_deref(), Some(&unsupported));
        assert_eq!(model.notice, None);
        let model = model.reduce(Action::Start);
        assert_eq!(model.error, None);
        let model = model.reduce(Action::Started(Err(Failure::Unreachable)));
        assert_eq!(model.error, None, "no answer is a notice, not a refusal");
        assert_eq!(model.notice, Some(Notice::MerchantUnreachable));
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

    fn refunds(states: &[(&str, &str)]) -> RefundsView {
        serde_json::from_value(serde_json::json!({
            "refundable": [],
            "refunds": states.iter().map(|(id, state)| serde_json::json!({
                "id": id, "state": state, "amount": "2", "symbol": "USDT",
                "network": "Local chain", "chainId": 31337,
                "destination": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC", "proven": true,
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    }

    fn read(id: &str, states: &[(&str, &str)]) -> Action {
        Action::RefundsRead {
            id: id.into(),
            view: refunds(states),
        }
    }

    #[test]
    fn a_refund_that_changes_is_said_once_read_and_only_for_the_checkout_on_screen() {
        let model = Rc::new(Model::default()).reduce(Action::Started(Ok(view("paid"))));
        let model = model.reduce(read("co_other", &[("rf_1", "requested")]));
        assert_eq!(model.refunds.view, None, "another checkout's refunds");
        let model = model.reduce(read("co_1", &[("rf_1", "requested")]));
        assert_eq!(model.refunds.news, None, "the first read is read, not said");
        let model = model.reduce(read("co_1", &[("rf_1", "requested")]));
        assert_eq!(model.refunds.news, None, "nothing changed");
        let model = model.reduce(read("co_1", &[("rf_1", "approved")]));
        assert_eq!(model.refunds.news.as_deref(), Some("rf_1"));
        let model = model.reduce(read("co_1", &[("rf_1", "approved"), ("rf_2", "refused")]));
        assert_eq!(model.refunds.news.as_deref(), Some("rf_2"), "a new one");
        let model = model.reduce(Action::StartAgain);
        assert_eq!(model.refunds.view, None, "a new order, no refunds");
        assert_eq!(model.refunds.news, None);
    }

    #[test]
    fn a_request_is_shown_at_once_or_said_why_not() {
        let model = Rc::new(Model::default()).reduce(Action::Started(Ok(view("paid"))));
        let model = model.reduce(read("co_1", &[]));
        let model = model.reduce(Action::RefundDestination("0x12".into()));
        let model = model.reduce(Action::RefundNotAsked(RefundProblem::BadAddress));
        assert_eq!(model.refunds.problem, Some(RefundProblem::BadAddress));
        assert!(!model.refunds.busy);
        let model = model.reduce(Action::RefundDestination("0x1234".into()));
        assert_eq!(model.refunds.problem, None, "typing clears it");
        let model = model.reduce(Action::AskRefund { signing: true });
        assert!(model.refunds.busy && model.refunds.signing);
        let too_much = refusal(422, ErrorCode::RefundTooMuch, &[("max", "2")]);
        let model = model.reduce(Action::RefundAsked {
            id: "co_1".into(),
            answer: Err(too_much.clone()),
        });
        assert_eq!(
            model.refunds.problem,
            Some(RefundProblem::Refused(Rc::new(too_much)))
        );
        let model = model.reduce(Action::AskRefund { signing: false });
        assert_eq!(model.refunds.problem, None);
        let asked = refunds(&[("rf_9", "requested")]).refunds.remove(0);
        let again = model.reduce(Action::RefundAsked {
            id: "co_1".into(),
            answer: Ok(asked.clone()),
        });
        assert!(!again.refunds.busy);
        assert_eq!(again.refunds.news.as_deref(), Some("rf_9"));
        let again = again.reduce(Action::RefundAsked {
            id: "co_1".into(),
            answer: Ok(asked.clone()),
        });
        let shown = &again.refunds.view.as_ref().unwrap().refunds;
        assert_eq!(shown, &vec![asked], "the same request once");
    }
}
