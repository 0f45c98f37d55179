//! How BlockATM writes values, read the lenient way its documents require: the same field is a
//! string in one example and a number in another (`chainId` `"5"`, `id` 8210003616, `amount`
//! `"2000.00"` and 999, `status` 1 and `"SUCCESS"`). Each reader accepts exactly the forms the
//! docs show (`docs/blockatm-api.md` §8) and names what it got otherwise.

use serde::de::{self, Deserializer};
use serde::{Serialize, Serializer};
#[cfg(feature = "gateway-wire")]
use {serde::Deserialize, serde_json::value::RawValue};

use crate::chain::ChainId;

#[cfg(feature = "gateway-wire")]
/// A JSON scalar's text: a string's content, or a number's digits exactly as written.
fn scalar_text<'de, D: Deserializer<'de>>(deserializer: D, what: &str) -> Result<String, D::Error> {
    let raw = <Box<RawValue>>::deserialize(deserializer)?;
    let text = raw.get();
    if text.starts_with('"') {
        serde_json::from_str(text).map_err(de::Error::custom)
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(de::Error::custom(format!(
            "{what} must be a string or a number, not {text}"
        )))
    }
}

/// A decimal amount as its text. Deserialises from a JSON string or a JSON number, keeping the
/// number's digits exactly as written, so no float ever rounds it.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DecimalText(pub String);

#[cfg(feature = "gateway-wire")]
impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        scalar_text(deserializer, "an amount").map(Self)
    }
}

/// An identifier the gateway writes as a string (`platOrderNo` `"8210000374"`) or a number (V2's
/// `id` 8210003616, `cashierId` 86100021): kept as its text.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct IdText(pub String);

#[cfg(feature = "gateway-wire")]
impl<'de> Deserialize<'de> for IdText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        scalar_text(deserializer, "an id").map(Self)
    }
}

#[cfg(feature = "gateway-wire")]
impl std::fmt::Display for IdText {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `chainId` as BlockATM's examples write it: a decimal string (`"1"`, `"5"`, `"11155111"`), read
/// from a string or a number, and a `0x` hex string as its network list gives TRON's
/// (`"0x2b6653dc"`). Written back as a decimal string, the way the examples send it.
pub mod chain_id_text {
    use super::*;

    pub fn serialize<S: Serializer>(id: &ChainId, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(id)
    }

    /// Reads a string or a whole number from any format: the servers' JSON and the browser's
    /// parsed objects alike.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ChainId, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = ChainId;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a chain id (a decimal or 0x-hex number, as a string or a number)")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<ChainId, E> {
                parse(text).ok_or_else(|| {
                    E::custom(format!(
                        "chainId {text:?} is not a chain id (a decimal or 0x-hex number)"
                    ))
                })
            }
            fn visit_u64<E: de::Error>(self, id: u64) -> Result<ChainId, E> {
                (id > 0)
                    .then_some(ChainId(id))
                    .ok_or_else(|| E::custom("chainId 0 is not a chain id"))
            }
            fn visit_i64<E: de::Error>(self, id: i64) -> Result<ChainId, E> {
                u64::try_from(id)
                    .map_err(|_| E::custom(format!("chainId {id} is not a chain id")))
                    .and_then(|id| self.visit_u64(id))
            }
            /// A browser's number: whole, and exact below 2^53.
            fn visit_f64<E: de::Error>(self, id: f64) -> Result<ChainId, E> {
                if id.fract() == 0.0 && (1.0..9_007_199_254_740_992.0).contains(&id) {
                    self.visit_u64(id as u64)
                } else {
                    // Not the number in the message: formatting a float would cost the widget
                    // kilobytes.
                    Err(E::custom("chainId is not a whole number"))
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }

    pub fn parse(text: &str) -> Option<ChainId> {
        let id = match text.strip_prefix("0x") {
            Some(hex) if !hex.is_empty() => u64::from_str_radix(hex, 16).ok()?,
            Some(_) => return None,
            None if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok()?,
            None => return None,
        };
        (id > 0).then_some(ChainId(id))
    }
}

/// An order's status as the gateway reports it, in any of its documented spellings:
/// V1's numbers (-1 failure, 0 processing, 1 success), the seed's `pending`/`completed`/`failed`,
/// and V2's `PENDING`/`SUCCESS`/`EXPIRED`/`CANCELLED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GatewayStatus {
    /// V1 0, V2 `PENDING`: not paid yet, or paid and confirming.
    Pending,
    /// V1 1, V2 `SUCCESS`: paid.
    Success,
    /// V1 -1: failed, cancelled or expired (V1 does not say which; the V2 migration guide maps
    /// -1 to both `CANCELLED` and `EXPIRED`).
    Failed,
    /// V2 `EXPIRED`: timed out without the full amount.
    Expired,
    /// V2 `CANCELLED`: the shopper or the gateway cancelled it.
    Cancelled,
}

