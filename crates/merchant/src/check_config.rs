//! `checkout-server check-config --config FILE`: the configuration checked as startup checks it
//! (the same [`config::load`], so the two cannot disagree), and the settings it makes printed as
//! the console's Settings page shows them ([`Config::effective`]: every secret said set or not,
//! never shown). A deploy can run it before restarting the server, and stop on its exit status.

use std::path::Path;

use crate::config::{self, Config, Setting};

/// The configuration in `path` (and the environment, as `lookup` gives it) checked, and what it
/// makes as text; else startup's own message.
pub fn check(
    path: Option<&Path>,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    config::load(path, lookup).map(|config| effective_text(&config))
}

/// The effective settings as lines of `name = value`, under a `[section]` line each time the
/// section changes.
pub fn effective_text(config: &Config) -> String {
    let mut text = String::new();
    let mut section = None;
    for Setting {
        section: this,
        name,
        value,
        ..
    } in config.effective()
    {
        if section.as_ref() != Some(&this) {
            if section.is_some() {
                text.push('\n');
            }
            text.push_str(&format!("[{this}]\n"));
            section = Some(this);
        }
        text.push_str(&format!("{name} = {value}\n"));
    }
    text
}
