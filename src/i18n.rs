//! Every string the shopper reads. English is compiled in: the first paint, and the fallback for
//! any text a table lacks. The other languages are JSON tables beside the widget
//! (`www/locales/<tag>.json`, keys the snake_case names of [`Text`]), fetched when the shopper's
//! locale needs one (see [`crate::hooks::use_strings`]) and kept for the page's life.
//! Placeholders are `{name}`, filled by [`Strings::text`]. Numbers are formatted by the browser's
//! `Intl.NumberFormat`, always in Latin digits, so an amount reads as wallets show it.

use std::cell::RefCell;

use wasm_bindgen::{JsCast, JsValue};

/// The languages the widget speaks, each once: its variant and its BCP 47 tag, which names its
/// table (`www/locales/<tag>.json`). A new language is one line here and its table.
macro_rules! locales {
    ($($variant:ident $tag:literal,)*) => {
        /// A language the widget speaks.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Locale {
            $($variant,)*
        }

        impl Locale {
            pub const ALL: &[Locale] = &[$(Locale::$variant,)*];

            /// The BCP 47 tag: the widget's `lang` attribute and its table's file name.
            pub fn tag(self) -> &'static str {
                TAGS[self as usize]
            }
        }

        static TAGS: &[&str] = &[$($tag,)*];

        /// Every table the widget can load, as the build ships them.
        #[cfg(test)]
        const TABLES_JSON: &[(Locale, &str)] = &[
            $((Locale::$variant, include_str!(concat!("../www/locales/", $tag, ".json"))),)*
        ];
    };
}

locales! {
    En "en",
    ZhCn "zh-CN",
    Es "es",
    Fr "fr",
    De "de",
    PtBr "pt-BR",
    Ja "ja",
    Ko "ko",
    Ru "ru",
    Ar "ar",
}

macro_rules! texts {
    ($($variant:ident $key:literal $english:literal,)*) => {
        /// A string the shopper reads.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Text {
            $($variant,)*
        }

        impl Text {
            pub const ALL: &[Text] = &[$(Text::$variant,)*];

            /// Its key in a locale table.
            pub fn key(self) -> &'static str {
                KEYS[self as usize]
            }
        }

        static KEYS: &[&str] = &[$($key,)*];

        /// English, indexed by [`Text`].
        const EN: &[&str] = &[$($english,)*];
    };
}

