//! Following the chain, one [`step`] at a time, in as few calls as a hosted provider's day
//! allows (two a step while the chain is followed block by block: the latest block, and one log
//! query). A step:
//! 1. asks for the latest block. Its hash, or its parent's, against the hash noted for that
//!    block tells whether the chain read is still the chain ([`unchanged`]); where it cannot
//!    tell, the noted hashes are checked newest first, and a hash that differs is asked again
//!    before it counts. Blocks whose hash changed were reorganised away: the step names the first
//!    block to read again (`fork`), and everything read from it on is forgotten ([`rewind`]). A
//!    block a node does not have is not a reorg: a node behind the others answered;
//! 2. reads payments from the next unread block (and the last [`REREAD`] again) to the head,
//!    never past the highest head any node gave and never behind it, at most [`MAX_RANGE`]
//!    blocks at a time, fewer where the provider caps a log query's range (the range adapts: it
//!    shrinks on a refusal, to what the refusal says where it says, and grows back on success;
//!    see [`crate::range_after_refusal`]);
//! 3. notes the hashes of the blocks it read payments from, and of the last block read,
//!    keeping the latest [`KEEP_HASHES`].
//!
//! It writes nothing: the caller keeps the [`Cursor`] and applies the [`Step`] (forget, credit,
//! advance the cursor) in one transaction of its own, so a crash mid-way redoes the step.

use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};
use usdt_checkout_protocol::Address;

use crate::payment::ChainPayment;
use crate::rpc::{BlockStamp, ChainClient, ChainError, ChainResult, MAX_RANGE};

/// Block hashes kept for reorg checks: deeper reorgs than the oldest kept are not followed.
pub const KEEP_HASHES: usize = 64;

/// Blocks at the end of a read that the next read asks for again. Behind a provider's load
/// balancer, a node a block or two behind the one that gave the head answers a log query past
/// its own head with the logs it has, and says nothing (older geth, public BSC nodes): a block
/// is read until the head has passed it by this many blocks, which every node so little behind
/// has. Payments read twice are one (see [`ChainPayment::same_log`]).
pub const REREAD: u64 = 4;

/// How far the chain has been read, and the hashes of the latest blocks read, to notice a reorg
/// by a changed hash. Persisted by the caller.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub next_block: u64,
    /// `(number, 0x-hex hash)`, oldest first: the blocks payments were read from, and the last
    /// block of each read.
    pub recent: Vec<(u64, String)>,
}

impl Cursor {
    /// The hash noted for block `number`.
    fn hash_of(&self, number: u64) -> Option<&str> {
        self.recent
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, hash)| hash.as_str())
    }
}

/// What one step read, for the caller to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The chain's head: the highest any node gave, so it never goes backwards.
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
    let latest = client.latest().await?;
    let head = client.highest_head();
    let idle = Step {
        head,
        fork: None,
        payments: vec![],
        next: cursor.clone(),
    };
    // Nothing new from this node: the same head, or one behind what was read. Its hash still
    // says whether that block was replaced.
    if latest.number < cursor.next_block
        && cursor
            .hash_of(latest.number)
            .is_none_or(|noted| same(noted, &latest.hash))
    {
        return Ok(idle);
    }
    let fork = if unchanged(cursor, &latest) {
        None
    } else {
        check(client, cursor, latest.number).await?
    };
    // From the fork, or from the next block if that is lower (a cursor taken back to read
    // blocks again keeps the hashes of the blocks it reads again), and the last few again.
    // Read up to the latest block the node gave: the highest head another gave may be past
    // what this one has, or past a chain that is shorter now.
    if fork.is_none() && latest.number < cursor.next_block {
        return Ok(idle);
    }
    let next = fork.map_or(cursor.next_block, |f| f.min(cursor.next_block));
    let Some((from, widest)) = read_range(
        next.min(cursor.next_block.saturating_sub(REREAD)),
        latest.number,
    ) else {
        return Ok(Step { fork, ..idle });
    };
    let mut to = widest.min(from + client.log_range() - 1);
    let payments = loop {
        match client.payments(from, to, tokens, receivers).await {
            Ok(payments) => {
                client.widen_log_range(to - from + 1);
                break payments;
            }
            Err(refusal) => match refusal.narrower_range(to - from + 1) {
                // The smaller range now; the cursor keeps what each step read.
                Some(narrower) => {
                    client.narrow_log_range(narrower);
                    to = from + narrower - 1;
                }
                None => return Err(refusal),
            },
        }
    };
    // The last block's hash: none if no node has it (a chain with a hole, as a development
    // chain's reorgs leave), and the blocks read are then checked by their payments' hashes.
    let last = if to == latest.number {
        Some(latest.hash)
    } else {
        client.block(to).await?.map(|b| b.hash)
    };
    let stamps = stamps(&payments, last.map(|hash| (to, hash)));
    if let Some(block) = moved_while_read(&payments, to..=to, &stamps) {
        return Err(ChainError::Moved(block));
    }
    Ok(Step {
        head,
        fork,
        payments,
        next: advance(cursor, fork, Some(to), stamps),
    })
}

