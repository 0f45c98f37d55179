//! BlockATM's V2 API (its GitBook, 2025; `docs/blockatm-api.md` §4): the payment event's fields,
//! the query paths, and order creation.
//!
//! V2's GitBook moves payment-order creation to its cashier widget and documents no API for it;
//! only docs.blockatm.net (S11, 2026) documents `POST /order/api/v2/pay/order`. The product
//! follows S11 there, being the only source with a creation API, and relies on nothing in its
//! answer: the receiving address is the merchant's configured one (the console's cashier
//! settings) unless the answer carries `toAddress`.

#[cfg(feature = "gateway-wire")]
use serde::{Deserialize, Serialize};

#[cfg(feature = "gateway-wire")]
use super::wire::{DecimalText, GatewayStatus, IdText, PaymentType, chain_id_text};
#[cfg(feature = "gateway-wire")]
use crate::address::Address;
#[cfg(feature = "gateway-wire")]
use crate::chain::ChainId;

pub const PATH_NETWORKS: &str = "/admin/api/v2/pub/allNetworks";
pub const PATH_TOKENS: &str = "/admin/api/v2/pub/symbolList";
pub const PATH_ORDER_DETAIL: &str = "/order/api/v2/payorder/detail";
pub const PATH_ORDER_LIST: &str = "/order/api/v2/payorder/list";
/// docs.blockatm.net only (see the module's comment).
pub const PATH_CREATE_ORDER: &str = "/order/api/v2/pay/order";

/// `BlockATM-Event` of a payment event. V2's pages write it `Payment` and `payment`: compare
/// without case.
pub const EVENT_PAYMENT: &str = "Payment";

/// The payment event (V2 "PaymentEvent"): its documented fields, typed as its examples write
/// them (`id` and `cashierId` numbers, `chainId` and `amount` strings).
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentEvent {
    /// BlockATM's order number (V1's `platOrderNo`); written as a JSON number, as the examples do.
    #[serde(serialize_with = "number")]
    pub id: IdText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cust_no: Option<String>,
    /// Written as a JSON number, as the examples do.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "optional_number"
    )]
    pub cashier_id: Option<IdText>,
    #[serde(with = "chain_id_text")]
    pub chain_id: ChainId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub symbol: String,
    /// "Actual amount paid by the customer".
    pub amount: DecimalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_type: Option<PaymentType>,
    #[serde(serialize_with = "v2_name")]
    pub status: GatewayStatus,
    /// The payer; "empty if unpaid".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_address: Option<String>,
    /// When the payment was on chain, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_time: Option<u64>,
}

/// An id's digits as a JSON number (`8210003616`); an id that a number would not write back the
/// same (not all digits, a leading zero, past u64) stays a string.
#[cfg(feature = "gateway-wire")]
fn number<S: serde::Serializer>(id: &IdText, s: S) -> Result<S::Ok, S::Error> {
    match id.0.parse::<u64>() {
        Ok(n) if n.to_string() == id.0 => s.serialize_u64(n),
        _ => s.serialize_str(&id.0),
    }
}

#[cfg(feature = "gateway-wire")]
fn optional_number<S: serde::Serializer>(id: &Option<IdText>, s: S) -> Result<S::Ok, S::Error> {
    match id {
        Some(id) => number(id, s),
        None => s.serialize_none(),
    }
}

#[cfg(feature = "gateway-wire")]
fn v2_name<S: serde::Serializer>(status: &GatewayStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(status.v2_name())
}

/// `GET /order/api/v2/payorder/detail?orderNo=`: the order as S11 lists its fields (the
/// GitBook's own field table is in an OpenAPI file no snapshot has).
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDetail {
    pub order_no: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cashier_id: Option<IdText>,
    pub amount: DecimalText,
    pub symbol: String,
    #[serde(with = "chain_id_text")]
    pub chain_id: ChainId,
    #[serde(serialize_with = "v2_name")]
    pub status: GatewayStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<u64>,
}

/// `GET /order/api/v2/payorder/list` (`startTime`, `endTime`, `status`, `page`, `pageSize`).
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    pub list: Vec<OrderDetail>,
    pub total: u64,
    pub page: u32,
    pub page_size: u32,
}

/// `POST /order/api/v2/pay/order` (S11). The signature travels in the documented V2 headers.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cashier_id: Option<String>,
    pub order_no: String,
    pub amount: DecimalText,
    pub symbol: String,
    #[serde(with = "chain_id_text")]
    pub chain_id: ChainId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cust_no: Option<String>,
}

/// Its answer (S11: `orderNo`, `payUrl`, `qrCode`, `expireTime`); all optional, and a
/// `toAddress` is used when present.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedOrder {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_address: Option<Address>,
}

#[cfg(all(test, feature = "gateway-wire"))]
mod tests {
    use super::*;

    use crate::gateway::examples::V2_PAYMENT_EVENT as F7;

    #[test]
    fn the_documented_payment_event_reads() {
        let event: PaymentEvent = serde_json::from_str(F7).unwrap();
        assert_eq!(event.id.0, "8210003616");
        assert_eq!(event.order_no.as_deref(), Some("OrderNo_202504010023"));
        assert_eq!(event.chain_id, ChainId(1));
        assert_eq!(event.amount, DecimalText("2000.00".into()));
        assert_eq!(event.status, GatewayStatus::Success);
        assert_eq!(event.cashier_id, Some(IdText("86100021".into())));
        assert_eq!((event.order_type, event.block_time), (None, None));
    }

    #[test]
    fn an_event_is_written_with_v2s_names() {
        let mut event: PaymentEvent = serde_json::from_str(F7).unwrap();
        event.status = GatewayStatus::Expired;
        let written = serde_json::to_value(&event).unwrap();
        assert_eq!(written["status"], "EXPIRED");
        assert_eq!(written["chainId"], "1");
        assert_eq!(
            written["id"], 8_210_003_616u64,
            "a number, as the example writes it"
        );
        assert_eq!(written["cashierId"], 86_100_021);
        event.id = IdText("P-1".into());
        assert_eq!(serde_json::to_value(&event).unwrap()["id"], "P-1");
    }

    /// The webhook_v2 fuzz target's read-write-read property: an id with a leading zero was
    /// written as a number, and read back as another id (`"0123"` became 123).
    #[test]
    fn an_id_is_written_so_it_reads_back_the_same() {
        let mut event: PaymentEvent = serde_json::from_str(F7).unwrap();
        for id in ["0123", "0", "+5", "18446744073709551616", "8210003616"] {
            event.id = IdText(id.into());
            event.cashier_id = Some(IdText(id.into()));
            let written = serde_json::to_string(&event).unwrap();
            let read: PaymentEvent = serde_json::from_str(&written).unwrap();
            assert_eq!(read.id, event.id, "{written}");
            assert_eq!(read.cashier_id, event.cashier_id, "{written}");
        }
    }

    #[test]
    fn an_order_detail_reads_with_s11s_fields() {
        let detail: OrderDetail = serde_json::from_str(
            r#"{"orderNo":"co_1","amount":"25","symbol":"USDT","chainId":"31337",
                "status":"PENDING","createTime":1,"updateTime":2}"#,
        )
        .unwrap();
        assert_eq!(detail.status, GatewayStatus::Pending);
        assert_eq!(detail.tx_id, None);
    }
}
