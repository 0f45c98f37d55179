//! The payment QR code as SVG: one path of dark modules, drawn in `currentColor` so the host's
//! theme colours it, with the quiet zone wallets need to find it.

use qrcode::{Color, EcLevel, QrCode};

/// Modules of empty margin around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;

/// The SVG of a QR code holding `text`, or none if it does not fit in a QR code.
pub fn svg(text: &str) -> Option<String> {
    // Medium error correction: a phone camera reads it off a screen with glare.
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let side = width + 2 * QUIET_ZONE;
    let mut path = String::with_capacity(width * width * 4);
    for (i, color) in code.to_colors().iter().enumerate() {
        if *color == Color::Dark {
            let (x, y) = (i % width + QUIET_ZONE, i / width + QUIET_ZONE);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Some(format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges" aria-hidden="true"><path fill="currentColor" d="{path}"/></svg>"#
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use usdt_checkout_protocol::{ChainId, TransferRequest};

    /// Reads the dark modules back out of the SVG this module draws.
    fn modules(svg: &str) -> (usize, Vec<(usize, usize)>) {
        let side: usize = svg
            .split("viewBox=\"0 0 ")
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .unwrap()
            .parse()
            .unwrap();
        let path = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let dark = path
            .split('M')
            .filter(|m| !m.is_empty())
            .map(|m| {
                let (x, rest) = m.split_once(' ').unwrap();
                let y = rest.split('h').next().unwrap();
                (x.parse().unwrap(), y.parse().unwrap())
            })
            .collect();
        (side, dark)
    }

    fn decode(svg: &str) -> String {
        let (side, dark) = modules(svg);
        const SCALE: usize = 6;
        let mut pixels = vec![255u8; side * side * SCALE * SCALE];
        for (x, y) in dark {
            for dy in 0..SCALE {
                for dx in 0..SCALE {
                    pixels[(y * SCALE + dy) * side * SCALE + x * SCALE + dx] = 0;
                }
            }
        }
        let size = side * SCALE;
        let mut image =
            rqrr::PreparedImage::prepare_from_greyscale(size, size, |x, y| pixels[y * size + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1, "one QR code in the picture");
        grids[0].decode().unwrap().1
    }

    #[test]
    fn the_svg_decodes_to_the_exact_payment_uri() {
        let request = TransferRequest {
            chain: ChainId::BNB_SMART_CHAIN,
            token: "0x55d398326f99059ff775485246999027b3197955"
                .parse()
                .unwrap(),
            to: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
                .parse()
                .unwrap(),
            atomic_units: 24_995_001_000_000_000_000,
        };
        let uri = request.eip681();
        assert_eq!(decode(&svg(&uri).unwrap()), uri);
    }

    #[test]
    fn it_is_themeable_and_hidden_from_screen_readers() {
        let svg = svg("ethereum:0x0@1/transfer?address=0x0&uint256=1").unwrap();
        assert!(svg.contains(r#"fill="currentColor""#));
        assert!(
            svg.contains(r#"aria-hidden="true""#),
            "the amount and address are written out beside it"
        );
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_none() {
        assert_eq!(svg(&"x".repeat(5_000)), None);
    }
}
