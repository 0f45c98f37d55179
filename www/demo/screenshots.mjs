// Screenshots of the widget's payment states, for a person to look at: waiting, partially paid
// and paid, in light and dark, on a desktop and a 375 px phone. Run by `cargo xtask screenshots`
// against the running demo (`cargo xtask demo`); payments are real, through the sandbox's test
// mode. Writes screenshots/<state>-<theme>-<device>.png.
import { mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const STORE = "http://127.0.0.1:8080";
const SERVER = "http://127.0.0.1:4020";
const GATEWAY = "http://127.0.0.1:4010";
const OUT = process.argv[2] ?? "screenshots";

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body ?? {}),
  });
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

async function checkoutIn(state) {
  const key = `shot-${state}-${Date.now()}-${Math.random().toString(16).slice(2)}`;
  const view = await post(`${SERVER}/api/checkouts`, { item: "tee", chainId: 31337, symbol: "USDT", idempotencyKey: key });
  const order = view.payment.orderNo;
  if (state === "partially_paid") // A partial plain transfer is only matched when no other order is open: name the order.
    await post(`${GATEWAY}/sandbox/orders/${order}/pay`, { amount: "10", method: "deposit" });
  if (state === "paid") {
    await post(`${GATEWAY}/sandbox/orders/${order}/pay`, {});
    await post(`${GATEWAY}/sandbox/mine`, { blocks: 2 });
  }
  for (let i = 0; i < 60; i++) {
    const now = await (await fetch(`${SERVER}/api/checkouts/${view.id}`)).json();
    if (now.state === state) return view.id;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`checkout ${view.id} never reached ${state}`);
}

const devices = {
  desktop: { viewport: { width: 1280, height: 900 } },
  mobile: { viewport: { width: 375, height: 812 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
};

mkdirSync(OUT, { recursive: true });
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
try {
  for (const state of ["waiting", "partially_paid", "paid"]) {
    const id = await checkoutIn(state);
    for (const theme of ["light", "dark"]) {
      for (const [device, options] of Object.entries(devices)) {
        const context = await browser.newContext({ ...options, colorScheme: theme });
        const page = await context.newPage();
        await page.goto(STORE);
        await page.evaluate(({ id, theme }) => {
          document.body.style.background = theme === "dark" ? "#0b0d11" : "#f3f4f6";
          document.body.innerHTML = `<main style="padding:16px"><usdt-checkout merchant-url="/" gateway-url="http://127.0.0.1:4010" checkout-id="${id}" theme="${theme}"></usdt-checkout></main>`;
        }, { id, theme });
        await page.waitForFunction(
          (state) => document.querySelector("usdt-checkout")?.shadowRoot?.querySelector(".usdt-checkout")?.dataset.state === state,
          state,
          { timeout: 15000 },
        );
        const file = `${OUT}/${state}-${theme}-${device}.png`;
        await page.screenshot({ path: file, fullPage: true });
        console.log(`screenshot: ${file}`);
        await context.close();
      }
    }
  }
} finally {
  await browser.close();
}
