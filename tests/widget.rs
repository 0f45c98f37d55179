//! The widget in a real browser (headless Chromium, through wasm-bindgen-test-runner).
#![cfg(target_arch = "wasm32")]

use gloo_timers::future::TimeoutFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn host() -> web_sys::Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let host = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&host).unwrap();
    host
}

/// Yew renders on the event loop: give it a turn before reading the DOM.
async fn rendered() {
    TimeoutFuture::new(0).await;
}

#[wasm_bindgen_test]
async fn mounts_into_a_host_element_and_unmounts_cleanly() {
    let host = host();
    let mut handle = usdt_checkout::mount(host.clone(), "http://127.0.0.1:4020".into());
    rendered().await;

    let status = host
        .query_selector("[role=status]")
        .unwrap()
        .expect("the widget renders a status region");
    assert_eq!(status.get_attribute("aria-live").as_deref(), Some("polite"));
    assert!(
        status
            .text_content()
            .unwrap()
            .contains("Preparing checkout")
    );

    handle.unmount();
    rendered().await;
    assert_eq!(
        host.child_element_count(),
        0,
        "unmount leaves the host empty"
    );
    host.remove();
}
