//! The simulation's refunds, once the payments have settled: the shoppers who overpaid, paid
//! twice or paid an order that had expired ask for their money back (proven by the paying
//! wallet's signature, anvil's key, or unproven with an email), and the merchant, as two
//! operators on two servers of the same database, approves most and refuses some; some of the
//! requests come in pairs that fit the payment alone and not together, approved by both
//! operators at once, and some single ones are approved by both at once. Each approved refund
//! is paid, by the sandbox's test-mode refund or by a plain ERC-20 transfer from the merchant's
//! account, and the checkout server's watcher marks it sent. The audit then holds, for every payment and every order: what is refunded (approved or
//! sent) is at most what the chain received; every sent refund's transfer is on the chain, to
//! its destination, of its amount, and paid no other refund; every transfer made to pay a
//! refund is attached to exactly one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{Notify, Semaphore};
use usdt_checkout_chain::ChainClient;
use usdt_checkout_protocol::{Address, format_units, parse_positive_units};
use usdt_checkout_server::checkouts::Checkouts;
use usdt_checkout_server::clock::now_ms;
use usdt_checkout_server::refunds::{Refund, RefundState};
use usdt_checkout_server::store::{AuditEntry, Database, Store};

use super::{Books, Kind, Outcome, Rng, World};

/// Refund requests at once.
const AT_ONCE: usize = 8;

/// What the refunds' phase did, for the figures.
#[derive(Debug, Default)]
pub struct Done {
    pub asked: BTreeMap<&'static str, usize>,
    pub decided: BTreeMap<String, usize>,
    /// Transfers sent to pay refunds: (tx, the refund it was sent for).
    pub transfers: Vec<(String, String)>,
    /// Requests refused though the shopper's refunds view offered them, and one refund
    /// approved twice, each said.
    pub refused: Vec<String>,
    /// Payments the shopper's refunds view offered that the shopper did not send.
    pub offered_not_theirs: usize,
    /// Shoppers offered nothing they sent, by kind.
    pub nothing_of_theirs: BTreeMap<&'static str, usize>,
}

/// The refunds as kept and the chain's transfers to their destinations, read at one moment.
pub struct RefundBooks {
    pub refunds: Vec<Refund>,
    /// Every transfer to a refund's destination on the chain as it is now: (tx, log index) to
    /// (to, token, amount).
    pub transfers: ToDestinations,
}

/// Transfers by (tx, log index): (to, token, amount).
pub type ToDestinations = BTreeMap<(String, u64), (Address, Address, u128)>;

/// The merchant's staff: two operators, each on a server of their own over the same database.
struct Staff {
    ana: Checkouts,
    bo: Checkouts,
}

async fn operator(world: &World) -> Checkouts {
    let database = Database::parse(&world.database()).unwrap();
    let store = Store::open(&database).await.unwrap();
    Checkouts::from_store(store, Arc::new(Notify::new()))
        .await
        .unwrap()
}

fn entry(actor: &str, action: &str) -> AuditEntry {
    AuditEntry {
        at: now_ms(),
        actor: actor.into(),
        action: action.into(),
        ..AuditEntry::default()
    }
}

/// How far the chain's clock is behind the wall clock, in seconds, now brought level: a reorg
/// made on anvil takes its clock back a second or two, and a real chain's blocks keep time.
/// Left behind, a payment made just after its order would bear a time before the order was
/// made, and the rules that read a block's time (what an order's shopper may have sent, a
/// claim's "sent before the order") would see the simulation's artefact, not the product.
pub async fn chain_clock_to_now(rpc: &str) -> u64 {
    let http = reqwest::Client::new();
    let call = |method: &str, params: Value| {
        http.post(rpc)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
    };
    let block: Value = call("eth_getBlockByNumber", json!(["latest", false]))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hex = block["result"]["timestamp"].as_str().unwrap_or("0x0");
    let chain_time = u64::from_str_radix(hex.trim_start_matches("0x"), 16).unwrap_or(0);
    let now = now_ms() / 1000 + 1;
    if chain_time < now {
        let set: Value = call("evm_setNextBlockTimestamp", json!([now]))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(set.get("error").is_none(), "{set}");
    }
    now.saturating_sub(chain_time)
}

