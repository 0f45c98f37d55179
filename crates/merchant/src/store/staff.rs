//! The `staff` table: the console's accounts, their roles, password hashes and lockouts. Changes
//! are [`Write`]s, so each commits with its audit entry (see [`super::audit`]).

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, Write};
use crate::staff::{Failures, Lockout, Role};

/// A member of staff, as kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffMember {
    pub name: String,
    pub role: Role,
    /// argon2id, as a PHC string.
    pub password_hash: String,
    pub created_at: u64,
    pub failures: Failures,
}

fn staff_from_row(row: &AnyRow) -> Result<StaffMember, StoreError> {
    let role: String = row.try_get("role")?;
    Ok(StaffMember {
        name: row.try_get("name")?,
        role: Role::from_name(&role).ok_or(StoreError::Corrupt("staff role"))?,
        password_hash: row.try_get("password_hash")?,
        created_at: row.try_get::<i64, _>("created_at")? as u64,
        failures: Failures {
            count: row
                .try_get::<i64, _>("failed_sign_ins")?
                .clamp(0, i64::from(u32::MAX)) as u32,
            locked_until: row
                .try_get::<Option<i64>, _>("locked_until")?
                .map(|t| t as u64),
        },
    })
}

impl Store {
    /// The member of staff named `name`, if there is one.
    pub async fn staff_member(&self, name: &str) -> Result<Option<StaffMember>, StoreError> {
        sqlx::query("SELECT * FROM staff WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(staff_from_row)
            .transpose()
    }

    /// Every member of staff, by name.
    pub async fn staff(&self) -> Result<Vec<StaffMember>, StoreError> {
        sqlx::query("SELECT * FROM staff ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(staff_from_row)
            .collect()
    }
}

impl Write {
    /// A member of staff as kept now, read to be changed (locked on Postgres until commit).
    pub async fn staff_member(&mut self, name: &str) -> Result<Option<StaffMember>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT * FROM staff WHERE name = $1{}",
            self.lock()
        ))
        .bind(name)
        .fetch_optional(&mut *self.tx)
        .await?;
        row.as_ref().map(staff_from_row).transpose()
    }

    /// How many owners there are, read to be changed (locked on Postgres until commit, so two
    /// owners demoting each other at once take turns, and one of them stays an owner).
    pub async fn owners(&mut self) -> Result<usize, StoreError> {
        let owners = sqlx::query(&format!(
            "SELECT name FROM staff WHERE role = 'owner'{}",
            self.lock()
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        Ok(owners.len())
    }

    /// Adds a member of staff; `false` if the name is taken.
    pub async fn add_staff(
        &mut self,
        name: &str,
        role: Role,
        password_hash: &str,
        now: u64,
    ) -> Result<bool, StoreError> {
        let added = sqlx::query(
            "INSERT INTO staff (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now as i64)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(added.rows_affected() == 1)
    }

    /// Removes a member of staff and ends their sessions; `false` if there was none.
    pub async fn remove_staff(&mut self, name: &str) -> Result<bool, StoreError> {
        self.end_sessions_of(name).await?;
        let removed = sqlx::query("DELETE FROM staff WHERE name = $1")
            .bind(name)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(removed.rows_affected() == 1)
    }

    /// Sets a member of staff's password hash, lifts any lock and ends their sessions (whoever
    /// had the old password is signed out); `false` if there is no such member.
    pub async fn set_password(&mut self, name: &str, hash: &str) -> Result<bool, StoreError> {
        self.end_sessions_of(name).await?;
        let changed = sqlx::query(
            "UPDATE staff SET password_hash = $1, failed_sign_ins = 0, locked_until = NULL
             WHERE name = $2",
        )
        .bind(hash)
        .bind(name)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| self.health.failed(e))?;
        Ok(changed.rows_affected() == 1)
    }

    /// Sets a member of staff's role; `false` if there is no such member. Their sessions go on,
    /// each request reading the role anew.
    pub async fn set_role(&mut self, name: &str, role: Role) -> Result<bool, StoreError> {
        let changed = sqlx::query("UPDATE staff SET role = $1 WHERE name = $2")
            .bind(role.as_str())
            .bind(name)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(changed.rows_affected() == 1)
    }

    /// Counts a wrong password for `name` by `policy` (locking the account on the last one
    /// allowed): what the account's failures are now, `None` if there is no such account.
    pub async fn failed_sign_in(
        &mut self,
        name: &str,
        policy: Lockout,
        now: u64,
    ) -> Result<Option<Failures>, StoreError> {
        let Some(member) = self.staff_member(name).await? else {
            return Ok(None);
        };
        let failures = policy.failed(member.failures, now);
        sqlx::query("UPDATE staff SET failed_sign_ins = $1, locked_until = $2 WHERE name = $3")
            .bind(i64::from(failures.count))
            .bind(failures.locked_until.map(|t| t as i64))
            .bind(name)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(Some(failures))
    }

    /// A right password: the count of wrong ones starts again.
    pub async fn signed_in(&mut self, name: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE staff SET failed_sign_ins = 0 WHERE name = $1")
            .bind(name)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| self.health.failed(e))?;
        Ok(())
    }
}