texts! {
    Title "title" "Pay with USDT",
    Loading "loading" "Loading…",
    ChooseNetwork "choose_network" "Choose how to pay",
    Network "network" "Network",
    Token "token" "Token",
    Continue "continue" "Continue",
    FiatValue "fiat_value" "≈ {amount} {currency}",
    SendExactly "send_exactly" "Send exactly",
    ToAddress "to_address" "To this address",
    Copy "copy" "Copy",
    Copied "copied" "Copied",
    CopyAddress "copy_address" "Copy address",
    CopyAmount "copy_amount" "Copy amount",
    QrLabel "qr_label" "QR code: send {amount} {symbol} on {network}",
    OpenInWallet "open_in_wallet" "Open in MetaMask",
    OpenPaymentPage "open_payment_page" "Open the payment page",
    PayWithWallet "pay_with_wallet" "Pay with {wallet}",
    ConnectingWallet "connecting_wallet" "Connecting to your wallet…",
    SwitchNetwork "switch_network" "Switch your wallet to {network}",
    ConfirmInWallet "confirm_in_wallet" "Confirm the payment in your wallet",
    WalletRejected "wallet_rejected" "You cancelled in your wallet. You can try again.",
    WalletWrongNetwork "wallet_wrong_network" "Your wallet is on another network. Switch to {network} to pay.",
    WalletUnknownNetwork "wallet_unknown_network" "Your wallet does not have {network} yet. Add it in your wallet, then try again.",
    WalletUnauthorized "wallet_unauthorized" "Your wallet did not let this page use your account. Allow it in your wallet, then try again.",
    WalletPending "wallet_pending" "Your wallet already has a request waiting for you. Open your wallet to answer it, then try again.",
    WalletFailed "wallet_failed" "Your wallet could not do this. Try again in a moment.",
    BrowserWallet "browser_wallet" "your browser wallet",
    WalletSent "wallet_sent" "Sent from your wallet. Waiting for the network to see it…",
    TimeLeft "time_left" "Time left: {time}",
    Waiting "waiting" "Waiting for your payment",
    PartiallyPaid "partially_paid" "Partly paid. {amount} {symbol} still to pay.",
    PayTheRest "pay_the_rest" "Send the rest",
    Confirming "confirming" "Payment received. Confirming ({count} of {required})…",
    Paid "paid" "Paid. Thank you!",
    Expired "expired" "This payment request has expired. Nothing more can be paid to it.",
    PaidLate "paid_late" "Paid after the time ran out. The merchant will confirm your order.",
    Failed "failed" "This payment was cancelled.",
    Overpaid "overpaid" "You sent {amount} {symbol} more than needed. The merchant can refund it.",
    GatewayUnavailable "gateway_unavailable" "The payment service is slow to answer. Your payment is safe; this page will update.",
    RateLimited "rate_limited" "Busy right now. Checking again in a moment.",
    MerchantUnreachable "merchant_unreachable" "Can't reach the shop right now. Retrying…",
    StartAgain "start_again" "Start again",
    Order "order" "Order",
    Amount "amount" "Amount",
    Transaction "transaction" "Transaction",
    ViewOnExplorer "view_on_explorer" "View on explorer",
    CopyTransaction "copy_transaction" "Copy transaction hash",
    Unmatched "unmatched" "{amount} {symbol} arrived at this address but is not this order's amount, so it is not counted. If you sent it, contact the merchant with the transaction:",
    UnknownItem "unknown_item" "This item can't be bought here.",
    Unsupported "unsupported" "This network or token can't pay for this order. Choose another.",
    AlreadyStarted "already_started" "This order was already started or is over. Reload the page to see where it is.",
    NoNetwork "no_network" "No network is available for payment.",
    Refused "refused" "The shop can't do this right now. Try again in a moment.",
    DownloadReceipt "download_receipt" "Download receipt",
    Print "print" "Print",
    AlreadyPaid "already_paid" "I already paid",
    TxHash "tx_hash" "Transaction hash",
    FindPayment "find_payment" "Find my payment",
    Looking "looking" "Looking…",
    ClaimFound "claim_found" "Found it. This payment now counts for your order.",
    TxHashInvalid "tx_hash_invalid" "That is not a transaction hash. It starts with 0x and has 64 more characters.",
    TxNotFound "tx_not_found" "No transaction with this hash on {networks}. Check it, or try again in a minute if you just sent it.",
    TxNotMined "tx_not_mined" "This transaction is not mined yet. Try again in a minute.",
    TxFailed "tx_failed" "This transaction failed on chain, so nothing was sent.",
    TxWrongChain "tx_wrong_chain" "This transaction is on {network}, but this order asked for {expected}. It is not counted; the merchant can see it.",
    TxWrongToken "tx_wrong_token" "This transaction sent another token, not {symbol}.",
    TxWrongRecipient "tx_wrong_recipient" "This transaction paid {address}, not this order's address.",
    TxAmountDiffers "tx_amount_differs" "This transaction sent {sent} {symbol}, {difference} {symbol} more than the {asked} {symbol} this order still asks. The merchant can see it and refund the difference.",
    TxBeforeOrder "tx_before_order" "This transaction was made before this order.",
    TxCreditedElsewhere "tx_credited_elsewhere" "This transaction already counts for another order.",
    TooManyTries "too_many_tries" "Too many tries. Try again in {seconds} seconds.",
    ClaimUnreachable "claim_unreachable" "Can't reach the shop right now. Try again in a moment.",
    WrongNetwork "wrong_network" "{amount} {symbol} arrived on {network}, but this order asked for {expected}, so it is not counted. If you sent it, contact the merchant with the transaction:",
    ClaimUnderReview "claim_under_review" "Thank you. This payment is recorded, and the merchant will check it. There is no need to pay again.",
    ProveHint "prove_hint" "To have it counted now, sign a message with the wallet that sent it. Signing moves no money.",
    ProveWithWallet "prove_with_wallet" "Prove it with {wallet}",
    SignInWallet "sign_in_wallet" "Sign the message in your wallet…",
    ClaimNotSender "claim_not_sender" "This wallet did not send that payment: it came from {sender}. Connect the wallet that sent it and try again.",
    ClaimSignatureInvalid "claim_signature_invalid" "Your wallet's signature could not be checked. The merchant will still check your payment.",
    TxPaysAnotherOrder "tx_pays_another_order" "This transaction sent exactly what another order asks, so it pays that order, not this one.",
    RefundsTitle "refunds_title" "Refunds",
    RefundAsk "refund_ask" "Ask for a refund",
    RefundOffer "refund_offer" "You can ask for {amount} {symbol} back, sent on {network} from {from}.",
    RefundTo "refund_to" "Refund to this address",
    RefundToHint "refund_to_hint" "It starts as the wallet that paid. Change it to have the refund sent to another address of yours.",
    RefundSignWith "refund_sign_with" "Sign and ask with {wallet}",
    RefundSignHint "refund_sign_hint" "Your wallet signs a message that proves the payment is yours. Signing moves no money.",
    RefundExchangeHint "refund_exchange_hint" "Paid from an exchange? It can't sign for you: put your own address above, add an email if you like, and ask without signing. The merchant will check it.",
    RefundEmail "refund_email" "Email (optional)",
    RefundAskUnsigned "refund_ask_unsigned" "Ask without signing",
    RefundSending "refund_sending" "Sending your request…",
    RefundBadAddress "refund_bad_address" "This is not an address. It starts with 0x and has 40 more characters, and mixed upper and lower case must match its checksum.",
    RefundOf "refund_of" "{amount} {symbol} to {address}",
    RefundRequested "refund_requested" "Asked. The merchant will decide.",
    RefundRequestedUnproven "refund_requested_unproven" "Asked without a signature. The merchant will check it and decide.",
    RefundApproved "refund_approved" "Approved. The merchant is sending it.",
    RefundSent "refund_sent" "Sent on {network}.",
    RefundSentConfirmations "refund_sent_confirmations" "Sent on {network} (confirmations: {count}).",
    RefundRefused "refund_refused" "Refused. The merchant says:",
    RefundReceipt "refund_receipt" "Refund receipt",
    RefundUnknownPayment "refund_unknown_payment" "The shop has no record of this payment, so it can't be refunded.",
    RefundNotRefundable "refund_not_refundable" "Nothing of this payment can be asked back any more. Contact the merchant if you think otherwise.",
    RefundTooMuch "refund_too_much" "At most {max} {symbol} of this payment can be asked back.",
    RefundBadSignature "refund_bad_signature" "This signature is not by the wallet that sent the payment ({sender}). Sign with that wallet, or ask without signing.",
    RefundBadDestination "refund_bad_destination" "The shop can't send a refund there. Give an address of your own (not the shop's), and check the email.",
    OverpaidRefundable "overpaid_refundable" "You sent {amount} {symbol} more than needed. You can ask for it back below.",
    UnmatchedRefundable "unmatched_refundable" "{amount} {symbol} arrived at this address but is not this order's amount, so it is not counted. If you sent it and it is listed below, you can ask for it back there; if not, contact the merchant with the transaction:",
    WrongNetworkRefundable "wrong_network_refundable" "{amount} {symbol} arrived on {network}, but this order asked for {expected}, so it is not counted. If you sent it, you can ask for it back under Refunds below. The transaction:",
    ExpiredRefundable "expired_refundable" "This payment request has expired. Nothing more can be paid to it. You can ask for what you sent back below.",
    FailedRefundable "failed_refundable" "This payment was cancelled. You can ask for what you sent back below.",
}

