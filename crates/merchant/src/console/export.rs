//! Exports for the merchant's accounting: CSV of the orders created, and of the chain payments
//! received, in a range of days (UTC). Each streams a page of rows at a time from the store, so
//! a hundred thousand orders never sit in memory; each is audited, with its range. Viewers may
//! export: it reads, and changes nothing.

use std::future::Future;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use usdt_checkout_protocol::{ChainId, ChainRegistry, TxHash, format_units};

use super::auth::Signed;
use super::export_refunds::{of_checkout, of_payment, refunds_cell};
use super::layout::{self, Section};
use super::{Console, Refusal, csv};
use crate::clock::now_ms;
use crate::domain::Checkout;
use crate::store::{ExportedPayment, ExportedRefund, PaymentCursor, StoreError};

/// Rows read from the database at a time.
const BATCH: u32 = 500;
const DAY_MS: u64 = 86_400_000;
/// The range the page offers first: the last 30 days, today included.
const DEFAULT_DAYS: u64 = 30;

/// Days from 1970-01-01 to a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A `YYYY-MM-DD` date (as a date input sends it) as Unix ms at its start, UTC; `None` for what
/// is not a real date since 1970.
pub fn date_ms(text: &str) -> Option<u64> {
    let mut parts = text.trim().splitn(3, '-');
    let year: i64 = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month: u32 = parts.next().filter(|m| m.len() == 2)?.parse().ok()?;
    let day: u32 = parts.next().filter(|d| d.len() == 2)?.parse().ok()?;
    let days = days_from_civil(year, month, day);
    let ms = u64::try_from(days).ok()? * DAY_MS;
    // A day past its month's end (`2026-02-30`) is read back as another date: refused.
    (layout::rfc3339(ms).get(..10) == Some(text.trim())).then_some(ms)
}

/// A range of whole days, UTC: from the start of `from` to the end of `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub from: String,
    pub to: String,
    /// Unix ms, `start` included, `end` not.
    pub start: u64,
    pub end: u64,
}

/// The range asked for, each end defaulting to the last [`DEFAULT_DAYS`] days to `now`.
pub fn range(from: Option<&str>, to: Option<&str>, now: u64) -> Result<Range, String> {
    let today = now - now % DAY_MS;
    let read = |text: Option<&str>, default: u64, name: &str| match text.map(str::trim) {
        None | Some("") => Ok(default),
        Some(text) => date_ms(text).ok_or_else(|| format!("{name} {text:?} is not a date")),
    };
    let start = read(
        from,
        today.saturating_sub((DEFAULT_DAYS - 1) * DAY_MS),
        "From",
    )?;
    let last = read(to, today, "To")?;
    if start > last {
        return Err("The range ends before it starts.".to_owned());
    }
    let date = |ms: u64| layout::rfc3339(ms).get(..10).unwrap_or_default().to_owned();
    Ok(Range {
        from: date(start),
        to: date(last),
        start,
        end: last + DAY_MS,
    })
}

/// The orders CSV's columns.
pub const ORDERS_HEADER: [&str; 15] = [
    "order_id",
    "created_at",
    "state",
    "description",
    "customer_reference",
    "fiat_amount",
    "fiat_currency",
    "token",
    "chain",
    "amount_asked",
    "amount_paid",
    "shortfall",
    "transactions",
    "refunds",
    "gateway_order",
];

