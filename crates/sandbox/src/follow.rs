//! Following the chains. Each tick reads, on every watched chain, one [`step`] (reorg check, payments from the next unread
//! block to the head, block hashes; see [`usdt_checkout_chain::follow`]), then applies it in one
//! ledger write:
//! 1. after a reorg, un-credits everything read from the changed blocks on (it is read again
//!    from the new chain);
//! 2. credits each payment read to its order (see [`usdt_checkout_chain::matching`]) or keeps
//!    it as unmatched;
//! 3. advances the chain cursor;
//! 4. re-derives every unfinished order's status from its payments, their confirmations and the
//!    clock, as the status machine allows;
//! 5. queues a webhook for every order whose documented record changed ([`notify`]).
//!
//! A crash mid-tick redoes the tick.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use usdt_checkout_chain::{Candidate, ChainPayment, Incoming, match_payment, step};
use usdt_checkout_protocol::{ChainId, OrderStatus, transition};

use crate::app::{App, Watched};
use crate::clock::now_ms;
use crate::ledger::{Ledger, Unmatched, WebhookEvent};
use crate::outbox;

pub async fn run(app: Arc<App>) {
    let mut failing = false;
    loop {
        match tick(&app).await {
            Ok(()) if failing => {
                tracing::info!("chain reachable again");
                failing = false;
            }
            Ok(()) => {}
            Err(e) if !failing => {
                tracing::warn!("following the chain: {e}");
                failing = true;
            }
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(app.config.settings.poll_interval) => {}
            _ = app.chain_changed.notified() => {}
        }
    }
}

/// Reads every watched chain once; the first chain that cannot be read is the error (the others
/// are still read).
pub async fn tick(app: &App) -> Result<(), String> {
    let mut failed = Ok(());
    for chain in &app.chains {
        if let Err(e) = tick_chain(app, chain).await {
            failed = failed.and(Err(format!("chain {}: {e}", chain.id)));
        }
    }
    failed
}

async fn tick_chain(app: &App, chain: &Watched) -> Result<(), String> {
    let _one_at_a_time = app.tick_lock.lock().await;
    let id = chain.id;
    let cursor = app
        .store
        .read(|l| l.scans.get(&id).cloned().unwrap_or_default());
    let step = step(&chain.client, &cursor, &app.tokens(id), &app.receivers(id)).await?;
    if let Some(fork) = step.fork {
        tracing::warn!("chain {id}: reorg: blocks from {fork} changed; reading them again");
    }

    let head = step.head;
    let now = now_ms();
    chain.head.store(head, Ordering::Relaxed);
    app.store.write(|ledger| {
        if let Some(fork) = step.fork {
            rewind(ledger, id, fork);
        }
        for payment in step.payments {
            credit(ledger, id, payment, now);
        }
        ledger.scans.insert(id, step.next);
        refresh(app, ledger, now);
    })?;
    app.webhooks_due.notify_one();
    Ok(())
}

/// Forgets every payment read on `chain` from block `fork` on (the cursor goes back with the
/// step's).
fn rewind(ledger: &mut Ledger, chain: ChainId, fork: u64) {
    for order in ledger.orders.iter_mut().filter(|o| o.chain_id == chain) {
        usdt_checkout_chain::rewind(&mut order.payments, fork);
    }
    ledger.unmatched.retain(|u| {
        u.chain_id != chain || !usdt_checkout_chain::forgotten(fork, u.payment.block_number)
    });
}

/// Credits a payment read on `chain` to the order on that chain it pays, or keeps it unmatched.
/// An order on another chain never takes it, whatever its address and amount: a transfer on
/// the wrong network is not a payment of the order.
fn credit(ledger: &mut Ledger, chain: ChainId, payment: ChainPayment, now: u64) {
    let known = |p: &ChainPayment| p.same_log(&payment);
    if ledger
        .unmatched
        .iter()
        .any(|u| u.chain_id == chain && known(&u.payment))
        || ledger
            .orders
            .iter()
            .any(|o| o.chain_id == chain && o.payments.iter().any(known))
    {
        return;
    }
    let on_chain: Vec<usize> = (0..ledger.orders.len())
        .filter(|i| ledger.orders[*i].chain_id == chain)
        .collect();
    let candidates: Vec<Candidate> = on_chain
        .iter()
        .map(|i| &ledger.orders[*i])
        .map(|o| Candidate {
            order_no: &o.order_no,
            token: o.token,
            to: o.to_address,
            remaining: o.remaining(),
            expired: now >= o.expire_time,
            finished: o.state.is_final(),
            payers: o.payments.iter().map(|p| p.from).collect(),
            create_time: o.create_time,
            expire_time: o.expire_time,
        })
        .collect();
    match match_payment(&candidates, &Incoming::from(&payment)).map(|i| on_chain[i]) {
        Some(index) => {
            tracing::info!(
                "payment {} of {} credited to order {}",
                payment.tx_id,
                payment.value,
                ledger.orders[index].order_no
            );
            ledger.orders[index].payments.push(payment);
        }
        None => {
            tracing::warn!(
                "payment {} of {} matches no order",
                payment.tx_id,
                payment.value
            );
            ledger.unmatched.push(Unmatched {
                chain_id: chain,
                payment,
            });
        }
    }
}

/// Re-derives each unfinished order's status (with its chain's head), then queues the webhooks
/// that are news.
pub fn refresh(app: &App, ledger: &mut Ledger, now: u64) {
    let required = app.config.settings.confirmations;
    for index in 0..ledger.orders.len() {
        let order = &ledger.orders[index];
        if order.state.is_final() {
            continue;
        }
        let next = order.assess(app.head(order.chain_id), required, now).status;
        match transition(order.state, next) {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!("order {}: {} -> {next}", order.order_no, order.state);
                ledger.orders[index].state = next;
                ledger.orders[index].update_time = now;
            }
            Err(illegal) => tracing::warn!("order {}: {illegal}; kept", order.order_no),
        }
    }
    notify(app, ledger, now);
}

/// Moves an order to `state` if the status machine allows it (its webhook is queued by the
/// [`refresh`] that follows).
pub fn set_state(
    ledger: &mut Ledger,
    index: usize,
    state: OrderStatus,
    now: u64,
) -> Result<(), String> {
    let order = &mut ledger.orders[index];
    if transition(order.state, state).map_err(|e| e.to_string())? {
        order.state = state;
        order.update_time = now;
    }
    Ok(())
}

/// Queues a webhook, in the gateway's dialect, for every order whose documented record is news
/// ([`outbox::is_news`]): whenever one of its documented fields changed, never the same body
/// twice, and not for an order as it was made. Such a change is the order's update.
pub fn notify(app: &App, ledger: &mut Ledger, now: u64) {
    let cashier_id = |merchant: &str| app.merchant(merchant).map_or(0, |m| m.cashier_id);
    for (index, hook) in outbox::news(app.config.api, ledger, cashier_id) {
        ledger.next_event_seq += 1;
        let order = &mut ledger.orders[index];
        order.update_time = now;
        let has_url = app
            .merchant(&order.merchant)
            .is_some_and(|m| m.webhook_url.is_some());
        ledger.events.push(WebhookEvent {
            id: format!("evt_{:08}", ledger.next_event_seq),
            merchant: order.merchant.clone(),
            order_no: order.order_no.clone(),
            state: order.state,
            event: hook.event.into(),
            body: hook.body,
            created: now,
            attempts: vec![],
            next_attempt_at: has_url.then_some(now),
            delivered_at: None,
        });
    }
}
