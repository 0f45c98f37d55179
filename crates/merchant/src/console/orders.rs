//! Orders: the list (a state to filter by, a search box, newest first, by pages, the fiat
//! amount first), one order's page with its notes, and adding a note (operators).

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;
use usdt_checkout_protocol::checkout::{CheckoutState, CheckoutView};
use usdt_checkout_protocol::{Address, OrderStatus, TxHash, format_units, parse_units};

use super::auth::{Operator, Signed};
pub use super::layout::state_label;
use super::layout::{self, Section, query_value};
use super::{Console, Refusal, see_other, timeline};
use crate::domain::Checkout;
use crate::store::OrderSearch;

/// Orders a page shows.
pub const PAGE_SIZE: u32 = 50;
/// The longest note.
const MAX_NOTE_CHARS: usize = 2000;

/// What the search box's `text` can be read as, each of them tried: an id or reference (always),
/// a transaction hash, a payer's address, an amount (a price, or a token amount in each of
/// `decimals`). `None` for an empty box.
pub fn search(text: &str, decimals: &[u8]) -> Option<OrderSearch> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let is_amount = text.bytes().any(|b| b.is_ascii_digit())
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    let price = is_amount.then(|| match text.split_once('.') {
        Some((whole, fraction)) => match fraction.trim_end_matches('0') {
            "" => whole.to_owned(),
            fraction => format!("{whole}.{fraction}"),
        },
        None => text.to_owned(),
    });
    let token_amounts = if is_amount {
        decimals
            .iter()
            .filter_map(|d| Some((*d, parse_units(text, *d).ok()?.to_string())))
            .collect()
    } else {
        vec![]
    };
    Some(OrderSearch {
        text: text.to_owned(),
        tx_hash: text.parse::<TxHash>().ok().map(|h| h.as_str().to_owned()),
        payer: text.parse::<Address>().ok().map(|a| a.to_string()),
        price,
        token_amounts,
    })
}

fn states() -> impl Iterator<Item = CheckoutState> {
    std::iter::once(CheckoutState::OPEN).chain(OrderStatus::ALL.map(CheckoutState::Order))
}

#[derive(Deserialize)]
pub struct OrdersQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    q: String,
    /// The next page: the last order seen's creation (Unix ms) and id.
    before: Option<u64>,
    before_id: Option<String>,
}

/// The orders, newest first, a page at a time.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(query) = query.map_err(|e| Refusal::bad_request(e.body_text()))?;
    let state = match query.state.as_str() {
        "" => None,
        name => Some(
            CheckoutState::from_name(name)
                .ok_or_else(|| Refusal::bad_request(format!("{name:?} is not an order state")))?,
        ),
    };
    let before = query.before.map(|at| (at, query.before_id.clone()));
    let older = before.is_some();
    let app = &console.app;
    let mut decimals: Vec<u8> = app
        .config
        .registry
        .chains()
        .flat_map(|c| c.tokens.iter().map(|t| t.decimals))
        .collect();
    decimals.sort_unstable();
    decimals.dedup();
    let mut found = match search(&query.q, &decimals) {
        None => app.checkouts.list(state, PAGE_SIZE + 1, before).await?,
        Some(search) => {
            console
                .store()
                .search(state, &search, PAGE_SIZE + 1, before)
                .await?
        }
    };
    let more = found.len() > PAGE_SIZE as usize;
    found.truncate(PAGE_SIZE as usize);
    let rows: Vec<(Checkout, CheckoutView)> = found
        .into_iter()
        .map(|listed| {
            // The cache holds the chain payments; the list query does not read them.
            let checkout = app
                .checkouts
                .cached(&listed.id)
                .map_or(listed, |c| c.as_ref().clone());
            let view = app.view(&checkout);
            (checkout, view)
        })
        .collect();
    let filter = format!(
        "state={}&q={}",
        query_value(&query.state),
        query_value(query.q.trim())
    );
    let next = more.then(|| rows.last()).flatten().map(|(last, _)| {
        format!(
            "/console/orders?{filter}&before={}&before_id={}",
            last.created_at,
            query_value(&last.id)
        )
    });
    let content = html! {
        form.filters method="get" action="/console/orders" role="search" {
            p {
                label for="state" { "State" }
                select #state name="state" {
                    option value="" selected[state.is_none()] { "Any state" }
                    @for s in states() {
                        option value=(s.as_str()) selected[state == Some(s)] {
                            (state_label(s.as_str()))
                        }
                    }
                }
            }
            p.grow {
                label for="q" { "Search" }
                input #q type="search" name="q" value=(query.q.trim())
                    aria-describedby="q-hint" autocomplete="off" spellcheck="false";
                span #q-hint .hint {
                    "An order id or reference, a transaction hash, an amount or a payer's address."
                }
            }
            p { button type="submit" { "Show" } }
        }
        @if rows.is_empty() {
            p.empty data-live-slot="orders" { "No orders match." }
        } @else {
            div.table role="region" aria-labelledby="orders-caption" tabindex="0" data-live-slot="orders" {
                table {
                    caption #orders-caption data-live="orders-caption" {
                        "Orders, newest first"
                        @if older { " (older page)" }
                    }
                    thead {
                        tr {
                            th scope="col" { "Amount" }
                            th scope="col" { "Token" }
                            th scope="col" { "Paid" }
                            th scope="col" { "State" }
                            th scope="col" { "Order" }
                            th scope="col" { "Description" }
                            th scope="col" { "Created" }
                        }
                    }
                    tbody data-live="orders" {
                        @for (checkout, view) in &rows {
                            (row(checkout, view))
                        }
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if older {
                a href={ "/console/orders?" (filter) } { "Newest" }
            }
            @if let Some(next) = &next {
                a href=(next) rel="next" { "Older" }
            }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Orders,
        console.exceptions().await?,
        "Orders",
        content,
    )
    .into_response())
}

