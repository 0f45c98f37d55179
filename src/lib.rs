//! The checkout widget: a Yew component compiled to wasm and mounted into a merchant's page.
//!
//! `mount(element, options)` renders it into `element` and returns a handle with `update(options)`
//! and `unmount()`. Options are checked first; every problem is written to the console and the
//! call fails, so a broken embed is found at once, not by a shopper.

pub mod client;
pub mod clock;
pub mod components;
pub mod hooks;
pub mod i18n;
pub mod model;
pub mod options;
pub mod poll;
pub mod qr;
pub mod refunds;
pub mod refusal;
pub mod view;
pub mod wallet;

use wasm_bindgen::prelude::*;

// Talc in place of Rust's default dlmalloc: a fraction of its code, which every shopper downloads.
// Without realloc in place: the widget's allocations are small and short-lived, so growing a
// buffer by copying costs nothing a shopper notices.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();
use yew::AppHandle;

/// Moves focus to `node` (a heading with `tabindex="-1"`): a screen change the shopper made by
/// a control the new screen no longer has would otherwise drop focus to the page's `<body>`.
pub(crate) fn focus(node: &yew::NodeRef) {
    if let Some(element) = node.cast::<web_sys::HtmlElement>() {
        let _ = element.focus();
    }
}

/// Whether focus is inside the widget whose heading is `heading` (in its shadow root, or on the
/// page for a script embed).
pub(crate) fn focused_inside(heading: &yew::NodeRef) -> bool {
    use wasm_bindgen::JsCast;
    let Some(widget) = heading
        .cast::<web_sys::Element>()
        .and_then(|h| h.parent_element())
    else {
        return false;
    };
    js_sys::Reflect::get(&widget.get_root_node(), &"activeElement".into())
        .ok()
        .and_then(|active| active.dyn_into::<web_sys::Node>().ok())
        .is_some_and(|active| widget.contains(Some(&active)))
}

/// Makes `change` (a new screen, which may remove the control the shopper is on: the copy
/// buttons once paid or expired); focus that was inside the widget and is gone after it goes to
/// the heading, not to the page. `hides` says the change hides what had focus (the claim form,
/// closed once its payment is found), so the heading takes it in any case.
pub(crate) fn keep_focus(heading: &yew::NodeRef, hides: bool, change: impl FnOnce()) {
    let had_focus = focused_inside(heading);
    change();
    if had_focus {
        let heading = heading.clone();
        gloo_timers::callback::Timeout::new(0, move || {
            if hides || !focused_inside(&heading) {
                focus(&heading);
            }
        })
        .forget();
    }
}

/// `parts` end to end: what `concat` does, in a fraction of its code (every shopper downloads it).
pub(crate) fn cat(parts: &[&str]) -> String {
    let mut joined = String::new();
    for part in parts {
        joined.push_str(part);
    }
    joined
}

pub use components::{Checkout, CheckoutProps};

/// A mounted widget, returned to the host page's script.
#[wasm_bindgen]
pub struct CheckoutHandle {
    app: Option<AppHandle<Checkout>>,
    host: web_sys::Element,
}

fn settings(options: JsValue) -> Result<options::Settings, JsValue> {
    let (options, problems) = options::Options::from_js(&options);
    options.check_with(problems).map_err(report)
}

/// Each problem on the console, and all of them in the error `mount` rejects with. Joined by
/// hand: `join` and `format!` are code of their own in the download, for an error message.
fn report(problems: Vec<String>) -> JsValue {
    let mut all = String::from("usdt-checkout: ");
    for (i, problem) in problems.iter().enumerate() {
        web_sys::console::error_1(&cat(&["usdt-checkout: ", problem]).into());
        if i > 0 {
            all.push_str("; ");
        }
        all.push_str(problem);
    }
    js_sys::Error::new(&all).into()
}

#[wasm_bindgen]
impl CheckoutHandle {
    /// Changes the options of the mounted widget (the locale or theme, say).
    pub fn update(&mut self, options: JsValue) -> Result<(), JsValue> {
        let settings = settings(options)?;
        if let Some(app) = &mut self.app {
            app.update(CheckoutProps {
                settings: settings.into(),
                host: Some(self.host.clone()),
            });
        }
        Ok(())
    }

    /// Removes the widget and everything it rendered; its timers and listeners stop.
    pub fn unmount(&mut self) {
        if let Some(app) = self.app.take() {
            app.destroy();
        }
    }
}

/// Renders the widget into `element` with `options`.
#[wasm_bindgen]
pub fn mount(element: web_sys::Element, options: JsValue) -> Result<CheckoutHandle, JsValue> {
    let settings = settings(options)?;
    let props = CheckoutProps {
        settings: settings.into(),
        host: Some(element.clone()),
    };
    let app = yew::Renderer::<Checkout>::with_root_and_props(element.clone(), props).render();
    Ok(CheckoutHandle {
        app: Some(app),
        host: element,
    })
}
