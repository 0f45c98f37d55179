//! Payment links' hosted page, `GET /pay/{id}`: the merchant's name, what is paid for, and the
//! widget (from `/checkout/`, as any storefront embeds it) opened on the link's checkout, in the
//! shopper's language. A page with no script of its own, under a strict policy; a link past its
//! end says so instead. Also what making a link takes, shared by the console and the admin API,
//! and the widget's refusal to start paying a link past its end.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::{DOCTYPE, Markup, html};

use super::new_id;
use crate::app::App;
use crate::clock::now_ms;
use crate::domain::{Checkout, CreatedBy};
use crate::error::ApiError;
use crate::links::{LinkState, NewLink, PaymentLink, Via};
use crate::store::{AuditEntry, StoreError};

/// The page's own stylesheet.
pub const PATH_STYLESHEET: &str = "/pay/static/pay.css";

/// The hosted page and its stylesheet, on `app`.
pub fn routes(app: Arc<App>) -> Router {
    Router::new()
        .route("/pay/{id}", get(page))
        .route(PATH_STYLESHEET, get(stylesheet))
        .with_state(app)
}

/// Makes `new` a checkout and a payment link of it, audited as `entry` (its subject and what it
/// made filled in here). The checkout is written first, then the link with its entry in one
/// transaction: should that fail, the checkout left behind is an ordinary one no page shows.
pub async fn open_link(
    app: &App,
    new: NewLink,
    via: Via,
    mut entry: AuditEntry,
) -> Result<(Checkout, PaymentLink), StoreError> {
    let checkout = Checkout {
        reference: new.reference,
        ..Checkout::open(
            new_id("co"),
            CreatedBy::Storefront,
            new.description,
            new.price,
        )
    };
    let link = PaymentLink {
        checkout_id: checkout.id.clone(),
        via,
        staff: (via == Via::Console).then(|| entry.actor.clone()),
        expires_at: new.expires_at,
        created_at: checkout.created_at,
    };
    entry.subject = Some(checkout.id.clone());
    entry.after = Some(format!(
        "{} {}, {}",
        checkout.price.amount,
        checkout.price.currency,
        match link.expires_at {
            Some(end) => format!("until {end} (Unix ms)"),
            None => "no end".to_owned(),
        }
    ));
    let stored = app.checkouts.open_link(&checkout, &link, &entry).await?;
    Ok((stored, link))
}

/// Where a shopper pays link `id`.
pub fn pay_url(app: &App, id: &str) -> String {
    format!("{}/pay/{id}", app.config.public_url)
}

/// Refuses to start paying checkout `id` when it is a payment link past its end with no order
/// yet (409, `conflict`: the widget tells the shopper it is over, and the page, reloaded, why).
/// Asked before the gateway is: a link that ended costs the gateway nothing.
pub async fn refuse_expired(app: &App, id: &str) -> Result<(), ApiError> {
    let now = now_ms();
    let Some(link) = app.checkouts.store().link(id).await? else {
        return Ok(());
    };
    if !link.expired(now) {
        return Ok(());
    }
    let checkout = app.checkouts.load(id).await?;
    if checkout.is_some_and(|checkout| link.refuses_start(&checkout, now)) {
        return Err(ApiError::conflict(
            "this payment link has expired: it can no longer be paid",
        ));
    }
    Ok(())
}

/// The languages the widget speaks, by the tags that name its tables (`www/locales/<tag>.json`);
/// the page speaks them too, and hands the one it chose to the widget.
const LANGUAGES: [&str; 10] = [
    "en", "zh-CN", "es", "fr", "de", "pt-BR", "ja", "ko", "ru", "ar",
];

/// The first language of `accept` (an `Accept-Language` header), by its weights, that the widget
/// speaks: the tag itself, else its language (`es-MX` is Spanish, `pt` Brazilian Portuguese);
/// Chinese only simplified (not `zh-TW`, `zh-HK`, `zh-MO`, `zh-Hant`), as the widget reads tags.
/// English otherwise.
pub fn language(accept: &str) -> &'static str {
    let mut ranges: Vec<(u16, usize, String)> = accept
        .split(',')
        .enumerate()
        .filter_map(|(at, range)| {
            let mut parts = range.split(';');
            let tag = parts.next()?.trim().replace('_', "-").to_ascii_lowercase();
            let weight = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .next()
                .map_or(Some(1000), weight)?;
            (weight > 0 && !tag.is_empty()).then_some((weight, at, tag))
        })
        .collect();
    ranges.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranges
        .iter()
        .find_map(|(_, _, tag)| spoken(tag))
        .unwrap_or("en")
}

/// A `q` value in thousandths (`0.8` is 800); `None` when it is no number from 0 to 1.
fn weight(q: &str) -> Option<u16> {
    let value: f64 = q.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

/// The widget's language for a lower-case tag, if it speaks one.
fn spoken(tag: &str) -> Option<&'static str> {
    let language = tag.split('-').next()?;
    let traditional = |s: &str| ["hant", "tw", "hk", "mo"].contains(&s);
    LANGUAGES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(tag))
        .or_else(|| match language {
            "zh" if tag.split('-').any(traditional) => None,
            _ => LANGUAGES
                .iter()
                .find(|l| l.split('-').next() == Some(language)),
        })
        .copied()
}

