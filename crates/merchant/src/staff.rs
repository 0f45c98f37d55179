//! The merchant's staff, as the console knows them: roles and what each may do, the rules for
//! names and passwords, when an account is locked after wrong passwords, when a session has
//! ended, and how a CSRF token is compared. Pure: the store keeps what these rules decide, and
//! the console asks them.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use usdt_checkout_protocol::signature::secrets_equal;

/// What a member of staff may do: viewers read; operators also act on orders; owners also
/// manage staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Operator,
    Owner,
}

/// What a request needs of its signed-in member of staff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Reading orders, the audit log and the settings.
    Read,
    /// Acting on an order (a note today; attaching a payment, resending a delivery next).
    Act,
    /// Adding and removing staff, changing their roles.
    ManageStaff,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Owner];

    /// The name in storage, on the command line and in the console.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Owner => "owner",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Whether this role may do what `permission` guards.
    pub const fn may(self, permission: Permission) -> bool {
        match permission {
            Permission::Read => true,
            Permission::Act => matches!(self, Role::Operator | Role::Owner),
            Permission::ManageStaff => matches!(self, Role::Owner),
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether changing a member of staff whose role is `role` to `becomes` (`None`: removed) leaves
/// at least one owner, of `owners` now: the last owner cannot be removed or made something
/// else in the console, which nobody could then manage (the command line still can).
pub fn leaves_an_owner(owners: usize, role: Role, becomes: Option<Role>) -> bool {
    role != Role::Owner || becomes == Some(Role::Owner) || owners > 1
}

/// The longest name an account may have.
pub const MAX_NAME_CHARS: usize = 64;
/// The fewest characters a password may have (NIST SP 800-63B asks at least 8; a console that
/// can attach payments to orders asks more).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The most: argon2 takes any length, but a megabyte "password" is a request to burn CPU.
pub const MAX_PASSWORD_CHARS: usize = 256;

/// A name, if it is one: 1 to 64 letters, digits, `.`, `_`, `-` or `@` (an e-mail address
/// fits), so it reads the same in a log, a CSV cell and a URL path.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("a name has 1 to {MAX_NAME_CHARS} characters"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(format!(
            "name {name:?}: only letters, digits, '.', '_', '-' and '@'"
        ));
    }
    Ok(())
}

/// Whether `password` may be `name`'s: long enough, not too long, not the name itself and not
/// one character repeated.
pub fn check_password(name: &str, password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(format!(
            "a password has at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(format!(
            "a password has at most {MAX_PASSWORD_CHARS} characters"
        ));
    }
    if password.eq_ignore_ascii_case(name) {
        return Err("a password cannot be the account's name".into());
    }
    let mut distinct = password.chars().collect::<Vec<_>>();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 4 {
        return Err("a password needs more than a few distinct characters".into());
    }
    Ok(())
}

/// argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): about 20 ms a hash in
/// an optimised build, so a guess costs an attacker as much, and a sign-in a server little.
fn argon2() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters"),
    )
}

/// `password`'s argon2id hash with a new random salt, as a PHC string (`$argon2id$v=19$...`).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut rand_core::OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password of allowed length")
        .to_string()
}

/// Whether `password` is the one `phc` was made from. The parameters are read from the hash, so
/// a hash made with other parameters still verifies; a string that is no PHC hash never does.
pub fn verify_password(phc: &str, password: &str) -> bool {
    PasswordHash::new(phc)
        .is_ok_and(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
}

/// A hash no password was made from, verified against when an account does not exist, so a
/// sign-in takes as long whether or not the name is one (no telling names by timing).
pub fn absent_account_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("no account has this password: it is random anyway"))
}

/// After how many wrong passwords an account is locked, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lockout {
    pub max_failures: u32,
    pub lock_ms: u64,
}

/// An account's wrong passwords in a row, and until when it is locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Failures {
    pub count: u32,
    pub locked_until: Option<u64>,
}

impl Lockout {
    /// What one more wrong password makes of `before`, at `now`: counted, and on the last one
    /// allowed, the account locked until `now + lock_ms` (the count starts again from zero,
    /// so after the lock ends the same number of tries is allowed again).
    pub fn failed(self, before: Failures, now: u64) -> Failures {
        let count = before.count.saturating_add(1);
        if count >= self.max_failures {
            Failures {
                count: 0,
                locked_until: Some(now.saturating_add(self.lock_ms)),
            }
        } else {
            Failures {
                count,
                locked_until: before.locked_until,
            }
        }
    }
}

/// Until when the account is locked at `now`, if it is: the password is not even checked then.
pub fn locked(failures: Failures, now: u64) -> Option<u64> {
    failures.locked_until.filter(|until| *until > now)
}

/// How long a session lasts: unused, and at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    pub idle_ms: u64,
    pub lifetime_ms: u64,
}

/// What a session is at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionAge {
    Live,
    /// Unused for longer than the idle timeout.
    Idle,
    /// Older than the absolute lifetime, however much it was used.
    Expired,
}

/// How often a live session's last use is written: not on every request (a page's each), so the
/// idle timeout is exact to this much.
pub const TOUCH_EVERY_MS: u64 = 60_000;