/// The shoppers whose money may come back ask, the merchant decides and pays.
pub async fn run(world: &World, outcomes: &[Outcome], seed: u64) -> Done {
    let staff = Arc::new(Staff {
        ana: operator(world).await,
        bo: operator(world).await,
    });
    let chain = Arc::new(ChainClient::connect(&world.anvil.rpc_url).unwrap());
    let room = Arc::new(Semaphore::new(AT_ONCE));
    let mut tasks = vec![];
    let mut rng = Rng(seed ^ 0x005E_F0D5);
    for outcome in outcomes {
        if !matches!(outcome.kind, Kind::TooMuch | Kind::Twice | Kind::Late) {
            continue;
        }
        let Some(id) = outcome.ids.first().cloned() else {
            continue;
        };
        // Drawn here, in the plan's order, so a seed replays the same choices.
        let choice = Choice {
            proven: rng.chance(60),
            pair: rng.chance(20),
            refuse: rng.chance(15),
            by_sandbox: rng.chance(50),
            twice: rng.chance(40),
        };
        let kind = outcome.kind;
        let permit = room.clone().acquire_owned().await.unwrap();
        let (staff, chain) = (staff.clone(), chain.clone());
        let (server, sandbox) = (world.server.url.clone(), world.sandbox.url.clone());
        let sent: Vec<String> = outcome
            .sent
            .iter()
            .map(|(tx, _)| tx.to_lowercase())
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut done = one(&staff, &chain, (&server, &sandbox), &id, &sent, choice).await;
            done.kind = kind.name();
            for said in &mut done.refused {
                *said = format!("{} order {id}: {said}", kind.name());
            }
            drop(permit);
            done
        }));
    }
    let mut done = Done::default();
    for task in tasks {
        let one = task.await.expect("a refund's task");
        for &asked in &one.asked {
            *done.asked.entry(asked).or_default() += 1;
        }
        for decided in one.decided {
            *done.decided.entry(decided).or_default() += 1;
        }
        done.transfers.extend(one.transfers);
        done.refused.extend(one.refused);
        done.offered_not_theirs += one.offered_not_theirs;
        if one.asked.is_empty() {
            *done.nothing_of_theirs.entry(one.kind).or_default() += 1;
        }
    }
    // The merchant gives back, on their own initiative, some payments: all of a part payment
    // of an order still short, a fifth of an exact one (a goodwill refund). Each such order
    // then counts paid only what it holds (the audit of paid totals).
    let kinds = |o: &&Outcome| matches!(o.kind, Kind::Exact | Kind::PartOnly | Kind::WrongAmount);
    for outcome in outcomes.iter().filter(kinds) {
        // Drawn for every one, in the plan's order, so a seed replays the same choices.
        if !rng.chance(25) {
            continue;
        }
        let Some(id) = outcome.ids.first() else {
            continue;
        };
        let Ok(Some(order)) = staff.ana.load(id).await else {
            continue;
        };
        let (Some(terms), Some(part)) = (&order.terms, order.chain_payments.first()) else {
            continue;
        };
        let amount = if order.paid_atomic >= terms.pay_amount_atomic {
            part.value / 5
        } else {
            part.value
        };
        let started = staff
            .ana
            .start_refund(
                Some(id),
                (terms.chain_id, &part.tx_id, part.log_index),
                amount,
                part.from,
                entry("ana", "refund.start"),
            )
            .await
            .unwrap();
        match started {
            Ok(asked) => {
                let refund = asked.refund();
                *done
                    .decided
                    .entry("started by the merchant".into())
                    .or_default() += 1;
                let tx = pay(&chain, &world.sandbox.url, refund, terms.decimals, false).await;
                done.transfers.push((tx, refund.id.clone()));
            }
            Err(not) => {
                *done
                    .decided
                    .entry(format!("not started: {not:?}"))
                    .or_default() += 1
            }
        }
    }
    done
}

