//! Time left to pay.

use gloo_timers::callback::Interval;
use yew::prelude::*;

use crate::clock::ServerClock;
use crate::i18n::{Strings, Text};

#[derive(Properties, PartialEq)]
pub struct CountdownProps {
    pub strings: Strings,
    pub expires_at: u64,
    pub clock: ServerClock,
}

/// The stretch of time `seconds` left falls in; a screen reader hears when a new one begins:
/// 10, 5 and 1 minute left, and none.
pub fn stretch(seconds: u64) -> u8 {
    match seconds {
        0 => 0,
        1..=60 => 1,
        61..=300 => 5,
        301..=600 => 10,
        _ => u8::MAX,
    }
}

/// Time left by the server's clock, whatever the shopper's clock says. A component of its own
/// with its own timer: its tick renders this line only, not the payment panel around it.
///
/// The line ticking every second is not a live region (a screen reader would read it every
/// second); a visually hidden polite one says the time left when 10, 5 and 1 minute are left,
/// and when it runs out.
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
    let time = props.strings.clock(seconds);
    // The stretch the shopper first saw is not announced (the screen says it); each new one is.
    let seen = use_mut_ref(|| stretch(seconds));
    let announced = use_mut_ref(String::new);
    let now_in = stretch(seconds);
    if now_in != *seen.borrow() {
        *seen.borrow_mut() = now_in;
        let at = props.strings.clock(u64::from(now_in) * 60);
        *announced.borrow_mut() = props.strings.text(Text::TimeLeft, &[("time", &at)]);
    }
    html! {
        <>
            <p class="usdt-checkout__countdown">
                <time datetime={format!("PT{seconds}S")}>{ props.strings.text(Text::TimeLeft, &[("time", &time)]) }</time>
            </p>
            <p class="usdt-checkout__announce" role="status" aria-live="polite">{ announced.borrow().clone() }</p>
        </>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_come_at_ten_five_and_one_minute_and_at_the_end() {
        let announced: Vec<u64> = (0..=900)
            .rev()
            .filter(|&s| s < 900 && stretch(s) != stretch(s + 1))
            .collect();
        assert_eq!(announced, [600, 300, 60, 0]);
    }
}
