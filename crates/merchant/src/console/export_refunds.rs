//! Refunds in the exports: an order's in its row, a payment's in its row (the refunds given
//! back of it), each as its amount, state, and transfer once sent.

use usdt_checkout_protocol::format_units;

use crate::store::ExportedRefund;

/// Refunds in one cell: each as its amount (a decimal of the token, else in atomic units),
/// state, and transfer once sent, separated by `; `. Refused ones are listed too: what was asked
/// and said no to is part of the record.
pub fn refunds_cell<'a>(
    refunds: impl IntoIterator<Item = &'a ExportedRefund>,
    decimals: Option<u8>,
) -> String {
    refunds
        .into_iter()
        .map(|r| {
            let amount = decimals.map_or_else(
                || r.amount_atomic.to_string(),
                |d| format_units(r.amount_atomic, d),
            );
            match &r.sent_tx {
                Some(tx) => format!("{amount} {} {tx}", r.state),
                None => format!("{amount} {}", r.state),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The refunds of checkout `id`.
pub fn of_checkout<'a>(
    refunds: &'a [ExportedRefund],
    id: &'a str,
) -> impl Iterator<Item = &'a ExportedRefund> {
    refunds
        .iter()
        .filter(move |r| r.checkout_id.as_deref() == Some(id))
}

/// The refunds of the payment `(chain, tx, log_index)`.
pub fn of_payment<'a>(
    refunds: &'a [ExportedRefund],
    (chain, tx, log_index): (u64, &'a str, u64),
) -> impl Iterator<Item = &'a ExportedRefund> {
    refunds.iter().filter(move |r| {
        r.chain_id == chain && r.source_tx == tx && r.source_log_index == log_index
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refund(of: (&str, u64), amount: u128, state: &str, sent: Option<&str>) -> ExportedRefund {
        ExportedRefund {
            checkout_id: Some("co_1".into()),
            chain_id: 31337,
            source_tx: of.0.into(),
            source_log_index: of.1,
            amount_atomic: amount,
            state: state.into(),
            sent_tx: sent.map(Into::into),
        }
    }

    #[test]
    fn each_refund_is_its_amount_state_and_transfer() {
        let refunds = [
            refund(("0xa", 0), 500_000, "sent", Some("0xb")),
            refund(("0xa", 1), 250_000, "approved", None),
            refund(("0xc", 0), 1, "refused", None),
        ];
        assert_eq!(
            refunds_cell(&refunds, Some(6)),
            "0.5 sent 0xb; 0.25 approved; 0.000001 refused"
        );
        assert_eq!(refunds_cell(&refunds[..1], None), "500000 sent 0xb");
        assert_eq!(refunds_cell(&[], Some(6)), "");
        assert_eq!(of_checkout(&refunds, "co_1").count(), 3);
        assert_eq!(of_checkout(&refunds, "co_2").count(), 0);
        let of_a0: Vec<_> = of_payment(&refunds, (31337, "0xa", 0)).collect();
        assert_eq!(of_a0, vec![&refunds[0]]);
        assert_eq!(of_payment(&refunds, (31338, "0xa", 0)).count(), 0);
    }
}
