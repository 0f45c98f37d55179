//! BlockATM V2: its GitBook (2025) for the payment event, the query paths and the envelope, and
//! docs.blockatm.net for order creation, the one V2 source with a creation API (the GitBook sends
//! merchants to its cashier widget instead; see `docs/blockatm-api.md` C20). Its answer carries
//! no receiving address, so the merchant configures one per chain, as its console shows it.

use std::collections::BTreeMap;

use usdt_checkout_protocol::gateway::v2::{self, CreateOrder, OrderDetail, PaymentEvent};
use usdt_checkout_protocol::gateway::wire::OneOrMany;
use usdt_checkout_protocol::gateway::{
    Answer, DecimalText, ErrorCode, HEADER_SIGNATURE_V2, read_answer,
};
use usdt_checkout_protocol::signature::{V2SecretKey, Verifier};
use usdt_checkout_protocol::{Address, ChainId};

use super::{
    Call, CreatedOrder, Dialect, DialectError, GatewayReport, NewOrder, Provenance,
    WEBHOOK_WINDOW_MS, query_string, reported_amount, reported_tx,
};

/// V2, with its keys and the merchant's cashier: calls and webhooks are signed with two secrets
/// of this merchant's own, from its console.
#[derive(Debug, Clone)]
pub struct BlockatmV2 {
    /// Signs calls (the console's API secret).
    pub secret: V2SecretKey,
    /// Signs the gateway's webhooks (the console's separate webhook key).
    pub webhook_secret: V2SecretKey,
    /// The cashier orders are made for (`cashierId`), from the console.
    pub cashier_id: String,
    /// Where each chain's payments go: the cashier's receiving contract.
    pub receiving_addresses: BTreeMap<ChainId, Address>,
}

impl BlockatmV2 {
    /// The configured receiving address of `chain`.
    fn receiving_address(&self, chain: ChainId) -> Result<Address, DialectError> {
        self.receiving_addresses
            .get(&chain)
            .copied()
            .ok_or(DialectError::NoReceivingAddress(chain))
    }
}

