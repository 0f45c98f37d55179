//! Every string the shopper reads, in one table per language. The locale is the widget's
//! `locale` option if given and known, otherwise the first of the browser's languages we have,
//! otherwise English. Placeholders are `{name}`, filled by [`Locale::text`].

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    ZhCn,
    Es,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    Title,
    Loading,
    ChooseNetwork,
    Network,
    Token,
    Continue,
    FiatValue,
    SendExactly,
    ToAddress,
    Copy,
    Copied,
    CopyAddress,
    CopyAmount,
    QrLabel,
    OpenInWallet,
    OpenPaymentPage,
    PayWithWallet,
    ConnectingWallet,
    SwitchNetwork,
    ConfirmInWallet,
    WalletRejected,
    WalletWrongNetwork,
    NoWallet,
    WalletSent,
    TimeLeft,
    Waiting,
    PartiallyPaid,
    PayTheRest,
    Confirming,
    Paid,
    Expired,
    PaidLate,
    Failed,
    Overpaid,
    GatewayUnavailable,
    RateLimited,
    MerchantUnreachable,
    StartAgain,
    Order,
    Amount,
    Transaction,
    ViewOnExplorer,
    CopyTransaction,
    Unmatched,
    UnknownItem,
}

impl Text {
    pub const ALL: [Text; 45] = [
        Text::Title,
        Text::Loading,
        Text::ChooseNetwork,
        Text::Network,
        Text::Token,
        Text::Continue,
        Text::FiatValue,
        Text::SendExactly,
        Text::ToAddress,
        Text::Copy,
        Text::Copied,
        Text::CopyAddress,
        Text::CopyAmount,
        Text::QrLabel,
        Text::OpenInWallet,
        Text::OpenPaymentPage,
        Text::PayWithWallet,
        Text::ConnectingWallet,
        Text::SwitchNetwork,
        Text::ConfirmInWallet,
        Text::WalletRejected,
        Text::WalletWrongNetwork,
        Text::NoWallet,
        Text::WalletSent,
        Text::TimeLeft,
        Text::Waiting,
        Text::PartiallyPaid,
        Text::PayTheRest,
        Text::Confirming,
        Text::Paid,
        Text::Expired,
        Text::PaidLate,
        Text::Failed,
        Text::Overpaid,
        Text::GatewayUnavailable,
        Text::RateLimited,
        Text::MerchantUnreachable,
        Text::StartAgain,
        Text::Order,
        Text::Amount,
        Text::Transaction,
        Text::ViewOnExplorer,
        Text::CopyTransaction,
        Text::Unmatched,
        Text::UnknownItem,
    ];
}

type Table = &'static [(Text, &'static str)];