/// What the page says itself, in each of [`LANGUAGES`] (the widget says the rest).
struct Texts {
    expired: &'static str,
    ask_again: &'static str,
    paid: &'static str,
    needs_script: &'static str,
    not_found_title: &'static str,
    not_found: &'static str,
}

fn texts(language: &str) -> Texts {
    let [
        expired,
        ask_again,
        paid,
        needs_script,
        not_found_title,
        not_found,
    ] = match language {
        "zh-CN" => [
            "此付款链接已过期。",
            "请向商家索取新的链接。",
            "已收到此笔付款。",
            "在此付款需要 JavaScript。请为此页面启用它。",
            "未找到付款",
            "此地址没有付款。请检查您收到的链接。",
        ],
        "es" => [
            "Este enlace de pago ha caducado.",
            "Pide al comercio un enlace nuevo.",
            "Este pago se ha recibido.",
            "Para pagar aquí se necesita JavaScript. Actívalo para esta página.",
            "Pago no encontrado",
            "No hay ningún pago en esta dirección. Revisa el enlace que te dieron.",
        ],
        "fr" => [
            "Ce lien de paiement a expiré.",
            "Demandez un nouveau lien au marchand.",
            "Ce paiement a été reçu.",
            "Le paiement ici nécessite JavaScript. Activez-le pour cette page.",
            "Paiement introuvable",
            "Aucun paiement à cette adresse. Vérifiez le lien que vous avez reçu.",
        ],
        "de" => [
            "Dieser Zahlungslink ist abgelaufen.",
            "Bitten Sie den Händler um einen neuen Link.",
            "Diese Zahlung ist eingegangen.",
            "Zum Bezahlen wird JavaScript benötigt. Aktivieren Sie es für diese Seite.",
            "Zahlung nicht gefunden",
            "Unter dieser Adresse gibt es keine Zahlung. Prüfen Sie den Link, den Sie erhalten \
             haben.",
        ],
        "pt-BR" => [
            "Este link de pagamento expirou.",
            "Peça um novo link ao lojista.",
            "Este pagamento foi recebido.",
            "Para pagar aqui é preciso JavaScript. Ative-o nesta página.",
            "Pagamento não encontrado",
            "Não há pagamento neste endereço. Confira o link que você recebeu.",
        ],
        "ja" => [
            "この支払いリンクは有効期限が切れています。",
            "販売者に新しいリンクを依頼してください。",
            "この支払いは受領済みです。",
            "ここでのお支払いには JavaScript が必要です。このページで有効にしてください。",
            "お支払いが見つかりません",
            "このアドレスにお支払いはありません。受け取ったリンクをご確認ください。",
        ],
        "ko" => [
            "이 결제 링크는 만료되었습니다.",
            "판매자에게 새 링크를 요청해 주세요.",
            "이 결제는 수령되었습니다.",
            "여기에서 결제하려면 JavaScript가 필요합니다. 이 페이지에서 활성화해 주세요.",
            "결제를 찾을 수 없습니다",
            "이 주소에는 결제가 없습니다. 받은 링크를 확인해 주세요.",
        ],
        "ru" => [
            "Срок действия этой платёжной ссылки истёк.",
            "Попросите у продавца новую ссылку.",
            "Этот платёж получен.",
            "Для оплаты здесь нужен JavaScript. Включите его для этой страницы.",
            "Платёж не найден",
            "По этому адресу платежа нет. Проверьте ссылку, которую вы получили.",
        ],
        "ar" => [
            "انتهت صلاحية رابط الدفع هذا.",
            "اطلب رابطًا جديدًا من التاجر.",
            "تم استلام هذه الدفعة.",
            "يتطلب الدفع هنا JavaScript. فعّله لهذه الصفحة.",
            "لم يتم العثور على الدفعة",
            "لا توجد دفعة على هذا العنوان. تحقّق من الرابط الذي تلقيته.",
        ],
        _ => [
            "This payment link has expired.",
            "Ask the merchant for a new link.",
            "This payment has been received.",
            "Paying here needs JavaScript: turn it on for this page.",
            "Payment not found",
            "There is no payment at this address. Check the link you were given.",
        ],
    };
    Texts {
        expired,
        ask_again,
        paid,
        needs_script,
        not_found_title,
        not_found,
    }
}

/// The page's shell in `language`: its head, and `content` as its main landmark.
fn shell(language: &str, title: &str, with_widget: bool, content: Markup) -> String {
    let direction = if language == "ar" { "rtl" } else { "ltr" };
    html! {
        (DOCTYPE)
        html lang=(language) dir=(direction) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                meta name="referrer" content="no-referrer";
                meta name="robots" content="noindex";
                title { (title) }
                // No icon of its own, and none asked of `/favicon.ico` (a 404 in the console).
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(PATH_STYLESHEET);
                @if with_widget {
                    script type="module" src="/checkout/usdt-checkout.js" {}
                }
            }
            body { main { (content) } }
        }
    }
    .into_string()
}

