//! BlockATM V1: readme.io's callback and signing pages and its Java signing demo
//! (`docs/blockatm-api.md` §2–3). Creation's path and answer are not documented: the server
//! sends `orderNo, chainId, symbol, amount` and needs only `toAddress` back.

use usdt_checkout_protocol::ChainId;
use usdt_checkout_protocol::gateway::v1::{self, CreateOrder, Payment};
use usdt_checkout_protocol::gateway::wire::{IdText, OneOrMany};
use usdt_checkout_protocol::gateway::{
    Answer, DecimalText, GatewayStatus, HEADER_SIGNATURE_V1, read_answer,
};
use usdt_checkout_protocol::signature::{V1PrivateKey, V1PublicKey, Verifier};

use super::{
    Call, CreatedOrder, Dialect, DialectError, GatewayReport, NewOrder, Provenance,
    WEBHOOK_WINDOW_MS, query_string, reported_amount, reported_tx,
};

/// V1, with its keys: calls signed with the merchant's private key, webhooks checked with the
/// gateway's public key (its one platform key, which signs every merchant's callbacks).
#[derive(Debug, Clone)]
pub struct BlockatmV1 {
    /// The merchant's, whose public half the gateway's console holds.
    pub key: V1PrivateKey,
    /// The gateway's, from its console.
    pub webhook_key: V1PublicKey,
}

impl Dialect for BlockatmV1 {
    fn name(&self) -> &'static str {
        "blockatm-v1"
    }

    fn sign(&self, signed_string: &str) -> (&'static str, String) {
        (HEADER_SIGNATURE_V1, self.key.sign(signed_string))
    }

    fn webhook_verifier(&self) -> Verifier {
        Verifier::new(Some(self.webhook_key.clone()), None).with_max_window_ms(WEBHOOK_WINDOW_MS)
    }

    fn networks_path(&self) -> &'static str {
        v1::PATH_NETWORKS
    }

    fn tokens_path(&self) -> &'static str {
        v1::PATH_TOKENS
    }

    fn create(&self, order: &NewOrder) -> Call {
        let body = CreateOrder {
            order_no: order.order_no.clone(),
            chain_id: order.chain_id,
            symbol: order.symbol.clone(),
            amount: DecimalText(order.amount.to_string()),
            cust_no: None,
        };
        Call::Post {
            path: v1::PATH_CREATE_ORDER,
            body: serde_json::to_string(&body).expect("requests serialise"),
        }
    }

    fn created(&self, _: &NewOrder, answer: &str) -> Result<Answer<CreatedOrder>, DialectError> {
        Ok(match read_answer::<v1::CreatedOrder>(answer)? {
            Answer::Data(created) => Answer::Data(CreatedOrder {
                to_address: created.to_address,
                cashier_url: created.cashier_url.filter(|url| !url.is_empty()),
                plat_order_no: created.plat_order_no.map(|id| id.0),
                expire_time: created.expire_time,
                made_at: None,
            }),
            Answer::Refused { code, msg } => Answer::Refused { code, msg },
        })
    }

    fn query(&self, order_no: &str) -> Call {
        Call::Get {
            path: v1::PATH_QUERY_QR_PAYMENT,
            query: query_string(&[("orderNo", order_no)]),
        }
    }

    fn queried(&self, answer: &str) -> Result<Answer<Vec<GatewayReport>>, DialectError> {
        // Each record read alone: one that is neither shape is skipped, said, and the others
        // count.
        Ok(
            match read_answer::<OneOrMany<Box<serde_json::value::RawValue>>>(answer)? {
                Answer::Data(records) => Answer::Data(
                    records
                        .into_vec()
                        .iter()
                        .filter_map(|record| match record_report(record.get()) {
                            Ok(report) => Some(report),
                            Err(e) => {
                                tracing::warn!("a payment record the server cannot read: {e}");
                                None
                            }
                        })
                        .collect(),
                ),
                Answer::Refused { code, msg } => Answer::Refused { code, msg },
            },
        )
    }

    fn webhook(
        &self,
        event: Option<&str>,
        body: &str,
    ) -> Result<Option<GatewayReport>, DialectError> {
        // `Payout` and `QR-Payout` are about the merchant's payouts, not its orders.
        let about_payment = event.is_none_or(|e| {
            e.eq_ignore_ascii_case(v1::EVENT_PAYMENT)
                || e.eq_ignore_ascii_case(v1::EVENT_QR_PAYMENT)
        });
        if !about_payment {
            return Ok(None);
        }
        let payment: Payment =
            serde_json::from_str(body).map_err(|error| DialectError::NotAPayment {
                what: "callback",
                error,
            })?;
        report(payment).map(Some)
    }

    fn webhook_provenance(&self) -> Provenance {
        // Callbacks are signed with the gateway's one platform key.
        Provenance::GatewaySigned
    }
}

