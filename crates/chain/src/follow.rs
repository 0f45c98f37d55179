//! Following the chain, one [`step`] at a time. A step:
//! 1. checks the hashes of the latest blocks read, newest first, against the chain; blocks whose
//!    hash changed (or that are gone) were reorganised away: the step names the first of them
//!    (`fork`), and everything read from it on is to be forgotten ([`rewind`]) and is read again;
//! 2. reads payments from the next unread block to the head (never past it), at most
//!    [`MAX_RANGE`] blocks at a time, fewer where the node's provider caps a log query's range
//!    (the range adapts: it shrinks on a refusal, to what the refusal says where it says, and
//!    grows back on success; see [`range_after_refusal`]);
//! 3. notes the hashes of the blocks it read, keeping the latest [`KEEP_HASHES`].
//!
//! It writes nothing: the caller keeps the [`Cursor`] and applies the [`Step`] (forget, credit,
//! advance the cursor) in one transaction of its own, so a crash mid-way redoes the step.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::Address;

use crate::payment::ChainPayment;
use crate::rpc::{ChainClient, ChainResult};

use crate::rpc::{MAX_RANGE, range_after_refusal};
/// Block hashes kept for reorg checks: deeper reorgs than this are not followed.
pub const KEEP_HASHES: usize = 64;

/// How far the chain has been read, and the hashes of the latest blocks read, to notice a reorg
/// by a changed hash. Persisted by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub next_block: u64,
    /// `(number, 0x-hex hash)`, oldest first.
    pub recent: Vec<(u64, String)>,
}

/// What one step read, for the caller to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The chain's head when the step began.
    pub head: u64,
    /// The first block reorganised away: payments read from it on are to be forgotten
    /// ([`rewind`]) before `payments` are applied.
    pub fork: Option<u64>,
    /// Payments read, in chain order (some may be already known: a caller dedupes by
    /// [`ChainPayment::same_log`]).
    pub payments: Vec<ChainPayment>,
    /// The cursor to keep once the step is applied.
    pub next: Cursor,
}

/// Reads one step from `cursor`: payments of `tokens` into `receivers`. Writes nothing.
pub async fn step(
    client: &ChainClient,
    cursor: &Cursor,
    tokens: &[Address],
    receivers: &[Address],
) -> ChainResult<Step> {
    let head = client.head().await?;
    let mut checked = Vec::new();
    for (number, stored) in cursor.recent.iter().rev() {
        let canonical = if *number > head {
            None
        } else {
            client.block(*number).await?.map(|b| b.hash)
        };
        let unchanged = canonical.as_ref() == Some(stored);
        checked.push((*number, stored.as_str(), canonical));
        if unchanged {
            break;
        }
    }
    let fork = find_fork(
        checked
            .iter()
            .map(|(number, stored, canonical)| (*number, *stored, canonical.as_deref())),
    );

    // From the fork, or from the next block if that is lower (a cursor taken back to read
    // blocks again keeps the hashes of the blocks it reads again).
    let range = read_range(
        fork.map_or(cursor.next_block, |f| f.min(cursor.next_block)),
        head,
    );
    let mut payments = vec![];
    let mut stamps = vec![];
    let mut read_to = None;
    if let Some((from, widest)) = range {
        let mut to = widest.min(from + client.log_range() - 1);
        payments = loop {
            match client.payments(from, to, tokens, receivers).await {
                Ok(payments) => {
                    client.widen_log_range(to - from + 1);
                    break payments;
                }
                Err(refusal) => match range_after_refusal(to - from + 1, &refusal) {
                    // The smaller range now; the cursor keeps what each step read.
                    Some(narrower) => {
                        client.narrow_log_range(narrower);
                        to = from + narrower - 1;
                    }
                    None => return Err(refusal),
                },
            }
        };
        read_to = Some(to);
        for number in hashes_to_keep(from, to) {
            if let Some(stamp) = client.block(number).await? {
                stamps.push((number, stamp.hash));
            }
        }
        // The logs and the hashes are two reads: a reorg between them would keep payments of
        // blocks the noted hashes no longer describe, and no later check would find them.
        if let Some(block) = moved_while_read(&payments, hashes_to_keep(from, to), &stamps) {
            return Err(format!(
                "block {block} changed while it was read (a reorg); reading it again"
            ));
        }
    }
    Ok(Step {
        head,
        fork,
        payments,
        next: advance(cursor, fork, read_to, stamps),
    })
}