/// A loaded table: each text in [`Text`]'s order, `None` where the table lacks it.
type Table = [Option<String>];

thread_local! {
    /// The tables fetched so far, each once per page: a widget mounted again, or another on the
    /// page, finds its language here.
    static TABLES: RefCell<Vec<(Locale, &'static Table)>> = const { RefCell::new(Vec::new()) };
}

impl Locale {
    /// Written right to left.
    pub fn rtl(self) -> bool {
        self == Locale::Ar
    }

    /// A language tag's locale: the tag itself (any case, `_` for `-`), else its language
    /// (`es-MX` is Spanish, `pt` and `pt-PT` Brazilian Portuguese). Chinese is simplified only:
    /// `zh`, `zh-Hans`, `zh-CN`, `zh-SG` are; `zh-TW`, `zh-HK`, `zh-MO` and `zh-Hant` are not.
    pub fn from_tag(tag: &str) -> Option<Self> {
        // Lower case, `_` for `-`; by a loop (a collected iterator is code of its own).
        let mut lower = String::new();
        for c in tag.trim().chars() {
            lower.push(if c == '_' {
                '-'
            } else {
                c.to_ascii_lowercase()
            });
        }
        let tag = lower;
        let language = tag.split('-').next()?;
        let traditional = |s| ["hant", "tw", "hk", "mo"].contains(&s);
        Self::ALL
            .iter()
            .copied()
            .find(|l| l.tag().eq_ignore_ascii_case(&tag))
            .or_else(|| match language {
                "zh" if tag.split('-').any(traditional) => None,
                _ => Self::ALL
                    .iter()
                    .copied()
                    .find(|l| l.tag().split('-').next() == Some(language)),
            })
    }

    /// The `locale` option if supported, else the first of the browser's languages that is,
    /// else English.
    pub fn negotiate(option: Option<&str>, browser: &[String]) -> Self {
        option
            .and_then(Self::from_tag)
            .or_else(|| browser.iter().find_map(|tag| Self::from_tag(tag)))
            .unwrap_or(Locale::En)
    }
}

/// The texts of one locale: English's, or a loaded table's with English for what it lacks.
/// `Copy`, as the locale it replaces: every view takes it by value.
#[derive(Debug, Clone, Copy)]
pub struct Strings {
    pub locale: Locale,
    table: Option<&'static Table>,
}

/// A locale's table is loaded once ([`TABLES`]): the locale says it all.
impl PartialEq for Strings {
    fn eq(&self, other: &Self) -> bool {
        self.locale == other.locale
    }
}

impl Strings {
    pub const ENGLISH: Strings = Strings {
        locale: Locale::En,
        table: None,
    };

    /// `locale`'s texts if they are at hand: English always, another once loaded.
    pub fn cached(locale: Locale) -> Option<Strings> {
        if locale == Locale::En {
            return Some(Self::ENGLISH);
        }
        TABLES.with_borrow(|tables| {
            tables
                .iter()
                .find(|(l, _)| *l == locale)
                .map(|&(locale, table)| Strings {
                    locale,
                    table: Some(table),
                })
        })
    }

    /// `locale`'s table, as the browser parsed its JSON (an object of strings), kept for the
    /// page's life; `None` if it is not such an object. Each text is looked up by its key,
    /// straight into place: keys that name no text are never read, and no map or deserializer
    /// stands in between (their code is weight every shopper downloads).
    pub fn install(locale: Locale, json: JsValue) -> Option<Strings> {
        if !json.is_object() {
            return None;
        }
        let mut table = Vec::with_capacity(Text::ALL.len());
        for text in Text::ALL {
            let value = js_sys::Reflect::get(&json, &JsValue::from_str(text.key())).ok()?;
            table.push(if value.is_undefined() {
                None
            } else {
                Some(value.as_string()?)
            });
        }
        Some(Self::keep(locale, table))
    }

    fn keep(locale: Locale, table: Vec<Option<String>>) -> Strings {
        // Leaked on purpose: at most one table per language, for as long as the page lives.
        let table: &'static Table = Vec::leak(table);
        TABLES.with_borrow_mut(|tables| tables.push((locale, table)));
        Strings {
            locale,
            table: Some(table),
        }
    }

    /// The `lang` attribute.
    pub fn tag(self) -> &'static str {
        self.locale.tag()
    }

    /// The `dir` attribute.
    pub fn dir(self) -> &'static str {
        if self.locale.rtl() { "rtl" } else { "ltr" }
    }

    /// The text in this locale, placeholders filled.
    pub fn text(self, key: Text, values: &[(&str, &str)]) -> String {
        let template = self
            .table
            .and_then(|table| table[key as usize].as_deref())
            .unwrap_or(EN[key as usize]);
        let mut text = String::with_capacity(template.len());
        let mut rest = template;
        while let Some((before, after)) = rest.split_once('{') {
            text.push_str(before);
            let Some((name, tail)) = after.split_once('}') else {
                text.push('{');
                rest = after;
                continue;
            };
            match values.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => text.push_str(value),
                None => {
                    text.push('{');
                    text.push_str(name);
                    text.push('}');
                }
            }
            rest = tail;
        }
        text.push_str(rest);
        text
    }

    /// `value` (a number, or a decimal's text) by `Intl.NumberFormat` in this locale, in Latin
    /// digits, with at least `integer` integer digits and exactly `fraction` fraction digits.
    fn number(self, value: &JsValue, integer: u8, fraction: u8) -> Option<String> {
        // Set by name: a typed setter each is glue every shopper downloads.
        let options = js_sys::Object::new();
        for (name, value) in [
            ("numberingSystem", JsValue::from_str("latn")),
            ("minimumIntegerDigits", integer.into()),
            ("minimumFractionDigits", fraction.into()),
            ("maximumFractionDigits", fraction.into()),
        ] {
            let _ = js_sys::Reflect::set(&options, &name.into(), &value);
        }
        let options = options.unchecked_into();
        let locales = js_sys::Array::of1(&JsValue::from_str(self.tag()));
        js_sys::Intl::NumberFormat::new(&locales, &options)
            .format()
            .call1(&JsValue::UNDEFINED, value)
            .ok()?
            .as_string()
    }

    /// An amount as the shopper reads it: the decimal text given to `Intl.NumberFormat` as text
    /// (never through a float), every fraction digit kept (up to 20): "24.995001" is
    /// "24,995001" in German, "1234.5" is "1.234,5". What is not a plain decimal is shown as is.
    pub fn amount(self, decimal: &str) -> String {
        let fraction = decimal.split_once('.').map_or(0, |(_, f)| f.len()).min(20);
        let plain = !decimal.is_empty()
            && decimal
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
        plain
            .then(|| self.number(&JsValue::from_str(decimal), 1, fraction as u8))
            .flatten()
            .filter(|s| s != "NaN")
            .unwrap_or_else(|| decimal.to_owned())
    }

    /// A whole number of minutes and seconds left, as "9:05", its numbers by `Intl`.
    pub fn clock(self, seconds: u64) -> String {
        let part = |n: u64, width| {
            self.number(&JsValue::from_f64(n as f64), width, 0)
                .unwrap_or_else(|| n.to_string())
        };
        crate::cat(&[&part(seconds / 60, 1), ":", &part(seconds % 60, 2)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values the same as English's in another table, each with its reason. Everything else
    /// equal to English is a text left untranslated.
    const SAME_AS_ENGLISH: [(Option<Locale>, Text); 4] = [
        // "≈ {amount} {currency}": no words, only a sign and placeholders; in every table.
        (None, Text::FiatValue),
        // "Token" is the word German and Brazilian wallets and exchanges use (a loanword).
        (Some(Locale::De), Text::Token),
        (Some(Locale::PtBr), Text::Token),
        // The French word for a blockchain transaction is spelt as the English one.
        (Some(Locale::Fr), Text::Transaction),
    ];

    fn parse(json: &str) -> std::collections::BTreeMap<String, String> {
        serde_json::from_str(json).expect("a JSON object of strings")
    }

    fn placeholders(text: &str) -> Vec<&str> {
        let mut names: Vec<&str> = text
            .split('{')
            .skip(1)
            .filter_map(|rest| rest.split_once('}').map(|(name, _)| name))
            .collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn each_table_in_www_locales_is_a_language_the_widget_speaks() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/www/locales");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        let mut tables: Vec<String> = Locale::ALL
            .iter()
            .map(|l| format!("{}.json", l.tag()))
            .collect();
        files.sort_unstable();
        tables.sort_unstable();
        assert_eq!(files, tables);
    }

    #[test]
    fn keys_are_the_snake_case_names_of_the_texts() {
        for text in Text::ALL {
            let name = format!("{text:?}");
            let mut snake = String::new();
            for (i, c) in name.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    snake.push('_');
                }
                snake.push(c.to_ascii_lowercase());
            }
            assert_eq!(text.key(), snake);
        }
        assert_eq!(EN.len(), Text::ALL.len());
    }

    #[test]
    fn the_english_table_is_the_compiled_in_english() {
        assert_eq!(TABLES_JSON[0].0, Locale::En);
        let en = parse(TABLES_JSON[0].1);
        assert_eq!(en.len(), Text::ALL.len(), "en.json has extra keys");
        for text in Text::ALL {
            assert_eq!(
                en.get(text.key()).map(String::as_str),
                Some(Strings::ENGLISH.text(*text, &[]).as_str()),
                "en.json's {} differs from EN",
                text.key()
            );
        }
    }

    #[test]
    fn every_table_has_every_key_translated_with_the_same_placeholders() {
        for (locale, json) in &TABLES_JSON[1..] {
            let map = parse(json);
            let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
            let mut expected: Vec<&str> = Text::ALL.iter().map(|t| t.key()).collect();
            keys.sort_unstable();
            expected.sort_unstable();
            assert_eq!(keys, expected, "{locale:?}: extra or missing keys");
            for text in Text::ALL {
                let (value, english) = (&map[text.key()], EN[*text as usize]);
                assert!(!value.trim().is_empty(), "{locale:?} {text:?} is empty");
                assert_eq!(
                    placeholders(value),
                    placeholders(english),
                    "{locale:?} {text:?}: {value}"
                );
                if !SAME_AS_ENGLISH.contains(&(None, *text))
                    && !SAME_AS_ENGLISH.contains(&(Some(*locale), *text))
                {
                    assert_ne!(value, english, "{locale:?} {text:?} is left in English");
                }
            }
        }
    }

    #[test]
    fn a_table_lacking_a_text_falls_back_to_english_for_it() {
        let mut map = parse(include_str!("../www/locales/es.json"));
        map.remove("paid");
        map.insert("not_a_text".into(), "ignored".into());
        let table = Text::ALL
            .iter()
            .map(|t| map.get(t.key()).cloned())
            .collect();
        let es = Strings::keep(Locale::Es, table);
        assert_eq!(es.text(Text::Paid, &[]), "Paid. Thank you!");
        assert_eq!(Strings::cached(Locale::Es), Some(es), "kept for the page");
        assert_ne!(es.text(Text::Title, &[]), "Pay with USDT");
        assert_eq!(Strings::cached(Locale::De), None, "not loaded");
    }

    #[test]
    fn the_locale_follows_the_option_then_the_browser() {
        let langs = |tags: &[&str]| tags.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let browser = langs(&["xx-YY", "es-MX", "en"]);
        assert_eq!(Locale::negotiate(None, &browser), Locale::Es);
        assert_eq!(Locale::negotiate(Some("de"), &browser), Locale::De);
        assert_eq!(
            Locale::negotiate(Some("zh-Hans-CN"), &browser),
            Locale::ZhCn
        );
        assert_eq!(
            Locale::negotiate(Some("klingon"), &browser),
            Locale::Es,
            "an unsupported option falls back to the browser"
        );
        assert_eq!(Locale::negotiate(None, &langs(&["sv", "nb"])), Locale::En);
        assert_eq!(Locale::negotiate(None, &[]), Locale::En);
        for (tag, locale) in [
            ("pt", Locale::PtBr),
            ("pt-PT", Locale::PtBr),
            ("PT_br", Locale::PtBr),
            ("zh", Locale::ZhCn),
            ("zh-Hans", Locale::ZhCn),
            ("zh-CN", Locale::ZhCn),
            ("zh-SG", Locale::ZhCn),
            ("fr-CA", Locale::Fr),
            ("de-AT", Locale::De),
            ("ja-JP", Locale::Ja),
            ("ko-KR", Locale::Ko),
            ("ru-RU", Locale::Ru),
            ("ar-EG", Locale::Ar),
            ("en-GB", Locale::En),
        ] {
            assert_eq!(Locale::from_tag(tag), Some(locale), "{tag}");
        }
        for tag in ["zh-TW", "zh-HK", "zh-Hant", "zh-Hant-TW", "zh-MO", "", "x"] {
            assert_eq!(Locale::from_tag(tag), None, "{tag}");
        }
        assert_eq!(
            Locale::negotiate(None, &langs(&["zh-TW", "ja", "zh-CN"])),
            Locale::Ja,
            "traditional Chinese is not simplified: the next language is taken"
        );
        assert_eq!(
            Locale::negotiate(None, &langs(&["zh-Hant", "zh"])),
            Locale::ZhCn
        );
    }

    #[test]
    fn placeholders_are_filled() {
        let text = Strings::ENGLISH.text(Text::Confirming, &[("count", "1"), ("required", "2")]);
        assert_eq!(text, "Payment received. Confirming (1 of 2)…");
        assert_eq!(
            Strings::ENGLISH.text(Text::QrLabel, &[("amount", "1.5"), ("symbol", "USDT")]),
            "QR code: send 1.5 USDT on {network}",
            "a placeholder without a value stays as written"
        );
    }
}
