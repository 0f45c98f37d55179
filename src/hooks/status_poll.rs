//! Polling the order's status while it is open, by the policy in [`crate::poll`]: this module only
//! keeps time (timers, the page's visibility, the ETag of the long poll).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::Timeout;
use usdt_checkout_protocol::checkout::CheckoutState;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client::{self, Failure};
use crate::model::{Action, Model, Phase};
use crate::options::Settings;
use crate::poll::{FIRST_POLL, Next, Outcome, Poller};

/// Polls the merchant server while an order is open and feeds each answer to the model. Stops
/// when the order ends, is left, or the widget is unmounted.
#[hook]
pub fn use_status_poll(model: &UseReducerHandle<Model>, settings: &Settings) {
    let order = match &model.phase {
        Phase::Paying(view) => Some(view.id.clone()),
        _ => None,
    };
    let (model, merchant_url) = (model.clone(), settings.merchant_url.clone());
    use_effect_with(order, move |order| {
        let driver = order
            .clone()
            .map(|id| PollDriver::start(id, merchant_url, model));
        move || {
            if let Some(driver) = driver {
                driver.borrow_mut().stop();
            }
        }
    });
}

/// Runs the polling policy with timers: one poll in flight at most, none while the page is
/// hidden, one at once when it is shown again.
struct PollDriver {
    poller: Poller,
    id: String,
    merchant_url: String,
    etag: Option<String>,
    model: UseReducerHandle<Model>,
    timer: Option<Timeout>,
    _visibility: Option<gloo_events::EventListener>,
}

impl PollDriver {
    fn start(
        id: String,
        merchant_url: String,
        model: UseReducerHandle<Model>,
    ) -> Rc<RefCell<Self>> {
        let driver = Rc::new(RefCell::new(Self {
            poller: Poller::new(),
            id,
            merchant_url,
            etag: None,
            model,
            timer: None,
            _visibility: None,
        }));
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            let weak = Rc::downgrade(&driver);
            let listener =
                gloo_events::EventListener::new(&document, "visibilitychange", move |_| {
                    let Some(driver) = weak.upgrade() else { return };
                    let visible = web_sys::window()
                        .and_then(|w| w.document())
                        .is_none_or(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
                    let next = driver.borrow_mut().poller.visibility(visible);
                    Self::schedule(&driver, next);
                });
            driver.borrow_mut()._visibility = Some(listener);
        }
        Self::schedule(&driver, Next::PollAfter(FIRST_POLL));
        driver
    }

    fn stop(&mut self) {
        self.poller.stop();
        self.timer = None;
        self._visibility = None;
    }

    fn schedule(driver: &Rc<RefCell<Self>>, next: Next) {
        let delay = match next {
            Next::PollNow => Duration::ZERO,
            Next::PollAfter(delay) => delay,
            Next::Idle | Next::Stop => return,
        };
        let weak = Rc::downgrade(driver);
        let timer = Timeout::new(delay.as_millis() as u32, move || {
            if let Some(driver) = weak.upgrade() {
                Self::poll(driver);
            }
        });
        driver.borrow_mut().timer = Some(timer);
    }

    fn poll(driver: Rc<RefCell<Self>>) {
        let (url, id, etag) = {
            let mut this = driver.borrow_mut();
            if !this.poller.start() {
                return;
            }
            (
                this.merchant_url.clone(),
                this.id.clone(),
                this.etag.clone(),
            )
        };
        spawn_local(async move {
            let asked = js_sys::Date::now();
            let result = client::poll_status(&url, &id, etag.as_deref()).await;
            let held = js_sys::Date::now() - asked > 5_000.0;
            let outcome = match &result {
                Ok(poll) => match &poll.view {
                    Some(view) if matches!(view.state, CheckoutState::Order(s) if s.is_final()) => {
                        Outcome::Final
                    }
                    Some(_) => Outcome::Changed,
                    None => Outcome::Unchanged { held },
                },
                Err(Failure::RateLimited(after)) => Outcome::RateLimited {
                    retry_after: *after,
                },
                Err(Failure::Blocked(after)) => Outcome::Blocked {
                    retry_after: *after,
                },
                Err(_) => Outcome::Failed,
            };
            let model = {
                let mut this = driver.borrow_mut();
                if let Ok(poll) = &result
                    && poll.etag.is_some()
                {
                    this.etag = poll.etag.clone();
                }
                this.model.clone()
            };
            // A new screen from the server may remove the control the shopper is on.
            crate::keep_focus(&model.heading, false, || {
                model.dispatch(Action::Polled(result.map(|poll| poll.view)))
            });
            let next = driver
                .borrow_mut()
                .poller
                .finish(outcome, js_sys::Math::random());
            Self::schedule(&driver, next);
        });
    }
}