impl Dialect for BlockatmV2 {
    fn name(&self) -> &'static str {
        "blockatm-v2"
    }

    fn sign(&self, signed_string: &str) -> (&'static str, String) {
        (HEADER_SIGNATURE_V2, self.secret.sign(signed_string))
    }

    fn webhook_verifier(&self) -> Verifier {
        Verifier::new(None, Some(self.webhook_secret.clone())).with_max_window_ms(WEBHOOK_WINDOW_MS)
    }

    fn networks_path(&self) -> &'static str {
        v2::PATH_NETWORKS
    }

    fn tokens_path(&self) -> &'static str {
        v2::PATH_TOKENS
    }

    fn create(&self, order: &NewOrder) -> Call {
        let body = CreateOrder {
            cashier_id: Some(self.cashier_id.clone()),
            order_no: order.order_no.clone(),
            amount: DecimalText(order.amount.to_string()),
            symbol: order.symbol.clone(),
            chain_id: order.chain_id,
            cust_no: None,
        };
        Call::Post {
            path: v2::PATH_CREATE_ORDER,
            body: serde_json::to_string(&body).expect("requests serialise"),
        }
    }

    fn created(
        &self,
        order: &NewOrder,
        answer: &str,
    ) -> Result<Answer<CreatedOrder>, DialectError> {
        let created = match read_answer::<v2::CreatedOrder>(answer)? {
            Answer::Data(created) => created,
            Answer::Refused { code, msg } => return Ok(Answer::Refused { code, msg }),
        };
        let to_address = match created.to_address {
            Some(address) => address,
            None => self.receiving_address(order.chain_id)?,
        };
        Ok(Answer::Data(CreatedOrder {
            to_address,
            cashier_url: created.pay_url.filter(|url| !url.is_empty()),
            plat_order_no: None,
            expire_time: created.expire_time,
            made_at: None,
        }))
    }

    /// "Data Already Exists" is the code for it; "Duplicate Request" (`000106`), the other
    /// code its table has for a repeat, may be too (docs/blockatm-api.md §7.15). Either way the
    /// order is read back; if the detail says there is none, the shopper is told to retry, and
    /// the retry makes it.
    fn exists_codes(&self) -> &'static [&'static str] {
        const EXISTS: [&str; 2] = [
            ErrorCode::DataExists.as_str(),
            ErrorCode::DuplicateSubmit.as_str(),
        ];
        &EXISTS
    }

    /// The order's detail carries its chain, token and cashier, which must be those asked, but
    /// neither a pay page nor an expiry (S11's fields: `orderNo, cashierId, amount, symbol,
    /// chainId, status, txId, createTime, updateTime`). Its `amount` is read, as everywhere,
    /// as what the shopper paid, so it says nothing of the amount asked: that one is the
    /// checkout's own, kept before the first attempt and sent again by every retry. The
    /// shopper pays the configured receiving address, as after any V2 creation.
    fn found(&self, order: &NewOrder, answer: &str) -> Result<Answer<CreatedOrder>, DialectError> {
        let details = match read_answer::<OneOrMany<OrderDetail>>(answer)? {
            Answer::Data(details) => details.into_vec(),
            Answer::Refused { code, msg } => return Ok(Answer::Refused { code, msg }),
        };
        let detail = details
            .into_iter()
            .find(|d| d.order_no == order.order_no)
            .ok_or_else(|| DialectError::AnotherOrder(order.order_no.clone()))?;
        let mut differs = vec![];
        if detail.chain_id != order.chain_id {
            differs.push(format!(
                "chain {} (asked {})",
                detail.chain_id, order.chain_id
            ));
        }
        if !detail.symbol.eq_ignore_ascii_case(&order.symbol) {
            differs.push(format!("token {} (asked {})", detail.symbol, order.symbol));
        }
        if let Some(named) = detail.cashier_id.filter(|named| named.0 != self.cashier_id) {
            differs.push(format!("cashier {named} (ours {})", self.cashier_id));
        }
        if !differs.is_empty() {
            return Ok(Answer::Refused {
                code: ErrorCode::DataExists.as_str().into(),
                msg: format!(
                    "order {} exists at the gateway with other terms: {}",
                    order.order_no,
                    differs.join(", ")
                ),
            });
        }
        Ok(Answer::Data(CreatedOrder {
            to_address: self.receiving_address(order.chain_id)?,
            cashier_url: None,
            plat_order_no: None,
            expire_time: None,
            made_at: detail.create_time,
        }))
    }

    fn query(&self, order_no: &str) -> Call {
        Call::Get {
            path: v2::PATH_ORDER_DETAIL,
            query: query_string(&[("orderNo", order_no)]),
        }
    }

    fn queried(&self, answer: &str) -> Result<Answer<Vec<GatewayReport>>, DialectError> {
        Ok(match read_answer::<OneOrMany<OrderDetail>>(answer)? {
            Answer::Data(details) => Answer::Data(
                details
                    .into_vec()
                    .into_iter()
                    .map(|detail| {
                        Ok(GatewayReport {
                            order_no: Some(detail.order_no),
                            plat_order_no: None,
                            status: detail.status,
                            amount: Some(reported_amount(detail.amount)?),
                            tx_id: reported_tx(detail.tx_id),
                            chain_id: Some(detail.chain_id),
                            symbol: Some(detail.symbol),
                            account: detail.cashier_id.map(|id| id.0),
                        })
                    })
                    .collect::<Result<_, DialectError>>()?,
            ),
            Answer::Refused { code, msg } => Answer::Refused { code, msg },
        })
    }

    fn webhook(
        &self,
        event: Option<&str>,
        body: &str,
    ) -> Result<Option<GatewayReport>, DialectError> {
        // V2's pages write the event `Payment` and `payment`; payouts are not about orders.
        if event.is_some_and(|e| !e.eq_ignore_ascii_case(v2::EVENT_PAYMENT)) {
            return Ok(None);
        }
        let event: PaymentEvent =
            serde_json::from_str(body).map_err(|error| DialectError::NotAPayment {
                what: "event",
                error,
            })?;
        Ok(Some(GatewayReport {
            order_no: event.order_no.filter(|no| !no.is_empty()),
            plat_order_no: Some(event.id.0),
            status: event.status,
            amount: Some(reported_amount(event.amount)?),
            tx_id: reported_tx(event.tx_id),
            chain_id: Some(event.chain_id),
            symbol: Some(event.symbol),
            account: event.cashier_id.map(|id| id.0),
        }))
    }

    fn webhook_provenance(&self) -> Provenance {
        // Signed with the webhook secret from this merchant's own console.
        Provenance::MerchantSigned
    }

    fn account(&self) -> Option<&str> {
        Some(&self.cashier_id)
    }
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::TokenAmount;
    use usdt_checkout_protocol::gateway::GatewayStatus;

    use super::*;

    const TO: &str = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512";

    fn dialect() -> BlockatmV2 {
        BlockatmV2 {
            secret: V2SecretKey::new("sk_for_the_dialect_tests").unwrap(),
            webhook_secret: V2SecretKey::new("whsec_for_the_dialect_tests").unwrap(),
            cashier_id: "91".into(),
            receiving_addresses: [(ChainId(31337), TO.parse().unwrap())].into(),
        }
    }

    #[test]
    fn calls_are_signed_with_the_secret_and_webhooks_checked_with_the_webhook_secret() {
        let dialect = dialect();
        let (header, signature) = dialect.sign("orderNo=co_1&time=1");
        assert_eq!(header, HEADER_SIGNATURE_V2);
        assert_eq!(signature, dialect.secret.sign("orderNo=co_1&time=1"));
        let webhook_signed_by = |key: &V2SecretKey| {
            super::super::tests::check_webhook(&dialect, |signed| {
                (HEADER_SIGNATURE_V2, key.sign(signed))
            })
        };
        assert_eq!(webhook_signed_by(&dialect.webhook_secret), Ok(()));
        assert!(
            webhook_signed_by(&dialect.secret).is_err(),
            "the webhook secret signs webhooks, not the API secret"
        );
    }

    fn order(chain: u64) -> NewOrder {
        NewOrder {
            order_no: "co_1".into(),
            chain_id: ChainId(chain),
            symbol: "USDT".into(),
            amount: TokenAmount::new(25_000_000, 6),
        }
    }

    #[test]
    fn creation_pays_the_configured_address_of_the_chain() {
        let Call::Post { path, body } = dialect().create(&order(31337)) else {
            panic!("creation is a POST")
        };
        assert_eq!(path, "/order/api/v2/pay/order");
        assert_eq!(
            body,
            r#"{"cashierId":"91","orderNo":"co_1","amount":"25","symbol":"USDT","chainId":"31337"}"#
        );
        let answer = r#"{"code":"200","success":true,"msg":"","trace":"t",
            "data":{"orderNo":"co_1","payUrl":"https://pay.example/x","expireTime":1742729435000}}"#;
        let Answer::Data(created) = dialect().created(&order(31337), answer).unwrap() else {
            panic!("data")
        };
        assert_eq!(created.to_address.to_string(), TO);
        assert_eq!(
            created.cashier_url.as_deref(),
            Some("https://pay.example/x")
        );
        assert_eq!(created.expire_time, Some(1_742_729_435_000));
        let error = dialect().created(&order(1), answer).unwrap_err();
        assert!(
            matches!(error, DialectError::NoReceivingAddress(ChainId(1))),
            "{error}"
        );
        assert!(error.to_string().contains("receiving_addresses"), "{error}");
    }

    #[test]
    fn an_order_found_made_already_is_read_back_from_its_detail_when_its_terms_are_ours() {
        assert_eq!(
            dialect().exists_codes(),
            ["000201", "000106"],
            "Data Already Exists, Duplicate Request"
        );
        let detail = |chain: &str, symbol: &str, cashier: &str| {
            format!(
                r#"{{"code":"200","success":true,"msg":"","trace":"t","data":
                {{"orderNo":"co_1","cashierId":"{cashier}","amount":"0","symbol":"{symbol}",
                  "chainId":"{chain}","status":"PENDING","createTime":1742729000000,
                  "updateTime":1742729000000}}}}"#
            )
        };
        let Answer::Data(found) = dialect()
            .found(&order(31337), &detail("31337", "USDT", "91"))
            .unwrap()
        else {
            panic!("data")
        };
        assert_eq!(found.to_address.to_string(), TO, "the configured address");
        assert_eq!(found.made_at, Some(1_742_729_000_000));
        assert_eq!((found.cashier_url, found.expire_time), (None, None));
        for (other, named) in [
            (detail("1", "USDT", "91"), "chain 1"),
            (detail("31337", "USDC", "91"), "token USDC"),
            (detail("31337", "USDT", "92"), "cashier 92"),
        ] {
            let refused = dialect().found(&order(31337), &other).unwrap();
            let Answer::Refused { code, msg } = refused else {
                panic!("{other}: {refused:?}")
            };
            assert_eq!(code, "000201");
            assert!(msg.contains(named) && msg.contains("co_1"), "{msg}");
        }
        let not_found =
            r#"{"code":"000202","success":false,"data":null,"msg":"Data Not Found","trace":"t"}"#;
        assert_eq!(
            dialect().found(&order(31337), not_found).unwrap(),
            Answer::Refused {
                code: "000202".into(),
                msg: "Data Not Found".into()
            }
        );
        let another = detail("31337", "USDT", "91").replace("co_1", "co_2");
        assert!(dialect().found(&order(31337), &another).is_err());
    }

    #[test]
    fn blockatms_documented_payment_event_is_a_report() {
        // The GitBook's example (docs/blockatm-api.md F7, zero-width spaces removed).
        let body = usdt_checkout_protocol::gateway::examples::V2_PAYMENT_EVENT;
        for event in [Some("Payment"), Some("payment"), None] {
            let report = dialect().webhook(event, body).unwrap().unwrap();
            assert_eq!(report.order_no.as_deref(), Some("OrderNo_202504010023"));
            assert_eq!(report.plat_order_no.as_deref(), Some("8210003616"));
            assert_eq!(report.status, GatewayStatus::Success);
            assert_eq!(report.amount, Some("2000.00".parse().unwrap()));
        }
        assert_eq!(dialect().webhook(Some("payout"), body).unwrap(), None);
    }

    #[test]
    fn a_query_reads_the_order_detail() {
        let answer = r#"{"code":"200","success":true,"msg":"","trace":"t","data":
            {"orderNo":"co_1","amount":"25","symbol":"USDT","chainId":"31337","status":"EXPIRED"}}"#;
        let Answer::Data(reports) = dialect().queried(answer).unwrap() else {
            panic!("data")
        };
        assert_eq!(reports[0].status, GatewayStatus::Expired);
        let refused =
            r#"{"code":"000202","success":false,"data":null,"msg":"Data Not Found","trace":"t"}"#;
        assert!(matches!(
            dialect().queried(refused).unwrap(),
            Answer::Refused { .. }
        ));
    }
}
