//! `CHECKOUT_X_FILE`: a setting read from the file the variable names, where `CHECKOUT_X` is not
//! set. Secrets kept as files (systemd's `LoadCredential`, a container's `/run/secrets`) stay out
//! of the process's environment, which its children inherit and `/proc/PID/environ` shows.

use std::cell::RefCell;

/// `lookup`, with each unset `NAME` read from the file `NAME_FILE` names (its trailing newline
/// dropped). A file that cannot be read is noted in `failed`, for [`super::load`] to refuse
/// startup naming it, rather than being taken for a setting left out.
pub(super) fn with_files<'a>(
    lookup: impl Fn(&str) -> Option<String> + 'a,
    failed: &'a RefCell<Option<String>>,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name| {
        // Set but blank counts as unset, as everywhere in the configuration: a blank line left
        // in an environment file does not hide the file.
        if let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) {
            return Some(value);
        }
        let variable = format!("{name}_FILE");
        let path = lookup(&variable).filter(|p| !p.trim().is_empty())?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(text.trim_end_matches(['\r', '\n']).to_owned()),
            Err(e) => {
                failed
                    .borrow_mut()
                    .get_or_insert(format!("{variable}: cannot read {path}: {e}"));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_setting_comes_from_its_variable_else_from_the_file_its_file_variable_names() {
        let dir =
            std::env::temp_dir().join(format!("checkout-secret-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("api-key");
        std::fs::write(&file, "from-the-file\n").unwrap();
        let env: BTreeMap<String, String> = [
            ("CHECKOUT_A_FILE", file.display().to_string()),
            ("CHECKOUT_B", "from-the-variable".into()),
            ("CHECKOUT_B_FILE", file.display().to_string()),
            ("CHECKOUT_C_FILE", dir.join("missing").display().to_string()),
            ("CHECKOUT_E", " ".into()),
            ("CHECKOUT_E_FILE", file.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let failed = RefCell::new(None);
        let lookup = with_files(|name| env.get(name).cloned(), &failed);
        assert_eq!(lookup("CHECKOUT_A").as_deref(), Some("from-the-file"));
        assert_eq!(lookup("CHECKOUT_B").as_deref(), Some("from-the-variable"));
        assert_eq!(lookup("CHECKOUT_D"), None);
        assert_eq!(
            lookup("CHECKOUT_E").as_deref(),
            Some("from-the-file"),
            "blank is unset"
        );
        assert!(failed.borrow().is_none());
        assert_eq!(lookup("CHECKOUT_C"), None);
        let said = failed.borrow().clone().unwrap();
        assert!(said.starts_with("CHECKOUT_C_FILE: cannot read"), "{said}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn startup_reads_a_secret_from_its_file_and_names_one_it_cannot_read() {
        let dir = std::env::temp_dir().join(format!("checkout-secret-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let token = dir.join("admin-token");
        std::fs::write(&token, "admin-token-from-a-file-0123\n").unwrap();
        let (private, public) = super::super::tests::keys();
        let env = |token_file: String| -> BTreeMap<String, String> {
            [
                ("CHECKOUT_GATEWAY_API_KEY", "k".to_owned()),
                ("CHECKOUT_GATEWAY_PRIVATE_KEY", private.clone()),
                ("CHECKOUT_WEBHOOK_PUBLIC_KEY", public.clone()),
                ("CHECKOUT_ADMIN_TOKEN_FILE", token_file),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
        };
        let read = env(token.display().to_string());
        let config = super::super::load(None, |name| read.get(name).cloned()).unwrap();
        assert_eq!(
            config.admin_token.as_deref(),
            Some("admin-token-from-a-file-0123")
        );
        let missing = env(dir.join("nowhere").display().to_string());
        let refused = super::super::load(None, |name| missing.get(name).cloned()).unwrap_err();
        assert!(refused.contains("CHECKOUT_ADMIN_TOKEN_FILE"), "{refused}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
