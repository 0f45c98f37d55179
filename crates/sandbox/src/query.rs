//! Query strings of the API, and the order query's rules: which orders it selects (by number,
//! documented status and time) and which page of them it returns.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use usdt_checkout_protocol::OrderStatus;
use usdt_checkout_protocol::gateway::GatewayStatus;

use crate::config::Api;
use crate::dialect::gateway_status;
use crate::error::ApiError;
use crate::ledger::Order;

/// A query string's parameters, or a 400 that says which one is wrong.
pub fn parse<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query).map_err(|e| ApiError::invalid(format!("invalid query: {e}")))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OrderParams {
    /// One order number, or several separated by commas.
    order_no: Option<String>,
    /// The dialect's status: V1's number (-1, 0, 1) or V2's name (`PENDING`, ...).
    status: Option<String>,
    start_time: Option<u64>,
    end_time: Option<u64>,
    updated_since: Option<u64>,
    page: Option<u32>,
    page_size: Option<u32>,
}

/// The order query, checked.
#[derive(Debug)]
pub struct OrderQuery {
    pub filter: OrderFilter,
    pub page: Page,
}

impl OrderQuery {
    /// Parses `query`, with statuses as dialect `api` spells them.
    pub fn parse(query: &str, api: Api) -> Result<Self, ApiError> {
        let params: OrderParams = parse(query)?;
        let page = Page::new(params.page, params.page_size)?;
        let order_nos = params.order_no.as_deref().map(order_numbers).transpose()?;
        let status = params
            .status
            .as_deref()
            .map(|text| StatusFilter::parse(text, api))
            .transpose()
            .map_err(ApiError::invalid)?;
        Ok(Self {
            filter: OrderFilter {
                order_nos,
                status,
                start_time: params.start_time,
                end_time: params.end_time,
                updated_since: params.updated_since,
            },
            page,
        })
    }
}

const MAX_ORDER_NOS: usize = 100;

/// A comma-separated list of order numbers, blanks dropped.
fn order_numbers(list: &str) -> Result<Vec<String>, ApiError> {
    let numbers: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if numbers.len() > MAX_ORDER_NOS {
        return Err(ApiError::invalid(format!(
            "orderNo lists at most {MAX_ORDER_NOS} order numbers"
        )));
    }
    Ok(numbers)
}

/// Which of a merchant's orders a query selects; every condition given must hold.
#[derive(Debug, Default)]
pub struct OrderFilter {
    order_nos: Option<Vec<String>>,
    status: Option<StatusFilter>,
    /// Created at or after.
    start_time: Option<u64>,
    /// Created before.
    end_time: Option<u64>,
    /// Changed at or after.
    updated_since: Option<u64>,
}

impl OrderFilter {
    pub fn matches(&self, order: &Order) -> bool {
        self.order_nos
            .as_ref()
            .is_none_or(|list| list.contains(&order.order_no))
            && self.status.is_none_or(|s| s.matches(order.state))
            && self.start_time.is_none_or(|t| order.create_time >= t)
            && self.end_time.is_none_or(|t| order.create_time < t)
            && self.updated_since.is_none_or(|t| order.update_time >= t)
    }

    /// The order number, when the query names exactly one: finding nothing then is a 404, not
    /// an empty page.
    pub fn single_order_no(&self) -> Option<&str> {
        match self.order_nos.as_deref() {
            Some([single]) => Some(single),
            _ => None,
        }
    }
}

/// A documented status: V1's number (-1 covers expired and cancelled), or V2's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    V1(i8),
    V2(GatewayStatus),
}

impl StatusFilter {
    /// Reads a status exactly as dialect `api` writes it.
    pub fn parse(text: &str, api: Api) -> Result<Self, String> {
        match (api, text) {
            (Api::V1, "-1") => Ok(Self::V1(-1)),
            (Api::V1, "0") => Ok(Self::V1(0)),
            (Api::V1, "1") => Ok(Self::V1(1)),
            (Api::V1, other) => Err(format!("status {other:?} is not -1, 0 or 1")),
            (Api::V2, "PENDING") => Ok(Self::V2(GatewayStatus::Pending)),
            (Api::V2, "SUCCESS") => Ok(Self::V2(GatewayStatus::Success)),
            (Api::V2, "EXPIRED") => Ok(Self::V2(GatewayStatus::Expired)),
            (Api::V2, "CANCELLED") => Ok(Self::V2(GatewayStatus::Cancelled)),
            (Api::V2, other) => Err(format!(
                "status {other:?} is not PENDING, SUCCESS, EXPIRED or CANCELLED"
            )),
        }
    }

    pub fn matches(self, state: OrderStatus) -> bool {
        let status = gateway_status(state);
        match self {
            Self::V1(number) => status.v1_number() == number,
            Self::V2(wanted) => status == wanted,
        }
    }
}

const MAX_PAGE_SIZE: u32 = 100;

/// One page of results: pages count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

impl Page {
    pub fn new(number: Option<u32>, size: Option<u32>) -> Result<Self, ApiError> {
        let page = Self {
            number: number.unwrap_or(1),
            size: size.unwrap_or(20),
        };
        if page.number == 0 || !(1..=MAX_PAGE_SIZE).contains(&page.size) {
            return Err(ApiError::invalid(format!(
                "page starts at 1 and pageSize is from 1 to {MAX_PAGE_SIZE}"
            )));
        }
        Ok(page)
    }

