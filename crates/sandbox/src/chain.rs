//! The EVM chain, through JSON-RPC: reading payments into receiving contracts, block hashes for
//! reorg checks, deploying the contracts, and (test mode) paying from anvil's unlocked accounts.

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address as EvmAddress, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use usdt_checkout_protocol::gateway::PaymentKind;
use usdt_checkout_protocol::{Address, ChainId};

use crate::ledger::ChainPayment;

alloy::sol!(
    #[sol(rpc)]
    TestUSDT,
    "../../contracts/build/TestUSDT.json"
);
alloy::sol!(
    #[sol(rpc)]
    MerchantReceiver,
    "../../contracts/build/MerchantReceiver.json"
);

#[derive(Clone)]
pub struct ChainClient {
    provider: DynProvider,
}

pub type ChainResult<T> = Result<T, String>;

/// How long a test-mode transaction may take to be mined.
const RECEIPT_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

fn rpc<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> String {
    move |e| format!("chain RPC {what}: {e}")
}

pub fn evm(address: Address) -> EvmAddress {
    EvmAddress::from(*address.as_bytes())
}

pub fn ours(address: EvmAddress) -> Address {
    Address::from_bytes(address.into_array())
}

/// A block's hash (0x-hex) and time (Unix milliseconds).
pub struct BlockStamp {
    pub hash: String,
    pub timestamp_ms: u64,
}

impl ChainClient {
    pub fn connect(rpc_url: &str) -> Result<Self, String> {
        let url = rpc_url
            .parse()
            .map_err(|e| format!("--rpc-url {rpc_url:?} is not a URL: {e}"))?;
        // No client-side fillers: the node fills nonce, gas and chain id for its unlocked
        // accounts. A cached nonce would go stale when a reorg drops a transaction, and the next
        // one would wait forever behind the gap.
        Ok(Self {
            provider: ProviderBuilder::new()
                .disable_recommended_fillers()
                .connect_http(url)
                .erased(),
        })
    }

    pub async fn chain_id(&self) -> ChainResult<ChainId> {
        self.provider
            .get_chain_id()
            .await
            .map(ChainId)
            .map_err(rpc("eth_chainId"))
    }

    pub async fn head(&self) -> ChainResult<u64> {
        self.provider
            .get_block_number()
            .await
            .map_err(rpc("eth_blockNumber"))
    }

