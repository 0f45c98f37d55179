//! The page shell every console page is drawn in: landmarks, a skip link, the navigation and
//! who is signed in; and what pages share: times, links with a query.

use maud::{DOCTYPE, Markup, html};

use super::auth::Signed;
use super::{Console, Page};

/// The sections in the navigation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Orders,
    Exceptions,
    Refunds,
    Links,
    Export,
    Audit,
    Settings,
}

const SECTIONS: [(Section, &str, &str); 7] = [
    (Section::Orders, "Orders", "/console/orders"),
    (Section::Exceptions, "Exceptions", "/console/exceptions"),
    (Section::Refunds, "Refunds", "/console/refunds"),
    (Section::Links, "Payment links", "/console/links"),
    (Section::Export, "Export", "/console/export"),
    (Section::Audit, "Audit", "/console/audit"),
    (Section::Settings, "Settings", "/console/settings"),
];

fn head(merchant: &str, title: &str) -> Markup {
    let site = if merchant.is_empty() {
        "Console".to_owned()
    } else {
        format!("{merchant} console")
    };
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        meta name="color-scheme" content="light dark";
        meta name="referrer" content="no-referrer";
        title { (title) " · " (site) }
        link rel="icon" type="image/svg+xml" href="/console/static/icon.svg";
        link rel="stylesheet" href="/console/static/console.css";
        script src="/console/static/console.js" defer {}
    }
}

/// What the navigation counts: the open exceptions, and the refunds requested, waiting for a
/// decision (see [`Console::exceptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Waiting {
    pub exceptions: u64,
    pub refunds: u64,
}

/// A page for a signed-in member of staff, in `section`; `waiting` is what the navigation
/// counts.
pub fn page(
    console: &Console,
    signed: &Signed,
    section: Section,
    waiting: Waiting,
    title: &str,
    content: Markup,
) -> Page {
    let merchant = &console.app.config.merchant_name;
    Page(html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(merchant, title)) }
            body data-feed=(signed.feed) {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    p.brand {
                        @if merchant.is_empty() { "Console" } @else { (merchant) " console" }
                    }
                    nav aria-label="Console" {
                        ul {
                            @for (s, label, href) in SECTIONS {
                                li {
                                    a href=(href) aria-current=[(s == section).then_some("page")] {
                                        (label)
                                        // A live part (see the console's script): there when
                                        // empty too, for a count that appears.
                                        @if s == Section::Exceptions {
                                            span #nav-exceptions data-live="nav-exceptions" {
                                                @if waiting.exceptions > 0 {
                                                    " " span.count { (waiting.exceptions) }
                                                    span.visually-hidden { " to look at" }
                                                }
                                            }
                                        }
                                        @if s == Section::Refunds {
                                            span #nav-refunds data-live="nav-refunds" {
                                                @if waiting.refunds > 0 {
                                                    " " span.count { (waiting.refunds) }
                                                    span.visually-hidden { " to decide" }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form.sign-out method="post" action="/console/sign-out" {
                        input type="hidden" name="csrf" value=(signed.csrf);
                        span.who { (signed.name) " (" (signed.role) ")" }
                        button type="submit" { "Sign out" }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (content)
                }
                // Where the script says, politely, what a live update changed.
                div #live-status .visually-hidden role="status" aria-live="polite" {}
            }
        }
    })
}

/// A page outside the signed-in shell: signing in, a refusal.
pub fn bare(merchant: &str, title: &str, content: Markup) -> Page {
    Page(html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(merchant, title)) }
            body.bare {
                main #main {
                    @if !merchant.is_empty() { p.brand { (merchant) " console" } }
                    h1 { (title) }
                    (content)
                }
            }
        }
    })
}

/// Days since 1970-01-01 as a civil date (Howard Hinnant's `civil_from_days`).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Unix ms as `YYYY-MM-DD`, `HH:MM:SS` and milliseconds, in UTC.
fn parts(ms: u64) -> (String, String, u64) {
    let seconds = (ms / 1000) as i64;
    let (year, month, day) = civil(seconds.div_euclid(86_400));
    let time = seconds.rem_euclid(86_400);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!(
            "{:02}:{:02}:{:02}",
            time / 3600,
            time % 3600 / 60,
            time % 60
        ),
        ms % 1000,
    )
}

/// Unix ms as people read it: `2026-12-01 14:03:22 UTC`.
pub fn utc(ms: u64) -> String {
    let (date, time, _) = parts(ms);
    format!("{date} {time} UTC")
}

/// Unix ms in RFC 3339, to the millisecond: `2026-12-01T14:03:22.123Z`.
pub fn rfc3339(ms: u64) -> String {
    let (date, time, millis) = parts(ms);
    format!("{date}T{time}.{millis:03}Z")
}

/// A time, in UTC; the console's script shows it in the reader's own time zone.
pub fn time(ms: u64) -> Markup {
    html! { time datetime=(rfc3339(ms)) { (utc(ms)) } }
}

/// A state as people read it: `partially_paid` as "Partially paid".
pub fn state_label(state: &str) -> String {
    let spaced = state.replace('_', " ");
    let mut chars = spaced.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `text` for a URL's query (everything but letters, digits and `-._~` percent-encoded).
pub fn query_value(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            utc(951_782_400_000),
            "2000-02-29 00:00:00 UTC",
            "a leap day"
        );
        assert_eq!(utc(4_102_444_799_000), "2099-12-31 23:59:59 UTC");
    }

    #[test]
    fn a_query_value_keeps_only_the_unreserved() {
        assert_eq!(query_value("co_ab-1.x~"), "co_ab-1.x~");
        assert_eq!(query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn what_a_page_interpolates_is_escaped() {
        let page = bare("<b>Shop</b>", "<script>alert(1)</script>", html! {}).0;
        let text = page.into_string();
        assert!(
            text.starts_with("<!DOCTYPE html><html lang=\"en\">"),
            "{text}"
        );
        assert!(!text.contains("<script>alert"), "{text}");
        assert!(
            text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{text}"
        );
        assert!(text.contains("&lt;b&gt;Shop&lt;/b&gt; console"), "{text}");
    }
}
