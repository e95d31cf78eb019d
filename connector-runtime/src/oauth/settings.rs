//! Runtime-wide OAuth settings: where the provider sends the user back, the EARS URL, and
//! the timing of states and refreshes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth::strategy::Clock;
use crate::error::ActionError;

/// How long a pending authorization (its state record) stays valid.
pub const DEFAULT_STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// Refresh an access token this long before it expires.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// Settings shared by every per-user connector of one runtime.
#[derive(Clone)]
pub struct OAuthSettings {
    /// The callback URL registered at the provider (`redirect_uri`) or given to EARS
    /// (`callback_uri`).
    pub redirect_uri: String,
    /// EARS base URL used when a connector does not set `earsBaseUrl`.
    pub ears_base_url: Option<String>,
    /// Refresh this long before expiry, so a token never expires in flight.
    pub refresh_margin: Duration,
    /// Lifetime of a pending authorization.
    pub state_ttl: Duration,
    /// The time source (tests move it forward instead of sleeping).
    pub clock: Clock,
    /// Checked when token, refresh and revocation requests are made (see [`crate::egress`]).
    pub egress: Option<crate::egress::EgressPolicy>,
    /// Told of every token refresh and refresh failure.
    pub events: Option<Arc<dyn crate::events::RuntimeEvents>>,
}

impl std::fmt::Debug for OAuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthSettings")
            .field("redirect_uri", &self.redirect_uri)
            .field("ears_base_url", &self.ears_base_url)
            .field("refresh_margin", &self.refresh_margin)
            .field("state_ttl", &self.state_ttl)
            .field("egress", &self.egress)
            .field("events", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

impl OAuthSettings {
    /// Settings with the default timings and the system clock.
    pub fn new(redirect_uri: impl Into<String>) -> Result<OAuthSettings, ActionError> {
        let redirect_uri = redirect_uri.into();
        let url = reqwest::Url::parse(&redirect_uri).map_err(|e| {
            ActionError::user(
                "invalid_config",
                format!("the OAuth redirect URI is not a URL: {e}"),
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.fragment().is_some() {
            return Err(ActionError::user(
                "invalid_config",
                "the OAuth redirect URI must be an http(s) URL without a fragment",
            ));
        }
        Ok(OAuthSettings {
            redirect_uri,
            ears_base_url: None,
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            state_ttl: DEFAULT_STATE_TTL,
            clock: Arc::new(SystemTime::now),
            egress: None,
            events: None,
        })
    }

    /// Check every token, refresh and revocation request against `policy` when it is made.
    pub fn with_egress(mut self, policy: crate::egress::EgressPolicy) -> OAuthSettings {
        self.egress = Some(policy);
        self
    }

    pub fn with_ears_base_url(mut self, url: impl Into<String>) -> OAuthSettings {
        self.ears_base_url = Some(url.into());
        self
    }

    /// Report token refreshes and their failures to `sink`, labelled with the connector type.
    pub fn with_events(mut self, sink: Arc<dyn crate::events::RuntimeEvents>) -> OAuthSettings {
        self.events = Some(sink);
        self
    }

    pub fn with_refresh_margin(mut self, margin: Duration) -> OAuthSettings {
        self.refresh_margin = margin;
        self
    }

    pub fn with_clock(mut self, clock: Clock) -> OAuthSettings {
        self.clock = clock;
        self
    }

    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }
}
