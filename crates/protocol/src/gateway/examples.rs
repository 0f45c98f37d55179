//! BlockATM's own example bodies, verbatim (`docs/blockatm-api.md` §6), for the contract tests
//! of every party that reads them: one copy, so no test can drift from the docs on its own.

/// F1: readme.io's "Signature" page, the V1 callback it signs.
pub const V1_SIGNED_CALLBACK: &str = r#"{
    "amount":"13.410037",
    "chainId":"5",
    "custNo":"OrderNO_123456",
    "fee":"2",
    "network":"TRON",
    "platOrderNo":"8210000374",
    "status":1,
    "symbol":"USDT",
    "txId":"1t",
    "type":1
}"#;
/// F1's `BlockATM-Request-Time`.
pub const V1_SIGNED_CALLBACK_TIME: u64 = 1_696_947_336_603;
/// F1's `BlockATM-Signature-V1`.
pub const V1_SIGNED_CALLBACK_SIGNATURE: &str = "MEYCIQDHxQ0IhgUNbRqTKbU71fBkp+lAJlMXEQYt6mDQfWRY7gIhAMWIpVoG6qBhgIPi30x30wLlAaxyhptZfm6nMRz75VxA";
/// The public key of BlockATM's Java signing demo, which verifies F1.
pub const V1_DEMO_PUBLIC_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEsjqDDEF5uuVoAFCxftskpMszLQMro888rFlrowcTzVibc4J2PgDywFZYXc6x21yHcenJ2bCZ/03XkMrbKqqEwA==";

/// F2: readme.io's "Callback parameters" demo data, with its undocumented `sign`.
pub const V1_CALLBACK_DEMO: &str = r#"{
"symbol":"USDT",
"amount":"100000",
"network":"Ethereum",
"chainId":"5",
"createTime":1693212861016,
"platOrderNo":"8210000197",
"sign":"d66640d58b14a657e31e3be7cc60c6f6",
"txId":"0xf3d879bad10f4cfe481d9e53538a0889c04c0973dfff82797ef7604143fc9984",
"type":2,
"status":1
}"#;

/// F7: the V2 GitBook's PaymentEvent example, with the zero-width spaces that make the published
/// text invalid JSON removed.
pub const V2_PAYMENT_EVENT: &str = r#"{
  "custNo": "CustNo_00240101",
  "orderNo": "OrderNo_202504010023",
  "id": 8210003616,
  "symbol": "USDT",
  "amount": "2000.00",
  "status": "SUCCESS",
  "txId": "0x7614a9840d9422feaef4671e0ee98dd7092ebcba6e41076285f99d0b2b0de5fe",
  "network": "Ethereum",
  "chainId": "1",
  "fromAddress": "0xa9e358e33a57e67c9b84618a52f0194c345c8e35",
  "cashierId": 86100021
}"#;
