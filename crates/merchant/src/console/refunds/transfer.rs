//! The exact transfer that pays an approved refund, as the merchant's own wallet is given it: an
//! EIP-681 URI (its QR code, drawn here), MetaMask's link, and what a browser wallet's
//! `eth_sendTransaction` sends (the console's `refunds.js`). The server holds no key that moves
//! money: it only says what to send.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use usdt_checkout_protocol::payment_uri::TransferRequest;

use crate::refunds::Refund;

/// The ERC-20 transfer that pays `refund`: its token, on its source payment's chain, to its
/// destination, exactly its amount.
pub fn request(refund: &Refund) -> TransferRequest {
    TransferRequest {
        chain: refund.chain_id,
        token: refund.token,
        to: refund.destination,
        atomic_units: refund.amount_atomic,
    }
}

/// `uri` as a QR code, an SVG drawn here (dark on white whatever the theme, as cameras read
/// best); `None` when it is too long for one.
pub fn qr_svg(uri: &str) -> Option<String> {
    use qrcode::render::svg;
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<svg::Color<'_>>()
            .min_dimensions(240, 240)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build(),
    )
}

/// The ways to pay `refund` (of `amount`, on `network`), for its page: the QR code, the URI as
/// text, MetaMask's link and the browser wallet's button (hidden until its script finds a
/// wallet), with a status line for progress and an alert for what went wrong.
pub fn ways_to_pay(refund: &Refund, amount: &str, network: &str) -> Markup {
    let transfer = request(refund);
    let uri = transfer.eip681();
    let id = &refund.id;
    html! {
        p {
            "Send exactly " strong { (amount) } " on " strong { (network) } " to "
            code.hash { (refund.destination) } ", from your own wallet. The chain watcher "
            "recognises the transfer and marks the refund sent; no other transfer is needed."
        }
        div.pay-ways {
            img.qr src={ "/console/refunds/" (id) "/qr.svg" } width="240" height="240"
                alt={ "QR code of the transfer, for a wallet's camera: " (amount) " on " (network) };
            div {
                p {
                    a.button href=(transfer.metamask_link()) rel="noreferrer noopener" {
                        "Open in MetaMask"
                    }
                }
                p {
                    button #wallet-pay type="button" hidden
                        data-chain=(format!("0x{:x}", transfer.chain.0))
                        data-network=(network)
                        data-token=(transfer.token)
                        data-data=(transfer.transfer_calldata())
                        data-paste="paste-tx" {
                        "Pay with a browser wallet"
                    }
                }
                p #wallet-said role="status" {}
                p #wallet-error .problem-text role="alert" {}
                details {
                    summary { "The payment request (EIP-681)" }
                    p { code #transfer-uri { (uri) } }
                }
            }
        }
        script src="/console/static/refunds.js" defer {}
    }
}

/// The browser wallet's script.
pub async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../static/refunds.js"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::refunds::RefundState;
    use usdt_checkout_protocol::{ChainId, TxHash};

    pub(crate) fn approved() -> Refund {
        Refund {
            id: "rf_0123456789abcdef01234567".into(),
            checkout_id: Some("co_1".into()),
            chain_id: ChainId(56),
            source_tx: TxHash::from_bytes([7; 32]),
            source_log_index: 3,
            token: "0x55d398326f99059ff775485246999027b3197955"
                .parse()
                .unwrap(),
            amount_atomic: 1_500_000_000_000_000_000,
            destination: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
                .parse()
                .unwrap(),
            signature: None,
            email: None,
            state: RefundState::Approved,
            reason: None,
            requested_at: 1,
            requested_by: None,
            approved_at: Some(2),
            approved_by: Some("ana".into()),
            approved_block: None,
            sent: None,
        }
    }

    #[test]
    fn the_transfer_is_the_refunds_token_chain_destination_and_amount() {
        let refund = approved();
        let uri = request(&refund).eip681();
        assert_eq!(
            uri,
            "ethereum:0x55d398326f99059fF775485246999027B3197955@56/transfer?address=\
             0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=1500000000000000000"
        );
        assert_eq!(TransferRequest::parse_eip681(&uri), Ok(request(&refund)));
    }

    #[test]
    fn the_page_gives_the_wallet_the_calldata_and_the_chain_in_hex() {
        let page = ways_to_pay(&approved(), "1.5 USDT", "BNB Smart Chain").into_string();
        assert!(page.contains(r#"data-chain="0x38""#), "{page}");
        assert!(
            page.contains(r#"data-data="0xa9059cbb0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed"#),
            "{page}"
        );
        assert!(page.contains("https://link.metamask.io/send/"), "{page}");
        assert!(
            qr_svg(&request(&approved()).eip681())
                .unwrap()
                .contains("<svg")
        );
    }
}
