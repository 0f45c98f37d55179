// usdt-checkout: the embed. One module that loads the widget's wasm once and offers it two ways:
//   UsdtCheckout.mount(element, { merchantUrl, item, ... }) -> { update(options), unmount() }
//   <usdt-checkout merchant-url="..." item="..." locale="..." theme="..."></usdt-checkout>
// The custom element renders into a shadow root, so the widget's styles and the page's styles
// stay apart. Events (usdt-checkout:created, :status, :paid, :expired, :failed) bubble from the
// element the widget is mounted in.
import init, { mount as mountWidget } from "./core/usdt-checkout.js";

const here = new URL(".", import.meta.url);
// In the demo under `trunk serve`, trunk's own loader instantiates this same module and announces
// it; instantiating it twice would split the widget's state. Anywhere else the embed does it.
const core = new URL("core/usdt-checkout.js", here).href;
const trunkLoads = [...document.querySelectorAll('link[rel="modulepreload"]')].some((link) => link.href === core);
const ready = trunkLoads
  ? new Promise((resolve) => {
      if (window.wasmBindings) resolve();
      else addEventListener("TrunkApplicationStarted", () => resolve(), { once: true });
    })
  : init({ module_or_path: new URL("core/usdt-checkout_bg.wasm", here) });
const stylesheet = new URL("usdt-checkout.css", here).href;
// The tables of the languages other than English, beside this module; fetched by the widget
// when the shopper's language needs one.
const locales = new URL("./locales/", import.meta.url).href;

// The embed's defaults under the page's options (which may name their own localesUrl).
function withDefaults(options) {
  return options && typeof options === "object" && !Array.isArray(options)
    ? { localesUrl: locales, ...options }
    : options;
}

// The stylesheet goes where the host element lives: the page's head, or the shadow root it is in.
function ensureStylesheet(element) {
  const root = element.getRootNode();
  const container = root instanceof ShadowRoot ? root : document.head;
  if (!container.querySelector(`link[href="${stylesheet}"]`)) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = stylesheet;
    container.append(link);
  }
}

async function mount(element, options) {
  ensureStylesheet(element);
  await ready;
  const handle = mountWidget(element, withDefaults(options));
  return {
    update: (options) => handle.update(withDefaults(options)),
    unmount: () => handle.unmount(),
  };
}

const ATTRIBUTES = {
  "merchant-url": "merchantUrl", "gateway-url": "gatewayUrl", "gateway-api": "gatewayApi",
  "gateway-key": "gatewayKey", item: "item", "checkout-id": "checkoutId",
  locale: "locale", "locales-url": "localesUrl", theme: "theme", "default-chain": "defaultChain", chains: "chains", tokens: "tokens",
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
      root.innerHTML = `<div part="widget"></div>`;
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
