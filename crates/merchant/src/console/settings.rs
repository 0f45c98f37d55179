//! Settings: what the console runs with, and its staff; owners add, re-role and remove staff
//! here (each audited; the last owner stays one).

use std::sync::Arc;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;

use super::auth::{Owner, Signed};
use super::layout::{self, Section, query_value};
use super::{Console, Refusal, see_other};
use crate::clock::now_ms;
use crate::staff::{self, Permission, Role};

const MINUTE_MS: u64 = 60_000;

/// The console's settings and its staff.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
) -> Result<Response, Refusal> {
    let config = &console.app.config;
    let c = &config.console;
    let members = console.store().staff().await?;
    let owner = signed.role.may(Permission::ManageStaff);
    let now = now_ms();
    let content = html! {
        h2 { "Server" }
        dl.facts {
            dt { "Merchant" } dd { (config.merchant_name) }
            dt { "Database" } dd { code { (config.database) } }
            dt { "Gateway" } dd { code { (config.gateway_url) } }
            dt { "Storefront origins" } dd {
                @if config.allowed_origins.is_empty() { "none" }
                @for origin in &config.allowed_origins { code { (origin) } " " }
            }
            dt { "Admin API" } dd {
                @if config.admin_token.is_some() { "on (bearer token set)" } @else { "off" }
            }
        }
        h2 { "Console" }
        dl.facts {
            dt { "Sessions end" } dd {
                "after " (c.sessions.idle_ms / MINUTE_MS) " minutes unused, or "
                (c.sessions.lifetime_ms / (60 * MINUTE_MS)) " hours after sign-in"
            }
            dt { "Accounts lock" } dd {
                "for " (c.lockout.lock_ms / MINUTE_MS) " minutes after "
                (c.lockout.max_failures) " wrong passwords in a row"
            }
            dt { "Sign-in attempts" } dd {
                (c.sign_ins_per_client_per_minute) " a minute from one address"
            }
            dt { "Secure cookies" } dd {
                @if c.secure_cookies { "always" } @else { "over TLS (a trusted proxy's X-Forwarded-Proto)" }
            }
        }
        h2 #staff { "Staff" }
        div.table role="region" aria-labelledby="staff-caption" tabindex="0" {
            table {
                caption #staff-caption { "Staff accounts" }
                thead {
                    tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Role" }
                        th scope="col" { "Since" }
                        th scope="col" { "Sign-in" }
                        @if owner { th scope="col" { "Change" } }
                    }
                }
                tbody {
                    @for member in &members {
                        @let path = format!("/console/staff/{}", query_value(&member.name));
                        tr {
                            th scope="row" { (member.name) }
                            td { (member.role) }
                            td { (layout::time(member.created_at)) }
                            td {
                                @if let Some(until) = staff::locked(member.failures, now) {
                                    "locked until " (layout::time(until))
                                } @else { "open" }
                            }
                            @if owner {
                                td.actions {
                                    form method="post" action={ (path) "/role" } {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        label for={ "role-" (member.name) } .visually-hidden {
                                            "Role of " (member.name)
                                        }
                                        select id={ "role-" (member.name) } name="role" {
                                            @for role in Role::ALL {
                                                option value=(role.as_str()) selected[role == member.role] { (role) }
                                            }
                                        }
                                        button type="submit" { "Set role" }
                                    }
                                    form method="post" action={ (path) "/remove" }
                                        data-confirm={ "Remove " (member.name) "? Their sessions end at once." } {
                                        input type="hidden" name="csrf" value=(signed.csrf);
                                        button.danger type="submit" {
                                            "Remove" span.visually-hidden { " " (member.name) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if owner {
            h2 { "Add a member of staff" }
            form.add-staff method="post" action="/console/staff" {
                input type="hidden" name="csrf" value=(signed.csrf);
                p {
                    label for="new-name" { "Name" }
                    input #new-name type="text" name="name" required autocomplete="off"
                        autocapitalize="none" spellcheck="false" maxlength=(staff::MAX_NAME_CHARS);
                }
                p {
                    label for="new-role" { "Role" }
                    select #new-role name="role" {
                        @for role in Role::ALL { option value=(role.as_str()) { (role) } }
                    }
                }
                p {
                    label for="new-password" { "Password" }
                    input #new-password type="password" name="password" required
                        autocomplete="new-password" minlength=(staff::MIN_PASSWORD_CHARS)
                        aria-describedby="new-password-hint";
                    span #new-password-hint .hint {
                        "At least " (staff::MIN_PASSWORD_CHARS) " characters. Give it to them in person; they can be given a new one with checkout-server staff passwd."
                    }
                }
                p { button type="submit" { "Add" } }
            }
        } @else {
            p { "Owners add and remove staff." }
        }
    };
    Ok(layout::page(
        &console,
        &signed,
        Section::Settings,
        console.exceptions().await?,
        "Settings",
        content,
    )
    .into_response())
}

fn role_named(name: &str) -> Result<Role, Refusal> {
    Role::from_name(name).ok_or_else(|| {
        Refusal::bad_request(format!(
            "{name:?} is not a role: viewer, operator or owner."
        ))
    })
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// Adds a member of staff (owners).
pub async fn add_staff(
    State(console): State<Arc<Console>>,
    Owner(signed): Owner,
    form: Result<Form<AddForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let Form(form) = form.map_err(|e| Refusal::bad_request(e.body_text()))?;
    let name = form.name.trim();
    staff::check_name(name).map_err(Refusal::bad_request)?;
    let role = role_named(&form.role)?;
    staff::check_password(name, &form.password).map_err(Refusal::bad_request)?;
    let password = form.password;
    let hash = tokio::task::spawn_blocking(move || staff::hash_password(&password))
        .await
        .map_err(|e| Refusal::bad_request(e.to_string()))?;
    let mut write = console.store().begin().await?;
    if !write.add_staff(name, role, &hash, now_ms()).await? {
        return Err(Refusal::new(
            StatusCode::CONFLICT,
            "Name taken",
            format!("There is already a member of staff named {name:?}."),
        ));
    }
    let mut entry = signed.entry("staff.add", Some(name));
    entry.after = Some(role.as_str().into());
    write.audit(&entry).await?;
    write.commit().await?;
    Ok(see_other("/console/settings#staff"))
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

/// Changes a member of staff's role (owners); the last owner stays one.
pub async fn set_role(
    State(console): State<Arc<Console>>,
    Owner(signed): Owner,
    Path(name): Path<String>,
    form: Result<Form<RoleForm>, FormRejection>,
) -> Result<Response, Refusal> {
    let Form(form) = form.map_err(|e| Refusal::bad_request(e.body_text()))?;
    let role = role_named(&form.role)?;
    let mut write = console.store().begin().await?;
    let owners = write.owners().await?;
    let member = write
        .staff_member(&name)
        .await?
        .ok_or_else(|| Refusal::not_found(format!("There is no member of staff {name:?}.")))?;
    if !staff::leaves_an_owner(owners, member.role, Some(role)) {
        return Err(last_owner());
    }
    write.set_role(&name, role).await?;
    let mut entry = signed.entry("staff.role", Some(&name));
    entry.before = Some(member.role.as_str().into());
    entry.after = Some(role.as_str().into());
    write.audit(&entry).await?;
    write.commit().await?;
    Ok(see_other("/console/settings#staff"))
}

/// Removes a member of staff (owners), ending their sessions; the last owner stays.
pub async fn remove_staff(
    State(console): State<Arc<Console>>,
    Owner(signed): Owner,
    Path(name): Path<String>,
) -> Result<Response, Refusal> {
    let mut write = console.store().begin().await?;
    let owners = write.owners().await?;
    let member = write
        .staff_member(&name)
        .await?
        .ok_or_else(|| Refusal::not_found(format!("There is no member of staff {name:?}.")))?;
    if !staff::leaves_an_owner(owners, member.role, None) {
        return Err(last_owner());
    }
    write.remove_staff(&name).await?;
    let mut entry = signed.entry("staff.remove", Some(&name));
    entry.before = Some(member.role.as_str().into());
    entry.after = Some("removed".into());
    write.audit(&entry).await?;
    write.commit().await?;
    Ok(see_other("/console/settings#staff"))
}

fn last_owner() -> Refusal {
    Refusal::new(
        StatusCode::CONFLICT,
        "The last owner",
        "This is the only owner: make someone else an owner first, or nobody could manage staff here.",
    )
}
