//! A router that remembers each route's method and path, so that a test can walk every route
//! behind a gate (the admin token, a console session) and see none was left outside it.

use axum::Router;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};

/// Routes, and the method and path of each.
pub struct Table<S> {
    pub router: Router<S>,
    pub endpoints: Vec<(Method, &'static str)>,
}

impl<S: Clone + Send + Sync + 'static> Default for Table<S> {
    fn default() -> Self {
        Self {
            router: Router::new(),
            endpoints: Vec::new(),
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Table<S> {
    /// Routes `method` on `path` to `handler`; a path given twice takes both methods.
    pub fn route<H, T>(mut self, method: Method, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a method axum routes");
        self.router = self.router.route(path, on(filter, handler));
        self.endpoints.push((method, path));
        self
    }

    /// [`Table::route`] for a GET.
    pub fn get<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.route(Method::GET, path, handler)
    }

    /// [`Table::route`] for a POST.
    pub fn post<H, T>(self, path: &'static str, handler: H) -> Self
    where
        H: Handler<T, S>,
        T: 'static,
    {
        self.route(Method::POST, path, handler)
    }
}