impl GatewayStatus {
    /// Reads one documented spelling; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_lowercase().as_str() {
            "0" | "pending" | "processing" => Self::Pending,
            "1" | "success" | "completed" => Self::Success,
            "-1" | "failed" | "failure" => Self::Failed,
            "expired" => Self::Expired,
            "cancelled" | "canceled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// A name for each, that [`GatewayStatus::parse`] reads back as the same status (V2's
    /// names cannot tell V1's -1 from a cancellation).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Success => "success",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
        }
    }

    /// V1's number.
    pub const fn v1_number(self) -> i8 {
        match self {
            Self::Pending => 0,
            Self::Success => 1,
            Self::Failed | Self::Expired | Self::Cancelled => -1,
        }
    }

    /// V2's name.
    pub const fn v2_name(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Success => "SUCCESS",
            Self::Expired => "EXPIRED",
            Self::Failed | Self::Cancelled => "CANCELLED",
        }
    }

    /// Whether the gateway will not change it again (a late payment aside).
    pub const fn is_final(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

#[cfg(feature = "gateway-wire")]
impl<'de> Deserialize<'de> for GatewayStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = scalar_text(deserializer, "status")?;
        Self::parse(&text).ok_or_else(|| {
            de::Error::custom(format!(
                "status {text:?} is not one BlockATM documents \
                 (-1, 0, 1, PENDING, SUCCESS, EXPIRED, CANCELLED)"
            ))
        })
    }
}

/// How an order was paid: V1's `type`, V2's `orderType` (1, 2 or 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentType {
    /// 1: through the receiving contract, from a connected wallet.
    Contract,
    /// 2: scanned from a QR code.
    QrCode,
    /// 3: a plain transfer to the contract's address, naming no order.
    Direct,
}

impl PaymentType {
    pub const fn number(self) -> u8 {
        match self {
            Self::Contract => 1,
            Self::QrCode => 2,
            Self::Direct => 3,
        }
    }
}

impl Serialize for PaymentType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(self.number())
    }
}

#[cfg(feature = "gateway-wire")]
impl<'de> Deserialize<'de> for PaymentType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match scalar_text(deserializer, "type")?.as_str() {
            "1" => Ok(Self::Contract),
            "2" => Ok(Self::QrCode),
            "3" => Ok(Self::Direct),
            other => Err(de::Error::custom(format!(
                "type {other:?} is not 1, 2 or 3"
            ))),
        }
    }
}

#[cfg(feature = "gateway-wire")]
/// What a gateway answer holds: its data, or its refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<T> {
    Data(T),
    Refused { code: String, msg: String },
}

#[cfg(feature = "gateway-wire")]
#[derive(Deserialize)]
struct Probe<'a> {
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    code: Option<IdText>,
    #[serde(default)]
    msg: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// Why a gateway's answer was not read.
#[cfg(feature = "gateway-wire")]
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// Neither an envelope nor the data itself.
    #[error("{0}")]
    Unreadable(serde_json::Error),
    /// An envelope whose `code` and `success` disagree.
    #[error(
        "an envelope with success {success} and code {code:?} (\"{ENVELOPE_SUCCESS}\" is \
         success, any other an error)"
    )]
    Contradiction { success: bool, code: String },
    /// An envelope's `data` that is not the data asked for.
    #[error("data: {0}")]
    Data(serde_json::Error),
    #[error("success without data")]
    NoData,
}