/// The policy: the widget's module and wasm from `/checkout/`, its calls to this server and to
/// the gateway's public API, styles from files only, and nothing inline.
fn policy(app: &App) -> String {
    let gateway = &app.config.gateway_url;
    // The gateway's origin: its URL up to the path (checked to be http(s) at startup).
    let origin = gateway
        .find("://")
        .map(|at| at + 3)
        .and_then(|host| {
            gateway[host..]
                .find('/')
                .map(|path| &gateway[..host + path])
        })
        .unwrap_or(gateway);
    format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self' {origin}; form-action 'none'; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

fn respond(app: &App, status: StatusCode, language: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // What the page says changes with the link's state: no cache keeps it.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::VARY, HeaderValue::from_static("accept-language"));
    headers.insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(language));
    if let Ok(policy) = HeaderValue::from_str(&policy(app)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// `GET /pay/{id}`.
async fn page(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let language = language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default(),
    );
    let text = texts(language);
    let merchant = app.config.merchant_name.as_str();
    let link = app.checkouts.store().link(&id).await?;
    let checkout = match link {
        Some(_) => app.checkouts.load(&id).await?,
        None => None,
    };
    let (Some(link), Some(checkout)) = (link, checkout) else {
        let body = shell(
            language,
            text.not_found_title,
            false,
            html! {
                @if !merchant.is_empty() { p.merchant dir="auto" { (merchant) } }
                h1 { (text.not_found_title) }
                p { (text.not_found) }
            },
        );
        return Ok(respond(&app, StatusCode::NOT_FOUND, language, body));
    };
    let state = link.state(&checkout, now_ms());
    let expired = state == LinkState::Expired;
    let title = if merchant.is_empty() {
        checkout.description.clone()
    } else {
        format!("{} · {merchant}", checkout.description)
    };
    // The merchant's and the description's own direction, whatever the page's: a Latin name
    // in an Arabic page keeps its punctuation where it was written.
    let content = html! {
        @if !merchant.is_empty() { p.merchant dir="auto" { (merchant) } }
        h1 dir="auto" { (checkout.description) }
        p.amount { bdi { (checkout.price.amount) " " (checkout.price.currency) } }
        @if expired {
            div.notice role="status" {
                p { strong { (text.expired) } }
                p { (text.ask_again) }
            }
        } @else {
            @if state == LinkState::Paid {
                p.notice role="status" { strong { (text.paid) } }
            }
            usdt-checkout merchant-url="/" checkout-id=(checkout.id) locale=(language)
                gateway-url=(app.config.gateway_url) gateway-api=(app.config.gateway_api.dialect().name())
                theme="auto" {}
            noscript { p.notice { (text.needs_script) } }
        }
    };
    let body = shell(language, &title, !expired, content);
    Ok(respond(&app, StatusCode::OK, language, body))
}

/// `GET /pay/static/pay.css`.
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        include_str!("pay.css"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_language_is_the_first_by_weight_the_widget_speaks() {
        assert_eq!(language(""), "en");
        assert_eq!(language("es-MX,es;q=0.9,en;q=0.8"), "es");
        assert_eq!(language("en;q=0.5, fr;q=0.9"), "fr", "by weight");
        assert_eq!(language("fr;q=0, de"), "de", "q=0 is refused");
        assert_eq!(
            language("nl, pt"),
            "pt-BR",
            "a language it does not speak is skipped"
        );
        assert_eq!(
            language("zh-TW, ja"),
            "ja",
            "traditional Chinese is not spoken"
        );
        assert_eq!(language("zh-Hans-CN"), "zh-CN");
        assert_eq!(language("AR-eg"), "ar");
        assert_eq!(
            language("xx;q=abc, ko;q=0.1"),
            "ko",
            "a malformed weight is left out"
        );
        assert_eq!(language("*"), "en");
    }

    #[test]
    fn the_languages_are_the_widgets_tables() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../www/locales");
        let mut tables: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter_map(|name| name.strip_suffix(".json").map(str::to_owned))
            .collect();
        tables.sort();
        let mut spoken: Vec<String> = LANGUAGES.iter().map(|l| l.to_string()).collect();
        spoken.sort();
        assert_eq!(tables, spoken);
    }

    #[test]
    fn the_page_is_right_to_left_in_arabic_and_escapes_what_it_shows() {
        let page = shell("ar", "<b>x</b>", false, html! { p { "<script>" } });
        assert!(page.contains(r#"<html lang="ar" dir="rtl">"#), "{page}");
        assert!(!page.contains("<script>"), "{page}");
        assert!(shell("en", "t", false, html! {}).contains(r#"dir="ltr""#));
    }
}
