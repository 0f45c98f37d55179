//! Webhook delivery: each event is POSTed to its merchant's URL, signed, until the merchant
//! answers 200, on a bounded schedule: `base`, then three times the delay before each further
//! attempt, capped at an hour, for at most `max_attempts` attempts. Delivery is at least once,
//! with the same body on every attempt (BlockATM's bodies carry no event id: a receiver dedupes
//! by the body's own fields).
//!
//! Signatures: in V1, `BlockATM-Signature-V1` with the gateway's key pair, or
//! `BlockATM-Signature-V2` (HMAC with the merchant's V2 secret) when the merchant is configured
//! so; in V2, always `BlockATM-Signature-V2` with the merchant's webhook secret.

use std::sync::Arc;
use std::time::Duration;

use usdt_checkout_protocol::gateway::{
    HEADER_EVENT, HEADER_REQUEST_TIME, HEADER_SIGNATURE_V1, HEADER_SIGNATURE_V2,
};
use usdt_checkout_protocol::signed_string;

use crate::app::App;
use crate::clock::now_ms;
use crate::config::WebhookSignature;
use crate::ledger::DeliveryAttempt;

const MAX_DELAY: Duration = Duration::from_secs(3600);

/// The delay before attempt `attempt + 1`, after `attempt` failed ones; none once they are used up.
pub fn retry_delay(attempt: u32, base: Duration, max_attempts: u32) -> Option<Duration> {
    if attempt >= max_attempts {
        return None;
    }
    let factor = 3u32.saturating_pow(attempt.saturating_sub(1));
    Some(base.saturating_mul(factor).min(MAX_DELAY))
}

/// Delivers due events until the process stops.
pub async fn run(app: Arc<App>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client without TLS settings builds");
    loop {
        let now = now_ms();
        // Fault injection may hold each delivery past its time, send it twice, or send the
        // deliveries due together newest first.
        let (held, twice, newest_first) = {
            let faults = app.faults.lock().expect("faults lock");
            let f = &faults.faults;
            (
                faults.webhook_delay().as_millis() as u64,
                f.duplicate_webhooks,
                f.reorder_webhooks,
            )
        };
        let mut due: Vec<Due> = app.store.read(|ledger| {
            ledger
                .events
                .iter()
                .filter(|e| e.next_attempt_at.is_some_and(|at| at + held <= now))
                .map(|e| Due {
                    id: e.id.clone(),
                    merchant: e.merchant.clone(),
                    event: e.event.clone(),
                    body: e.body.clone(),
                })
                .collect()
        });
        if newest_first {
            due.reverse();
        }
        for due in due {
            let outcome = deliver(&app, &client, &due).await;
            if twice && outcome.is_ok() {
                let again = deliver(&app, &client, &due).await;
                tracing::info!("webhook {} delivered again (injected): {again:?}", due.id);
            }
            record(&app, &due.id, outcome);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = app.webhooks_due.notified() => {}
        }
    }
}

/// A delivery attempt to make.
struct Due {
    id: String,
    merchant: String,
    event: String,
    body: String,
}

/// `Ok` when the merchant answered 200; otherwise what went wrong.
async fn deliver(app: &App, client: &reqwest::Client, due: &Due) -> Result<(), String> {
    let merchant = app
        .merchant(&due.merchant)
        .ok_or("the merchant is no longer configured")?;
    let url = merchant
        .webhook_url
        .as_deref()
        .ok_or("the merchant has no webhook URL")?;
    if app.faults.lock().expect("faults lock").faults.drop_webhooks {
        return Err("dropped by fault injection".into());
    }
    let time = now_ms();
    let signed = signed_string::for_json_body(&due.body, time).map_err(|e| e.to_string())?;
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .header(HEADER_EVENT, &due.event)
        .header(HEADER_REQUEST_TIME, time.to_string());
    let request = match (merchant.webhook_signature, &merchant.webhook_key) {
        (WebhookSignature::V2, Some(secret)) => {
            request.header(HEADER_SIGNATURE_V2, secret.sign(&signed))
        }
        (WebhookSignature::V2, None) => return Err("the merchant has no webhook secret".into()),
        (WebhookSignature::V1, _) => {
            request.header(HEADER_SIGNATURE_V1, app.gateway_key.sign(&signed))
        }
    };
    let response = request
        .body(due.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    match response.status().as_u16() {
        200 => Ok(()),
        status => Err(format!("HTTP {status}")),
    }
}

fn record(app: &App, id: &str, outcome: Result<(), String>) {
    let settings = &app.config.settings;
    let now = now_ms();
    let written = app.store.write(|ledger| {
        let Some(event) = ledger.events.iter_mut().find(|e| e.id == id) else {
            return;
        };
        event.attempts.push(DeliveryAttempt {
            at: now,
            outcome: match &outcome {
                Ok(()) => "HTTP 200".into(),
                Err(why) => why.clone(),
            },
        });
        if outcome.is_ok() {
            event.delivered_at = Some(now);
            event.next_attempt_at = None;
        } else {
            let failed = event.attempts.len() as u32;
            event.next_attempt_at = retry_delay(
                failed,
                settings.webhook_retry_base,
                settings.webhook_max_attempts,
            )
            .map(|delay| now + delay.as_millis() as u64);
        }
    });
    match (written, outcome) {
        (Err(e), _) => tracing::error!("webhook {id}: {e}"),
        (Ok(()), Err(why)) => tracing::warn!("webhook {id} not delivered: {why}"),
        (Ok(()), Ok(())) => tracing::info!("webhook {id} delivered"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_triples_up_to_an_hour_and_ends() {
        let base = Duration::from_secs(2);
        let delays: Vec<u64> = (1..=10)
            .map_while(|attempt| retry_delay(attempt, base, 10))
            .map(|d| d.as_secs())
            .collect();
        assert_eq!(delays, [2, 6, 18, 54, 162, 486, 1458, 3600, 3600]);
        assert_eq!(retry_delay(10, base, 10), None);
    }
}
