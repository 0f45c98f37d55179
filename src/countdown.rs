//! Time left to pay.

use gloo_timers::callback::Interval;
use yew::prelude::*;

use crate::clock::ServerClock;
use crate::i18n::{Locale, Text};

#[derive(Properties, PartialEq)]
pub struct CountdownProps {
    pub locale: Locale,
    pub expires_at: u64,
    pub clock: ServerClock,
}

/// Time left by the server's clock, whatever the shopper's clock says. A component of its own
/// with its own timer: its tick renders this line only, not the payment panel around it.
#[function_component]
pub fn Countdown(props: &CountdownProps) -> Html {
    let now = use_state(js_sys::Date::now);
    {
        let now = now.clone();
        use_effect_with((), move |_| {
            let ticker = Interval::new(1_000, move || now.set(js_sys::Date::now()));
            move || drop(ticker)
        });
    }
    let left_ms = (props.expires_at as f64 - props.clock.now(*now)).max(0.0);
    let seconds = (left_ms / 1000.0).floor() as u64;
    let time = format!("{}:{:02}", seconds / 60, seconds % 60);
    html! {
        <p class="usdt-checkout__countdown">
            <time datetime={format!("PT{seconds}S")}>{ props.locale.text(Text::TimeLeft, &[("time", &time)]) }</time>
        </p>
    }
}