    /// This page's share of `items`.
    pub fn of<T>(self, items: impl IntoIterator<Item = T>) -> Vec<T> {
        let size = self.size as usize;
        items
            .into_iter()
            .skip((self.number as usize - 1).saturating_mul(size))
            .take(size)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(order_no: &str, state: OrderStatus, create_time: u64) -> Order {
        let address = usdt_checkout_protocol::Address::from_bytes([1; 20]);
        Order {
            merchant: "pk".into(),
            plat_order_no: format!("P-{order_no}"),
            order_no: order_no.into(),
            cust_no: None,
            chain_id: usdt_checkout_protocol::ChainId::LOCAL,
            network: "Local".into(),
            symbol: "USDT".into(),
            token: address,
            decimals: 6,
            to_address: address,
            amount: 1,
            create_time,
            expire_time: create_time + 900_000,
            update_time: create_time,
            state,
            payments: vec![],
            terms: String::new(),
        }
    }

    fn filter(query: &str) -> OrderFilter {
        OrderQuery::parse(query, Api::V1).unwrap().filter
    }

    #[test]
    fn a_status_is_the_dialects_own() {
        let v1 = |text| StatusFilter::parse(text, Api::V1);
        let v2 = |text| StatusFilter::parse(text, Api::V2);
        assert_eq!(v1("-1"), Ok(StatusFilter::V1(-1)));
        assert_eq!(v2("EXPIRED"), Ok(StatusFilter::V2(GatewayStatus::Expired)));
        for bad in ["2", "paid", "SUCCESS"] {
            assert!(v1(bad).is_err(), "{bad}");
        }
        for bad in ["1", "success", "FAILED"] {
            assert!(v2(bad).is_err(), "{bad}");
        }
        let settled = StatusFilter::V1(1);
        assert!(settled.matches(OrderStatus::Paid) && settled.matches(OrderStatus::PaidLate));
        assert!(!settled.matches(OrderStatus::Confirming));
        let ended = StatusFilter::V1(-1);
        assert!(ended.matches(OrderStatus::Expired) && ended.matches(OrderStatus::Failed));
        let expired = StatusFilter::V2(GatewayStatus::Expired);
        assert!(expired.matches(OrderStatus::Expired) && !expired.matches(OrderStatus::Failed));
        let cancelled = StatusFilter::V2(GatewayStatus::Cancelled);
        assert!(cancelled.matches(OrderStatus::Failed));
        let pending = StatusFilter::V2(GatewayStatus::Pending);
        assert!(pending.matches(OrderStatus::PartiallyPaid));
    }

    #[test]
    fn every_condition_given_must_hold() {
        let a = order("A", OrderStatus::Waiting, 1_000);
        let b = order("B", OrderStatus::Expired, 2_000);
        assert!(filter("").matches(&a) && filter("").matches(&b));
        assert!(filter("orderNo=A,%20C").matches(&a));
        assert!(!filter("orderNo=A,%20C").matches(&b));
        assert!(filter("status=-1").matches(&b) && !filter("status=-1").matches(&a));
        let window = filter("startTime=1000&endTime=2000");
        assert!(window.matches(&a) && !window.matches(&b));
        assert!(!filter("updatedSince=1001").matches(&a));
        assert!(!filter("orderNo=A&status=-1").matches(&a));
        let v2 = |query| OrderQuery::parse(query, Api::V2).unwrap().filter;
        assert!(v2("status=EXPIRED").matches(&b) && !v2("status=PENDING").matches(&b));
    }

    #[test]
    fn only_a_single_order_number_is_looked_up() {
        assert_eq!(filter("orderNo=A,").single_order_no(), Some("A"));
        assert_eq!(filter("orderNo=A,B").single_order_no(), None);
        assert_eq!(filter("").single_order_no(), None);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let refused = |query| OrderQuery::parse(query, Api::V1).unwrap_err().msg;
        assert!(refused("page=0").contains("page starts at 1"));
        assert!(refused("pageSize=101").contains("pageSize is from 1 to 100"));
        assert!(refused("status=done").contains("not -1, 0 or 1"));
        assert!(refused("color=red").contains("invalid query"));
        let many = (0..=MAX_ORDER_NOS)
            .map(|i| i.to_string())
            .collect::<Vec<_>>();
        assert!(refused(&format!("orderNo={}", many.join(","))).contains("at most 100"));
    }

    #[test]
    fn pages_count_from_one() {
        let page = Page::new(Some(2), Some(3)).unwrap();
        assert_eq!(page.of(1..=10), [4, 5, 6]);
        assert_eq!(Page::new(Some(4), Some(3)).unwrap().of(1..=10), [10]);
        assert_eq!(
            Page::new(Some(9), Some(3)).unwrap().of(1..=10),
            Vec::<i32>::new()
        );
        assert_eq!(
            Page::new(None, None).unwrap(),
            Page {
                number: 1,
                size: 20
            }
        );
    }
}