/// One order as a CSV line: its price as priced at creation, the token amounts as decimals of
/// the token, what the payment fell short of the amount asked when accepted within the token's
/// tolerance (0 when paid in full), every transaction known to pay it (the chain's and the
/// gateway's, once each). `network` names a chain as the console does.
pub fn order_line(
    checkout: &Checkout,
    registry: &ChainRegistry,
    network: impl Fn(ChainId) -> String,
    refunds: &[ExportedRefund],
) -> String {
    let ask = super::timeline::ask(checkout, registry);
    let decimals = ask.as_ref().and_then(|(_, _, decimals, _)| *decimals);
    let refunds = refunds_cell(refunds, decimals);
    let (token, chain, asked, paid, shortfall) = match ask {
        Some((chain, symbol, Some(decimals), pay)) => (
            symbol,
            network(chain),
            format_units(pay, decimals),
            format_units(checkout.paid_atomic, decimals),
            format_units(checkout.shortfall_atomic, decimals),
        ),
        Some((chain, symbol, None, _)) => (
            symbol,
            network(chain),
            String::new(),
            String::new(),
            String::new(),
        ),
        None => Default::default(),
    };
    let mut transactions: Vec<&TxHash> = vec![];
    let known = checkout
        .chain_payments
        .iter()
        .map(|p| &p.tx_id)
        .chain(&checkout.tx_hashes)
        .chain(&checkout.gateway.tx_hashes);
    for tx in known {
        if !transactions.contains(&tx) {
            transactions.push(tx);
        }
    }
    let transactions = transactions
        .iter()
        .map(|tx| tx.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let gateway_order = checkout
        .terms
        .as_ref()
        .map(|t| t.gateway_order_no.as_str())
        .unwrap_or_default();
    csv::row([
        checkout.id.as_str(),
        &layout::rfc3339(checkout.created_at),
        checkout.state.as_str(),
        &checkout.description,
        checkout.reference.as_deref().unwrap_or_default(),
        &checkout.price.amount.to_string(),
        &checkout.price.currency,
        &token,
        &chain,
        &asked,
        &paid,
        &shortfall,
        &transactions,
        &refunds,
        gateway_order,
    ])
}

/// The payments CSV's columns.
pub const PAYMENTS_HEADER: [&str; 11] = [
    "time",
    "chain",
    "token",
    "amount",
    "transaction",
    "log_index",
    "payer",
    "block",
    "order_id",
    "state",
    "refunds",
];

/// What became of a payment: counted for an order (`attached`, or `claimed` on a shopper's
/// word), or not (`unmatched`, or `under_review` while a shopper's claim waits).
pub fn payment_state(exported: &ExportedPayment) -> &'static str {
    match (
        &exported.checkout_id,
        exported.claimed,
        exported.under_review,
    ) {
        (Some(_), true, _) => "claimed",
        (Some(_), false, _) => "attached",
        (None, _, true) => "under_review",
        (None, _, false) => "unmatched",
    }
}

/// One chain payment as a CSV line; a token the configuration no longer names is given by its
/// contract, its amount in atomic units.
pub fn payment_line(
    exported: &ExportedPayment,
    registry: &ChainRegistry,
    network: impl Fn(ChainId) -> String,
    refunds: &[ExportedRefund],
) -> String {
    let p = &exported.payment;
    let token = registry
        .get(exported.chain)
        .and_then(|c| c.tokens.iter().find(|t| t.contract == p.token));
    let (symbol, amount) = match token {
        Some(t) => (t.symbol.clone(), format_units(p.value, t.decimals)),
        None => (p.token.to_string(), p.value.to_string()),
    };
    let source = (exported.chain.0, p.tx_id.as_str(), p.log_index);
    let refunds = refunds_cell(of_payment(refunds, source), token.map(|t| t.decimals));
    csv::row([
        layout::rfc3339(p.timestamp_ms).as_str(),
        &network(exported.chain),
        &symbol,
        &amount,
        p.tx_id.as_str(),
        &p.log_index.to_string(),
        &p.from.to_string(),
        &p.block_number.to_string(),
        exported.checkout_id.as_deref().unwrap_or_default(),
        payment_state(exported),
        &refunds,
    ])
}

#[derive(Deserialize)]
pub struct RangeQuery {
    from: Option<String>,
    to: Option<String>,
}

fn asked_range(query: Result<Query<RangeQuery>, QueryRejection>) -> Result<Range, Refusal> {
    let Query(query) = query.map_err(|e| Refusal::bad_request(e.body_text()))?;
    range(query.from.as_deref(), query.to.as_deref(), now_ms()).map_err(Refusal::bad_request)
}

/// The page: a range of days, the last 30 first, and a button for each export.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let range = asked_range(query)?;
    let content = html! {
        p {
            "Orders created, or payments received into your receiving addresses (matched to an \
             order or not), in a range of days. Days are in UTC; both ends are included. Amounts \
             are decimals of the token; fiat amounts are as priced when the order was made."
        }
        form.filters method="get" action="/console/export/orders.csv" {
            p {
                label for="from" { "From" }
                input #from type="date" name="from" value=(range.from) required;
            }
            p {
                label for="to" { "To" }
                input #to type="date" name="to" value=(range.to) required;
            }
            p { button type="submit" { "Export orders" } }
            p {
                button type="submit" formaction="/console/export/payments.csv" {
                    "Export payments"
                }
            }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Export,
        console.exceptions().await?,
        "Export",
        content,
    )
    .into_response())
}

