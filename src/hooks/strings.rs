//! The shopper's language: negotiated from the `locale` option and the browser's languages, its
//! table fetched from `localesUrl` unless it is English or already loaded on this page.

use std::cell::Cell;
use std::rc::Rc;

use yew::platform::spawn_local;
use yew::prelude::*;

use crate::client;
use crate::i18n::{Locale, Strings};
use crate::options::Settings;

fn browser_languages() -> Vec<String> {
    web_sys::window()
        .map(|w| w.navigator().languages())
        .map(|list| {
            let mut languages = Vec::new();
            for language in list.iter() {
                languages.extend(language.as_string());
            }
            languages
        })
        .unwrap_or_default()
}

/// The texts to show, `None` while the shopper's language is being fetched (the widget shows
/// that it is loading). Fetched at mount, beside the offer; a table that cannot be had leaves
/// the widget in English, never broken.
#[hook]
pub fn use_strings(settings: &Settings) -> Option<Strings> {
    let locale = *use_memo(settings.locale.clone(), |option| {
        Locale::negotiate(option.as_deref(), &browser_languages())
    });
    // The texts, with the locale they were asked for: a change of locale (`update`) makes the
    // ones for the old locale stale at once.
    let loaded = use_state(|| Strings::cached(locale).map(|s| (locale, s)));
    {
        let loaded = loaded.clone();
        let url = settings.locales_url.clone();
        use_effect_with((locale, url), move |(locale, url)| {
            let (locale, live) = (*locale, Rc::new(Cell::new(true)));
            match (Strings::cached(locale), url) {
                (Some(strings), _) => loaded.set(Some((locale, strings))),
                (None, None) => loaded.set(Some((locale, Strings::ENGLISH))),
                (None, Some(url)) => {
                    let (url, live) = (crate::cat(&[url, locale.tag(), ".json"]), live.clone());
                    spawn_local(async move {
                        let strings = match client::locale_table(&url).await {
                            Ok(json) => {
                                Strings::cached(locale).or_else(|| Strings::install(locale, json))
                            }
                            Err(_) => None,
                        };
                        if live.get() {
                            loaded.set(Some((locale, strings.unwrap_or(Strings::ENGLISH))));
                        }
                    });
                }
            }
            move || live.set(false)
        });
    }
    (*loaded)
        .filter(|(asked, _)| *asked == locale)
        .map(|(_, s)| s)
}
