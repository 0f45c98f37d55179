//! Staff accounts as `checkout-server staff` manages them, on the server's database: the first
//! owner is made here, and a locked-out or forgotten password is mended here. Each change is
//! audited, by `command line`.

use crate::clock::now_ms;
use crate::staff::{self, Role};
use crate::store::{AuditEntry, StaffMember, Store};

/// Who the audit log says acted, for what the command line does.
pub const COMMAND_LINE: &str = "command line";

fn entry(action: &str, name: &str) -> AuditEntry {
    AuditEntry {
        at: now_ms(),
        actor: COMMAND_LINE.into(),
        action: action.into(),
        subject: Some(name.into()),
        ..AuditEntry::default()
    }
}

/// Adds `name` with `role` and `password` (checked by the password policy, kept as argon2id).
pub async fn add(store: &Store, name: &str, role: Role, password: &str) -> Result<(), String> {
    staff::check_name(name)?;
    staff::check_password(name, password)?;
    let hash = staff::hash_password(password);
    let mut write = store.begin().await.map_err(|e| e.to_string())?;
    if !write
        .add_staff(name, role, &hash, now_ms())
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!("there is already a member of staff named {name:?}"));
    }
    let mut entry = entry("staff.add", name);
    entry.after = Some(role.as_str().into());
    write.audit(&entry).await.map_err(|e| e.to_string())?;
    write.commit().await.map_err(|e| e.to_string())
}

/// Every member of staff, by name.
pub async fn list(store: &Store) -> Result<Vec<StaffMember>, String> {
    store.staff().await.map_err(|e| e.to_string())
}

/// Removes `name`, ending their sessions.
pub async fn remove(store: &Store, name: &str) -> Result<(), String> {
    let mut write = store.begin().await.map_err(|e| e.to_string())?;
    let member = write
        .staff_member(name)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("there is no member of staff named {name:?}"))?;
    write.remove_staff(name).await.map_err(|e| e.to_string())?;
    let mut entry = entry("staff.remove", name);
    entry.before = Some(member.role.as_str().into());
    entry.after = Some("removed".into());
    write.audit(&entry).await.map_err(|e| e.to_string())?;
    write.commit().await.map_err(|e| e.to_string())
}

/// Sets `name`'s password (checked by the policy), lifting a lock and ending their sessions.
pub async fn passwd(store: &Store, name: &str, password: &str) -> Result<(), String> {
    staff::check_password(name, password)?;
    let hash = staff::hash_password(password);
    let mut write = store.begin().await.map_err(|e| e.to_string())?;
    if !write
        .set_password(name, &hash)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err(format!("there is no member of staff named {name:?}"));
    }
    let mut entry = entry("staff.passwd", name);
    entry.after = Some("new password; sessions ended, lock lifted".into());
    write.audit(&entry).await.map_err(|e| e.to_string())?;
    write.commit().await.map_err(|e| e.to_string())
}