/// A payment record in the shape BlockATM's V1 callback documents, or in the project's seed
/// (`{orderId, status, amount, symbol, chainId, toAddress, timestamp}`, `../shared/gateway-api.md`:
/// the query is made by our order number, so `orderId` is read as it; `status` by name,
/// `completed` being paid).
fn record_report(record: &str) -> Result<GatewayReport, DialectError> {
    if let Ok(payment) = serde_json::from_str::<Payment>(record) {
        return report(payment);
    }
    let seed: SeedRecord = serde_json::from_str(record).map_err(|error| DialectError::Record {
        error,
        record: record.to_owned(),
    })?;
    Ok(GatewayReport {
        order_no: Some(seed.order_id.0).filter(|id| !id.is_empty()),
        plat_order_no: None,
        status: seed.status,
        amount: Some(reported_amount(seed.amount)?),
        tx_id: reported_tx(seed.tx_id),
        chain_id: Some(seed.chain_id),
        symbol: Some(seed.symbol),
        account: None,
    })
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct SeedRecord {
    order_id: IdText,
    status: GatewayStatus,
    amount: DecimalText,
    symbol: String,
    #[serde(with = "usdt_checkout_protocol::gateway::wire::chain_id_text")]
    chain_id: ChainId,
    #[serde(default)]
    tx_id: Option<String>,
}

fn report(payment: Payment) -> Result<GatewayReport, DialectError> {
    Ok(GatewayReport {
        order_no: payment.order_no.filter(|no| !no.is_empty()),
        plat_order_no: Some(payment.plat_order_no.0),
        status: payment.status,
        amount: Some(reported_amount(payment.amount)?),
        tx_id: reported_tx(payment.tx_id),
        chain_id: Some(payment.chain_id),
        symbol: Some(payment.symbol),
        account: None,
    })
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::TokenAmount;

    use super::*;

    /// V1 with keys of its own (the webhook key is the gateway's, made here too).
    fn v1() -> BlockatmV1 {
        BlockatmV1 {
            key: V1PrivateKey::generate(),
            webhook_key: V1PrivateKey::generate().public_key(),
        }
    }

    #[test]
    fn calls_are_signed_with_the_merchants_key_and_webhooks_checked_with_the_gateways() {
        let dialect = v1();
        let (header, signature) = dialect.sign("orderNo=co_1&time=1");
        assert_eq!(header, HEADER_SIGNATURE_V1);
        assert_eq!(
            dialect
                .key
                .public_key()
                .verify("orderNo=co_1&time=1", &signature),
            Ok(())
        );
        let gateway = V1PrivateKey::generate();
        let dialect = BlockatmV1 {
            webhook_key: gateway.public_key(),
            ..dialect
        };
        let webhook_signed_by = |key: &V1PrivateKey| {
            super::super::tests::check_webhook(&dialect, |signed| {
                (HEADER_SIGNATURE_V1, key.sign(signed))
            })
        };
        assert_eq!(webhook_signed_by(&gateway), Ok(()));
        assert!(
            webhook_signed_by(&dialect.key).is_err(),
            "only the gateway's key signs its webhooks"
        );
    }

    fn order() -> NewOrder {
        NewOrder {
            order_no: "co_1".into(),
            chain_id: ChainId(31337),
            symbol: "USDT".into(),
            amount: TokenAmount::new(25_000_001, 6),
        }
    }

    #[test]
    fn creation_sends_the_documented_types_and_reads_a_bare_or_enveloped_answer() {
        let Call::Post { path, body } = v1().create(&order()) else {
            panic!("creation is a POST");
        };
        assert_eq!(path, "/api/v1/payment/createQrOrder");
        assert_eq!(
            body,
            r#"{"orderNo":"co_1","chainId":"31337","symbol":"USDT","amount":"25.000001"}"#
        );
        let to = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";
        let bare = v1()
            .created(&order(), &format!(r#"{{"toAddress":"{to}"}}"#))
            .unwrap();
        let Answer::Data(bare) = bare else {
            panic!("{bare:?}")
        };
        assert_eq!(bare.to_address.to_string(), to);
        assert_eq!((bare.cashier_url, bare.expire_time), (None, None));
        let wrapped = v1()
            .created(
                &order(),
                &format!(
                    r#"{{"code":"200","success":true,"msg":"","trace":"t","data":
                    {{"toAddress":"{to}","cashierUrl":"https://cashier.example/1","platOrderNo":8210000001}}}}"#
                ),
            )
            .unwrap();
        let Answer::Data(wrapped) = wrapped else {
            panic!("{wrapped:?}")
        };
        assert_eq!(wrapped.plat_order_no.as_deref(), Some("8210000001"));
        assert!(v1().created(&order(), r#"{"cashierUrl":"x"}"#).is_err());
    }

    #[test]
    fn blockatms_documented_callback_is_a_report() {
        // readme.io "Signature" example (docs/blockatm-api.md F1), with an orderNo as on a QR
        // order (the example's own has none: its type is 1).
        let body = r#"{"amount":"13.410037","chainId":"5","custNo":"OrderNO_123456","fee":"2",
            "network":"TRON","orderNo":"co_1","platOrderNo":"8210000374","status":1,
            "symbol":"USDT","txId":"1t","type":1,"createTime":1693212861016}"#;
        let report = v1().webhook(Some("QR-Payment"), body).unwrap().unwrap();
        assert_eq!(report.order_no.as_deref(), Some("co_1"));
        assert_eq!(report.status, GatewayStatus::Success);
        assert_eq!(report.amount, Some("13.410037".parse().unwrap()));
        assert_eq!(
            report.tx_id, None,
            "TRON's \"1t\" is no transaction this server reads"
        );
        let upper = format!("0X{}", "AB".repeat(32));
        let named = v1()
            .webhook(Some("QR-Payment"), &body.replace("1t", &upper))
            .unwrap()
            .unwrap();
        assert_eq!(
            named.tx_id,
            Some(usdt_checkout_protocol::TxHash::from_bytes([0xab; 32])),
            "in lower case, as the chain reads it"
        );
        assert_eq!(
            v1().webhook(Some("Payout"), body).unwrap(),
            None,
            "a payout's callback is not about an order"
        );
        let error = v1()
            .webhook(
                Some("Payment"),
                &body.replace(r#""type":1"#, r#""type":"QR-Payment""#),
            )
            .unwrap_err();
        assert!(error.to_string().contains("type"), "{error}");
    }

    #[test]
    fn blockatms_callback_demo_data_reads_and_names_no_order() {
        // readme.io "Callback parameters" demo data (docs/blockatm-api.md F2), verbatim: no
        // orderNo, an undocumented `sign`.
        let body = usdt_checkout_protocol::gateway::examples::V1_CALLBACK_DEMO;
        let report = v1().webhook(Some("QR-Payment"), body).unwrap().unwrap();
        assert_eq!(report.order_no, None);
        assert_eq!(report.plat_order_no.as_deref(), Some("8210000197"));
        assert_eq!(report.status, GatewayStatus::Success);
    }

    #[test]
    fn a_query_answer_in_the_seeds_record_shape_reads_and_a_bad_record_is_skipped() {
        let answer = r#"{"records":[
            {"orderId":"co_1","status":"completed","amount":"25.000001","symbol":"USDT",
             "chainId":"31337","toAddress":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
             "timestamp":1700000000000},
            {"what":"not a payment"}
        ]}"#;
        let Answer::Data(reports) = v1().queried(answer).unwrap() else {
            panic!("data")
        };
        assert_eq!(reports.len(), 1, "{reports:?}");
        assert_eq!(reports[0].order_no.as_deref(), Some("co_1"));
        assert_eq!(reports[0].status, GatewayStatus::Success);
        assert_eq!(reports[0].amount, Some("25.000001".parse().unwrap()));
        assert_eq!(reports[0].chain_id, Some(ChainId(31337)));
    }

    #[test]
    fn a_query_asks_by_order_number_and_reads_one_record_or_several() {
        assert_eq!(
            v1().query("co_1"),
            Call::Get {
                path: "/api/v1/payment/qrCodePayment",
                query: "orderNo=co_1".into()
            }
        );
        let record = r#"{"platOrderNo":"8210000001","orderNo":"co_1","amount":"0","chainId":"31337",
            "symbol":"USDT","type":2,"status":0}"#;
        for answer in [record.to_owned(), format!("[{record}]")] {
            let Answer::Data(reports) = v1().queried(&answer).unwrap() else {
                panic!("data")
            };
            assert_eq!(reports.len(), 1);
            assert_eq!(reports[0].status, GatewayStatus::Pending);
        }
    }
}
