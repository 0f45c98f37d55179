// A refund's page: the browser-wallet button. Without this script, or without a wallet in the
// browser (EIP-1193's window.ethereum), the button stays hidden and the QR code, MetaMask's link
// and the hash form remain. With one, the button asks the wallet for an account, switches it to
// the refund's chain, and sends the ERC-20 transfer the page names (to the token's contract, with
// the transfer's calldata: nothing is computed here). What happens is said in a status line;
// what goes wrong in an alert, in words.
"use strict";

// EIP-1193's and JSON-RPC's error codes, in words.
function inWords(error, network) {
  switch (error && error.code) {
    case 4001:
      return "You declined in the wallet: nothing was sent.";
    case 4100:
      return "The wallet did not allow this page to ask: unlock it and allow this site, then try again.";
    case 4200:
      return "The wallet cannot send this request.";
    case 4900:
      return "The wallet is not connected to any network.";
    case 4901:
      return `The wallet is not connected to ${network}.`;
    case 4902:
      return `The wallet does not know ${network}: add that network to it, then try again.`;
    case -32002:
      return "The wallet already has a request waiting: open it to answer that first.";
    case -32603:
      return "The wallet could not send it (not enough for the network's fee, perhaps): nothing was sent.";
    default:
      return `The wallet refused: ${(error && error.message) || "no reason given"}. Nothing was sent.`;
  }
}

async function pay(button) {
  const said = document.getElementById("wallet-said");
  const alert = document.getElementById("wallet-error");
  const { chain, network, token, data } = button.dataset;
  const provider = window.ethereum;
  alert.textContent = "";
  button.disabled = true;
  try {
    said.textContent = "Asking the wallet for an account…";
    const [from] = await provider.request({ method: "eth_requestAccounts" });
    if (!from) throw Object.assign(new Error("no account"), { code: 4100 });
    const current = await provider.request({ method: "eth_chainId" });
    if (String(current).toLowerCase() !== chain) {
      said.textContent = `Asking the wallet to switch to ${network}…`;
      await provider.request({ method: "wallet_switchEthereumChain", params: [{ chainId: chain }] });
    }
    said.textContent = "Confirm the transfer in the wallet…";
    const hash = await provider.request({
      method: "eth_sendTransaction",
      params: [{ from, to: token, data, value: "0x0" }],
    });
    said.textContent = `Sent: transaction ${hash}. The refund is marked sent once the chain shows it.`;
    const paste = document.getElementById(button.dataset.paste);
    if (paste && !paste.value) paste.value = hash;
  } catch (error) {
    said.textContent = "";
    alert.textContent = inWords(error, network);
  } finally {
    button.disabled = false;
  }
}

// The button shows only where a wallet is; live updates may replace it, so each new one is armed.
function arm() {
  const button = document.getElementById("wallet-pay");
  if (!button || button.dataset.armed || !window.ethereum) return;
  button.dataset.armed = "1";
  button.hidden = false;
  button.addEventListener("click", () => pay(button));
}

arm();
new MutationObserver(arm).observe(document.body, { childList: true, subtree: true });