    pub async fn block(&self, number: u64) -> ChainResult<Option<BlockStamp>> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(rpc("eth_getBlockByNumber"))?;
        Ok(block.map(|b| BlockStamp {
            hash: b.header.hash.to_string(),
            timestamp_ms: b.header.timestamp * 1000,
        }))
    }

    /// Token payments into `receivers` in blocks `from..=to`, in chain order. A deposit and the
    /// token transfer it makes are one payment (the deposit, which names its order).
    pub async fn payments(
        &self,
        from: u64,
        to: u64,
        tokens: &[Address],
        receivers: &[Address],
    ) -> ChainResult<Vec<ChainPayment>> {
        if tokens.is_empty() || receivers.is_empty() {
            return Ok(vec![]);
        }
        let receivers_evm: Vec<EvmAddress> = receivers.iter().copied().map(evm).collect();
        let transfers = Filter::new()
            .address(tokens.iter().copied().map(evm).collect::<Vec<_>>())
            .event_signature(TestUSDT::Transfer::SIGNATURE_HASH)
            .topic2(
                receivers_evm
                    .iter()
                    .map(|a| a.into_word())
                    .collect::<Vec<_>>(),
            )
            .from_block(from)
            .to_block(to);
        let deposits = Filter::new()
            .address(receivers_evm)
            .event_signature(MerchantReceiver::Deposit::SIGNATURE_HASH)
            .from_block(from)
            .to_block(to);
        let transfer_logs = self
            .provider
            .get_logs(&transfers)
            .await
            .map_err(rpc("eth_getLogs"))?;
        let deposit_logs = self
            .provider
            .get_logs(&deposits)
            .await
            .map_err(rpc("eth_getLogs"))?;

        let mut payments = Vec::new();
        for log in &deposit_logs {
            let Ok(decoded) = log.log_decode::<MerchantReceiver::Deposit>() else {
                continue;
            };
            let event = &decoded.inner.data;
            let Some(mut payment) = self
                .payment(
                    log,
                    event.sender,
                    event.receiver,
                    ours(event.token),
                    event.amount,
                )
                .await?
            else {
                continue;
            };
            if !tokens.contains(&payment.token) {
                continue; // a deposit of a token the gateway does not accept
            }
            payment.kind = PaymentKind::Deposit;
            payment.order_no = Some(event.orderNo.clone());
            payments.push(payment);
        }
        for log in &transfer_logs {
            let Ok(decoded) = log.log_decode::<TestUSDT::Transfer>() else {
                continue;
            };
            let event = &decoded.inner.data;
            let Some(payment) = self
                .payment(log, event.from, event.to, ours(log.address()), event.value)
                .await?
            else {
                continue;
            };
            let made_by_deposit = payments.iter().any(|d| {
                d.kind == PaymentKind::Deposit
                    && d.tx_id == payment.tx_id
                    && d.from == payment.from
                    && d.to == payment.to
                    && d.token == payment.token
                    && d.value == payment.value
                    && d.log_index > payment.log_index
            });
            if !made_by_deposit {
                payments.push(payment);
            }
        }
        payments.sort_by_key(|p| (p.block_number, p.log_index));
        Ok(payments)
    }

    async fn payment(
        &self,
        log: &Log,
        from: EvmAddress,
        to: EvmAddress,
        token: Address,
        value: U256,
    ) -> ChainResult<Option<ChainPayment>> {
        let (Some(tx), Some(index), Some(block_number), Some(block_hash)) = (
            log.transaction_hash,
            log.log_index,
            log.block_number,
            log.block_hash,
        ) else {
            return Ok(None); // pending logs carry no block: they are read once mined
        };
        let timestamp_ms = match log.block_timestamp {
            Some(seconds) => seconds * 1000,
            None => match self.block(block_number).await? {
                Some(stamp) => stamp.timestamp_ms,
                None => return Ok(None),
            },
        };
        Ok(Some(ChainPayment {
            tx_id: tx.to_string(),
            log_index: index,
            block_number,
            block_hash: block_hash.to_string(),
            from: ours(from),
            to: ours(to),
            token,
            value: u128::try_from(value).unwrap_or(u128::MAX),
            kind: PaymentKind::Transfer,
            order_no: None,
            timestamp_ms,
        }))
    }

    pub async fn accounts(&self) -> ChainResult<Vec<Address>> {
        let accounts = self
            .provider
            .get_accounts()
            .await
            .map_err(rpc("eth_accounts"))?;
        Ok(accounts.into_iter().map(ours).collect())
    }

    pub async fn has_code(&self, address: Address) -> ChainResult<bool> {
        let code = self
            .provider
            .get_code_at(evm(address))
            .await
            .map_err(rpc("eth_getCode"))?;
        Ok(!code.is_empty())
    }

    pub async fn deploy_token(&self, deployer: Address) -> ChainResult<Address> {
        TestUSDT::deploy_builder(&self.provider)
            .from(evm(deployer))
            .deploy()
            .await
            .map(ours)
            .map_err(|e| format!("deploying the test USDT: {e}"))
    }

    pub async fn deploy_receiver(&self, deployer: Address, owner: Address) -> ChainResult<Address> {
        MerchantReceiver::deploy_builder(&self.provider, evm(owner))
            .from(evm(deployer))
            .deploy()
            .await
            .map(ours)
            .map_err(|e| format!("deploying a receiving contract: {e}"))
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

    async fn send<P: Provider, D: alloy::contract::CallDecoder>(
        &self,
        call: alloy::contract::CallBuilder<P, D>,
    ) -> ChainResult<String> {
        let pending = call
            .send()
            .await
            .map_err(|e| format!("sending a transaction: {e}"))?;
        let receipt = tokio::time::timeout(RECEIPT_WAIT, pending.get_receipt())
            .await
            .map_err(|_| format!("no receipt within {RECEIPT_WAIT:?}: is the chain mining?"))?
            .map_err(|e| format!("waiting for a receipt: {e}"))?;
        if !receipt.status() {
            return Err(format!("transaction {} reverted", receipt.transaction_hash));
        }
        Ok(receipt.transaction_hash.to_string())
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
