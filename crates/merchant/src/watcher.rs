//! The chain watcher: what no documented gateway tells a shopper. For one chain, it follows the
//! token transfers into the checkouts' receiving addresses and the receiving contracts' deposits
//! (the follower the sandbox uses, from `usdt-checkout-chain`), with confirmations and reorgs,
//! and hands each step to [`Checkouts::apply_chain`], which attaches payments, keeps the
//! unmatched ones, and settles what changed. It also follows the destinations of the refunds
//! approved on the chain, and hands the transfers into them to the refunds' side, which
//! recognises the merchant's refund transfer (see the refund transfer's rule). It takes its
//! settings and the checkouts, not the web app.

use std::sync::Arc;

use usdt_checkout_chain::{ChainClient, Cursor, Step, step};
use usdt_checkout_protocol::Address;

use crate::chain_health::stuck_after;
use crate::checkouts::Checkouts;
use crate::clock::now_ms;
use crate::config::WatchedChain;
use crate::refund_transfer::Awaited;
use crate::store::Store;

/// When an address is first watched, blocks read before it are read again this far back: the
/// order that brought it was created moments ago, so its payment cannot be older.
const NEW_ADDRESS_LOOKBACK: u64 = 64;

/// The most approved refunds whose destination one log query asks for, the latest approved:
/// a provider caps how many addresses a query may name, and a merchant pays a refund soon after
/// approving it. One approved longer ago and still unpaid past these is recognised when its
/// hash is pasted.
const MAX_REFUNDS_FOLLOWED: usize = 200;

/// Follows `chain` through `client` until the process stops; an unreachable node is retried,
/// and each change of the watcher's state logged once.
pub async fn run(
    chain: WatchedChain,
    client: ChainClient,
    checkouts: Arc<Checkouts>,
    store: Store,
) {
    let mut cursor: Option<Cursor> = None;
    let mut watched: Vec<Address> = vec![];
    let health = &checkouts.chain_health;
    health.started(chain.id, now_ms(), stuck_after(chain.poll_interval));
    loop {
        // Each change of state is logged by the health it is reported to.
        match follow(
            &chain,
            &client,
            &checkouts,
            &store,
            &mut cursor,
            &mut watched,
        )
        .await
        {
            Ok((head, behind)) => health.progressed(chain.id, now_ms(), head, behind),
            Err(e) => health.failed(chain.id, now_ms(), &e),
        }
        tokio::time::sleep(chain.poll_interval).await;
    }
}

/// One step: from the stored cursor (or the head, on a first start), over the addresses and
/// tokens of the checkouts on this chain. Returns the highest block read and how many blocks
/// the chain's head was past it.
async fn follow(
    chain: &WatchedChain,
    client: &ChainClient,
    checkouts: &Checkouts,
    store: &Store,
    cursor: &mut Option<Cursor>,
    watched: &mut Vec<Address>,
) -> Result<(u64, u64), String> {
    let mut from = match cursor.take() {
        Some(cursor) => cursor,
        None => match store.cursor(chain.id).await.map_err(|e| e.to_string())? {
            Some(stored) => stored,
            None => Cursor {
                next_block: client.head().await?,
                recent: vec![],
            },
        },
    };
    let (mut tokens, receivers) = checkouts.watched_on(chain.id);
    for token in &chain.tokens {
        if !tokens.contains(token) {
            tokens.push(*token);
        }
    }
    // Approved refunds only: their number is what the merchant has to pay now, so the log
    // query grows by as many addresses (at most `MAX_REFUNDS_FOLLOWED`), and shrinks as they
    // are paid.
    let awaited = followed(
        checkouts
            .refunds_awaited(chain.id)
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|refund| refund.sent_from(&chain.refund_wallets))
            .collect(),
    );
    let mut addresses = receivers.clone();
    for refund in &awaited {
        if !tokens.contains(&refund.token) {
            tokens.push(refund.token);
        }
        if !addresses.contains(&refund.destination) {
            addresses.push(refund.destination);
        }
    }
    if addresses.iter().any(|address| !watched.contains(address)) {
        from = reread_from(&from, from.next_block.saturating_sub(NEW_ADDRESS_LOOKBACK));
        *watched = addresses.clone();
    }
    let read_at = now_ms();
    let read = match step(client, &from, &tokens, &addresses).await {
        Ok(read) => read,
        Err(e) => {
            *cursor = Some(from);
            return Err(e.to_string());
        }
    };
    let (read, outgoing) = payments_apart(read, &receivers);
    let applied = checkouts
        .apply_chain_read_at(chain.id, &read, read_at)
        .await;
    // Read again if the refunds' side could not write: a transfer recognised twice is one.
    // The refunds awaited are read again once the chain was: one approved while this step read
    // it, and paid at once to an address already followed for another refund, is paid by a
    // transfer read here, which the next step would not read again.
    let applied = match applied {
        Ok(()) => match checkouts.refunds_awaited(chain.id).await {
            Ok(now) => {
                let now: Vec<Awaited> = now
                    .into_iter()
                    .map(|refund| refund.sent_from(&chain.refund_wallets))
                    .collect();
                checkouts
                    .take_refund_transfers(chain.id, &now, &outgoing)
                    .await
            }
            Err(e) => Err(e),
        },
        failed => failed,
    };
    let read_to = read.next.next_block.saturating_sub(1);
    let progress = (read_to, read.head.saturating_sub(read_to));
    *cursor = Some(if applied.is_ok() { read.next } else { from });
    applied.map(|()| progress).map_err(|e| e.to_string())
}

