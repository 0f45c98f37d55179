//! Links that make a wallet pay an exact ERC-20 transfer: the EIP-681 URI (for the QR code) and
//! MetaMask's deep link (for the button on mobile).
//!
//! Wallets mis-parse decimals and scientific notation, so the amount is always a plain integer of
//! atomic units (`uint256=13410000`, never `value=13.41` or `1.341e7`), and the chain is always
//! named (`@1`) so a wallet on another network cannot send the transfer there.

use std::fmt;

use crate::address::{Address, AddressError};
use crate::chain::ChainId;

const EIP681_SCHEME: &str = "ethereum:";
const METAMASK_SEND: &str = "https://link.metamask.io/send/";

/// An ERC-20 `transfer(to, amount)` on one chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferRequest {
    pub chain: ChainId,
    pub token: Address,
    pub to: Address,
    pub atomic_units: u128,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentUriError {
    #[error(
        "not an ERC-20 transfer URI of the form ethereum:<token>@<chain>/transfer?address=<to>&uint256=<amount>"
    )]
    Shape,
    #[error("the URI's {0} is not a valid address: {1}")]
    Address(&'static str, AddressError),
    #[error("the URI's chain id is not a number")]
    ChainId,
    #[error("the URI's amount is not a plain integer of atomic units")]
    Amount,
}

impl TransferRequest {
    /// `ethereum:<token>@<chainId>/transfer?address=<to>&uint256=<atomic units>`.
    pub fn eip681(&self) -> String {
        format!("{EIP681_SCHEME}{self}")
    }

    /// `https://link.metamask.io/send/<token>@<chainId>/transfer?address=<to>&uint256=<atomic units>`.
    pub fn metamask_link(&self) -> String {
        format!("{METAMASK_SEND}{self}")
    }

    /// The calldata of the ERC-20 `transfer(address,uint256)` call, 0x-hex, for a browser wallet's
    /// `eth_sendTransaction` to the token contract.
    pub fn transfer_calldata(&self) -> String {
        let to = crate::hex::encode(self.to.as_bytes());
        format!("0xa9059cbb{to:0>64}{:064x}", self.atomic_units)
    }

    /// Reads back an EIP-681 transfer URI of the form [`Self::eip681`] writes.
    pub fn parse_eip681(uri: &str) -> Result<Self, PaymentUriError> {
        let rest = uri
            .strip_prefix(EIP681_SCHEME)
            .ok_or(PaymentUriError::Shape)?;
        let (target, query) = rest
            .split_once("/transfer?")
            .ok_or(PaymentUriError::Shape)?;
        let (token, chain) = target.split_once('@').ok_or(PaymentUriError::Shape)?;
        let (to, amount) = query
            .strip_prefix("address=")
            .and_then(|q| q.split_once("&uint256="))
            .ok_or(PaymentUriError::Shape)?;
        if amount.is_empty() || !amount.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PaymentUriError::Amount);
        }
        Ok(Self {
            chain: ChainId(chain.parse().map_err(|_| PaymentUriError::ChainId)?),
            token: token
                .parse()
                .map_err(|e| PaymentUriError::Address("token", e))?,
            to: to
                .parse()
                .map_err(|e| PaymentUriError::Address("address", e))?,
            atomic_units: amount.parse().map_err(|_| PaymentUriError::Amount)?,
        })
    }
}

/// The part both links share: `<token>@<chainId>/transfer?address=<to>&uint256=<atomic units>`.
impl fmt::Display for TransferRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{}/transfer?address={}&uint256={}",
            self.token, self.chain, self.to, self.atomic_units
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> TransferRequest {
        TransferRequest {
            chain: ChainId::ETHEREUM,
            token: "0xdac17f958d2ee523a2206206994597c13d831ec7"
                .parse()
                .unwrap(),
            to: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
                .parse()
                .unwrap(),
            atomic_units: 13_410_000,
        }
    }

    #[test]
    fn eip681_names_chain_and_plain_integer_amount() {
        assert_eq!(
            request().eip681(),
            "ethereum:0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=13410000"
        );
    }

    #[test]
    fn transfer_calldata_is_the_abi_encoding_of_transfer() {
        // transfer(0x5aAe…BeAed, 13410000): selector, then each argument as a 32-byte word.
        assert_eq!(
            request().transfer_calldata(),
            "0xa9059cbb\
             0000000000000000000000005aaeb6053f3e94c9b9a09f33669435e7ef1beaed\
             0000000000000000000000000000000000000000000000000000000000cc9ed0"
        );
    }

    #[test]
    fn metamask_link_uses_the_current_host() {
        assert_eq!(
            request().metamask_link(),
            "https://link.metamask.io/send/0xdAC17F958D2ee523a2206206994597C13D831ec7@1/transfer?address=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=13410000"
        );
    }

    #[test]
    fn eighteen_decimal_amounts_stay_plain_integers() {
        let mut big = request();
        big.chain = ChainId::BNB_SMART_CHAIN;
        big.atomic_units = 25 * 10u128.pow(18);
        let uri = big.eip681();
        assert!(uri.ends_with("@56/transfer?address=0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed&uint256=25000000000000000000"));
        assert_eq!(TransferRequest::parse_eip681(&uri), Ok(big));
    }

    #[test]
    fn parsing_rejects_what_a_wallet_could_misread() {
        let good = request().eip681();
        assert_eq!(TransferRequest::parse_eip681(&good), Ok(request()));
        assert_eq!(
            TransferRequest::parse_eip681(&good.replace("13410000", "1.341e7")),
            Err(PaymentUriError::Amount)
        );
        assert_eq!(
            TransferRequest::parse_eip681(&good.replace("@1/", "/")),
            Err(PaymentUriError::Shape)
        );
        assert_eq!(
            TransferRequest::parse_eip681(&good.replace("@1/", "@one/")),
            Err(PaymentUriError::ChainId)
        );
        assert!(matches!(
            TransferRequest::parse_eip681(&good.replace("0x5aAeb", "0x5AAeb")),
            Err(PaymentUriError::Address(
                "address",
                AddressError::BadChecksum { .. }
            ))
        ));
    }
}
