//! BlockATM's V1 API, as its documents give it (`docs/blockatm-api.md` §2, §3): the callback's
//! fields and types exactly, and the names of the queries. Where V1 documents a path but not its
//! fields, the reading here is the product's and says so.

#[cfg(feature = "gateway-wire")]
use serde::{Deserialize, Serialize};

#[cfg(feature = "gateway-wire")]
use super::wire::{DecimalText, GatewayStatus, IdText, PaymentType, chain_id_text};
#[cfg(feature = "gateway-wire")]
use crate::address::Address;
#[cfg(feature = "gateway-wire")]
use crate::chain::ChainId;

/// Order creation. BlockATM documents that V1 "creates the order via the API and returns the
/// cashier address" but not its path or fields (§7.1); this path and `orderNo`, `chainId`,
/// `symbol`, `amount` are the project's (the seed's), `custNo` is the callback's.
pub const PATH_CREATE_ORDER: &str = "/api/v1/payment/createQrOrder";
/// "Query Payment Order" for QR orders (V2 migration table); asked with `orderNo`.
pub const PATH_QUERY_QR_PAYMENT: &str = "/api/v1/payment/qrCodePayment";
/// "Query Payment Order" for contract payments (V2 migration table).
pub const PATH_QUERY_CONTRACT_PAYMENT: &str = "/api/v1/payment/contractPayment";
/// The receiving contract of a chain (`?chainId=5`, BlockATM's signing demo).
pub const PATH_RECEIVING_CONTRACT: &str = "/api/v1/contract/payment";
pub const PATH_NETWORKS: &str = "/api/v1/public/networklist";
pub const PATH_TOKENS: &str = "/api/v1/public/cryptocurrencies";

/// `BlockATM-Event` of a contract payment's callback.
pub const EVENT_PAYMENT: &str = "Payment";
/// `BlockATM-Event` of a QR payment's callback.
pub const EVENT_QR_PAYMENT: &str = "QR-Payment";

/// The request that creates a QR order. `chainId` is sent as a string, as every BlockATM example
/// writes it.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder {
    pub order_no: String,
    #[serde(with = "chain_id_text")]
    pub chain_id: ChainId,
    pub symbol: String,
    pub amount: DecimalText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cust_no: Option<String>,
}

/// What creation answers, as far as the product relies on it: where to pay (`toAddress`), and
/// the cashier page when given. Any other field is ignored.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatedOrder {
    pub to_address: Address,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cashier_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plat_order_no: Option<IdText>,
    /// Unix ms, when the gateway gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<u64>,
}

/// The payment callback: exactly the fields of readme.io's "Field description for payment
/// webhook", with the types of its examples. A query for an order answers with the same record
/// (the product's reading: V1 names its queries but documents no answer).
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub plat_order_no: IdText,
    /// "This value is null when the type is 3."
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cust_no: Option<String>,
    /// "Actual payment amount by the customer".
    pub amount: DecimalText,
    /// The order fee, in USDT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<DecimalText>,
    #[serde(with = "chain_id_text")]
    pub chain_id: ChainId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub symbol: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: PaymentType,
    /// -1 failure, 0 processing, 1 success.
    #[serde(serialize_with = "v1_number")]
    pub status: GatewayStatus,
    /// The order's creation, Unix ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<u64>,
}

#[cfg(feature = "gateway-wire")]
fn v1_number<S: serde::Serializer>(status: &GatewayStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i8(status.v1_number())
}

#[cfg(all(test, feature = "gateway-wire"))]
mod tests {
    use super::*;

    use crate::gateway::examples::{V1_CALLBACK_DEMO as F2, V1_SIGNED_CALLBACK as F1};

    #[test]
    fn blockatms_documented_callbacks_read() {
        let f1: Payment = serde_json::from_str(F1).unwrap();
        assert_eq!(f1.plat_order_no.0, "8210000374");
        assert_eq!(f1.amount, DecimalText("13.410037".into()));
        assert_eq!(f1.chain_id, ChainId(5));
        assert_eq!(f1.kind, PaymentType::Contract);
        assert_eq!(f1.status, GatewayStatus::Success);
        assert_eq!(f1.order_no, None);
        assert_eq!(f1.cust_no.as_deref(), Some("OrderNO_123456"));
        let f2: Payment = serde_json::from_str(F2).unwrap();
        assert_eq!(f2.kind, PaymentType::QrCode);
        assert_eq!(f2.create_time, Some(1_693_212_861_016));
        assert_eq!(f2.fee, None);
    }

    #[test]
    fn a_callback_is_written_with_the_documented_types() {
        let f1: Payment = serde_json::from_str(F1).unwrap();
        let written: serde_json::Value = serde_json::to_value(&f1).unwrap();
        assert_eq!(written["chainId"], "5");
        assert_eq!(written["status"], 1);
        assert_eq!(written["type"], 1);
        assert_eq!(written["amount"], "13.410037");
        let keys: Vec<&String> = written.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "amount",
                "chainId",
                "custNo",
                "fee",
                "network",
                "platOrderNo",
                "status",
                "symbol",
                "txId",
                "type"
            ],
            "nothing beyond the documented fields"
        );
    }

    #[test]
    fn creation_sends_chain_ids_as_strings_and_needs_only_a_receiving_address() {
        let request = CreateOrder {
            order_no: "co_1".into(),
            chain_id: ChainId(31337),
            symbol: "USDT".into(),
            amount: DecimalText("25".into()),
            cust_no: None,
        };
        assert_eq!(
            serde_json::to_string(&request).unwrap(),
            r#"{"orderNo":"co_1","chainId":"31337","symbol":"USDT","amount":"25"}"#
        );
        let created: CreatedOrder = serde_json::from_str(
            r#"{"toAddress":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512","anything":"else"}"#,
        )
        .unwrap();
        assert_eq!(created.cashier_url, None);
        assert!(serde_json::from_str::<CreatedOrder>(r#"{"cashierUrl":"x"}"#).is_err());
    }
}
