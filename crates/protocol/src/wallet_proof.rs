//! Proof that a wallet sent a payment: an EIP-191 signature (`personal_sign`, which every
//! browser wallet offers and none lets a page use to move money) by the payment's `from`
//! address, over a message that names what it is for. A transaction hash is public (anyone
//! watching the receiving address reads it), so a hash alone proves nothing; only the sender's
//! key can sign for it. "I already paid" claims need it, and so do refunds, to the same address.
//!
//! The message text is here for everyone (the widget asks the wallet to sign exactly it); the
//! recovery of its signer, with alloy's, is behind the `wallet-proof` feature: the widget never
//! checks a signature, so its wasm carries no curve arithmetic.

#[cfg(feature = "wallet-proof")]
use crate::Address;

/// What a wallet signs to claim the payment in transaction `tx_hash` (lower-case `0x` and 64
/// hex digits) for checkout `checkout_id`: signed for one checkout, it proves nothing for
/// another.
pub fn claim_message(checkout_id: &str, tx_hash: &str) -> String {
    format!(
        "I sent transaction {tx_hash} to pay checkout {checkout_id}.\n\n\
         Signing this proves the payment is mine. It moves no money."
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("a wallet signature is 0x and 130 hexadecimal digits (65 bytes)")]
    Malformed,
    #[error("no address signed this message with this signature")]
    Unrecoverable,
}

/// The address whose key made `signature` (65 bytes as hex, `0x`-prefixed: r, s and v as
/// `personal_sign` returns them, v 27/28 or 0/1) over `message` as EIP-191 prefixes it.
#[cfg(feature = "wallet-proof")]
pub fn signer(message: &str, signature: &str) -> Result<Address, ProofError> {
    let digits = signature
        .trim()
        .strip_prefix("0x")
        .ok_or(ProofError::Malformed)?;
    let bytes = crate::hex::decode(digits).ok_or(ProofError::Malformed)?;
    let signature = alloy_primitives::Signature::try_from(bytes.as_slice())
        .map_err(|_| ProofError::Malformed)?;
    let recovered = signature
        .recover_address_from_msg(message.as_bytes())
        .map_err(|_| ProofError::Unrecoverable)?;
    Ok(Address::from_bytes(recovered.into_array()))
}

#[cfg(all(test, feature = "wallet-proof"))]
mod tests {
    use super::*;

    /// Hardhat's and anvil's first test account: a key everyone knows, for tests only.
    const KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn sign(message: &str) -> String {
        use alloy_primitives::{B256, eip191_hash_message};
        use k256::ecdsa::SigningKey;
        let key = SigningKey::from_slice(&crate::hex::decode(KEY).unwrap()).unwrap();
        let digest: B256 = eip191_hash_message(message.as_bytes());
        let (signature, recovery) = key.sign_prehash_recoverable(digest.as_slice()).unwrap();
        let mut bytes = signature.to_bytes().to_vec();
        bytes.push(27 + recovery.to_byte());
        format!("0x{}", crate::hex::encode(&bytes))
    }

    #[test]
    fn the_sender_is_recovered_from_its_signature() {
        let message = claim_message("co_1", &format!("0x{}", "ab".repeat(32)));
        let signature = sign(&message);
        assert_eq!(signer(&message, &signature), Ok(ADDRESS.parse().unwrap()));
    }

    #[test]
    fn a_signature_proves_nothing_for_another_message() {
        let tx = format!("0x{}", "ab".repeat(32));
        let signature = sign(&claim_message("co_1", &tx));
        let other = signer(&claim_message("co_2", &tx), &signature);
        assert_ne!(other, Ok(ADDRESS.parse().unwrap()));
    }

    #[test]
    fn malformed_signatures_are_refused() {
        for bad in [
            "",
            "0x",
            "abcd",
            &format!("0x{}", "zz".repeat(65)),
            &format!("0x{}", "11".repeat(64)),
        ] {
            assert_eq!(signer("m", bad), Err(ProofError::Malformed), "{bad}");
        }
    }
}