/// Whether the chain read is still the chain, by the latest block alone: its hash is the one
/// noted for its number, or its parent's is the one noted for the block before. `false` when it
/// cannot tell (the head moved more than a block since the last read).
pub fn unchanged(cursor: &Cursor, latest: &BlockStamp) -> bool {
    if cursor.recent.is_empty() {
        return true;
    }
    if let Some(noted) = cursor.hash_of(latest.number) {
        return same(noted, &latest.hash);
    }
    latest
        .number
        .checked_sub(1)
        .and_then(|parent| cursor.hash_of(parent))
        .is_some_and(|noted| same(noted, &latest.parent_hash))
}

/// Checks the noted hashes, newest first, up to the first unchanged: the first block to read
/// again, if any changed. A hash that differs is asked again before it counts (the answer may
/// come from a node on a side fork for a moment). A block no node has, asked again of each in
/// turn, is gone (the chain is shorter now: some chains' reorgs, and a development chain's);
/// a block past the latest block of the node that answered is not checked yet (that node is
/// behind).
async fn check(client: &ChainClient, cursor: &Cursor, latest: u64) -> ChainResult<Option<u64>> {
    let mut checked = Vec::new();
    for (number, noted) in cursor.recent.iter().rev() {
        if *number > latest {
            continue;
        }
        let mut now = canonical(client, *number).await?;
        if !now.as_deref().is_some_and(|now| same(noted, now)) {
            now = canonical(client, *number).await?;
        }
        let unchanged = now.as_deref().is_some_and(|now| same(noted, now));
        checked.push((*number, noted.as_str(), now));
        if unchanged {
            break;
        }
    }
    Ok(find_fork(checked.iter().map(|(number, noted, now)| {
        (*number, *noted, now.as_deref())
    })))
}

/// Block `number`'s hash, or none when no node has it.
async fn canonical(client: &ChainClient, number: u64) -> ChainResult<Option<String>> {
    Ok(client.block(number).await?.map(|b| b.hash))
}

/// Whether two block hashes, as nodes wrote them, are one block's.
fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The hashes to note after reading `payments`: each payment's block's, as its log gave it, and
/// the `last` block read's, where known.
pub fn stamps(payments: &[ChainPayment], last: Option<(u64, String)>) -> Vec<(u64, String)> {
    let mut stamps: Vec<(u64, String)> = vec![];
    for (number, hash) in payments
        .iter()
        .map(|p| (p.block_number, p.block_hash.clone()))
        .chain(last)
    {
        if !stamps.iter().any(|(n, _)| *n == number) {
            stamps.push((number, hash));
        }
    }
    stamps.sort_by_key(|(number, _)| *number);
    stamps
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
                .any(|(n, hash)| *n == p.block_number && same(hash, &p.block_hash))
        })
        .map(|p| p.block_number)
}

