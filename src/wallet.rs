//! Paying from a browser wallet: found by EIP-6963 announcements (several wallets can coexist),
//! else `window.ethereum`; then EIP-1193 requests: connect, switch to the order's chain, and send
//! the exact ERC-20 transfer; or sign a message (EIP-191 `personal_sign`), the proof that an
//! account sent a payment. The shopper cancelling, or a wallet on another network, are states
//! the widget shows, not errors; each answer a wallet can give is a [`WalletError`] the widget
//! says in the shopper's language, never the wallet's own (English) message.

use js_sys::{Array, Function, Object, Promise, Reflect};
use usdt_checkout_protocol::{ChainId, TransferRequest, hex};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An EIP-1193 provider and the name to show for it.
#[derive(Clone, Debug, PartialEq)]
pub struct Wallet {
    /// As the wallet names itself; `None` for one that does not (shown as "your browser
    /// wallet", in the shopper's language).
    pub name: Option<String>,
    pub id: String,
    provider: JsValue,
}

/// Why a wallet did not do what it was asked, by the EIP-1193 (and JSON-RPC) codes wallets
/// answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalletError {
    /// The shopper said no in the wallet (4001).
    Rejected,
    /// The wallet has not allowed this page the account or the method (4100).
    Unauthorized,
    /// The wallet does not have the order's chain (4902, to `wallet_switchEthereumChain`).
    UnknownNetwork,
    /// The wallet is on another chain and would not switch.
    WrongNetwork,
    /// The wallet already has a request of this page waiting for the shopper (-32002).
    Pending,
    /// Asked to sign for an account it does not share (a payment another wallet sent).
    OtherAccount,
    /// Anything else: no such method, disconnected, no answer of the expected shape.
    Failed,
}

/// Where a wallet payment is, for the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Connecting,
    Switching,
    Confirming,
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

/// A wallet from an `eip6963:announceProvider` event's detail.
pub fn announced(detail: &JsValue) -> Option<Wallet> {
    let info = get(detail, "info");
    let provider = get(detail, "provider");
    if provider.is_undefined() {
        return None;
    }
    Some(Wallet {
        name: get(&info, "name").as_string(),
        id: get(&info, "uuid").as_string().unwrap_or_default(),
        provider,
    })
}

/// `window.ethereum`, for wallets that predate EIP-6963.
pub fn injected() -> Option<Wallet> {
    let window = web_sys::window()?;
    let provider = get(&window, "ethereum");
    if provider.is_undefined() || provider.is_null() {
        return None;
    }
    Some(Wallet {
        name: (get(&provider, "isMetaMask").as_bool() == Some(true)).then(|| "MetaMask".into()),
        id: "injected".into(),
        provider,
    })
}

/// Asks EIP-6963 wallets to announce themselves (they answer with events).
pub fn request_announcements() {
    if let (Some(window), Ok(event)) = (
        web_sys::window(),
        web_sys::Event::new("eip6963:requestProvider"),
    ) {
        let _ = window.dispatch_event(&event);
    }
}

fn error_of(value: JsValue) -> WalletError {
    match get(&value, "code").as_f64() {
        Some(4001.0) => WalletError::Rejected,
        Some(4100.0) => WalletError::Unauthorized,
        Some(4902.0) => WalletError::UnknownNetwork,
        // The chain is not the one asked for (4901): as a wallet that would not switch.
        Some(4901.0) => WalletError::WrongNetwork,
        Some(-32002.0) => WalletError::Pending,
        _ => WalletError::Failed,
    }
}

impl Wallet {
    async fn request(&self, method: &str, params: Array) -> Result<JsValue, WalletError> {
        let request: Function = get(&self.provider, "request")
            .dyn_into()
            .map_err(|_| WalletError::Failed)?;
        let arguments = Object::new();
        let _ = Reflect::set(&arguments, &"method".into(), &method.into());
        let _ = Reflect::set(&arguments, &"params".into(), &params);
        let promise: Promise = request
            .call1(&self.provider, &arguments)
            .map_err(error_of)?
            .dyn_into()
            .map_err(|_| WalletError::Failed)?;
        JsFuture::from(promise).await.map_err(error_of)
    }

    /// Pays `transfer` and returns its transaction hash. `step` hears where it is.
    pub async fn pay(
        &self,
        transfer: &TransferRequest,
        step: impl Fn(Step),
    ) -> Result<String, WalletError> {
        step(Step::Connecting);
        let accounts = self.request("eth_requestAccounts", Array::new()).await?;
        let from = Array::from(&accounts)
            .get(0)
            .as_string()
            .ok_or(WalletError::Failed)?;
        let chain = self.request("eth_chainId", Array::new()).await?;
        if parse_chain(&chain) != Some(transfer.chain) {
            step(Step::Switching);
            let target = Object::new();
            let _ = Reflect::set(
                &target,
                &"chainId".into(),
                &format!("0x{:x}", transfer.chain.0).into(),
            );
            self.request("wallet_switchEthereumChain", Array::of1(&target))
                .await
                .map_err(|e| match e {
                    WalletError::Rejected
                    | WalletError::Unauthorized
                    | WalletError::UnknownNetwork
                    | WalletError::Pending => e,
                    // Switched by hand, it pays: said so.
                    _ => WalletError::WrongNetwork,
                })?;
            let now = self.request("eth_chainId", Array::new()).await?;
            if parse_chain(&now) != Some(transfer.chain) {
                return Err(WalletError::WrongNetwork);
            }
        }
        step(Step::Confirming);
        let transaction = Object::new();
        let _ = Reflect::set(&transaction, &"from".into(), &from.into());
        let _ = Reflect::set(
            &transaction,
            &"to".into(),
            &transfer.token.to_string().into(),
        );
        let _ = Reflect::set(
            &transaction,
            &"data".into(),
            &transfer.transfer_calldata().into(),
        );
        let _ = Reflect::set(&transaction, &"value".into(), &"0x0".into());
        let hash = self
            .request("eth_sendTransaction", Array::of1(&transaction))
            .await?;
        hash.as_string().ok_or(WalletError::Failed)
    }

    /// `message` signed by `account` (EIP-191 `personal_sign`): the signature as the wallet
    /// writes it (`0x` and 130 hex digits). A wallet that does not share `account` is not asked
    /// to sign: it did not send what `account` sent.
    pub async fn sign(&self, message: &str, account: &str) -> Result<String, WalletError> {
        let accounts = self.request("eth_requestAccounts", Array::new()).await?;
        let account = Array::from(&accounts)
            .iter()
            .find(|shared| {
                shared
                    .as_string()
                    .is_some_and(|shared| shared.eq_ignore_ascii_case(account))
            })
            .ok_or(WalletError::OtherAccount)?;
        // The message's UTF-8 bytes in hex, then the account: the order MetaMask and EIP-1193
        // wallets take (eth_sign's is the other way round).
        let data = crate::cat(&["0x", &hex::encode(message.as_bytes())]);
        let signature = self
            .request("personal_sign", Array::of2(&data.into(), &account))
            .await?;
        signature.as_string().ok_or(WalletError::Failed)
    }
}

fn parse_chain(value: &JsValue) -> Option<ChainId> {
    let text = value.as_string()?;
    let hex = text.strip_prefix("0x").unwrap_or(&text);
    u64::from_str_radix(hex, 16).ok().map(ChainId)
}
