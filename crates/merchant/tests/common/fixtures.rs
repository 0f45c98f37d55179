//! Checkouts made in-process, for the tests that call the app's router directly.

use usdt_checkout_protocol::ChainId;
use usdt_checkout_server::checkouts::Checkouts;
use usdt_checkout_server::domain::{Checkout, CreatedBy, PaymentTerms, Price};
use usdt_checkout_testkit::now_ms;

/// Checkout `id` for a 12 USDT mug, waiting on the local chain, with its gateway order as the
/// gateway would have made it (numbered `id`, paid to P0000000001's address).
pub async fn waiting_checkout(checkouts: &Checkouts, id: &str) -> Checkout {
    let open = Checkout::open(
        id.into(),
        CreatedBy::Storefront,
        "Mug".into(),
        Price {
            amount: "12".parse().unwrap(),
            currency: "USDT".into(),
        },
    );
    checkouts.open(&open).await.unwrap();
    let address = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        .parse()
        .unwrap();
    let terms = PaymentTerms {
        chain_id: ChainId::LOCAL,
        symbol: "USDT".into(),
        token_contract: address,
        decimals: 6,
        amount_atomic: 12_000_000,
        gateway_order_no: open.id.clone(),
        plat_order_no: "P0000000001".into(),
        pay_amount_atomic: 12_000_000,
        to_address: address,
        cashier_url: "http://gateway.test/cashier/P0000000001".into(),
        expires_at: now_ms() + 900_000,
        required_confirmations: 2,
    };
    checkouts.attach_order(&open.id, &terms).await.unwrap()
}
