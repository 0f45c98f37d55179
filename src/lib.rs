//! The checkout widget: a Yew component compiled to wasm and mounted into a merchant's page.

pub mod client;
pub mod i18n;
pub mod options;
pub mod poll;
pub mod qr;

use wasm_bindgen::prelude::*;
use yew::AppHandle;
use yew::prelude::*;

#[derive(Properties, PartialEq, Clone, Default)]
pub struct CheckoutProps {
    /// Base URL of the merchant's checkout server.
    #[prop_or_default]
    pub merchant_url: AttrValue,
}

#[function_component]
pub fn Checkout(_props: &CheckoutProps) -> Html {
    html! {
        <section class="usdt-checkout" aria-label="USDT checkout">
            <p class="usdt-checkout__status" role="status" aria-live="polite">
                { "Preparing checkout…" }
            </p>
        </section>
    }
}

/// A mounted widget, returned to the host page's script.
#[wasm_bindgen]
pub struct CheckoutHandle {
    app: Option<AppHandle<Checkout>>,
}

#[wasm_bindgen]
impl CheckoutHandle {
    /// Removes the widget and everything it rendered from the host element.
    pub fn unmount(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
    }
}

/// Renders the widget into `element`.
#[wasm_bindgen]
pub fn mount(element: web_sys::Element, merchant_url: String) -> CheckoutHandle {
    let props = CheckoutProps {
        merchant_url: merchant_url.into(),
    };
    CheckoutHandle {
        app: Some(yew::Renderer::<Checkout>::with_root_and_props(element, props).render()),
    }
}
