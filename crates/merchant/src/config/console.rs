//! `[console]`: the staff console's sessions and sign-in limits.

use std::ops::RangeInclusive;

use serde::Deserialize;

use crate::staff::{Lockout, SessionLimits};

/// `[console]` as written.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct ConsoleFile {
    secure_cookies: Option<bool>,
    idle_timeout_minutes: Option<u64>,
    session_lifetime_hours: Option<u64>,
    max_failed_sign_ins: Option<u32>,
    lockout_minutes: Option<u64>,
    sign_ins_per_client_per_minute: Option<usize>,
}

/// The console's settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// The session cookie is always `Secure`, not only on a request that came over TLS (which a
    /// trusted proxy says with `X-Forwarded-Proto: https`).
    pub secure_cookies: bool,
    /// How long a session lasts unused, and at all.
    pub sessions: SessionLimits,
    /// After how many wrong passwords in a row an account is locked, and for how long.
    pub lockout: Lockout,
    /// Sign-in attempts one client (by its address) may make a minute, whatever the accounts.
    pub sign_ins_per_client_per_minute: usize,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        console(ConsoleFile::default()).expect("the defaults are valid")
    }
}

const MINUTE_MS: u64 = 60_000;

/// `setting`'s value, or its default, if within `range`.
fn within<T: PartialOrd + std::fmt::Display + Copy>(
    setting: &str,
    value: Option<T>,
    default: T,
    range: RangeInclusive<T>,
) -> Result<T, String> {
    let value = value.unwrap_or(default);
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!(
            "console.{setting} = {value}: must be from {} to {}",
            range.start(),
            range.end()
        ))
    }
}

pub(super) fn console(file: ConsoleFile) -> Result<ConsoleConfig, String> {
    let idle = within(
        "idle_timeout_minutes",
        file.idle_timeout_minutes,
        30,
        1..=24 * 60,
    )?;
    let lifetime = within(
        "session_lifetime_hours",
        file.session_lifetime_hours,
        12,
        1..=30 * 24,
    )?;
    if idle > lifetime * 60 {
        return Err(format!(
            "console.idle_timeout_minutes = {idle} is longer than session_lifetime_hours = \
             {lifetime}: a session would end by its lifetime first"
        ));
    }
    Ok(ConsoleConfig {
        secure_cookies: file.secure_cookies.unwrap_or(false),
        sessions: SessionLimits {
            idle_ms: idle * MINUTE_MS,
            lifetime_ms: lifetime * 60 * MINUTE_MS,
        },
        lockout: Lockout {
            max_failures: within("max_failed_sign_ins", file.max_failed_sign_ins, 5, 1..=100)?,
            lock_ms: within("lockout_minutes", file.lockout_minutes, 15, 1..=24 * 60)? * MINUTE_MS,
        },
        sign_ins_per_client_per_minute: within(
            "sign_ins_per_client_per_minute",
            file.sign_ins_per_client_per_minute,
            10,
            1..=10_000,
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::with_base;

    #[test]
    fn the_console_has_safe_defaults_and_refuses_what_makes_no_sense() {
        let config = with_base("").unwrap().console;
        assert_eq!(config, ConsoleConfig::default());
        assert!(!config.secure_cookies);
        assert_eq!(config.sessions.idle_ms, 30 * 60_000);
        assert_eq!(config.sessions.lifetime_ms, 12 * 3_600_000);
        assert_eq!(config.lockout.max_failures, 5);
        assert_eq!(config.lockout.lock_ms, 15 * 60_000);
        assert_eq!(config.sign_ins_per_client_per_minute, 10);

        let set = with_base(
            "[console]\nsecure_cookies = true\nidle_timeout_minutes = 10\n\
             session_lifetime_hours = 8\nmax_failed_sign_ins = 3\nlockout_minutes = 60\n\
             sign_ins_per_client_per_minute = 20",
        )
        .unwrap()
        .console;
        assert!(set.secure_cookies);
        assert_eq!(set.sessions.idle_ms, 10 * 60_000);
        assert_eq!(set.sessions.lifetime_ms, 8 * 3_600_000);
        assert_eq!(set.lockout.max_failures, 3);
        assert_eq!(set.lockout.lock_ms, 3_600_000);
        assert_eq!(set.sign_ins_per_client_per_minute, 20);

        for (bad, named) in [
            ("idle_timeout_minutes = 0", "idle_timeout_minutes"),
            ("idle_timeout_minutes = 1441", "idle_timeout_minutes"),
            ("session_lifetime_hours = 0", "session_lifetime_hours"),
            (
                "idle_timeout_minutes = 120\nsession_lifetime_hours = 1",
                "longer than session_lifetime_hours",
            ),
            ("max_failed_sign_ins = 0", "max_failed_sign_ins"),
            ("lockout_minutes = 0", "lockout_minutes"),
            (
                "sign_ins_per_client_per_minute = 0",
                "sign_ins_per_client_per_minute",
            ),
            ("idle_timeout = 5", "unknown field"),
        ] {
            let error = with_base(&format!("[console]\n{bad}")).unwrap_err();
            assert!(error.contains(named), "{bad}: {error}");
        }
    }
}