const EN: Table = &[
    (Text::Title, "Pay with USDT"),
    (Text::Loading, "Loading…"),
    (Text::ChooseNetwork, "Choose how to pay"),
    (Text::Network, "Network"),
    (Text::Token, "Token"),
    (Text::Continue, "Continue"),
    (Text::FiatValue, "≈ {amount} {currency}"),
    (Text::SendExactly, "Send exactly"),
    (Text::ToAddress, "To this address"),
    (Text::Copy, "Copy"),
    (Text::Copied, "Copied"),
    (Text::CopyAddress, "Copy address"),
    (Text::CopyAmount, "Copy amount"),
    (
        Text::QrLabel,
        "QR code: send {amount} {symbol} on {network}",
    ),
    (Text::OpenInWallet, "Open in MetaMask"),
    (Text::OpenPaymentPage, "Open the payment page"),
    (Text::PayWithWallet, "Pay with {wallet}"),
    (Text::ConnectingWallet, "Connecting to your wallet…"),
    (Text::SwitchNetwork, "Switch your wallet to {network}"),
    (Text::ConfirmInWallet, "Confirm the payment in your wallet"),
    (
        Text::WalletRejected,
        "You cancelled in your wallet. You can try again.",
    ),
    (
        Text::WalletWrongNetwork,
        "Your wallet is on another network. Switch to {network} to pay.",
    ),
    (
        Text::NoWallet,
        "No browser wallet found. Scan the QR code with a phone wallet.",
    ),
    (
        Text::WalletSent,
        "Sent from your wallet. Waiting for the network to see it…",
    ),
    (Text::TimeLeft, "Time left: {time}"),
    (Text::Waiting, "Waiting for your payment"),
    (
        Text::PartiallyPaid,
        "Partly paid. {amount} {symbol} still to pay.",
    ),
    (Text::PayTheRest, "Send the rest"),
    (
        Text::Confirming,
        "Payment received. Confirming ({count} of {required})…",
    ),
    (Text::Paid, "Paid. Thank you!"),
    (
        Text::Expired,
        "This payment request has expired. Nothing more can be paid to it.",
    ),
    (
        Text::PaidLate,
        "Paid after the time ran out. The merchant will confirm your order.",
    ),
    (Text::Failed, "This payment was cancelled."),
    (
        Text::Overpaid,
        "You sent {amount} {symbol} more than needed. The merchant can refund it.",
    ),
    (
        Text::GatewayUnavailable,
        "The payment service is slow to answer. Your payment is safe; this page will update.",
    ),
    (
        Text::RateLimited,
        "Busy right now. Checking again in a moment.",
    ),
    (
        Text::MerchantUnreachable,
        "Can't reach the shop right now. Retrying…",
    ),
    (Text::StartAgain, "Start again"),
    (Text::Order, "Order"),
    (Text::Amount, "Amount"),
    (Text::Transaction, "Transaction"),
    (Text::ViewOnExplorer, "View on explorer"),
    (Text::CopyTransaction, "Copy transaction hash"),
    (
        Text::Unmatched,
        "{amount} {symbol} arrived at this address but is not this order's amount, so it is not counted. If you sent it, contact the merchant with the transaction:",
    ),
    (Text::UnknownItem, "This item can't be bought here."),
];

const ZH_CN: Table = &[
    (Text::Title, "使用 USDT 支付"),
    (Text::Loading, "加载中…"),
    (Text::ChooseNetwork, "选择支付方式"),
    (Text::Network, "网络"),
    (Text::Token, "代币"),
    (Text::Continue, "继续"),
    (Text::FiatValue, "≈ {amount} {currency}"),
    (Text::SendExactly, "请准确发送"),
    (Text::ToAddress, "至此地址"),
    (Text::Copy, "复制"),
    (Text::Copied, "已复制"),
    (Text::CopyAddress, "复制地址"),
    (Text::CopyAmount, "复制金额"),
    (
        Text::QrLabel,
        "二维码：在 {network} 上发送 {amount} {symbol}",
    ),
    (Text::OpenInWallet, "在 MetaMask 中打开"),
    (Text::OpenPaymentPage, "打开支付页面"),
    (Text::PayWithWallet, "使用 {wallet} 支付"),
    (Text::ConnectingWallet, "正在连接钱包…"),
    (Text::SwitchNetwork, "请将钱包切换到 {network}"),
    (Text::ConfirmInWallet, "请在钱包中确认付款"),
    (Text::WalletRejected, "您已在钱包中取消。可以再试一次。"),
    (
        Text::WalletWrongNetwork,
        "您的钱包在其他网络上。请切换到 {network} 后付款。",
    ),
    (Text::NoWallet, "未找到浏览器钱包。请用手机钱包扫描二维码。"),
    (Text::WalletSent, "已从钱包发送，等待网络确认…"),
    (Text::TimeLeft, "剩余时间：{time}"),
    (Text::Waiting, "等待付款"),
    (
        Text::PartiallyPaid,
        "已部分付款，还需支付 {amount} {symbol}。",
    ),
    (Text::PayTheRest, "支付剩余金额"),
    (
        Text::Confirming,
        "已收到付款，确认中（{count}/{required}）…",
    ),
    (Text::Paid, "支付成功，谢谢！"),
    (Text::Expired, "此付款请求已过期，无法再向其付款。"),
    (Text::PaidLate, "付款在时限之后完成。商家将确认您的订单。"),
    (Text::Failed, "此付款已取消。"),
    (Text::Overpaid, "您多付了 {amount} {symbol}，商家可以退还。"),
    (
        Text::GatewayUnavailable,
        "支付服务响应缓慢。您的付款是安全的，本页面将自动更新。",
    ),
    (Text::RateLimited, "当前繁忙，稍后将再次查询。"),
    (Text::MerchantUnreachable, "暂时无法连接商店，正在重试…"),
    (Text::StartAgain, "重新开始"),
    (Text::Order, "订单"),
    (Text::Amount, "金额"),
    (Text::Transaction, "交易"),
    (Text::ViewOnExplorer, "在区块浏览器中查看"),
    (Text::CopyTransaction, "复制交易哈希"),
    (
        Text::Unmatched,
        "此地址收到了 {amount} {symbol}，但与本订单金额不符，因此未计入。如果是您发送的，请凭以下交易联系商家：",
    ),
    (Text::UnknownItem, "此商品无法在此购买。"),
];

