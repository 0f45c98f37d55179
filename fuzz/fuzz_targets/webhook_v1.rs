//! BlockATM V1 from the gateway's side of the wire: a webhook's `BlockATM-Event` and body through
//! the merchant's `Dialect` (`BlockatmV1::webhook`), and the answers to its calls (`created`,
//! `queried`, the public network and token lists as the server reads and describes them) through
//! the protocol's wire types.
//!
//! Input: the first line is `BlockATM-Event` (empty: absent), the rest the body; every reader
//! gets the same body.
//!
//! Beyond not panicking: a callback the protocol reads is written back with V1's types and reads
//! again as the same callback (V1 has one number for every failure, so a V2 status name comes
//! back as its V1 meaning), and a report keeps what the callback said.
#![no_main]

use libfuzzer_sys::fuzz_target;
use usdt_checkout_protocol::gateway::lists::List;
use usdt_checkout_protocol::gateway::v1::Payment;
use usdt_checkout_protocol::gateway::{Answer, GatewayStatus, Listed, describe, read_answer};
use usdt_checkout_protocol::signature::V1PrivateKey;
use usdt_checkout_protocol::{ChainId, ChainRegistry, Decimal, TokenAmount};
use usdt_checkout_server::gateway::{BlockatmV1, Dialect, NewOrder};

/// The dialect, its keys made once: reading signs and checks nothing.
static V1: std::sync::LazyLock<BlockatmV1> = std::sync::LazyLock::new(|| BlockatmV1 {
    key: V1PrivateKey::generate(),
    webhook_key: V1PrivateKey::generate().public_key(),
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (event, body) = text.split_once('\n').unwrap_or(("", text));
    let event = Some(event).filter(|e| !e.is_empty());

    let report = V1.webhook(event, body);
    let payment = serde_json::from_str::<Payment>(body);
    if let Ok(Some(report)) = &report {
        let payment = payment.as_ref().expect("a report is read from a callback");
        assert_eq!(
            report.plat_order_no.as_deref(),
            Some(payment.plat_order_no.0.as_str())
        );
        assert_eq!(
            report.amount.as_ref().map(Decimal::as_str),
            Some(payment.amount.0.as_str())
        );
        assert_eq!(report.status, payment.status);
        assert!(report.order_no.as_ref().is_none_or(|no| !no.is_empty()));
        assert_eq!(report.key(), report.clone().key());
    }
    if let Ok(payment) = payment {
        let written = serde_json::to_string(&payment).expect("a callback writes");
        let read: Payment = serde_json::from_str(&written)
            .unwrap_or_else(|e| panic!("{written} does not read back: {e}"));
        let v1_status = GatewayStatus::parse(&payment.status.v1_number().to_string());
        let expected = Payment {
            status: v1_status.expect("V1 reads its own numbers"),
            ..payment
        };
        assert_eq!(read, expected, "{written}");
        // A callback is a report once its amount is a decimal.
        if read.amount.0.parse::<Decimal>().is_ok() {
            assert!(matches!(report, Ok(Some(_)) | Ok(None)), "{report:?}");
        }
    }

    let order = NewOrder {
        order_no: "co_1".into(),
        chain_id: ChainId(31337),
        symbol: "USDT".into(),
        amount: TokenAmount::new(25_000_000, 6),
    };
    let _ = V1.created(&order, body);
    let _ = V1.queried(body);
    // The public lists as the checkout server reads them: an entry written back (as the
    // sandbox's minimal lists write it) reads again as the same entry, and described, each is
    // the registry's chain or token or skipped, never both and never anything else.
    if let Ok(Answer::Data(listed)) = read_answer::<Vec<Listed>>(body) {
        let written = serde_json::to_string(&listed).expect("entries write");
        let read: Vec<Listed> = serde_json::from_str(&written).expect("entries read back");
        assert_eq!(read, listed, "{written}");
        let registry = ChainRegistry::builtin();
        let described = describe(&listed, &listed, &registry);
        let skipped = |list| described.skipped.iter().filter(|s| s.list == list).count();
        assert!(described.networks.len() + skipped(List::Networks) <= listed.len());
        assert!(described.tokens.len() + skipped(List::Tokens) <= listed.len());
        for network in &described.networks {
            assert_eq!(registry.chain(network.chain_id).unwrap().name, network.name);
        }
        for token in &described.tokens {
            let known = registry.token(token.chain_id, &token.symbol).unwrap();
            assert_eq!(
                (known.contract, known.decimals),
                (token.contract, token.decimals)
            );
        }
    }
});
