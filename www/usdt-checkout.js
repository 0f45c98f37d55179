// usdt-checkout: the embed. One module that loads the widget's wasm once and offers it two ways:
//   UsdtCheckout.mount(element, { merchantUrl, item, ... }) -> { update(options), unmount() }
//   <usdt-checkout merchant-url="..." item="..." locale="..." theme="..."></usdt-checkout>
// The custom element renders into a shadow root, so the widget's styles and the page's styles
// stay apart. Events (usdt-checkout:created, :status, :paid, :expired, :failed) bubble from the
// element the widget is mounted in.
import init, { mount as mountWidget } from "./usdt-checkout-core.js";

const here = new URL(".", import.meta.url);
const ready = init({ module_or_path: new URL("usdt-checkout-core_bg.wasm", here) });
const stylesheet = new URL("usdt-checkout.css", here).href;

async function mount(element, options) {
  await ready;
  return mountWidget(element, options);
}

const ATTRIBUTES = {
  "merchant-url": "merchantUrl", "gateway-url": "gatewayUrl", item: "item", "checkout-id": "checkoutId",
  locale: "locale", theme: "theme", "default-chain": "defaultChain", chains: "chains", tokens: "tokens",
};

class UsdtCheckoutElement extends HTMLElement {
  static observedAttributes = Object.keys(ATTRIBUTES);

  options() {
    const options = {};
    for (const [attribute, option] of Object.entries(ATTRIBUTES)) {
      const value = this.getAttribute(attribute);
      if (value === null) continue;
      if (option === "defaultChain") options[option] = Number(value);
      else if (option === "chains") options[option] = value.split(",").map(Number);
      else if (option === "tokens") options[option] = value.split(",").map((t) => t.trim());
      else options[option] = value;
    }
    return options;
  }

  async connectedCallback() {
    if (!this.shadowRoot) {
      const root = this.attachShadow({ mode: "open" });
      root.innerHTML = `<link rel="stylesheet" href="${stylesheet}"><div part="widget"></div>`;
    }
    this.handle = await mount(this.shadowRoot.querySelector("div"), this.options());
  }

  attributeChangedCallback() {
    if (this.handle) this.handle.update(this.options());
  }

  disconnectedCallback() {
    this.handle?.unmount();
    this.handle = undefined;
  }
}

if (!customElements.get("usdt-checkout")) customElements.define("usdt-checkout", UsdtCheckoutElement);

export { mount };
export const UsdtCheckout = { mount };
window.UsdtCheckout = UsdtCheckout;