impl SessionLimits {
    /// What a session made at `created_at` and last used at `last_seen_at` is at `now`.
    pub fn age(self, created_at: u64, last_seen_at: u64, now: u64) -> SessionAge {
        if now.saturating_sub(created_at) >= self.lifetime_ms {
            SessionAge::Expired
        } else if now.saturating_sub(last_seen_at) >= self.idle_ms {
            SessionAge::Idle
        } else {
            SessionAge::Live
        }
    }

    /// Whether a live session's use at `now` is to be written down (see [`TOUCH_EVERY_MS`]).
    pub fn touch_due(self, last_seen_at: u64, now: u64) -> bool {
        now.saturating_sub(last_seen_at) >= TOUCH_EVERY_MS.min(self.idle_ms / 2)
    }
}

/// Whether a form's CSRF token is the session's: compared in constant time, and a missing or
/// empty one never matches (nor does anything when the session has none).
pub fn csrf_matches(expected: &str, given: Option<&str>) -> bool {
    match given {
        Some(given) if !given.is_empty() && !expected.is_empty() => secrets_equal(expected, given),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_read_operators_act_owners_manage_staff() {
        use Permission::*;
        let allowed = |role: Role| [Read, Act, ManageStaff].map(|p| role.may(p));
        assert_eq!(allowed(Role::Viewer), [true, false, false]);
        assert_eq!(allowed(Role::Operator), [true, true, false]);
        assert_eq!(allowed(Role::Owner), [true, true, true]);
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.as_str()), Some(role));
        }
        assert_eq!(Role::from_name("admin"), None);
        assert_eq!(Role::from_name("Owner"), None, "names are exact");
    }

    #[test]
    fn the_last_owner_stays_an_owner() {
        assert!(!leaves_an_owner(1, Role::Owner, None));
        assert!(!leaves_an_owner(1, Role::Owner, Some(Role::Operator)));
        assert!(leaves_an_owner(1, Role::Owner, Some(Role::Owner)));
        assert!(leaves_an_owner(2, Role::Owner, None));
        assert!(leaves_an_owner(1, Role::Viewer, None));
        assert!(leaves_an_owner(0, Role::Operator, Some(Role::Viewer)));
    }

    #[test]
    fn names_are_plain_text_and_passwords_are_not_weak() {
        assert!(check_name("ana").is_ok());
        assert!(check_name("ana.lopez@shop.example").is_ok());
        for bad in ["", "ana lopez", "<script>", "ana/..", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_password("ana", "correct horse battery").is_ok());
        let refused = |password: &str| check_password("ana-lopez-12", password).unwrap_err();
        assert!(refused("short").contains("at least 12"));
        assert!(refused(&"x".repeat(257)).contains("at most 256"));
        assert!(refused("ANA-LOPEZ-12").contains("name"));
        assert!(refused("abababababababab").contains("distinct"));
    }

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = hash_password("correct horse battery");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
        assert_ne!(
            hash,
            hash_password("correct horse battery"),
            "each hash has its own salt"
        );
        assert!(!verify_password(absent_account_hash(), ""));
    }

    #[test]
    fn the_last_wrong_password_allowed_locks_the_account_for_a_while() {
        let policy = Lockout {
            max_failures: 3,
            lock_ms: 900_000,
        };
        let mut failures = Failures::default();
        for expected in 1..3 {
            failures = policy.failed(failures, 1_000);
            assert_eq!(failures.count, expected);
            assert_eq!(locked(failures, 1_000), None);
        }
        failures = policy.failed(failures, 2_000);
        assert_eq!(failures.count, 0, "counted again from zero after the lock");
        assert_eq!(locked(failures, 2_000), Some(902_000));
        assert_eq!(locked(failures, 901_999), Some(902_000));
        assert_eq!(locked(failures, 902_000), None, "over when its time is");
        let once = Lockout {
            max_failures: 1,
            lock_ms: 10,
        };
        assert_eq!(
            locked(once.failed(Failures::default(), 5), 5),
            Some(15),
            "one wrong password, with max_failures = 1"
        );
    }

    #[test]
    fn a_session_ends_when_idle_or_too_old() {
        let limits = SessionLimits {
            idle_ms: 30 * 60_000,
            lifetime_ms: 12 * 3_600_000,
        };
        assert_eq!(limits.age(0, 0, 29 * 60_000), SessionAge::Live);
        assert_eq!(limits.age(0, 0, 30 * 60_000), SessionAge::Idle);
        let used_all_day = 12 * 3_600_000 - 1;
        assert_eq!(limits.age(0, used_all_day, used_all_day), SessionAge::Live);
        assert_eq!(
            limits.age(0, used_all_day, used_all_day + 1),
            SessionAge::Expired,
            "however recently used"
        );
        assert!(!limits.touch_due(1_000, 60_999));
        assert!(limits.touch_due(1_000, 61_000));
        let short = SessionLimits {
            idle_ms: 60_000,
            lifetime_ms: 3_600_000,
        };
        assert!(
            short.touch_due(0, 30_000),
            "touched within half the idle timeout"
        );
    }

    #[test]
    fn a_csrf_token_matches_only_itself() {
        assert!(csrf_matches("a1b2c3", Some("a1b2c3")));
        assert!(!csrf_matches("a1b2c3", Some("a1b2c4")));
        assert!(!csrf_matches("a1b2c3", Some("a1b2c")));
        assert!(!csrf_matches("a1b2c3", Some("")));
        assert!(!csrf_matches("a1b2c3", None));
        assert!(!csrf_matches("", Some("")), "no token is no match");
    }
}