const ES: Table = &[
    (Text::Title, "Pagar con USDT"),
    (Text::Loading, "Cargando…"),
    (Text::ChooseNetwork, "Elige cómo pagar"),
    (Text::Network, "Red"),
    (Text::Token, "Token"),
    (Text::Continue, "Continuar"),
    (Text::FiatValue, "≈ {amount} {currency}"),
    (Text::SendExactly, "Envía exactamente"),
    (Text::ToAddress, "A esta dirección"),
    (Text::Copy, "Copiar"),
    (Text::Copied, "Copiado"),
    (Text::CopyAddress, "Copiar dirección"),
    (Text::CopyAmount, "Copiar importe"),
    (
        Text::QrLabel,
        "Código QR: envía {amount} {symbol} en {network}",
    ),
    (Text::OpenInWallet, "Abrir en MetaMask"),
    (Text::OpenPaymentPage, "Abrir la página de pago"),
    (Text::PayWithWallet, "Pagar con {wallet}"),
    (Text::ConnectingWallet, "Conectando con tu billetera…"),
    (Text::SwitchNetwork, "Cambia tu billetera a {network}"),
    (Text::ConfirmInWallet, "Confirma el pago en tu billetera"),
    (
        Text::WalletRejected,
        "Cancelaste en tu billetera. Puedes intentarlo de nuevo.",
    ),
    (
        Text::WalletWrongNetwork,
        "Tu billetera está en otra red. Cambia a {network} para pagar.",
    ),
    (
        Text::NoWallet,
        "No se encontró una billetera del navegador. Escanea el código QR con una billetera móvil.",
    ),
    (
        Text::WalletSent,
        "Enviado desde tu billetera. Esperando a que la red lo vea…",
    ),
    (Text::TimeLeft, "Tiempo restante: {time}"),
    (Text::Waiting, "Esperando tu pago"),
    (
        Text::PartiallyPaid,
        "Pago parcial. Faltan {amount} {symbol}.",
    ),
    (Text::PayTheRest, "Envía el resto"),
    (
        Text::Confirming,
        "Pago recibido. Confirmando ({count} de {required})…",
    ),
    (Text::Paid, "Pagado. ¡Gracias!"),
    (
        Text::Expired,
        "Esta solicitud de pago ha caducado. Ya no se puede pagar.",
    ),
    (
        Text::PaidLate,
        "Pagado después del plazo. El comercio confirmará tu pedido.",
    ),
    (Text::Failed, "Este pago fue cancelado."),
    (
        Text::Overpaid,
        "Enviaste {amount} {symbol} de más. El comercio puede devolverlo.",
    ),
    (
        Text::GatewayUnavailable,
        "El servicio de pagos tarda en responder. Tu pago está a salvo; esta página se actualizará.",
    ),
    (
        Text::RateLimited,
        "Hay mucha actividad. Volveremos a comprobar en un momento.",
    ),
    (
        Text::MerchantUnreachable,
        "No se puede contactar con la tienda ahora. Reintentando…",
    ),
    (Text::StartAgain, "Empezar de nuevo"),
    (Text::Order, "Pedido"),
    (Text::Amount, "Importe"),
    (Text::Transaction, "Transacción"),
    (Text::ViewOnExplorer, "Ver en el explorador"),
    (Text::CopyTransaction, "Copiar el hash de la transacción"),
    (
        Text::Unmatched,
        "Llegaron {amount} {symbol} a esta dirección, pero no es el importe de este pedido, así que no se cuentan. Si los enviaste tú, contacta con el comercio con la transacción:",
    ),
    (Text::UnknownItem, "Este artículo no se puede comprar aquí."),
];