/// The orders created in the range, oldest first, as CSV.
pub async fn orders(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let range = asked_range(query)?;
    audit(&console, &signed, "export.orders", &range).await?;
    let app = console.app.clone();
    let store = console.store().clone();
    let (start, end) = (range.start, range.end);
    let next = move |after: Option<(u64, String)>| {
        let (app, store) = (app.clone(), store.clone());
        async move {
            let after_ref = after.as_ref().map(|(at, id)| (*at, id.as_str()));
            let orders = store.orders_created(start, end, after_ref, BATCH).await?;
            let ids: Vec<String> = orders.iter().map(|c| c.id.clone()).collect();
            let refunds = store.refunds_of_checkouts(&ids).await?;
            let text = orders
                .iter()
                .map(|c| {
                    let theirs: Vec<ExportedRefund> =
                        of_checkout(&refunds, &c.id).cloned().collect();
                    let network = |chain| app.network_name(chain);
                    order_line(c, &app.config.registry, network, &theirs)
                })
                .collect();
            let next = (orders.len() == BATCH as usize)
                .then(|| orders.last().map(|c| Some((c.created_at, c.id.clone()))))
                .flatten();
            Ok((text, next))
        }
    };
    Ok(streamed(
        &format!("orders-{}-{}", range.from, range.to),
        &ORDERS_HEADER,
        None,
        next,
    ))
}

/// The chain payments mined in the range, oldest first, as CSV.
pub async fn payments(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<RangeQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let range = asked_range(query)?;
    audit(&console, &signed, "export.payments", &range).await?;
    let app = console.app.clone();
    let store = console.store().clone();
    let (start, end) = (range.start, range.end);
    let next = move |after: Option<PaymentCursor>| {
        let (app, store) = (app.clone(), store.clone());
        async move {
            let payments = store
                .payments_mined(start, end, after.as_ref(), BATCH)
                .await?;
            let txs: Vec<String> = payments
                .iter()
                .map(|p| p.payment.tx_id.as_str().to_owned())
                .collect();
            let refunds = store.refunds_of_sources(&txs).await?;
            let text = payments
                .iter()
                .map(|p| {
                    let network = |chain| app.network_name(chain);
                    payment_line(p, &app.config.registry, network, &refunds)
                })
                .collect();
            let next = (payments.len() == BATCH as usize)
                .then(|| {
                    payments.last().map(|last| {
                        let p = &last.payment;
                        Some((
                            p.timestamp_ms,
                            last.chain.0,
                            p.tx_id.as_str().to_owned(),
                            p.log_index,
                        ))
                    })
                })
                .flatten();
            Ok((text, next))
        }
    };
    Ok(streamed(
        &format!("payments-{}-{}", range.from, range.to),
        &PAYMENTS_HEADER,
        None,
        next,
    ))
}

/// An export is an action: who exported what, and which days.
async fn audit(
    console: &Console,
    signed: &Signed,
    action: &str,
    range: &Range,
) -> Result<(), Refusal> {
    let mut entry = signed.entry(action, None);
    entry.note = Some(format!("{} to {}", range.from, range.to));
    console.store().audit(&entry).await?;
    Ok(())
}

