//! Outbound HTTP (`wasi:http`) for plugins: only to the hosts a plugin's manifest allows; every
//! other request is refused before any connection is made.

use std::time::{Duration, Instant};

use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use super::host::PluginState;

impl WasiHttpView for PluginState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// The hosts a plugin may reach over `wasi:http`; every other request is refused before any
/// connection is made. A request's connect, first-byte and between-bytes timeouts never reach past
/// the end of the plugin's turn, so a server that accepts and never answers cannot hold it longer.
#[derive(Clone, Debug, Default)]
pub struct OutboundHosts {
    allowed: Vec<(Option<String>, String, Option<u16>)>,
    /// When the turn in progress must end.
    pub(crate) deadline: Option<Instant>,
}

impl OutboundHosts {
    /// Parses `scheme://host[:port]` or `host[:port]` entries.
    pub fn new(entries: &[String]) -> Self {
        let allowed = entries
            .iter()
            .map(|entry| {
                let (scheme, rest) = match entry.split_once("://") {
                    Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
                    None => (None, entry.as_str()),
                };
                let rest = rest.trim_end_matches('/');
                match rest
                    .rsplit_once(':')
                    .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h, p)))
                {
                    Some((host, port)) => (scheme, host.to_ascii_lowercase(), Some(port)),
                    None => (scheme, rest.to_ascii_lowercase(), None),
                }
            })
            .collect();
        OutboundHosts {
            allowed,
            deadline: None,
        }
    }

    /// Whether a request to `uri` may go out.
    pub fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host().map(str::to_ascii_lowercase) else {
            return false;
        };
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "http" { 80 } else { 443 });
        self.allowed.iter().any(|(s, h, p)| {
            *h == host && s.as_ref().is_none_or(|s| *s == scheme) && p.is_none_or(|p| p == port)
        })
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for OutboundHosts {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn std::future::Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn std::future::Future<Output = SendResult> + Send> {
        drop(fut);
        if !self.allows(request.uri()) {
            tracing::warn!(uri = %request.uri(), "refused an outbound request to a host not allowed");
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        let options = within(options, self.deadline);
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn std::future::Future<Output = _> + Send>,
            ))
        })
    }
}

/// `options` with every timeout cut to what is left of the turn (a moment at least, so that the
/// request fails with a timeout rather than not at all).
fn within(options: Option<RequestOptions>, deadline: Option<Instant>) -> Option<RequestOptions> {
    let Some(deadline) = deadline else {
        return options;
    };
    let left = deadline
        .saturating_duration_since(Instant::now())
        .max(Duration::from_millis(1));
    let cut = |timeout: Option<Duration>| Some(timeout.map_or(left, |t| t.min(left)));
    let options = options.unwrap_or_default();
    Some(RequestOptions {
        connect_timeout: cut(options.connect_timeout),
        first_byte_timeout: cut(options.first_byte_timeout),
        between_bytes_timeout: cut(options.between_bytes_timeout),
    })
}