/// The first block to read again, from the noted blocks checked newest first as `(number, noted
/// hash, canonical hash)` (none: the chain no longer has that block): none when the newest is
/// unchanged; else the block after the first
/// unchanged one (the hashes noted are not of every block: a reorg may have begun anywhere above
/// it), or the oldest checked when all changed. Checking stops at the first unchanged block:
/// below it, the chain is the one read.
pub fn find_fork<'a>(
    newest_first: impl IntoIterator<Item = (u64, &'a str, Option<&'a str>)>,
) -> Option<u64> {
    let mut fork = None;
    for (number, noted, canonical) in newest_first {
        if canonical.is_some_and(|canonical| same(noted, canonical)) {
            return fork.map(|_| number + 1);
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
    use usdt_checkout_protocol::TxHash;

    use super::*;
    use crate::payment::PaymentKind;

    #[test]
    fn no_fork_when_the_newest_block_is_unchanged() {
        assert_eq!(find_fork([]), None);
        assert_eq!(find_fork([(12, "0xc", Some("0xC"))]), None);
    }

    #[test]
    fn the_fork_is_the_block_after_the_first_unchanged_one() {
        let checked = [
            (12, "0xc", Some("0xc2")),
            (9, "0x9", None),
            (7, "0x7", Some("0x7")),
            (3, "0x3", Some("0x3other")),
        ];
        assert_eq!(
            find_fork(checked),
            Some(8),
            "a block gone counts as changed; the reorg may have begun at any block above the \
             unchanged one; below it nothing is looked at"
        );
        assert_eq!(
            find_fork([(12, "0xc", Some("0xc2")), (11, "0xb", Some("0xb2"))]),
            Some(11),
            "every block kept changed: from the oldest kept"
        );
    }

    fn stamp(number: u64, hash: &str, parent_hash: &str) -> BlockStamp {
        BlockStamp {
            number,
            hash: hash.into(),
            parent_hash: parent_hash.into(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn the_latest_block_alone_says_the_chain_is_unchanged() {
        let cursor = Cursor {
            next_block: 11,
            recent: vec![(7, "0x7".into()), (10, "0xa".into())],
        };
        assert!(
            unchanged(&cursor, &stamp(10, "0xA", "0x9")),
            "the same last block"
        );
        assert!(
            unchanged(&cursor, &stamp(11, "0xb", "0xa")),
            "the next block, on the last one read"
        );
        assert!(
            !unchanged(&cursor, &stamp(10, "0xa2", "0x9")),
            "the last block read, replaced"
        );
        assert!(
            !unchanged(&cursor, &stamp(11, "0xb", "0xa2")),
            "the next block, on another"
        );
        assert!(
            !unchanged(&cursor, &stamp(13, "0xd", "0xc")),
            "blocks in between: it cannot tell"
        );
        assert!(
            unchanged(&Cursor::default(), &stamp(13, "0xd", "0xc")),
            "nothing read yet"
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
    fn the_hashes_noted_are_the_payments_blocks_and_the_last_block_read() {
        let payments = [
            payment_in(6, "0x6"),
            payment_in(6, "0x6"),
            payment_in(8, "0x8"),
        ];
        assert_eq!(
            stamps(&payments, Some((9, "0x9".into()))),
            vec![(6, "0x6".into()), (8, "0x8".into()), (9, "0x9".into())]
        );
        assert_eq!(
            stamps(&[payment_in(9, "0x9")], Some((9, "0x9".into()))),
            vec![(9, "0x9".into())],
            "one a block"
        );
        assert_eq!(
            stamps(&[payment_in(6, "0x6")], None),
            vec![(6, "0x6".into())],
            "the last block unknown: the payments' alone"
        );
    }

    /// A payment read from block `block_number`, whose hash was `block_hash`.
    fn payment_in(block_number: u64, block_hash: &str) -> ChainPayment {
        ChainPayment {
            tx_id: TxHash::from_bytes([block_number as u8; 32]),
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

    fn noted(blocks: RangeInclusive<u64>) -> Vec<(u64, String)> {
        blocks.map(|n| (n, format!("0x{n:x}"))).collect()
    }

    #[test]
    fn the_cursor_moves_past_what_was_read_and_keeps_64_hashes() {
        let cursor = Cursor {
            next_block: 10,
            recent: noted(0..=9),
        };
        let next = advance(&cursor, None, Some(69), noted(10..=69));
        assert_eq!(next.next_block, 70);
        assert_eq!(next.recent.len(), KEEP_HASHES);
        assert_eq!(next.recent, noted(6..=69));
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
            recent: noted(0..=9),
        };
        let mut again = noted(7..=11);
        again[0].1 = "0xnew".into();
        let next = advance(&cursor, None, Some(11), again.clone());
        assert_eq!(next.next_block, 12);
        let mut expected = noted(0..=6);
        expected.extend(again);
        assert_eq!(next.recent, expected, "one hash a block, oldest first");
    }

    #[test]
    fn a_fork_takes_the_cursor_back_and_forgets_the_hashes_from_it() {
        let cursor = Cursor {
            next_block: 10,
            recent: noted(0..=9),
        };
        let next = advance(&cursor, Some(7), Some(12), noted(7..=12));
        assert_eq!(next.next_block, 13);
        assert_eq!(next.recent, noted(0..=12));
        let shorter = advance(&cursor, Some(7), None, vec![]);
        assert_eq!(
            shorter,
            Cursor {
                next_block: 7,
                recent: noted(0..=6),
            },
            "the chain is now shorter than the fork: nothing to read yet"
        );
    }

    #[test]
    fn payments_read_from_a_block_since_replaced_or_gone_are_read_again() {
        let at = payment_in;
        let five_to_nine = noted(5..=9);
        assert_eq!(
            moved_while_read(&[at(6, "0x6"), at(9, "0X9")], 5..=9, &five_to_nine),
            None
        );
        assert_eq!(
            moved_while_read(&[at(6, "0x6"), at(8, "0xold")], 5..=9, &five_to_nine),
            Some(8),
            "read before a reorg, noted after it"
        );
        assert_eq!(
            moved_while_read(&[at(9, "0x9")], 5..=9, &noted(5..=8)),
            Some(9),
            "gone by the time its hash was asked"
        );
        assert_eq!(
            moved_while_read(&[at(2, "0xany")], 5..=9, &five_to_nine),
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
