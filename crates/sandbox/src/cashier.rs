//! The hosted cashier page at an order's `cashierUrl`, as the real gateway offers: the QR code
//! of the exact transfer, the amount, token, network and address written out, the state, and
//! the time left. Server-rendered and self-refreshing, so it works without JavaScript; in test
//! mode it also has a button that pays from a test account.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use usdt_checkout_protocol::{OrderStatus, TransferRequest};

use crate::app::App;
use crate::clock::now_ms;

pub fn router() -> Router<Arc<App>> {
    Router::new().route("/cashier/{plat_order_no}", get(page))
}

fn escape(text: &str) -> String {
    text.chars()
        .fold(String::with_capacity(text.len()), |mut out, c| {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                '\'' => out.push_str("&#39;"),
                c => out.push(c),
            }
            out
        })
}

async fn page(State(app): State<Arc<App>>, Path(plat_order_no): Path<String>) -> Response {
    let Some(order) = app.store.read(|l| {
        l.orders
            .iter()
            .find(|o| o.plat_order_no == plat_order_no)
            .cloned()
    }) else {
        return (StatusCode::NOT_FOUND, Html("<h1>Order not found</h1>")).into_response();
    };
    let v = app.view(&order);
    let remaining = order.remaining();
    let request = TransferRequest {
        chain: v.chain_id,
        token: v.token_contract,
        to: v.to_address,
        atomic_units: if remaining > 0 {
            remaining
        } else {
            order.amount
        },
    };
    let uri = request.eip681();
    let qr = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(220, 220)
                .build()
        })
        .unwrap_or_default();
    let state = match v.state {
        OrderStatus::Waiting => "Waiting for payment".to_owned(),
        OrderStatus::PartiallyPaid => format!(
            "Partially paid: {} {} still to pay",
            v.remaining_amount, v.symbol
        ),
        OrderStatus::Confirming => format!(
            "Confirming ({} of {})",
            v.confirmations.unwrap_or(0),
            v.required_confirmations
        ),
        OrderStatus::Paid => "Paid".into(),
        OrderStatus::Expired => "Expired".into(),
        OrderStatus::PaidLate => "Paid after expiry".into(),
        OrderStatus::Failed => "Cancelled".into(),
    };
    let seconds_left = v.expire_time.saturating_sub(now_ms()) / 1000;
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
{refresh}<title>Pay {amount} {symbol}</title>
<style>body{{font:16px system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#111}}
code{{word-break:break-all}} .state{{font-weight:600}} svg{{width:220px;height:220px}}</style></head>
<body><h1>Pay {amount} {symbol}</h1>
<p>on <strong>{network}</strong> (chain {chain}), order <code>{order_no}</code></p>
<p class="state" role="status" aria-live="polite">{state}</p>
<figure aria-label="QR code of the payment">{qr}</figure>
<p>Send exactly <strong>{to_pay} {symbol}</strong> to<br><code>{to}</code></p>
<p>Token contract <code>{token}</code></p>
<p>{time_left}</p>
<p><a href="{uri}">Open in a wallet</a></p>"#,
        refresh = if v.state.is_final() {
            ""
        } else {
            r#"<meta http-equiv="refresh" content="5">"#
        },
        amount = escape(&v.amount),
        symbol = escape(&v.symbol),
        network = escape(&v.network),
        chain = v.chain_id,
        order_no = escape(&v.order_no),
        state = escape(&state),
        qr = qr,
        to_pay = escape(if remaining > 0 {
            &v.remaining_amount
        } else {
            &v.amount
        }),
        to = v.to_address,
        token = v.token_contract,
        time_left = if v.state.is_final() || v.state == OrderStatus::Expired {
            String::new()
        } else {
            format!("Time left: {}:{:02}", seconds_left / 60, seconds_left % 60)
        },
        uri = escape(&uri),
    );
    if app.test_mode && !v.state.is_final() {
        let _ = write!(
            html,
            r#"<form method="post" action="/sandbox/orders/{plat}/pay" onsubmit="event.preventDefault();fetch(this.action,{{method:'POST'}}).then(()=>setTimeout(()=>location.reload(),1500))">
<button type="submit">Pay with a test wallet (test mode)</button></form>"#,
            plat = escape(&v.plat_order_no)
        );
    }
    html.push_str("</body></html>");
    Html(html).into_response()
}
