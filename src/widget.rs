//! The root component: owns the state (see [`crate::model`]) and all the I/O: loading what can be
//! paid with, creating the checkout, polling its status by the policy in [`crate::poll`], and
//! telling the host page what happened through DOM events.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use gloo_timers::callback::Timeout;
use usdt_checkout_protocol::checkout::{CheckoutState, CheckoutView, CreateCheckout};
use usdt_checkout_protocol::{ChainId, OrderStatus};
use wasm_bindgen::JsValue;
use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client::{self, Failure};
use crate::clock::ServerClock;
use crate::i18n::{Locale, Text};
use crate::model::{Action, Model, Phase};
use crate::options::{Purchase, Settings, Theme};
use crate::poll::{FIRST_POLL, Next, Outcome, Poller};
use crate::view::{Choice, Payment, chooser, connection_notice, status_text};

#[derive(Properties, PartialEq, Clone)]
pub struct CheckoutProps {
    pub settings: Settings,
    /// Where DOM events are dispatched (the element the widget is mounted in).
    #[prop_or_default]
    pub host: Option<web_sys::Element>,
}

fn browser_languages() -> Vec<String> {
    web_sys::window()
        .map(|w| w.navigator().languages())
        .map(|list| list.iter().filter_map(|v| v.as_string()).collect())
        .unwrap_or_default()
}

fn random() -> f64 {
    js_sys::Math::random()
}

/// `usdt-checkout:<name>` on the host, with `{orderId, state, txHash}` as its detail.
pub fn dispatch(host: &Option<web_sys::Element>, name: &str, view: &CheckoutView) {
    let Some(host) = host else { return };
    let detail = js_sys::Object::new();
    let tx = view
        .payment
        .as_ref()
        .and_then(|p| p.transactions.last())
        .map(|t| JsValue::from_str(&t.hash))
        .unwrap_or(JsValue::NULL);
    let _ = js_sys::Reflect::set(&detail, &"orderId".into(), &view.id.as_str().into());
    let _ = js_sys::Reflect::set(&detail, &"state".into(), &view.state.as_str().into());
    let _ = js_sys::Reflect::set(&detail, &"txHash".into(), &tx);
    let init = web_sys::CustomEventInit::new();
    init.set_detail(&detail);
    init.set_bubbles(true);
    init.set_composed(true);
    if let Ok(event) =
        web_sys::CustomEvent::new_with_event_init_dict(&format!("usdt-checkout:{name}"), &init)
    {
        let _ = host.dispatch_event(&event);
    }
}

/// A fresh key per purchase: retries of one purchase share it, a new purchase gets another.
fn idempotency_key() -> String {
    format!(
        "w{:016x}{:016x}",
        (random() * 2f64.powi(53)) as u64,
        js_sys::Date::now() as u64
    )
}