/// Reads an answer bare (`{...}`, as the seed has V1's) or in V2's envelope
/// (`{code, success, data, msg, trace}`, which V1's answers may well come in too: their shape is
/// undocumented, §7.3): an object with a boolean `success` is an envelope. Its `code` is `"200"`
/// on success and an error code otherwise (§4.5); an envelope whose `code` and `success`
/// disagree is not read as either.
#[cfg(feature = "gateway-wire")]
pub fn read_answer<T: serde::de::DeserializeOwned>(text: &str) -> Result<Answer<T>, AnswerError> {
    let probe = serde_json::from_str::<Probe>(text)
        .ok()
        .filter(|p| p.success.is_some());
    let Some(probe) = probe else {
        return serde_json::from_str(text)
            .map(Answer::Data)
            .map_err(AnswerError::Unreadable);
    };
    let code = probe.code.map(|c| c.0);
    let success = probe.success == Some(true);
    if let Some(code) = code.as_deref()
        && (code == ENVELOPE_SUCCESS) != success
    {
        return Err(AnswerError::Contradiction {
            success,
            code: code.to_owned(),
        });
    }
    match (success, probe.data) {
        (true, Some(data)) => serde_json::from_str(data.get())
            .map(Answer::Data)
            .map_err(AnswerError::Data),
        (true, None) => Err(AnswerError::NoData),
        (false, _) => Ok(Answer::Refused {
            code: code.unwrap_or_default(),
            msg: probe.msg.or(probe.message).unwrap_or_default(),
        }),
    }
}

/// The envelope's `code` of a success (§4.5).
#[cfg(feature = "gateway-wire")]
const ENVELOPE_SUCCESS: &str = "200";

#[cfg(feature = "gateway-wire")]
/// One record or several: where the docs name a query but not its answer's shape, a list and a
/// single record are both read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OneOrMany<T> {
    Many(Vec<T>),
    One(T),
}

// Not `#[serde(untagged)]`: that buffers the value, and the exact-text readers above need the
// original text.
#[cfg(feature = "gateway-wire")]
impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Page<'a> {
            #[serde(borrow, default)]
            list: Option<&'a RawValue>,
            #[serde(borrow, default)]
            records: Option<&'a RawValue>,
        }
        let raw = <Box<RawValue>>::deserialize(deserializer)?;
        let text = raw.get();
        // A page of records, as V2's list (`list`) and the seed's (`records`) write it.
        let page = serde_json::from_str::<Page>(text)
            .ok()
            .and_then(|p| p.list.or(p.records))
            .filter(|items| items.get().starts_with('['));
        match page {
            Some(items) => serde_json::from_str(items.get()).map(Self::Many),
            None if text.starts_with('[') => serde_json::from_str(text).map(Self::Many),
            None => serde_json::from_str(text).map(Self::One),
        }
        .map_err(de::Error::custom)
    }
}

#[cfg(feature = "gateway-wire")]
impl<T> OneOrMany<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            Self::Many(all) => all,
            Self::One(one) => vec![one],
        }
    }
}

