//! Classify: a pure function from an [`Inbound`] and the [`Rules`] to a
//! [`Verdict`]. No I/O, no clock.

use crate::parse::Inbound;
use crate::verdict::{Category, Verdict};
use serde::Deserialize;

/// The classification rules, read from `config/rules.toml`.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct Rules {}

impl Rules {
    /// Parse rules from TOML text. `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Rules, crate::config::ConfigError> {
        toml::from_str(text).map_err(|e| crate::config::ConfigError::toml(origin, text, e))
    }
}

pub fn classify(inbound: &Inbound, _rules: &Rules) -> Verdict {
    Verdict::new(Category::Other, inbound.language, 0.0, vec![])
}