impl Locale {
    pub const ALL: [Locale; 3] = [Locale::En, Locale::ZhCn, Locale::Es];

    fn table(self) -> Table {
        match self {
            Locale::En => EN,
            Locale::ZhCn => ZH_CN,
            Locale::Es => ES,
        }
    }

    /// The BCP 47 tag, for the widget's `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
            Locale::Es => "es",
        }
    }

    /// A language tag's locale, by its primary language (`es-MX` is Spanish).
    pub fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "zh" => Some(Locale::ZhCn),
            "es" => Some(Locale::Es),
            _ => None,
        }
    }

    /// The `locale` option if known, else the first of the browser's languages we have, else
    /// English.
    pub fn negotiate(option: Option<&str>, browser: &[String]) -> Self {
        option
            .and_then(Self::from_tag)
            .or_else(|| browser.iter().find_map(|tag| Self::from_tag(tag)))
            .unwrap_or(Locale::En)
    }

    /// The text in this locale, placeholders filled.
    pub fn text(self, key: Text, values: &[(&str, &str)]) -> String {
        let template = self
            .table()
            .iter()
            .find(|(k, _)| *k == key)
            .or_else(|| EN.iter().find(|(k, _)| *k == key))
            .map_or("", |(_, text)| text);
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn every_key_is_in_every_locale_once_with_the_same_placeholders() {
        for locale in Locale::ALL {
            let table = locale.table();
            assert_eq!(
                table.len(),
                Text::ALL.len(),
                "{locale:?} has extra or missing keys"
            );
            for key in Text::ALL {
                let entries: Vec<&str> = table
                    .iter()
                    .filter(|(k, _)| *k == key)
                    .map(|(_, t)| *t)
                    .collect();
                assert_eq!(
                    entries.len(),
                    1,
                    "{locale:?} has {key:?} {} times",
                    entries.len()
                );
                assert!(!entries[0].trim().is_empty(), "{locale:?} {key:?} is empty");
                let english = EN.iter().find(|(k, _)| *k == key).unwrap().1;
                assert_eq!(
                    placeholders(entries[0]),
                    placeholders(english),
                    "{locale:?} {key:?}"
                );
            }
        }
    }

    #[test]
    fn the_locale_follows_the_option_then_the_browser() {
        let browser = vec!["fr-FR".to_owned(), "es-MX".to_owned(), "en".to_owned()];
        assert_eq!(Locale::negotiate(None, &browser), Locale::Es);
        assert_eq!(
            Locale::negotiate(Some("zh-Hans-CN"), &browser),
            Locale::ZhCn
        );
        assert_eq!(
            Locale::negotiate(Some("klingon"), &browser),
            Locale::Es,
            "an unknown option falls back"
        );
        assert_eq!(Locale::negotiate(None, &["de".to_owned()]), Locale::En);
    }

    #[test]
    fn placeholders_are_filled() {
        let text = Locale::Es.text(Text::Confirming, &[("count", "1"), ("required", "2")]);
        assert_eq!(text, "Pago recibido. Confirmando (1 de 2)…");
        assert_eq!(Locale::ZhCn.text(Text::Paid, &[]), "支付成功，谢谢！");
        assert_eq!(
            Locale::En.text(Text::QrLabel, &[("amount", "1.5"), ("symbol", "USDT")]),
            "QR code: send 1.5 USDT on {network}",
            "a placeholder without a value stays as written"
        );
    }
}
