//! Every route of the API, in one table: the router dispatches by it and answers `405` with the
//! methods it lists; CORS opens the routes it marks for browser apps on other origins
//! (`ALLOWED_ORIGINS`) and answers their preflights with the same methods. Pure.

/// What a request is for, once its path and method are known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Healthz,
    Stream,
    StreamTicket,
    History,
    Publish,
    Latest,
    PutVersion,
    DeleteVersion,
    ClientError,
    ClientErrors,
    Metrics,
    DevToken,
    DevHubSocket,
}

/// A path, the methods it takes, and whether browser apps on other origins may call it.
pub struct Route {
    pub path: &'static str,
    pub methods: &'static [(&'static str, Endpoint)],
    pub browser: bool,
    /// Only in dev builds (cargo feature `dev-routes`): release builds answer `404`.
    pub dev: bool,
}

pub const ROUTES: &[Route] = &[
    Route { path: "/healthz", methods: &[("GET", Endpoint::Healthz)], browser: false, dev: false },
    Route { path: "/v1/stream", methods: &[("GET", Endpoint::Stream)], browser: true, dev: false },
    Route { path: "/v1/stream/ticket", methods: &[("POST", Endpoint::StreamTicket)], browser: true, dev: false },
    Route {
        path: "/v1/events",
        methods: &[("GET", Endpoint::History), ("POST", Endpoint::Publish)],
        browser: true,
        dev: false,
    },
    Route { path: "/v1/events/latest", methods: &[("GET", Endpoint::Latest)], browser: true, dev: false },
    Route {
        path: "/v1/versions",
        methods: &[("PUT", Endpoint::PutVersion), ("DELETE", Endpoint::DeleteVersion)],
        browser: false,
        dev: false,
    },
    Route { path: "/v1/audit/client-error", methods: &[("POST", Endpoint::ClientError)], browser: true, dev: false },
    Route { path: "/v1/client-errors", methods: &[("GET", Endpoint::ClientErrors)], browser: false, dev: false },
    Route { path: "/v1/metrics", methods: &[("GET", Endpoint::Metrics)], browser: false, dev: false },
    Route { path: "/v1/dev/token", methods: &[("GET", Endpoint::DevToken)], browser: false, dev: true },
    Route { path: "/v1/dev/hub-socket", methods: &[("GET", Endpoint::DevHubSocket)], browser: false, dev: true },
];

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Dispatch {
    To(Endpoint),
    /// The path exists, the method does not: these are the methods it takes (`allow`).
    MethodNotAllowed(String),
    NoRoute,
}

fn route(path: &str) -> Option<&'static Route> {
    let dev = cfg!(feature = "dev-routes");
    ROUTES.iter().find(|r| r.path == path && (dev || !r.dev))
}

fn methods(route: &Route) -> String {
    route.methods.iter().map(|(m, _)| *m).collect::<Vec<_>>().join(", ")
}

/// The endpoint of `method` (as the runtime saw it, case-sensitive) on `path`.
pub fn find(path: &str, method: &str) -> Dispatch {
    let Some(route) = route(path) else { return Dispatch::NoRoute };
    match route.methods.iter().find(|(m, _)| *m == method) {
        Some((_, endpoint)) => Dispatch::To(*endpoint),
        None => Dispatch::MethodNotAllowed(methods(route)),
    }
}

/// The methods a preflight for `path` may ask for, when the route is open to other origins.
pub fn cross_origin_methods(path: &str) -> Option<String> {
    route(path).filter(|r| r.browser).map(methods)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_find_their_endpoint_or_the_methods_the_path_takes() {
        assert_eq!(find("/v1/events", "POST"), Dispatch::To(Endpoint::Publish));
        assert_eq!(find("/v1/events", "GET"), Dispatch::To(Endpoint::History));
        assert_eq!(find("/v1/events", "PUT"), Dispatch::MethodNotAllowed("GET, POST".into()));
        assert_eq!(
            find("/v1/events", "get"),
            Dispatch::MethodNotAllowed("GET, POST".into()),
            "methods are case-sensitive"
        );
        assert_eq!(find("/v1/versions", "PATCH"), Dispatch::MethodNotAllowed("PUT, DELETE".into()));
        assert_eq!(find("/v1/nothing", "GET"), Dispatch::NoRoute);
        assert_eq!(find("/v1/events/", "GET"), Dispatch::NoRoute);
    }

    #[test]
    fn the_dev_routes_exist_only_in_dev_builds() {
        let dev = cfg!(feature = "dev-routes");
        let expected = if dev { Dispatch::To(Endpoint::DevToken) } else { Dispatch::NoRoute };
        assert_eq!(find("/v1/dev/token", "GET"), expected);
        let expected = if dev { Dispatch::To(Endpoint::DevHubSocket) } else { Dispatch::NoRoute };
        assert_eq!(find("/v1/dev/hub-socket", "GET"), expected);
        assert!(ROUTES.iter().filter(|r| r.dev).all(|r| r.path.starts_with("/v1/dev/") && !r.browser));
    }

    #[test]
    fn browser_apps_on_other_origins_reach_the_browser_routes_and_nothing_else() {
        assert_eq!(cross_origin_methods("/v1/stream").as_deref(), Some("GET"));
        assert_eq!(cross_origin_methods("/v1/events").as_deref(), Some("GET, POST"));
        assert_eq!(
            cross_origin_methods("/v1/events/latest").as_deref(),
            Some("GET"),
            "feature flags from another origin"
        );
        assert_eq!(cross_origin_methods("/v1/metrics"), None);
        assert_eq!(cross_origin_methods("/v1/versions"), None);
        assert_eq!(cross_origin_methods("/v1/dev/token"), None);
    }

    #[test]
    fn every_path_is_listed_once() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(ROUTES.iter().skip(i + 1).all(|o| o.path != r.path), "{} twice", r.path);
        }
    }
}