/// A block of `kept` (whose hash is noted) that some payment was read from in another version
/// than the one noted, or that is gone: the chain reorganised between the reads.
pub fn moved_while_read(
    payments: &[ChainPayment],
    kept: RangeInclusive<u64>,
    stamps: &[(u64, String)],
) -> Option<u64> {
    payments
        .iter()
        .filter(|p| kept.contains(&p.block_number))
        .find(|p| {
            !stamps
                .iter()
                .any(|(n, hash)| *n == p.block_number && hash.eq_ignore_ascii_case(&p.block_hash))
        })
        .map(|p| p.block_number)
}

/// The first block reorganised away, from the blocks checked newest first as `(number, stored
/// hash, canonical hash)` (none when the chain no longer has that block). Checking stops at the
/// first unchanged block: below it, the chain is the one read.
pub fn find_fork<'a>(
    newest_first: impl IntoIterator<Item = (u64, &'a str, Option<&'a str>)>,
) -> Option<u64> {
    let mut fork = None;
    for (number, stored, canonical) in newest_first {
        if canonical == Some(stored) {
            break;
        }
        fork = Some(number);
    }
    fork
}

/// The blocks to read from `next_block`: up to the head, at most [`MAX_RANGE`]; none when the
/// head is below it.
pub fn read_range(next_block: u64, head: u64) -> Option<(u64, u64)> {
    let to = head.min(next_block.saturating_add(MAX_RANGE - 1));
    (next_block <= to).then_some((next_block, to))
}

/// Of the blocks `from..=to` just read, those whose hashes are kept: the latest
/// [`KEEP_HASHES`].
pub fn hashes_to_keep(from: u64, to: u64) -> RangeInclusive<u64> {
    from.max(to.saturating_sub(KEEP_HASHES as u64 - 1))..=to
}

/// The cursor after a step: back to `fork` (forgetting the hashes from it on), then past `read_to`
/// if blocks were read, with the `stamps` of the blocks read, keeping the latest [`KEEP_HASHES`].
pub fn advance(
    cursor: &Cursor,
    fork: Option<u64>,
    read_to: Option<u64>,
    stamps: Vec<(u64, String)>,
) -> Cursor {
    let mut next = cursor.clone();
    if let Some(fork) = fork {
        next.recent.retain(|(number, _)| *number < fork);
        next.next_block = fork;
    }
    if let Some(to) = read_to {
        next.next_block = to + 1;
    }
    // Blocks read again: their new hashes replace the old.
    next.recent
        .retain(|(number, _)| !stamps.iter().any(|(read, _)| read == number));
    next.recent.extend(stamps);
    next.recent.sort_by_key(|(number, _)| *number);
    let excess = next.recent.len().saturating_sub(KEEP_HASHES);
    next.recent.drain(..excess);
    next
}

/// Whether a payment read from block `block_number` is forgotten on a reorg from `fork`.
pub fn forgotten(fork: u64, block_number: u64) -> bool {
    block_number >= fork
}

