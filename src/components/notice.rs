//! Trouble with a connection, over whatever screen is shown.

use usdt_checkout_protocol::checkout::GatewayHealth;
use yew::prelude::*;

use crate::i18n::{Strings, Text};
use crate::model::Notice;

/// Trouble with a connection: shown, never fatal; polling goes on behind it.
pub fn connection_notice(
    strings: Strings,
    notice: Option<Notice>,
    gateway: Option<GatewayHealth>,
) -> Html {
    let text = match (notice, gateway) {
        (Some(Notice::MerchantUnreachable), _) => Some(Text::MerchantUnreachable),
        (Some(Notice::RateLimited), _) => Some(Text::RateLimited),
        (None, Some(GatewayHealth::RateLimited { .. } | GatewayHealth::Blocked { .. })) => {
            Some(Text::RateLimited)
        }
        (None, Some(GatewayHealth::Unreachable { .. })) => Some(Text::GatewayUnavailable),
        _ => None,
    };
    match text {
        Some(text) => {
            html! { <p class="usdt-checkout__notice" role="alert">{ strings.text(text, &[]) }</p> }
        }
        None => html! {},
    }
}