fn row(checkout: &Checkout, view: &CheckoutView) -> Markup {
    let payment = view.payment.as_ref();
    html! {
        tr data-key=(checkout.id) {
            td.amount { strong { (view.price.amount) " " (view.price.currency) } }
            td {
                @if let Some(p) = payment {
                    (p.amount) " " (p.symbol) br; small { (p.network) }
                } @else { "—" }
            }
            td {
                @if let Some(p) = payment { (p.paid) " " (p.symbol) } @else { "—" }
            }
            td { span.state data-state=(view.state.as_str()) { (state_label(view.state.as_str())) } }
            td {
                a href={ "/console/orders/" (query_value(&checkout.id)) } { code { (checkout.id) } }
                @if let Some(reference) = &checkout.reference {
                    br; small { "Ref. " (reference) }
                }
            }
            td.description { (checkout.description) }
            td { (layout::time(checkout.created_at)) }
        }
    }
}

/// One order: its amount first, what it asked and what was paid, then its whole history as
/// one timeline (see the timeline module), and a form to add a note for those who may act.
pub async fn order(
    State(console): State<Arc<Console>>,
    signed: Signed,
    Path(id): Path<String>,
) -> Result<Response, Refusal> {
    let app = &console.app;
    let checkout = app
        .checkouts
        .load(&id)
        .await?
        .ok_or_else(|| Refusal::not_found(format!("There is no order {id:?}.")))?;
    let view = app.view(&checkout);
    let store = console.store();
    let audit = store.audit_of(&checkout.id, 500).await?;
    let history = store.order_history(&checkout).await?;
    let chain = checkout
        .terms
        .as_ref()
        .map(|t| t.chain_id)
        .or(checkout.asked.as_ref().map(|a| a.chain_id));
    let head = match chain {
        Some(chain) => store
            .cursor(chain)
            .await?
            .and_then(|c| c.next_block.checked_sub(1)),
        None => None,
    };
    let network = |chain| app.network_name(chain);
    let entries = timeline::timeline(
        &checkout,
        &timeline::Facts {
            history: &history,
            audit: &audit,
            registry: &app.config.registry,
            network: &network,
            head,
            receipt: app
                .receipt(&checkout)
                .map(|_| timeline::receipt_path(&checkout.id)),
        },
    );
    let may_act = signed.role.may(crate::staff::Permission::Act);
    let refunds = super::refunds::of_order(&console, &signed, &checkout).await?;
    let content = html! {
        dl.facts data-live="order-facts" {
            dt { "Amount" } dd { strong { (view.price.amount) " " (view.price.currency) } }
            dt { "State" } dd { (state_label(view.state.as_str())) }
            dt { "Description" } dd { (checkout.description) }
            @if let Some(reference) = &checkout.reference {
                dt { "Reference" } dd { (reference) }
            }
            @if let Some(p) = &view.payment {
                dt { "Asked" } dd { (p.amount) " " (p.symbol) " on " (p.network) }
                dt { "Paid" } dd { (p.paid) " " (p.symbol) }
                @if let Some(short) = shortfall_note(&checkout) {
                    dt { "Shortfall" } dd { strong { (short) } }
                }
            }
            @if let Some(disagreement) = &checkout.disagreement {
                dt { "Disagreement" } dd { (disagreement) }
            }
        }
        (refunds)
        h2 { "Timeline" }
        (timeline::render(&entries))
        @if may_act {
            form.note method="post" action={ "/console/orders/" (query_value(&checkout.id)) "/notes" } {
                input type="hidden" name="csrf" value=(signed.csrf);
                p {
                    label for="note" { "Add a note" }
                    textarea #note name="note" rows="3" maxlength=(MAX_NOTE_CHARS) required {}
                }
                p { button type="submit" { "Add note" } }
            }
        }
    };
    let title = format!(
        "{} {} · order {}",
        view.price.amount, view.price.currency, checkout.id
    );
    Ok(layout::page(
        &console,
        &signed,
        Section::Orders,
        console.exceptions().await?,
        &title,
        content,
    )
    .into_response())
}