#[function_component]
pub fn Checkout(props: &CheckoutProps) -> Html {
    let settings = &props.settings;
    let model = use_reducer(Model::default);
    let locale = *use_memo(settings.locale.clone(), |option| {
        Locale::negotiate(option.as_deref(), &browser_languages())
    });
    let key = use_memo(model.attempt, |_| idempotency_key());
    let clock = use_mut_ref(ServerClock::default);

    // Load what can be paid with; a storefront checkout may already be under way.
    {
        let (model, settings) = (model.clone(), settings.clone());
        use_effect_with((), move |_| {
            spawn_local(async move {
                if let Purchase::Checkout(id) = &settings.purchase
                    && let Ok(poll) = client::poll_status(&settings.merchant_url, id, None).await
                    && let Some(view) = poll.view
                    && view.payment.is_some()
                {
                    model.dispatch(Action::Started(Ok(view)));
                    return;
                }
                let offer = client::offer(&settings.gateway_url).await;
                model.dispatch(Action::Offered(offer, settings.default_chain));
            });
        });
    }

    // The countdown runs on the server's clock, right on a shopper's wrong clock.
    if let Phase::Paying(view) = &model.phase {
        clock
            .borrow_mut()
            .observe(view.server_time, js_sys::Date::now());
    }

    // Poll while an order is open; tell the host about every change.
    let order = match &model.phase {
        Phase::Paying(view) => Some(view.id.clone()),
        _ => None,
    };
    {
        let (model_handle, settings) = (model.clone(), settings.clone());
        use_effect_with(order.clone(), move |order| {
            let driver = order
                .clone()
                .map(|id| PollDriver::start(id, settings.merchant_url.clone(), model_handle));
            move || {
                if let Some(driver) = driver {
                    driver.borrow_mut().stop();
                }
            }
        });
    }
    {
        let host = props.host.clone();
        let state = match &model.phase {
            Phase::Paying(view) => Some((view.state, view.clone())),
            _ => None,
        };
        use_effect_with(state.as_ref().map(|(s, _)| *s), move |changed| {
            if let (Some(_), Some((state, view))) = (changed, state) {
                dispatch(&host, "status", &view);
                match state {
                    CheckoutState::Order(OrderStatus::Paid | OrderStatus::PaidLate) => {
                        dispatch(&host, "paid", &view)
                    }
                    CheckoutState::Order(OrderStatus::Expired) => dispatch(&host, "expired", &view),
                    CheckoutState::Order(OrderStatus::Failed) => dispatch(&host, "failed", &view),
                    _ => {}
                }
            }
        });
    }

    let on_choose = {
        let model = model.clone();
        Callback::from(move |(chain, symbol): (ChainId, String)| {
            model.dispatch(Action::Choose { chain, symbol })
        })
    };
    let on_continue = {
        let (model, settings, key, host) = (
            model.clone(),
            settings.clone(),
            key.clone(),
            props.host.clone(),
        );
        Callback::from(move |()| {
            let (Some(chain), Some(symbol)) = (model.chain, model.symbol.clone()) else {
                return;
            };
            model.dispatch(Action::Start);
            let (model, settings, key, host) = (
                model.clone(),
                settings.clone(),
                (*key).clone(),
                host.clone(),
            );
            spawn_local(async move {
                let (item, checkout_id) = match &settings.purchase {
                    Purchase::Item(item) => (Some(item.clone()), None),
                    Purchase::Checkout(id) => (None, Some(id.clone())),
                };
                let request = CreateCheckout {
                    item,
                    checkout_id,
                    chain_id: chain,
                    symbol,
                    idempotency_key: key,
                };
                let created = client::create_checkout(&settings.merchant_url, &request).await;
                if let Ok(view) = &created {
                    dispatch(&host, "created", view);
                }
                model.dispatch(Action::Started(created));
            });
        })
    };
    let on_start_again = {
        let model = model.clone();
        Callback::from(move |()| model.dispatch(Action::StartAgain))
    };

    let theme = match settings.theme {
        Theme::Light => "light",
        Theme::Dark => "dark",
        Theme::Auto => "auto",
    };
    let status = match &model.phase {
        Phase::Loading => locale.text(Text::Loading, &[]),
        Phase::Choosing | Phase::Creating => String::new(),
        Phase::Paying(view) => status_text(locale, view),
        Phase::Stopped(why) => why.clone(),
    };
    let gateway = match &model.phase {
        Phase::Paying(view) => Some(view.gateway),
        _ => None,
    };
    html! {
        <section class="usdt-checkout" data-theme={theme} data-state={model.status().map(|s| s.as_str())} lang={locale.tag()} aria-label={locale.text(Text::Title, &[])}>
            <h1 class="usdt-checkout__title">{ locale.text(Text::Title, &[]) }</h1>
            <p class="usdt-checkout__status" role="status" aria-live="polite">{ status }</p>
            { connection_notice(locale, model.notice, gateway) }
            if let Some(error) = &model.error {
                <p class="usdt-checkout__error" role="alert">{ error }</p>
            }
            { match &model.phase {
                Phase::Loading | Phase::Stopped(_) => html! {},
                Phase::Choosing | Phase::Creating => chooser(&Choice {
                    locale,
                    offer: &model.offer,
                    chain: model.chain,
                    symbol: model.symbol.as_deref(),
                    allowed_chains: settings.chains.as_deref(),
                    allowed_tokens: settings.tokens.as_deref(),
                    busy: model.phase == Phase::Creating,
                    on_choose,
                    on_continue,
                }),
                Phase::Paying(view) => html! {
                    <Payment {locale} view={view.clone()} clock={*clock.borrow()} {on_start_again} />
                },
            } }
        </section>
    }
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
            model.dispatch(Action::Polled(result.map(|poll| poll.view)));
            let next = driver.borrow_mut().poller.finish(outcome, random());
            Self::schedule(&driver, next);
        });
    }
}