/// Forgets the payments read from block `fork` on.
pub fn rewind(payments: &mut Vec<ChainPayment>, fork: u64) {
    payments.retain(|p| !forgotten(fork, p.block_number));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::PaymentKind;

    #[test]
    fn no_fork_when_the_newest_block_is_unchanged() {
        assert_eq!(find_fork([]), None);
        assert_eq!(find_fork([(12, "0xc", Some("0xc"))]), None);
    }

    #[test]
    fn the_fork_is_the_oldest_changed_block_above_an_unchanged_one() {
        let checked = [
            (12, "0xc", Some("0xc2")),
            (11, "0xb", None),
            (10, "0xa", Some("0xa")),
            (9, "0x9", Some("0x9other")),
        ];
        assert_eq!(
            find_fork(checked),
            Some(11),
            "a gone block counts as changed; below the unchanged one nothing is looked at"
        );
        assert_eq!(
            find_fork([(12, "0xc", Some("0xc2")), (11, "0xb", Some("0xb2"))]),
            Some(11),
            "every block kept changed"
        );
    }

    #[test]
    fn reads_stop_at_the_head_and_at_max_range() {
        assert_eq!(read_range(0, 0), Some((0, 0)));
        assert_eq!(read_range(5, 4), None, "caught up");
        assert_eq!(read_range(5, 9), Some((5, 9)));
        assert_eq!(read_range(5, 1_000_000), Some((5, 5 + MAX_RANGE - 1)));
        assert_eq!(read_range(u64::MAX, u64::MAX), Some((u64::MAX, u64::MAX)));
    }

    #[test]
    fn only_the_latest_hashes_are_fetched() {
        assert_eq!(hashes_to_keep(5, 9), 5..=9);
        assert_eq!(hashes_to_keep(0, 1_999), 1_936..=1_999);
        assert_eq!(hashes_to_keep(0, 0), 0..=0);
    }

    /// A payment read from block `block_number`, whose hash was `block_hash`.
    fn payment_in(block_number: u64, block_hash: &str) -> ChainPayment {
        ChainPayment {
            tx_id: format!("0x{block_number}"),
            log_index: 0,
            block_number,
            block_hash: block_hash.into(),
            from: Address::from_bytes([1; 20]),
            to: Address::from_bytes([2; 20]),
            token: Address::from_bytes([3; 20]),
            value: 1,
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms: 0,
        }
    }

    fn stamps(blocks: RangeInclusive<u64>) -> Vec<(u64, String)> {
        blocks.map(|n| (n, format!("0x{n:x}"))).collect()
    }

    #[test]
    fn the_cursor_moves_past_what_was_read_and_keeps_64_hashes() {
        let cursor = Cursor {
            next_block: 10,
            recent: stamps(0..=9),
        };
        let next = advance(&cursor, None, Some(69), stamps(10..=69));
        assert_eq!(next.next_block, 70);
        assert_eq!(next.recent.len(), KEEP_HASHES);
        assert_eq!(next.recent, stamps(6..=69));
        assert_eq!(
            advance(&cursor, None, None, vec![]),
            cursor,
            "nothing read, nothing changes"
        );
    }

    #[test]
    fn blocks_read_again_replace_their_hashes() {
        let cursor = Cursor {
            next_block: 7,
            recent: stamps(0..=9),
        };
        let mut again = stamps(7..=11);
        again[0].1 = "0xnew".into();
        let next = advance(&cursor, None, Some(11), again.clone());
        assert_eq!(next.next_block, 12);
        let mut expected = stamps(0..=6);
        expected.extend(again);
        assert_eq!(next.recent, expected, "one hash a block, oldest first");
    }

    #[test]
    fn a_fork_takes_the_cursor_back_and_forgets_the_hashes_from_it() {
        let cursor = Cursor {
            next_block: 10,
            recent: stamps(0..=9),
        };
        let next = advance(&cursor, Some(7), Some(12), stamps(7..=12));
        assert_eq!(next.next_block, 13);
        assert_eq!(next.recent, stamps(0..=12));
        let shorter = advance(&cursor, Some(7), None, vec![]);
        assert_eq!(
            shorter,
            Cursor {
                next_block: 7,
                recent: stamps(0..=6),
            },
            "the chain is now shorter than the fork: nothing to read yet"
        );
    }

    #[test]
    fn payments_read_from_a_block_since_replaced_or_gone_are_read_again() {
        let at = payment_in;
        let noted = stamps(5..=9);
        assert_eq!(
            moved_while_read(&[at(6, "0x6"), at(9, "0X9")], 5..=9, &noted),
            None
        );
        assert_eq!(
            moved_while_read(&[at(6, "0x6"), at(8, "0xold")], 5..=9, &noted),
            Some(8),
            "read before a reorg, noted after it"
        );
        assert_eq!(
            moved_while_read(&[at(9, "0x9")], 5..=9, &stamps(5..=8)),
            Some(9),
            "gone by the time its hash was asked"
        );
        assert_eq!(
            moved_while_read(&[at(2, "0xany")], 5..=9, &noted),
            None,
            "older than the hashes noted: deeper than any reorg followed"
        );
    }

    #[test]
    fn the_cursor_keeps_the_ledgers_json_shape() {
        let cursor = Cursor {
            next_block: 3,
            recent: vec![(2, "0x2".into())],
        };
        let json = serde_json::to_string(&cursor).unwrap();
        assert_eq!(json, r#"{"next_block":3,"recent":[[2,"0x2"]]}"#);
        assert_eq!(serde_json::from_str::<Cursor>(&json).unwrap(), cursor);
    }

    #[test]
    fn a_rewind_forgets_payments_from_the_fork_on() {
        let at = |block_number| payment_in(block_number, "0x0");
        let mut payments = vec![at(5), at(6), at(7), at(8)];
        rewind(&mut payments, 7);
        assert_eq!(payments, vec![at(5), at(6)]);
        assert!(forgotten(7, 7));
        assert!(!forgotten(7, 6));
    }
}
