//! `--probe-servers`: every server's own Auth metadata endpoint, fetched from that server
//! (connected to its FQDN, SNI and Host its FQDN, verified as `--metadata` is), many at a time
//! and all by one deadline. What an answer means is the model's business ([`crate::model::probe`]).

use super::http::HttpsOptions;
use super::metadata::{FetchError, MetadataRecord, fetch_metadata};
use super::tls::Deadline;

/// Probes in flight at once: enough that fifty servers take about one round trip, few enough
/// for the monitoring host and a DC-sized organisation.
pub const MAX_PROBES_IN_FLIGHT: usize = 32;

/// One server to ask.
#[derive(Debug, Clone)]
pub struct ProbeTarget {
    /// The server's name, as the state knows it.
    pub server: String,
    /// `https://<FQDN>/autodiscover/metadata/json/1`.
    pub url: String,
    pub options: HttpsOptions,
}

/// The metadata URL Exchange serves on a server.
pub fn metadata_url(fqdn: &str) -> String {
    format!("https://{fqdn}/autodiscover/metadata/json/1")
}

/// Each target's answer, in the targets' order.
pub fn probe_servers(
    targets: &[ProbeTarget],
    deadline: Deadline,
) -> Vec<Result<MetadataRecord, FetchError>> {
    crate::parallel::map_waiting(
        targets,
        MAX_PROBES_IN_FLIGHT,
        |target| fetch_metadata(&target.url, &target.options, deadline),
        || Err(FetchError::Unreachable("the probe's thread failed".into())),
    )
}
