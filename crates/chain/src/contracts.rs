//! The test contracts on a development chain (anvil): deploying the test USDT and receiving
//! contracts, minting, and paying as a wallet would, from the node's unlocked accounts.

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::primitives::U256;
use alloy::providers::Provider;
use usdt_checkout_protocol::Address;

use crate::abi::{MerchantReceiver, TestUSDT};
use crate::rpc::{ChainClient, ChainError, ChainResult, evm, ours, rpc};

/// How long a test-mode transaction may take to be mined.
const RECEIPT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

impl ChainClient {
    /// The node's unlocked accounts (anvil's funded test accounts).
    pub async fn accounts(&self) -> ChainResult<Vec<Address>> {
        let accounts = self
            .provider
            .get_accounts()
            .await
            .map_err(rpc("eth_accounts"))?;
        Ok(accounts.into_iter().map(ours).collect())
    }

    /// Deploys a test USDT with `decimals` (6 as on Ethereum, 18 as on BNB Smart Chain).
    pub async fn deploy_token(&self, deployer: Address, decimals: u8) -> ChainResult<Address> {
        TestUSDT::deploy_builder(&self.provider, decimals)
            .from(evm(deployer))
            .deploy()
            .await
            .map(ours)
            .map_err(|e| ChainError::Transaction(format!("deploying the test USDT: {e}")))
    }

    pub async fn deploy_receiver(&self, deployer: Address, owner: Address) -> ChainResult<Address> {
        MerchantReceiver::deploy_builder(&self.provider, evm(owner))
            .from(evm(deployer))
            .deploy()
            .await
            .map(ours)
            .map_err(|e| ChainError::Transaction(format!("deploying a receiving contract: {e}")))
    }

    pub async fn token_balance(&self, token: Address, holder: Address) -> ChainResult<u128> {
        let balance = TestUSDT::new(evm(token), &self.provider)
            .balanceOf(evm(holder))
            .call()
            .await
            .map_err(rpc("balanceOf"))?;
        Ok(u128::try_from(balance).unwrap_or(u128::MAX))
    }

    /// Mints test USDT (the deployer is its minter).
    pub async fn mint(
        &self,
        token: Address,
        minter: Address,
        to: Address,
        amount: u128,
    ) -> ChainResult<String> {
        let token = TestUSDT::new(evm(token), &self.provider);
        self.send(token.mint(evm(to), U256::from(amount)).from(evm(minter)))
            .await
    }

    /// A plain ERC-20 transfer, as a wallet makes from a QR code.
    pub async fn transfer(
        &self,
        token: Address,
        from: Address,
        to: Address,
        amount: u128,
    ) -> ChainResult<String> {
        let token = TestUSDT::new(evm(token), &self.provider);
        self.send(token.transfer(evm(to), U256::from(amount)).from(evm(from)))
            .await
    }

    /// `approve`, then `deposit(token, amount, orderNo)`, as a browser wallet pays.
    pub async fn deposit(
        &self,
        token: Address,
        receiver: Address,
        from: Address,
        amount: u128,
        order_no: &str,
    ) -> ChainResult<String> {
        let token_contract = TestUSDT::new(evm(token), &self.provider);
        let approve = token_contract.approve(evm(receiver), U256::from(amount));
        self.send(approve.from(evm(from))).await?;
        let receiver_contract = MerchantReceiver::new(evm(receiver), &self.provider);
        let deposit =
            receiver_contract.deposit(evm(token), U256::from(amount), order_no.to_owned());
        self.send(deposit.from(evm(from))).await
    }

    async fn send<P: Provider, D: CallDecoder>(
        &self,
        call: CallBuilder<P, D>,
    ) -> ChainResult<String> {
        let pending = call
            .send()
            .await
            .map_err(|e| ChainError::Transaction(format!("sending a transaction: {e}")))?;
        // Asked for directly: alloy's own wait follows new blocks with a poller that an anvil
        // reorg can leave behind for good (it kept asking for a block number the chain had
        // since passed), and every later send then timed out.
        let hash = *pending.tx_hash();
        let deadline = tokio::time::Instant::now() + RECEIPT_WAIT;
        loop {
            // Reads, asked again when refused for now: a provider's fault is not the send's.
            let receipt = self
                .retried("eth_getTransactionReceipt", |node| {
                    node.get_transaction_receipt(hash).into_future()
                })
                .await?;
            if let Some(receipt) = receipt {
                if !receipt.status() {
                    return Err(ChainError::Transaction(format!(
                        "transaction {hash} reverted"
                    )));
                }
                return Ok(hash.to_string());
            }
            // Neither mined nor waiting to be: a reorg took it back with its block.
            let known = self
                .retried("eth_getTransactionByHash", |node| {
                    node.get_transaction_by_hash(hash).into_future()
                })
                .await?;
            if known.is_none() {
                return Err(ChainError::Transaction(format!(
                    "transaction {hash} was dropped by a reorg"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ChainError::Transaction(format!(
                    "no receipt for {hash} within {RECEIPT_WAIT:?}: is the chain mining?"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Signs `message` as a wallet's `personal_sign` does (EIP-191), with the node's unlocked
    /// `account`: a shopper's proof that they sent a payment, in tests and test mode.
    pub async fn sign_message(&self, account: Address, message: &str) -> ChainResult<String> {
        let hex = format!(
            "0x{}",
            usdt_checkout_protocol::hex::encode(message.as_bytes())
        );
        self.provider
            .raw_request::<_, String>("personal_sign".into(), (hex, account.to_string()))
            .await
            .map_err(rpc("personal_sign"))
    }

    /// anvil: mines `blocks` blocks now.
    pub async fn mine(&self, blocks: u64) -> ChainResult<()> {
        self.provider
            .raw_request::<_, serde_json::Value>("anvil_mine".into(), (U256::from(blocks),))
            .await
            .map(drop)
            .map_err(rpc("anvil_mine"))
    }

    /// anvil: replaces the last `depth` blocks with as many empty ones.
    pub async fn reorg(&self, depth: u64) -> ChainResult<()> {
        self.provider
            .raw_request::<_, serde_json::Value>(
                "anvil_reorg".into(),
                (depth, Vec::<serde_json::Value>::new()),
            )
            .await
            .map(drop)
            .map_err(rpc("anvil_reorg"))
    }
}

#[cfg(test)]
mod tests {
    use alloy::sol_types::SolCall;
    use usdt_checkout_protocol::{ChainId, TransferRequest};

    use super::*;

    #[test]
    fn the_widgets_transfer_calldata_is_alloys_abi_encoding() {
        let request = TransferRequest {
            chain: ChainId::LOCAL,
            token: "0x5FbDB2315678afecb367f032d93F642f64180aa3"
                .parse()
                .unwrap(),
            to: "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
                .parse()
                .unwrap(),
            atomic_units: 24_995_001_000_000_000_000,
        };
        let call = TestUSDT::transferCall {
            to: evm(request.to),
            value: U256::from(request.atomic_units),
        };
        let encoded = usdt_checkout_protocol::hex::encode(&call.abi_encode());
        assert_eq!(request.transfer_calldata(), format!("0x{encoded}"));
    }
}