/// "Accepted short by 1 USDT (within tolerance)", for an order whose payment fell short of the
/// amount asked and was accepted within the token's underpayment tolerance; `None` otherwise.
pub fn shortfall_note(checkout: &Checkout) -> Option<String> {
    let terms = checkout.terms.as_ref()?;
    (checkout.shortfall_atomic > 0).then(|| {
        format!(
            "Accepted short by {} {} (within tolerance)",
            format_units(checkout.shortfall_atomic, terms.decimals),
            terms.symbol
        )
    })
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    note: String,
}

/// Adds a note to an order (operators and owners): audited, with the order's state before and
/// after (the same: a note changes nothing else).
pub async fn add_note(
    State(console): State<Arc<Console>>,
    Operator(signed): Operator,
    Path(id): Path<String>,
    Form(form): Form<NoteForm>,
) -> Result<Response, Refusal> {
    let note = form.note.trim();
    if note.is_empty() || note.chars().count() > MAX_NOTE_CHARS {
        return Err(Refusal::bad_request(format!(
            "A note has 1 to {MAX_NOTE_CHARS} characters."
        )));
    }
    let checkout = console
        .app
        .checkouts
        .load(&id)
        .await?
        .ok_or_else(|| Refusal::not_found(format!("There is no order {id:?}.")))?;
    let mut entry = signed.entry("order.note", Some(&checkout.id));
    entry.before = Some(checkout.state.as_str().into());
    entry.after = Some(checkout.state.as_str().into());
    entry.note = Some(note.to_owned());
    console.store().audit(&entry).await?;
    Ok(see_other(&format!(
        "/console/orders/{}",
        query_value(&checkout.id)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_box_is_read_every_way_it_can_be() {
        assert_eq!(search("  ", &[6, 18]), None);
        let id = search(" co_ab12 ", &[6]).unwrap();
        assert_eq!(id.text, "co_ab12");
        assert_eq!((id.tx_hash, id.payer, id.price), (None, None, None));
        assert!(id.token_amounts.is_empty());

        let hash = format!("0x{}", "AB".repeat(32));
        let found = search(&hash, &[6]).unwrap();
        assert_eq!(
            found.tx_hash,
            Some(hash.to_lowercase()),
            "lower case, as kept"
        );
        assert_eq!(found.payer, None);

        let address = "0x52908400098527886e0f7030069857d2e4169ee7";
        let found = search(address, &[6]).unwrap();
        assert_eq!(
            found.payer.as_deref(),
            Some("0x52908400098527886E0F7030069857D2E4169EE7"),
            "checksummed, as kept"
        );

        let amount = search("25.50", &[6, 18]).unwrap();
        assert_eq!(amount.price.as_deref(), Some("25.5"));
        assert_eq!(
            amount.token_amounts,
            vec![
                (6, "25500000".to_owned()),
                (18, "25500000000000000000".to_owned())
            ]
        );
        assert_eq!(search("25.00", &[6]).unwrap().price.as_deref(), Some("25"));
        assert_eq!(search("12", &[6]).unwrap().price.as_deref(), Some("12"));
        let precise = search("0.0000001", &[6, 18]).unwrap();
        assert_eq!(
            precise.token_amounts,
            vec![(18, "100000000000".to_owned())],
            "too precise for 6 decimals"
        );
        for not_amount in ["1.2.3", ".5", "5.", "1e5", "-1", "."] {
            let found = search(not_amount, &[6]).unwrap();
            assert_eq!(found.price, None, "{not_amount}");
            assert!(found.token_amounts.is_empty(), "{not_amount}");
        }
    }

    #[test]
    fn states_read_as_words() {
        assert_eq!(state_label("partially_paid"), "Partially paid");
        assert_eq!(state_label("open"), "Open");
        assert_eq!(states().count(), 8);
    }

    #[test]
    fn an_order_accepted_short_says_by_how_much() {
        use crate::domain::{CreatedBy, PaymentTerms, Price};
        let mut checkout = Checkout::open(
            "co_1".into(),
            CreatedBy::Widget,
            "T-shirt".into(),
            Price {
                amount: "25".parse().unwrap(),
                currency: "USDT".into(),
            },
        );
        checkout.shortfall_atomic = 1_000_000;
        assert_eq!(shortfall_note(&checkout), None, "no terms, no token");
        let contract = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
            .parse()
            .unwrap();
        checkout.terms = Some(PaymentTerms {
            chain_id: usdt_checkout_protocol::ChainId::LOCAL,
            symbol: "USDT".into(),
            token_contract: contract,
            decimals: 6,
            amount_atomic: 25_000_000,
            gateway_order_no: "co_1".into(),
            plat_order_no: String::new(),
            pay_amount_atomic: 25_000_000,
            to_address: contract,
            cashier_url: String::new(),
            expires_at: 0,
            required_confirmations: 1,
        });
        assert_eq!(
            shortfall_note(&checkout).as_deref(),
            Some("Accepted short by 1 USDT (within tolerance)")
        );
        checkout.shortfall_atomic = 0;
        assert_eq!(shortfall_note(&checkout), None, "paid in full");
    }
}