/// Of the approved refunds, oldest approved first, the ones a step follows: the latest
/// [`MAX_REFUNDS_FOLLOWED`].
fn followed(mut awaited: Vec<Awaited>) -> Vec<Awaited> {
    awaited.drain(..awaited.len().saturating_sub(MAX_REFUNDS_FOLLOWED));
    awaited
}

/// The step with only the payments into the checkouts' receiving addresses, and apart the
/// transfers into refunds' destinations: those are the merchant's money going out, never a
/// payment to match (or to keep as unmatched).
fn payments_apart(
    mut read: Step,
    receivers: &[Address],
) -> (Step, Vec<usdt_checkout_chain::ChainPayment>) {
    let (incoming, outgoing) = read
        .payments
        .into_iter()
        .partition(|p| receivers.contains(&p.to));
    read.payments = incoming;
    (read, outgoing)
}

/// The cursor that reads again from `block`. The hashes noted are kept: they are how the next
/// step finds a reorg of those blocks (one while this server was down, say) and takes back what
/// it had read from them; forgotten, the payments of the blocks replaced stayed counted.
fn reread_from(cursor: &Cursor, block: u64) -> Cursor {
    Cursor {
        next_block: block.min(cursor.next_block),
        recent: cursor.recent.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_approved_refunds_are_followed_up_to_the_bound() {
        let refund = |n: u64| Awaited {
            id: format!("rf_{n}"),
            chain_id: usdt_checkout_protocol::ChainId(1),
            token: Address::from_bytes([1; 20]),
            destination: Address::from_bytes([2; 20]),
            amount_atomic: 1,
            approved_at: n,
            approved_block: None,
            senders: vec![],
        };
        let few: Vec<Awaited> = (0..3).map(refund).collect();
        assert_eq!(followed(few.clone()), few);
        let many: Vec<Awaited> = (0..MAX_REFUNDS_FOLLOWED as u64 + 5).map(refund).collect();
        let kept = followed(many);
        assert_eq!(kept.len(), MAX_REFUNDS_FOLLOWED);
        assert_eq!(kept[0].approved_at, 5, "the oldest approved left out");
    }

    #[test]
    fn transfers_into_refund_destinations_are_no_payments() {
        use usdt_checkout_chain::{ChainPayment, PaymentKind};
        use usdt_checkout_protocol::TxHash;
        let to = |byte: u8, log_index: u64| ChainPayment {
            tx_id: TxHash::from_bytes([1; 32]),
            log_index,
            block_number: 1,
            block_hash: "0x01".into(),
            from: Address::from_bytes([9; 20]),
            to: Address::from_bytes([byte; 20]),
            token: Address::from_bytes([3; 20]),
            value: 1,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: 0,
        };
        let read = Step {
            head: 1,
            fork: None,
            payments: vec![to(5, 0), to(7, 1), to(5, 2)],
            next: Cursor::default(),
        };
        let (read, outgoing) = payments_apart(read, &[Address::from_bytes([5; 20])]);
        assert_eq!(read.payments, vec![to(5, 0), to(5, 2)]);
        assert_eq!(outgoing, vec![to(7, 1)]);
    }

    #[test]
    fn reading_again_keeps_the_hashes_that_find_a_reorg_of_those_blocks() {
        let cursor = Cursor {
            next_block: 100,
            recent: vec![
                (97, "0x97".into()),
                (98, "0x98".into()),
                (99, "0x99".into()),
            ],
        };
        let again = reread_from(&cursor, 98);
        assert_eq!(again.next_block, 98);
        assert_eq!(again.recent, cursor.recent);
        assert_eq!(reread_from(&cursor, 200).next_block, 100, "never forward");
    }
}
