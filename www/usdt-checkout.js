// usdt-checkout: the embed. One module that loads the widget's wasm once and offers it two ways:
//   UsdtCheckout.mount(element, { merchantUrl, item, ... }) -> { update(options), unmount() }
//   <usdt-checkout merchant-url="..." item="..." locale="..." theme="..."></usdt-checkout>
// The custom element renders into a shadow root, so the widget's styles and the page's styles
// stay apart. Events (usdt-checkout:created, :status, :paid, :expired, :failed) bubble from the
// element the widget is mounted in.

// Every file this module loads is named beside it. `cargo xtask widget` rewrites these names to
// the built files' content-hashed ones (`./core/usdt-checkout.<hash>.js`, ...), which a browser
// keeps for a year, while this module, the one URL a storefront names, is revalidated.
// The wasm's download starts with its bindings', not once they have arrived: on a slow network
// that is one round trip less before the widget shows.
const wasm = fetch(new URL("./core/usdt-checkout_bg.wasm", import.meta.url));
const ready = import("./core/usdt-checkout.js").then(async (core) => {
  await core.default({ module_or_path: wasm });
  return core;
});
const stylesheet = new URL("./usdt-checkout.css", import.meta.url).href;
// The tables of the languages other than English; fetched by the widget when the shopper's
// language needs one.
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
  const core = await ready;
  const handle = core.mount(element, withDefaults(options));
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