#[derive(Debug, Clone, Copy)]
struct Choice {
    proven: bool,
    /// Two requests that fit the payment alone and not together, approved at once.
    pair: bool,
    refuse: bool,
    /// One refund approved by both operators at once.
    twice: bool,
    by_sandbox: bool,
}

struct One {
    asked: Vec<&'static str>,
    decided: Vec<String>,
    transfers: Vec<(String, String)>,
    refused: Vec<String>,
    offered_not_theirs: usize,
    kind: &'static str,
}

/// One shopper's refunds: asked for each payment that may be given back, decided, paid.
async fn one(
    staff: &Staff,
    chain: &ChainClient,
    (server, sandbox): (&str, &str),
    id: &str,
    sent: &[String],
    choice: Choice,
) -> One {
    let http = reqwest::Client::new();
    let view: Value = http
        .get(format!("{server}/api/checkouts/{id}/refunds"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Said with a refusal: the order's state as its shopper sees it.
    let status: Value = http
        .get(format!("{server}/api/checkouts/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap_or(Value::Null);
    let mut one = One {
        asked: vec![],
        decided: vec![],
        transfers: vec![],
        refused: vec![],
        offered_not_theirs: 0,
        kind: "",
    };
    // Nothing the shopper sent counts for the order (more than it asked, at an address many
    // orders share, matches none): only the paying wallet's signature ties their payment to
    // them, and they ask with it.
    let counted: Vec<String> = status["payment"]["transactions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["hash"].as_str().map(str::to_lowercase))
        .collect();
    let untied = !sent.iter().any(|tx| counted.contains(tx));
    for payment in view["refundable"].as_array().cloned().unwrap_or_default() {
        // A shopper asks back what they sent, by its transaction.
        let source = payment["sourceTx"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase();
        if !sent.contains(&source) {
            one.offered_not_theirs += 1;
            continue;
        }
        let decimals = payment["decimals"].as_u64().unwrap() as u8;
        let max = parse_positive_units(payment["max"].as_str().unwrap(), decimals).unwrap_or(0);
        if max == 0 {
            continue;
        }
        let from = payment["from"].as_str().unwrap().to_owned();
        let ask = |amount: u128, signature: Option<String>| {
            let mut body = json!({
                "chainId": payment["chainId"],
                "sourceTx": payment["sourceTx"],
                "sourceLogIndex": payment["sourceLogIndex"],
                "amount": format_units(amount, decimals),
                "destination": from,
            });
            match signature {
                Some(signature) => body["signature"] = json!(signature),
                None => body["email"] = json!(format!("shopper-{id}@example.com")),
            }
            body
        };
        let mut asked = vec![];
        if choice.pair && max >= 3 && !untied {
            // Requests reserve nothing: both are taken, and the approvals decide.
            let part = max * 2 / 3;
            for _ in 0..2 {
                match post(&http, server, id, &ask(part, None)).await {
                    Ok(refund) => asked.push(refund),
                    Err(refused) => one.refused.push(format!(
                        "{refused}; the order is {}, offered {payment}",
                        status["state"]
                    )),
                }
                one.asked.push("unproven, one of a pair");
            }
        } else if choice.proven || untied {
            let message = payment["message"].as_str().unwrap();
            let signer: Address = from.parse().unwrap();
            let signature = chain.sign_message(signer, message).await.unwrap();
            match post(&http, server, id, &ask(max, Some(signature))).await {
                Ok(refund) => asked.push(refund),
                Err(refused) => one.refused.push(refused),
            }
            one.asked.push("proven");
        } else {
            match post(&http, server, id, &ask(max, None)).await {
                Ok(refund) => asked.push(refund),
                Err(refused) => one.refused.push(refused),
            }
            one.asked.push("unproven");
        }
        let decisions = match asked.as_slice() {
            [a, b] => {
                let (x, y) = tokio::join!(
                    staff.ana.approve_refund(a, entry("ana", "refund.approve")),
                    staff.bo.approve_refund(b, entry("bo", "refund.approve")),
                );
                vec![x.unwrap(), y.unwrap()]
            }
            [a] if choice.refuse => {
                let refused = staff
                    .ana
                    .refuse_refund(a, "Sent from an exchange", entry("ana", "refund.refuse"))
                    .await
                    .unwrap();
                vec![refused]
            }
            // One refund approved by both operators at once (two tabs, a double click):
            // approved once, paid once.
            [a] if choice.twice => {
                let (x, y) = tokio::join!(
                    staff.ana.approve_refund(a, entry("ana", "refund.approve")),
                    staff.bo.approve_refund(a, entry("bo", "refund.approve")),
                );
                let decisions = vec![x.unwrap(), y.unwrap()];
                let approved = decisions.iter().filter(|d| d.is_ok()).count();
                if approved != 1 {
                    one.refused.push(format!(
                        "refund {a} approved twice at once was approved {approved} times: \
                         {decisions:?}"
                    ));
                }
                decisions
            }
            [a] => vec![
                staff
                    .bo
                    .approve_refund(a, entry("bo", "refund.approve"))
                    .await
                    .unwrap(),
            ],
            _ => vec![],
        };
        for decision in decisions {
            match decision {
                Ok(refund) if refund.state == RefundState::Approved => {
                    one.decided.push("approved".into());
                    let tx = pay(chain, sandbox, &refund, decimals, choice.by_sandbox).await;
                    one.transfers.push((tx, refund.id.clone()));
                }
                Ok(refund) => one.decided.push(refund.state.as_str().into()),
                Err(not) => one.decided.push(format!("not done: {not:?}")),
            }
        }
    }
    one
}

/// `POST /api/checkouts/{id}/refunds`: the refund's id when asked, else the refusal.
async fn post(
    http: &reqwest::Client,
    server: &str,
    id: &str,
    body: &Value,
) -> Result<String, String> {
    let reply = http
        .post(format!("{server}/api/checkouts/{id}/refunds"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = reply.status().as_u16();
    let answer: Value = reply.json().await.unwrap_or(Value::Null);
    match answer["id"].as_str() {
        Some(refund) if status == 201 || status == 200 => Ok(refund.to_owned()),
        _ => Err(format!(
            "a refund offered was refused ({status}): {answer} for {body}"
        )),
    }
}

/// Pays an approved refund from the merchant's account (anvil's account 0): through the
/// sandbox's test mode, or as a plain transfer from the wallet. The transfer's hash.
async fn pay(
    chain: &ChainClient,
    sandbox: &str,
    refund: &Refund,
    decimals: u8,
    by_sandbox: bool,
) -> String {
    // One account sends one transaction at a time: the sandbox pays from the same account as
    // the wallet, and two at once would take one nonce.
    static SENDING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = SENDING.lock().await;
    if by_sandbox {
        let reply = usdt_checkout_testkit::Client::new(sandbox)
            .post(
                "/sandbox/refund",
                json!({
                    "to": refund.destination.to_string(),
                    "amount": format_units(refund.amount_atomic, decimals),
                    "chainId": refund.chain_id.0,
                }),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        return reply.body["data"]["txId"].as_str().unwrap().to_owned();
    }
    let merchant = chain.accounts().await.unwrap()[0];
    chain
        .mint(refund.token, merchant, merchant, refund.amount_atomic)
        .await
        .unwrap();
    chain
        .transfer(
            refund.token,
            merchant,
            refund.destination,
            refund.amount_atomic,
        )
        .await
        .unwrap()
}

/// The refunds and the chain's transfers to their destinations, once every refund paid is
/// seen sent (or as they are after two minutes).
pub async fn settle(world: &World, done: &Done) -> RefundBooks {
    let deadline = Instant::now() + Duration::from_secs(120);
    let paid: BTreeSet<&str> = done.transfers.iter().map(|(_, id)| id.as_str()).collect();
    loop {
        let books = read(world).await;
        let waiting = books
            .refunds
            .iter()
            .filter(|r| paid.contains(r.id.as_str()) && r.state != RefundState::Sent)
            .count();
        if waiting == 0 {
            return books;
        }
        if Instant::now() > deadline {
            println!("simulation: {waiting} refunds paid and not seen sent; auditing as it is");
            return books;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

async fn read(world: &World) -> RefundBooks {
    let database = Database::parse(&world.database()).unwrap();
    let store = Store::open(&database).await.unwrap();
    let mut refunds: Vec<Refund> = vec![];
    loop {
        let before = refunds.last().map(|r| (r.requested_at, r.id.as_str()));
        let page = store.refunds_page(None, 500, before).await.unwrap();
        if page.is_empty() {
            break;
        }
        refunds.extend(page);
    }
    let chain = ChainClient::connect(&world.anvil.rpc_url).unwrap();
    let head = chain.head().await.unwrap();
    let tokens: Vec<Address> = refunds
        .iter()
        .map(|r| r.token)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let destinations: Vec<Address> = refunds
        .iter()
        .map(|r| r.destination)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let transfers = chain
        .payments(0, head, &tokens, &destinations)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                (p.tx_id.to_string().to_lowercase(), p.log_index),
                (p.to, p.token, p.value),
            )
        })
        .collect();
    RefundBooks { refunds, transfers }
}

/// What the merchant's ERC-20 transfers into refunds' destinations broke, said. The money
/// books (`books`) say what the chain received; `made` are the transfers sent to pay refunds.
pub fn audit(books: &Books, refunds: &RefundBooks, made: &[(String, String)]) -> Vec<String> {
    let mut violations = vec![];
    let key = |tx: &str, log: u64| (tx.to_lowercase(), log);
    // Every payment: what its refunds give back (approved or sent) within what it brought.
    let mut given = BTreeMap::<(String, u64), (u128, Vec<&str>)>::new();
    for refund in refunds.refunds.iter().filter(|r| r.state.commits_money()) {
        let source = key(refund.source_tx.as_str(), refund.source_log_index);
        let (sum, ids) = given.entry(source).or_default();
        *sum += refund.amount_atomic;
        ids.push(&refund.id);
    }
    for (source, (sum, ids)) in &given {
        match books.transfers.get(source) {
            None => violations.push(format!(
                "refunds {ids:?} give back {sum} of {source:?}, which the chain does not have"
            )),
            Some((received, _)) if sum > received => violations.push(format!(
                "refunds {ids:?} give back {sum} of {source:?}, which brought {received}"
            )),
            Some(_) => {}
        }
    }
    // Every order: its refunds within what the chain received for it (its payments, and those
    // its shopper asked back that matched no order).
    for order in &books.orders {
        let id = order["id"].as_str().unwrap();
        let mut sources: BTreeSet<(String, u64)> = order["chainPayments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                key(
                    p["txHash"].as_str().unwrap(),
                    p["logIndex"].as_u64().unwrap(),
                )
            })
            .collect();
        let of_it: Vec<&Refund> = refunds
            .refunds
            .iter()
            .filter(|r| r.checkout_id.as_deref() == Some(id) && r.state.commits_money())
            .collect();
        sources.extend(
            of_it
                .iter()
                .map(|r| key(r.source_tx.as_str(), r.source_log_index)),
        );
        let received: u128 = sources
            .iter()
            .filter_map(|s| books.transfers.get(s))
            .map(|(amount, _)| amount)
            .sum();
        let refunded: u128 = of_it.iter().map(|r| r.amount_atomic).sum();
        if refunded > received {
            violations.push(format!(
                "order {id} refunds {refunded}, the chain received {received} for it"
            ));
        }
    }
    // Every sent refund: its own transfer, on the chain, exactly as approved.
    let mut paid_by = BTreeMap::<(String, u64), Vec<&str>>::new();
    for refund in &refunds.refunds {
        match (&refund.sent, refund.state) {
            (Some(sent), RefundState::Sent) => {
                let transfer = key(sent.tx.as_str(), sent.log_index);
                paid_by
                    .entry(transfer.clone())
                    .or_default()
                    .push(&refund.id);
                match refunds.transfers.get(&transfer) {
                    None => violations.push(format!(
                        "refund {} is sent by {transfer:?}, which the chain does not have",
                        refund.id
                    )),
                    Some((to, token, amount))
                        if (*to, *token, *amount)
                            != (refund.destination, refund.token, refund.amount_atomic) =>
                    {
                        violations.push(format!(
                            "refund {} of {} to {} is sent by {transfer:?}, of {amount} to {to}",
                            refund.id, refund.amount_atomic, refund.destination
                        ))
                    }
                    Some(_) => {}
                }
            }
            (None, RefundState::Sent) => {
                violations.push(format!("refund {} is sent with no transfer", refund.id))
            }
            (Some(_), state) => violations.push(format!(
                "refund {} is {} with a transfer",
                refund.id,
                state.as_str()
            )),
            (None, _) => {}
        }
    }
    for (transfer, ids) in &paid_by {
        if ids.len() > 1 {
            violations.push(format!(
                "transfer {transfer:?} pays {} refunds: {ids:?}",
                ids.len()
            ));
        }
    }
    // Every transfer made to pay a refund, on the chain: attached to exactly one refund.
    for (tx, meant) in made {
        let on_chain: Vec<&(String, u64)> = refunds
            .transfers
            .keys()
            .filter(|(hash, _)| hash.eq_ignore_ascii_case(tx))
            .collect();
        if on_chain.is_empty() {
            violations.push(format!(
                "the transfer {tx} made for refund {meant} is not on the chain"
            ));
        }
        for transfer in on_chain {
            if paid_by.get(transfer).map_or(0, Vec::len) != 1 {
                let refund = refunds.refunds.iter().find(|r| r.id == *meant);
                violations.push(format!(
                    "the transfer {transfer:?} {:?} made for refund {meant} pays {:?}; the \
                     refund: {:?}",
                    refunds.transfers.get(transfer),
                    paid_by.get(transfer),
                    refund.map(|r| (
                        r.state.as_str(),
                        r.destination,
                        r.amount_atomic,
                        r.approved_at,
                        r.approved_block,
                        &r.sent
                    ))
                ));
            }
        }
    }
    violations
}

/// A refund approved beyond what its payment brought, written beside the checkouts as a bug
/// would leave it (`SIMULATION_BREAK=refund`): the audit must see it.
pub async fn break_one(world: &World, books: &Books) {
    let order = books
        .orders
        .iter()
        .find(|o| !o["chainPayments"].as_array().unwrap().is_empty())
        .expect("an order paid");
    let p = &order["chainPayments"][0];
    let amount = super::units(&p["amountAtomic"]) + 1;
    let now = now_ms();
    world
        .run_sql(&format!(
            "INSERT INTO refunds (id, checkout_id, chain_id, source_tx, source_log_index, token,
                 amount_atomic, destination, state, requested_at, requested_by, approved_at,
                 approved_by)
             VALUES ('rf_broken', '{}', 31337, '{}', {}, '{}', '{amount}',
                 '0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed', 'approved', {now}, 'bug', {now},
                 'bug')",
            order["id"].as_str().unwrap(),
            p["txHash"].as_str().unwrap().to_lowercase(),
            p["logIndex"],
            order["payment"]["tokenContract"].as_str().unwrap(),
        ))
        .await;
}

/// An order as the database holds it, for the audit of paid totals: what it counts paid (none
/// without payment terms), and its payments, by (tx, log index), with their amounts.
pub struct Counted {
    pub id: String,
    pub state: String,
    pub paid_atomic: Option<u128>,
    pub payments: Vec<((String, u64), u128)>,
    /// What the gateway last said was paid: for a while it stands in for a chain not yet read
    /// (or a payment a reorg took back), so an order may count it rather than its payments.
    pub gateway_paid: u128,
}

/// The orders `ids` as the database holds them now: the operators' servers settle an order
/// again when they approve a refund, and on SQLite no other server's copy follows that.
pub async fn counted(world: &World, ids: &[&str]) -> Vec<Counted> {
    let database = Database::parse(&world.database()).unwrap();
    let store = Store::open(&database).await.unwrap();
    let mut orders = vec![];
    for id in ids {
        let Some(order) = store.get(id).await.unwrap() else {
            continue;
        };
        orders.push(Counted {
            id: order.id.clone(),
            state: order.state.as_str().to_owned(),
            paid_atomic: order.terms.as_ref().map(|_| order.paid_atomic),
            payments: order
                .chain_payments
                .iter()
                .map(|p| ((p.tx_id.as_str().to_lowercase(), p.log_index), p.value))
                .collect(),
            gateway_paid: order.gateway.paid_atomic,
        });
    }
    orders
}

/// What each order counts paid once the refunds are made: at most what the chain shows attached
/// to it (or the gateway's word, while that stands in for the chain), less what was given back
/// of those payments (approved or sent), never below nothing. Money
/// given back and still counted would leave the merchant short: an order paid in full on money
/// it returned, its "excess" askable twice. Returns the violations, and how many orders count
/// less than their payments for a refund.
pub fn audit_paid(orders: &[Counted], refunds: &[Refund]) -> (Vec<String>, usize) {
    let mut violations = vec![];
    let mut net = 0;
    for order in orders {
        let Some(counted) = order.paid_atomic else {
            continue;
        };
        let mut attached = 0u128;
        let mut back = 0u128;
        for ((tx, log), value) in &order.payments {
            let of_it: u128 = refunds
                .iter()
                .filter(|r| r.state.commits_money())
                .filter(|r| r.source_tx.as_str() == tx && r.source_log_index == *log)
                .map(|r| r.amount_atomic)
                .sum();
            attached += value;
            back += of_it.min(*value);
        }
        if back > 0 {
            net += 1;
        }
        if counted > attached.max(order.gateway_paid) - back {
            violations.push(format!(
                "order {} ({}) counts {counted} paid; its payments bring {attached} (the \
                 gateway said {}), of which {back} was given back",
                order.id, order.state, order.gateway_paid
            ));
        }
    }
    (violations, net)
}

#[cfg(test)]
mod tests {
    use usdt_checkout_protocol::{ChainId, TxHash};
    use usdt_checkout_server::refunds::SentTransfer;

    use super::*;

    const TOKEN: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";
    const SHOPPER: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";

    fn hash(byte: u8) -> TxHash {
        TxHash::from_bytes([byte; 32])
    }

    fn refund(id: &str, amount: u128, state: RefundState, sent: Option<(u8, u64)>) -> Refund {
        Refund {
            id: id.into(),
            checkout_id: Some("co_1".into()),
            chain_id: ChainId(31337),
            source_tx: hash(0xaa),
            source_log_index: 0,
            token: TOKEN.parse().unwrap(),
            amount_atomic: amount,
            destination: SHOPPER.parse().unwrap(),
            signature: None,
            email: None,
            state,
            reason: None,
            requested_at: 1,
            requested_by: None,
            approved_at: Some(2),
            approved_by: Some("ana".into()),
            approved_block: None,
            sent: sent.map(|(tx, log_index)| SentTransfer {
                tx: hash(tx),
                log_index,
                block_number: 10,
                mined_at: 3,
            }),
        }
    }

    /// An order paid 10 by one payment, and the chain's transfers to the shopper: 4 in 0xb1.
    fn books() -> (Books, ToDestinations) {
        let source = hash(0xaa).to_string();
        let books = Books {
            orders: vec![json!({
                "id": "co_1",
                "chainPayments": [{"txHash": source, "logIndex": 0, "amountAtomic": "10"}],
            })],
            unmatched: vec![],
            transfers: BTreeMap::from([((source, 0), (10, 5))]),
            head: 20,
            fulfilled: BTreeMap::new(),
        };
        let to_shopper = BTreeMap::from([(
            (hash(0xb1).to_string(), 0),
            (SHOPPER.parse().unwrap(), TOKEN.parse().unwrap(), 4),
        )]);
        (books, to_shopper)
    }

    #[test]
    fn an_order_counts_paid_what_its_payments_brought_less_what_was_given_back() {
        let order = |paid: Option<u128>| Counted {
            id: "co_1".into(),
            state: "expired".into(),
            paid_atomic: paid,
            payments: vec![
                ((hash(0xaa).to_string(), 0), 10),
                ((hash(0xab).to_string(), 0), 15),
            ],
            gateway_paid: 0,
        };
        let given = [
            refund("rf_1", 10, RefundState::Sent, Some((0xb1, 0))),
            refund("rf_2", 3, RefundState::Requested, None),
            refund("rf_3", 4, RefundState::Refused, None),
        ];
        assert_eq!(audit_paid(&[order(Some(15))], &given), (vec![], 1));
        let (said, _) = audit_paid(&[order(Some(25))], &given);
        assert_eq!(said.len(), 1, "counted what it gave back: {said:?}");
        assert!(said[0].contains("10 was given back"), "{said:?}");
        assert_eq!(audit_paid(&[order(Some(25))], &[]), (vec![], 0));
        assert_eq!(audit_paid(&[order(None)], &given), (vec![], 0));
        // The gateway's word standing in for a chain not yet read (or a reorg's loss): counted.
        let reported = Counted {
            payments: vec![],
            gateway_paid: 25,
            ..order(Some(25))
        };
        assert_eq!(audit_paid(&[reported], &[]), (vec![], 0));
    }

    #[test]
    fn the_refunds_audit_holds_what_is_right_and_says_each_wrong() {
        let (books, transfers) = books();
        let made = vec![(hash(0xb1).to_string(), "rf_1".to_owned())];
        let right = RefundBooks {
            refunds: vec![
                refund("rf_1", 4, RefundState::Sent, Some((0xb1, 0))),
                refund("rf_2", 6, RefundState::Approved, None),
                // Refused and waiting requests give nothing back.
                refund("rf_3", 10, RefundState::Refused, None),
                refund("rf_4", 10, RefundState::Requested, None),
            ],
            transfers: transfers.clone(),
        };
        assert_eq!(audit(&books, &right, &made), Vec::<String>::new());

        let over = RefundBooks {
            refunds: vec![
                refund("rf_1", 4, RefundState::Sent, Some((0xb1, 0))),
                refund("rf_2", 7, RefundState::Approved, None),
            ],
            transfers: transfers.clone(),
        };
        let said = audit(&books, &over, &made);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].contains("give back 11"), "{said:?}");
        assert!(said[1].contains("order co_1 refunds 11"), "{said:?}");

        let twice = RefundBooks {
            refunds: vec![
                refund("rf_1", 4, RefundState::Sent, Some((0xb1, 0))),
                refund("rf_2", 4, RefundState::Sent, Some((0xb1, 0))),
            ],
            transfers: transfers.clone(),
        };
        let said = audit(&books, &twice, &made);
        assert!(
            said.iter().any(|s| s.contains("pays 2 refunds")),
            "{said:?}"
        );

        let unseen = RefundBooks {
            refunds: vec![
                refund("rf_1", 4, RefundState::Sent, Some((0xb2, 0))),
                refund("rf_2", 3, RefundState::Sent, Some((0xb1, 0))),
                refund("rf_3", 1, RefundState::Sent, None),
            ],
            transfers,
        };
        let said = audit(&books, &unseen, &made);
        assert!(
            said.iter().any(|s| s.contains("rf_1 is sent by")),
            "{said:?}"
        );
        assert!(
            said.iter().any(|s| s.contains("refund rf_2 of 3")),
            "{said:?}"
        );
        assert!(
            said.iter()
                .any(|s| s.contains("rf_3 is sent with no transfer")),
            "{said:?}"
        );
        // The transfer made for rf_1 paid rf_2 (once): attached to one refund, as it must be.
        assert!(
            !said.iter().any(|s| s.contains("made for refund")),
            "{said:?}"
        );

        let unattached = RefundBooks {
            refunds: vec![refund("rf_1", 4, RefundState::Approved, None)],
            transfers: right.transfers.clone(),
        };
        let said = audit(&books, &unattached, &made);
        assert!(
            said.iter()
                .any(|s| s.contains("made for refund rf_1 pays None")),
            "{said:?}"
        );
    }
}
