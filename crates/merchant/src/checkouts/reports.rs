//! Applying what the gateway reports of an order (a webhook or the reconciler's query), and the
//! orders to ask it about first.

use super::{Applied, Checkouts, EventError, Source};
use crate::clock::now_ms;
use crate::domain::Checkout;
use crate::gateway::{Fit, GatewayReport, Provenance};
use crate::store::StoreError;

fn report_source(source: Source) -> &'static str {
    match source {
        Source::Webhook => "webhook",
        Source::Reconciler => "reconciled",
    }
}

impl Checkouts {
    /// Applies what the gateway reports of an order: merged into what it said before, then
    /// settled with the chain's facts, in one transaction with a webhook's dedupe record and the
    /// fulfillment event it may queue.
    pub async fn apply_report(
        &self,
        report: &GatewayReport,
        source: Source,
    ) -> Result<Applied, EventError> {
        let Some(order_no) = &report.order_no else {
            tracing::warn!(
                "gateway report for {} names no order (a direct transfer); acknowledged",
                report
                    .plat_order_no
                    .as_deref()
                    .unwrap_or("an unnamed order")
            );
            return Ok(Applied::UnknownOrder);
        };
        let mut write = self.store.begin().await?;
        if source == Source::Webhook
            && !write
                .record_event(&report.key(), order_no, report.status.as_str())
                .await?
        {
            tracing::info!("webhook for {order_no} replayed; already applied");
            return Ok(Applied::Duplicate);
        }
        let Some(current) = write.checkout_by_order(order_no).await? else {
            write.commit().await?;
            tracing::warn!("gateway report for unknown order {order_no}; acknowledged");
            return Ok(Applied::UnknownOrder);
        };
        let Some(terms) = &current.terms else {
            write.commit().await?;
            return Ok(Applied::UnknownOrder);
        };
        let provenance = match source {
            Source::Webhook => self.webhooks.0,
            Source::Reconciler => Provenance::Query,
        };
        let bound = match report.fit(terms, provenance, self.webhooks.1.as_deref()) {
            Fit::Ours { bind } => bind,
            Fit::Unproven => {
                write.commit().await?;
                tracing::warn!(
                    "webhook for {order_no} names the gateway's order {}, which the gateway has \
                     not told us is ours yet; asking it first",
                    report.plat_order_no.as_deref().unwrap_or("(none)")
                );
                self.hurry(order_no);
                return Ok(Applied::Unproven);
            }
            Fit::Foreign(why) => {
                let refused = crate::store::RefusedReport {
                    received_at: now_ms(),
                    source: report_source(source).into(),
                    order_no: report.order_no.clone(),
                    plat_order_no: report.plat_order_no.clone(),
                    status: report.status.as_str().into(),
                    amount: report.amount.as_ref().map(ToString::to_string),
                    tx_hash: report.tx_id.clone(),
                    reason: why.clone(),
                };
                write.record_refused_report(&report.key(), &refused).await?;
                write.commit().await?;
                tracing::warn!(
                    "gateway report for {order_no} is not about checkout {}'s order: {why}; \
                     recorded, nothing changed",
                    current.id
                );
                return Ok(Applied::Foreign(why));
            }
        };
        if let Some(plat) = &bound {
            write.bind_gateway_id(&current.id, plat).await?;
        }
        // The transaction the gateway names for this order, if the watcher read it first and
        // matched it to nothing (its candidates are not the gateway's): it is this order's.
        let mut adopted = false;
        if let Some(tx) = &report.tx_id {
            let place = (terms.to_address, terms.token_contract);
            if write
                .adopt_unmatched(terms.chain_id, tx, &current.id, place)
                .await?
                > 0
            {
                tracing::info!(
                    "chain payment {tx}: the gateway names checkout {}",
                    current.id
                );
                self.forget_unmatched_tx(tx);
                adopted = true;
            }
        }
        let current = match adopted || bound.is_some() {
            true => write
                .checkout(&current.id)
                .await?
                .ok_or(StoreError::Corrupt("checkout"))?,
            false => current,
        };
        let Some(terms) = &current.terms else {
            return Err(StoreError::Corrupt("checkout terms").into());
        };
        let paid = report
            .amount
            .as_ref()
            .map(|amount| amount.to_units(terms.decimals))
            .transpose()
            .map_err(|e| EventError::Malformed(format!("amount: {e}")))?;
        let facts = current
            .gateway
            .merged(report.status, paid, report.tx_id.as_ref(), now_ms());
        let informed = Checkout {
            gateway: facts,
            ..current.clone()
        };
        let changed = self
            .settle(
                &mut write,
                &current,
                informed,
                report_source(source),
                adopted || bound.is_some(),
            )
            .await?;
        write.commit().await?;
        Ok(self.publish(changed))
    }

    /// The orders to ask the gateway about first (see `urgent`), taken: each is asked once.
    pub fn take_urgent(&self) -> Vec<String> {
        std::mem::take(&mut *self.urgent.lock().expect("urgent lock"))
            .into_iter()
            .collect()
    }

    pub(super) fn hurry(&self, order_no: &str) {
        self.urgent
            .lock()
            .expect("urgent lock")
            .insert(order_no.to_owned());
    }
}
