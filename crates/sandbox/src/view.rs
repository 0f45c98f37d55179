//! The sandbox's own detailed view of an order: every payment, confirmations and the detailed
//! state. It is not BlockATM's (which documents only the fields in [`crate::dialect`]): only the
//! cashier page and test mode's `/sandbox/...` show it.

use serde::Serialize;
use usdt_checkout_chain::{ChainPayment, PaymentKind, confirmations};
use usdt_checkout_protocol::{Address, ChainId, OrderStatus, TxHash, format_units};

use crate::ledger::Order;

/// An order in detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderView {
    pub plat_order_no: String,
    pub order_no: String,
    pub cust_no: Option<String>,
    pub chain_id: ChainId,
    pub network: String,
    pub symbol: String,
    pub token_contract: Address,
    pub decimals: u8,
    /// What the merchant asked for, which is exactly what the shopper must send.
    pub amount: String,
    pub amount_atomic: String,
    pub to_address: Address,
    pub cashier_url: String,
    /// The detailed state.
    pub state: OrderStatus,
    pub paid_amount: String,
    pub remaining_amount: String,
    pub overpaid_amount: String,
    /// The fewest confirmations among payments still confirming.
    pub confirmations: Option<u32>,
    pub required_confirmations: u32,
    pub payments: Vec<PaymentView>,
    /// Unix milliseconds.
    pub create_time: u64,
    pub expire_time: u64,
    pub update_time: u64,
}

/// One on-chain payment, credited to an order or unmatched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    pub tx_id: TxHash,
    pub log_index: u64,
    pub block_number: u64,
    pub block_hash: String,
    pub from: Address,
    pub to: Address,
    pub token_contract: Address,
    pub amount: String,
    pub amount_atomic: String,
    pub kind: PaymentKind,
    pub confirmations: u32,
    /// The block's time, in Unix milliseconds.
    pub timestamp: u64,
    /// Mined after the order expired.
    pub late: bool,
}

/// `payment` in a token of `decimals` with the chain at `head`; `late` if it came after its
/// order expired.
pub fn payment(payment: &ChainPayment, head: u64, decimals: u8, late: bool) -> PaymentView {
    PaymentView {
        tx_id: payment.tx_id.clone(),
        log_index: payment.log_index,
        block_number: payment.block_number,
        block_hash: payment.block_hash.clone(),
        from: payment.from,
        to: payment.to,
        token_contract: payment.token,
        amount: format_units(payment.value, decimals),
        amount_atomic: payment.value.to_string(),
        kind: payment.kind,
        confirmations: confirmations(head, payment.block_number),
        timestamp: payment.timestamp_ms,
        late,
    }
}

/// `order` with the chain at `head` and the clock at `now_ms`; its cashier page under
/// `cashier_base`.
pub fn order(
    order: &Order,
    head: u64,
    required_confirmations: u32,
    now_ms: u64,
    cashier_base: &str,
) -> OrderView {
    let assessment = order.assess(head, required_confirmations, now_ms);
    let units = |atomic| format_units(atomic, order.decimals);
    OrderView {
        plat_order_no: order.plat_order_no.clone(),
        order_no: order.order_no.clone(),
        cust_no: order.cust_no.clone(),
        chain_id: order.chain_id,
        network: order.network.clone(),
        symbol: order.symbol.clone(),
        token_contract: order.token,
        decimals: order.decimals,
        amount: units(order.amount),
        amount_atomic: order.amount.to_string(),
        to_address: order.to_address,
        cashier_url: cashier_url(cashier_base, &order.plat_order_no),
        state: order.state,
        paid_amount: units(assessment.received),
        remaining_amount: units(assessment.remaining),
        overpaid_amount: units(assessment.overpaid),
        confirmations: assessment.lowest_pending_confirmations,
        required_confirmations,
        payments: order
            .payments
            .iter()
            .map(|p| payment(p, head, order.decimals, p.timestamp_ms >= order.expire_time))
            .collect(),
        create_time: order.create_time,
        expire_time: order.expire_time,
        update_time: order.update_time,
    }
}

/// The hosted payment page of an order: V1's `cashierUrl`, V2's `payUrl`.
pub fn cashier_url(base: &str, plat_order_no: &str) -> String {
    format!("{base}/cashier/{plat_order_no}")
}