/// A CSV attachment named `name`: its header, then what `next` reads a batch at a time from
/// `first`, each batch giving the cursor of the next (`None` when it was the last).
fn streamed<C, F, Fut>(name: &str, header: &[&str], first: C, next: F) -> Response
where
    C: Send + 'static,
    F: Fn(C) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(String, Option<C>), StoreError>> + Send + 'static,
{
    let head = Bytes::from(csv::row(header.iter().copied()));
    let batches = futures_util::stream::unfold((next, Some(first)), |(next, cursor)| async move {
        let cursor = cursor?;
        match next(cursor).await {
            Ok((text, cursor)) => Some((Ok(Bytes::from(text)), (next, cursor))),
            // The response has begun: a failure can only cut it short, which the client
            // sees as an incomplete download.
            Err(e) => {
                tracing::error!("console: exporting: {e}");
                Some((Err(std::io::Error::other(e.to_string())), (next, None)))
            }
        }
    });
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(head)]);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        Body::from_stream(futures_util::StreamExt::chain(body, batches)),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CreatedBy, PaymentTerms, Price};
    use usdt_checkout_chain::PaymentKind;

    const DEC_7_2026: u64 = 1_796_601_600_000;

    #[test]
    fn dates_are_whole_utc_days_and_only_real_ones() {
        assert_eq!(date_ms("1970-01-01"), Some(0));
        assert_eq!(date_ms("2026-12-07"), Some(DEC_7_2026));
        assert_eq!(date_ms("2000-02-29"), Some(951_782_400_000));
        for wrong in [
            "2026-02-30",
            "2026-13-01",
            "26-12-07",
            "2026-1-07",
            "",
            "x",
            "1969-12-31",
        ] {
            assert_eq!(date_ms(wrong), None, "{wrong}");
        }
    }

    #[test]
    fn a_range_defaults_to_the_last_30_days_and_includes_both_ends() {
        let now = DEC_7_2026 + 15 * 3_600_000;
        let last_30 = range(None, Some(""), now).unwrap();
        assert_eq!(
            (last_30.from.as_str(), last_30.to.as_str()),
            ("2026-11-08", "2026-12-07")
        );
        assert_eq!(last_30.start, DEC_7_2026 - 29 * DAY_MS);
        assert_eq!(last_30.end, DEC_7_2026 + DAY_MS, "today included");
        let one_day = range(Some("2026-12-07"), Some("2026-12-07"), now).unwrap();
        assert_eq!(
            (one_day.start, one_day.end),
            (DEC_7_2026, DEC_7_2026 + DAY_MS)
        );
        assert!(range(Some("2026-12-08"), Some("2026-12-07"), now).is_err());
        assert!(
            range(Some("yesterday"), None, now)
                .unwrap_err()
                .contains("not a date")
        );
    }

    fn usdt() -> (ChainRegistry, ChainId, usdt_checkout_protocol::Address) {
        let registry = ChainRegistry::builtin();
        let chain = ChainId(31337);
        let contract = registry.token(chain, "USDT").unwrap().contract;
        (registry, chain, contract)
    }

    #[test]
    fn an_order_line_has_its_fiat_price_its_token_amounts_exact_and_each_transaction_once() {
        let (registry, chain, contract) = usdt();
        let mut checkout = Checkout::open(
            "co_1".into(),
            CreatedBy::Storefront,
            "=cmd|' /C calc'!A0, <script>".into(),
            Price {
                amount: "25.50".parse().unwrap(),
                currency: "EUR".into(),
            },
        );
        checkout.created_at = DEC_7_2026 + 1;
        checkout.reference = Some("ref-1".into());
        let hash = |b: &str| format!("0x{}", b.repeat(32)).parse::<TxHash>().unwrap();
        assert_eq!(
            order_line(&checkout, &registry, |_| "Local".into(), &[]),
            "co_1,2026-12-07T00:00:00.001Z,open,\"'=cmd|' /C calc'!A0, <script>\",ref-1,25.50,EUR,,,,,,,,\r\n"
        );
        checkout.terms = Some(PaymentTerms {
            chain_id: chain,
            symbol: "USDT".into(),
            token_contract: contract,
            decimals: 6,
            amount_atomic: 27_000_000,
            gateway_order_no: "g-1".into(),
            plat_order_no: String::new(),
            pay_amount_atomic: 27_000_123,
            to_address: contract,
            cashier_url: String::new(),
            expires_at: 0,
            required_confirmations: 1,
        });
        checkout.paid_atomic = 100_000_000_000_000_000_001;
        checkout.tx_hashes = vec![hash("ab"), hash("cd")];
        checkout.gateway.tx_hashes = vec![hash("cd")];
        let line = order_line(&checkout, &registry, |c| format!("chain {}", c.0), &[]);
        assert!(
            line.ends_with(&format!(
                ",25.50,EUR,USDT,chain 31337,27.000123,100000000000000.000001,0,{} {},,g-1\r\n",
                hash("ab").as_str(),
                hash("cd").as_str()
            )),
            "{line}"
        );
    }

    #[test]
    fn a_payment_line_says_whose_it_is() {
        let (registry, chain, contract) = usdt();
        let mut exported = ExportedPayment {
            chain,
            payment: crate::domain::ChainPayment {
                tx_id: format!("0x{}", "ef".repeat(32)).parse().unwrap(),
                log_index: 3,
                block_number: 70,
                block_hash: String::new(),
                from: contract,
                to: contract,
                token: contract,
                value: 24_500_001,
                kind: PaymentKind::Transfer,
                order_no: None,
                timestamp_ms: DEC_7_2026,
            },
            checkout_id: None,
            claimed: false,
            under_review: false,
        };
        let line = payment_line(&exported, &registry, |_| "Local".into(), &[]);
        assert_eq!(
            line,
            format!(
                "2026-12-07T00:00:00.000Z,Local,USDT,24.500001,0x{},3,{contract},70,,unmatched,\r\n",
                "ef".repeat(32)
            )
        );
        exported.under_review = true;
        assert_eq!(payment_state(&exported), "under_review");
        exported.checkout_id = Some("co_1".into());
        assert_eq!(payment_state(&exported), "attached");
        exported.claimed = true;
        assert_eq!(payment_state(&exported), "claimed");
        exported.payment.token = "0x00000000000000000000000000000000000000bb"
            .parse()
            .unwrap();
        let unknown = payment_line(&exported, &registry, |_| "Local".into(), &[]);
        assert!(
            unknown
                .to_lowercase()
                .contains(&format!(",0x{}bb,24500001,", "0".repeat(38))),
            "{unknown}"
        );
    }
}
