//! The audit log: every action, newest first, a page at a time, and its CSV export, streamed a
//! page at a time (never the whole log in memory).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::auth::Signed;
use super::layout::{self, Section, query_value};
use super::{Console, Refusal, csv};
use crate::clock::now_ms;
use crate::store::AuditRecord;

/// Entries a page shows.
const PAGE_SIZE: u32 = 50;
/// Entries read from the database at a time while exporting.
const EXPORT_BATCH: u32 = 500;

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<u64>,
    before_id: Option<String>,
}

fn or_dash(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("")
}

/// The audit log, newest first.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
    query: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, Refusal> {
    let Query(query) = query.map_err(|e| Refusal::bad_request(e.body_text()))?;
    let before = query.before.zip(query.before_id.as_deref());
    let mut records = console.store().audit_page(PAGE_SIZE + 1, before).await?;
    let more = records.len() > PAGE_SIZE as usize;
    records.truncate(PAGE_SIZE as usize);
    let next = more.then(|| records.last()).flatten().map(|last| {
        format!(
            "/console/audit?before={}&before_id={}",
            last.entry.at,
            query_value(&last.id)
        )
    });
    let content = html! {
        p { a.button href="/console/audit.csv" download { "Export the audit log as CSV" } }
        @if records.is_empty() {
            p.empty { "Nothing has been done yet." }
        } @else {
            div.table role="region" aria-labelledby="audit-caption" tabindex="0" {
                table {
                    caption #audit-caption { "Actions, newest first" }
                    thead {
                        tr {
                            th scope="col" { "When" }
                            th scope="col" { "Who" }
                            th scope="col" { "What" }
                            th scope="col" { "On" }
                            th scope="col" { "Before" }
                            th scope="col" { "After" }
                            th scope="col" { "Note" }
                        }
                    }
                    tbody {
                        @for record in &records {
                            @let e = &record.entry;
                            tr {
                                td { (layout::time(e.at)) }
                                td { (e.actor) @if let Some(client) = &e.client { br; small { (client) } } }
                                td { code { (e.action) } }
                                td { (or_dash(&e.subject)) }
                                td { (or_dash(&e.before)) }
                                td { (or_dash(&e.after)) }
                                td.description { (or_dash(&e.note)) }
                            }
                        }
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if before.is_some() { a href="/console/audit" { "Newest" } }
            @if let Some(next) = &next { a href=(next) rel="next" { "Older" } }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Audit,
        console.exceptions().await?,
        "Audit log",
        content,
    )
    .into_response())
}

/// The CSV's columns.
const HEADER: [&str; 9] = [
    "time", "actor", "client", "action", "subject", "before", "after", "note", "id",
];

/// One entry as a CSV line, each cell by [`csv::cell`].
pub fn csv_line(record: &AuditRecord) -> String {
    let e = &record.entry;
    let time = layout::rfc3339(e.at);
    csv::row([
        time.as_str(),
        &e.actor,
        or_dash(&e.client),
        &e.action,
        or_dash(&e.subject),
        or_dash(&e.before),
        or_dash(&e.after),
        or_dash(&e.note),
        &record.id,
    ])
}

/// Where an export has got to: the next batch starts after this entry.
enum Cursor {
    Start,
    After(u64, String),
    Done,
}

/// The whole audit log as CSV, newest first, read and sent a batch at a time. The export is
/// itself audited.
pub async fn export(
    State(console): State<Arc<Console>>,
    signed: Signed,
) -> Result<Response, Refusal> {
    let store = console.store().clone();
    store.audit(&signed.entry("audit.export", None)).await?;
    let header = Bytes::from(csv::row(HEADER));
    let batches =
        futures_util::stream::unfold((store, Cursor::Start), |(store, cursor)| async move {
            let before = match &cursor {
                Cursor::Start => None,
                Cursor::After(at, id) => Some((*at, id.as_str())),
                Cursor::Done => return None,
            };
            match store.audit_page(EXPORT_BATCH, before).await {
                Ok(records) => {
                    let next = match records.last() {
                        Some(last) if records.len() == EXPORT_BATCH as usize => {
                            Cursor::After(last.entry.at, last.id.clone())
                        }
                        _ => Cursor::Done,
                    };
                    let text: String = records.iter().map(csv_line).collect();
                    Some((Ok(Bytes::from(text)), (store, next)))
                }
                // The response has begun: a failure can only cut it short, which the client
                // sees as an incomplete download.
                Err(e) => {
                    tracing::error!("console: exporting the audit log: {e}");
                    Some((
                        Err(std::io::Error::other(e.to_string())),
                        (store, Cursor::Done),
                    ))
                }
            }
        });
    let body = futures_util::stream::iter([Ok::<_, std::io::Error>(header)]);
    let name = format!(
        "attachment; filename=\"audit-{}.csv\"",
        layout::rfc3339(now_ms()).get(..10).unwrap_or("log")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        Body::from_stream(futures_util::StreamExt::chain(body, batches)),
    )
        .into_response())
}
