//! Settings: the configuration the server runs with, read only and with its secrets redacted
//! (`Config::effective`, which a command line can print too), every member of staff may read;
//! and the staff, whom owners add, re-role and remove here (each audited; the last owner stays
//! one).

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
use crate::config::Setting;
use crate::staff::{self, Permission, Role};

/// The console's settings and its staff.
pub async fn page(
    State(console): State<Arc<Console>>,
    signed: Signed,
) -> Result<Response, Refusal> {
    let sections = by_section(console.app.config.effective());
    let members = console.store().staff().await?;
    let owner = signed.role.may(Permission::ManageStaff);
    let now = now_ms();
    let content = html! {
        h2 #configuration { "Configuration" }
        p {
            "What this server runs with: its configuration file, the environment over it, and the \
             defaults. Secrets are never shown here, only whether they are set. To change a \
             setting, change the file or the environment and restart the server."
        }
        @for (section, settings) in &sections {
            h3 { (section) }
            dl.facts {
                @for setting in settings {
                    dt { code { (setting.name) } }
                    dd.secret[setting.secret] { (setting.value) }
                }
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

/// The settings in their sections, each section once, in the order first met.
fn by_section(settings: Vec<Setting>) -> Vec<(String, Vec<Setting>)> {
    let mut sections: Vec<(String, Vec<Setting>)> = Vec::new();
    for setting in settings {
        match sections
            .iter_mut()
            .find(|(name, _)| *name == setting.section)
        {
            Some((_, list)) => list.push(setting),
            None => sections.push((setting.section.clone(), vec![setting])),
        }
    }
    sections
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
