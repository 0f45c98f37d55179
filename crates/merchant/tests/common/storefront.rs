//! The demo storefront's page as tests and benchmarks load it: a product and the widget,
//! embedded from the checkout server.

#![allow(dead_code)]

use usdt_checkout_testkit::{Api, workspace_root};

use super::{Storefront, World, world_with};

/// A world whose checkout server serves the built widget (`dist/checkout`) to a storefront page
/// on an origin of its own, embedding it as `embed`; returns the world and the page's origin.
pub async fn world_with_storefront(
    name: &str,
    storefront: Storefront,
    embed: Embed,
) -> (World, String) {
    let widget_dir = workspace_root().join("dist/checkout");
    assert!(
        widget_dir.join("usdt-checkout.js").exists(),
        "the built widget is missing: run `cargo xtask widget`"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let api = storefront.api;
    let world = world_with(
        name,
        Storefront {
            origin: origin.clone(),
            widget_dir: Some(widget_dir),
            ..storefront
        },
    )
    .await;
    let page = storefront_page(embed, &world.server.url, &world.sandbox.url, api);
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(|| async { axum::response::Html(page) }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (world, origin)
}

/// How the storefront embeds the widget.
#[derive(Clone, Copy)]
pub enum Embed {
    /// `<usdt-checkout ...>`, rendered in its shadow root.
    Element,
    /// `UsdtCheckout.mount(div, options)` from a module script.
    Script,
    /// Two `<usdt-checkout>` elements, the T-shirt's and the mug's, on one page.
    TwoElements,
}

/// The storefront: a product and the widget, loading the embed from the checkout server; every
/// event the widget dispatches is kept in `window.checkoutEvents`.
pub fn storefront_page(embed: Embed, server: &str, gateway: &str, api: Api) -> String {
    let dialect = match api {
        Api::V1 => "blockatm-v1",
        Api::V2 => "blockatm-v2",
    };
    let widget = match embed {
        Embed::Element => format!(
            r#"<usdt-checkout merchant-url="{server}" gateway-url="{gateway}" gateway-api="{dialect}" item="tee" locale="en"></usdt-checkout>"#
        ),
        Embed::TwoElements => format!(
            r#"<usdt-checkout merchant-url="{server}" gateway-url="{gateway}" gateway-api="{dialect}" item="tee" locale="en"></usdt-checkout>
<h2>Mug</h2>
<usdt-checkout merchant-url="{server}" gateway-url="{gateway}" gateway-api="{dialect}" item="mug" locale="en"></usdt-checkout>"#
        ),
        Embed::Script => format!(
            r#"<div id="checkout"></div>
<script type="module">
  import {{ UsdtCheckout }} from "{server}/checkout/usdt-checkout.js";
  UsdtCheckout.mount(document.getElementById("checkout"),
    {{ merchantUrl: "{server}", gatewayUrl: "{gateway}", gatewayApi: "{dialect}", item: "tee", locale: "en" }});
</script>"#
        ),
    };
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Shop</title>
<link rel="icon" href="data:,">
<style>body {{ font-family: system-ui, sans-serif; max-width: 30rem; margin: 1.5rem auto; padding: 0 1rem; }}</style>
<script>
  window.checkoutEvents = [];
  for (const name of ["created", "status", "paid", "expired", "failed"])
    document.addEventListener(`usdt-checkout:${{name}}`, (e) => checkoutEvents.push({{ name, ...e.detail }}));
</script>
<script type="module" src="{server}/checkout/usdt-checkout.js"></script>
</head>
<body>
<h1>T-shirt</h1>
<p>25.00 USD</p>
{widget}
</body>
</html>"#
    )
}