#[cfg(all(test, feature = "gateway-wire"))]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Ids {
        #[serde(with = "chain_id_text")]
        chain: ChainId,
        id: IdText,
        amount: DecimalText,
        status: GatewayStatus,
    }

    #[test]
    fn values_read_as_strings_or_numbers_exactly_as_written() {
        let strings: Ids = serde_json::from_str(
            r#"{"chain":"5","id":"8210000374","amount":"13.410037","status":"1"}"#,
        )
        .unwrap();
        let numbers: Ids =
            serde_json::from_str(r#"{"chain":5,"id":8210000374,"amount":13.410037,"status":1}"#)
                .unwrap();
        assert_eq!(strings.chain, ChainId(5));
        assert_eq!(numbers.chain, ChainId(5));
        assert_eq!(strings.id, numbers.id);
        assert_eq!(strings.amount, numbers.amount, "no float rounds a number");
        assert_eq!(strings.status, GatewayStatus::Success);
        assert_eq!(numbers.status, GatewayStatus::Success);
        let tron: Ids =
            serde_json::from_str(r#"{"chain":"0x2b6653dc","id":1,"amount":"1","status":0}"#)
                .unwrap();
        assert_eq!(tron.chain, ChainId(0x2b66_53dc));
    }

    #[test]
    fn every_documented_status_spelling_reads_and_others_are_named() {
        use GatewayStatus::*;
        for (text, status) in [
            ("-1", Failed),
            ("0", Pending),
            ("1", Success),
            ("pending", Pending),
            ("completed", Success),
            ("failed", Failed),
            ("PENDING", Pending),
            ("SUCCESS", Success),
            ("EXPIRED", Expired),
            ("CANCELLED", Cancelled),
        ] {
            assert_eq!(GatewayStatus::parse(text), Some(status), "{text}");
        }
        for status in [Pending, Success, Failed, Expired, Cancelled] {
            assert_eq!(GatewayStatus::parse(status.as_str()), Some(status));
        }
        let error = serde_json::from_str::<GatewayStatus>("9").unwrap_err();
        assert!(error.to_string().contains("status \"9\""), "{error}");
        assert!(serde_json::from_str::<GatewayStatus>("true").is_err());
    }

    #[test]
    fn chain_ids_are_written_as_the_docs_send_them() {
        #[derive(Serialize)]
        struct Out {
            #[serde(with = "chain_id_text")]
            chain_id: ChainId,
        }
        let text = serde_json::to_string(&Out {
            chain_id: ChainId(31337),
        })
        .unwrap();
        assert_eq!(text, r#"{"chain_id":"31337"}"#);
        for bad in ["", "0x", "abc", "1.5", "-1", "0"] {
            assert_eq!(chain_id_text::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn answers_are_read_bare_or_enveloped() {
        #[derive(Debug, Clone, PartialEq, Deserialize)]
        struct Order {
            amount: DecimalText,
        }
        let bare: Answer<Order> = read_answer(r#"{"amount":"25"}"#).unwrap();
        let wrapped: Answer<Order> = read_answer(
            r#"{"code":"200","success":true,"data":{"amount":25.10},"msg":"","trace":"t"}"#,
        )
        .unwrap();
        assert_eq!(
            bare,
            Answer::Data(Order {
                amount: DecimalText("25".into())
            })
        );
        assert_eq!(
            wrapped,
            Answer::Data(Order {
                amount: DecimalText("25.10".into())
            })
        );
        let refused: Answer<Order> = read_answer(
            r#"{"code":"000202","success":false,"data":null,"msg":"Data Not Found","trace":"t"}"#,
        )
        .unwrap();
        assert_eq!(
            refused,
            Answer::Refused {
                code: "000202".into(),
                msg: "Data Not Found".into()
            }
        );
        assert!(matches!(
            read_answer::<Order>(r#"{"success":true}"#),
            Err(AnswerError::NoData)
        ));
        // The envelope without its optional fields, as docs.blockatm.net's examples and a
        // V1 answer in it may come: `code` and `success` are enough.
        assert_eq!(
            read_answer::<Order>(r#"{"code":"200","success":true,"data":{"amount":"1"}}"#).unwrap(),
            Answer::Data(Order {
                amount: DecimalText("1".into())
            })
        );
        assert_eq!(
            read_answer::<Order>(r#"{"code":"000110","success":false,"data":null}"#).unwrap(),
            Answer::Refused {
                code: "000110".into(),
                msg: String::new()
            }
        );
        for contradiction in [
            r#"{"code":"000101","success":true,"data":{"amount":"1"}}"#,
            r#"{"code":"200","success":false,"data":null,"msg":"?"}"#,
        ] {
            let error = read_answer::<Order>(contradiction).unwrap_err();
            assert!(
                matches!(error, AnswerError::Contradiction { .. }),
                "{contradiction}: {error}"
            );
            assert!(
                error.to_string().contains("code"),
                "{contradiction}: {error}"
            );
        }
        assert!(read_answer::<Order>("<html>").is_err());
        let many: OneOrMany<Order> = serde_json::from_str(r#"[{"amount":"1"}]"#).unwrap();
        let one: OneOrMany<Order> = serde_json::from_str(r#"{"amount":"1"}"#).unwrap();
        let page: OneOrMany<Order> =
            serde_json::from_str(r#"{"list":[{"amount":"1"}],"total":1,"page":1}"#).unwrap();
        let records: OneOrMany<Order> =
            serde_json::from_str(r#"{"records":[{"amount":"1"}],"total":1}"#).unwrap();
        assert_eq!(many.clone().into_vec(), one.into_vec());
        assert_eq!(page.into_vec(), many.clone().into_vec());
        assert_eq!(records.into_vec(), many.into_vec());
    }
}
