//! The payment QR code as SVG: one path of dark modules, drawn in `currentColor` so the host's
//! theme colours it, with the quiet zone wallets need to find it.

use qrcode::bits::Bits;
use qrcode::canvas::Canvas;
use qrcode::types::Mode;
use qrcode::{Color, EcLevel, Version};

/// Modules of empty margin around the code, as the QR standard asks.
const QUIET_ZONE: usize = 4;

/// `text` split into segments, each `(mode, bytes)`, for the fewest bits in a code of `version`:
/// a payment URI's digits and upper-case hex letters cost less in the numeric (3⅓ bits each) and
/// alphanumeric (5½) modes than in bytes (8), each change of mode costing a segment header. The
/// cheapest split by dynamic programming, in a fraction of the code of qrcode's own optimiser
/// (and no larger a code; see the tests).
fn segments(text: &[u8], version: i16) -> Vec<(Mode, &[u8])> {
    const MODES: [Mode; 3] = [Mode::Byte, Mode::Alphanumeric, Mode::Numeric];
    // In sixths of a bit: a character's cost in each mode, if the mode holds it.
    let cost = |mode: Mode, b: u8| match mode {
        Mode::Numeric if b.is_ascii_digit() => Some(20),
        Mode::Alphanumeric
            if b.is_ascii_digit() || b.is_ascii_uppercase() || b" $%*+-./:".contains(&b) =>
        {
            Some(33)
        }
        Mode::Byte => Some(48),
        _ => None,
    };
    let header = |mode: Mode| 6 * (4 + mode.length_bits_count(Version::Normal(version)) as u32);
    // best[i][m]: the cheapest encoding of text[..=i] ending in mode m, and the mode before it.
    let mut best: Vec<[(u32, usize); 3]> = Vec::with_capacity(text.len());
    for (i, &b) in text.iter().enumerate() {
        let previous = i.checked_sub(1).map(|i| best[i]);
        let mut row = [(u32::MAX, 0); 3];
        for (m, &mode) in MODES.iter().enumerate() {
            let Some(c) = cost(mode, b) else { continue };
            let Some(previous) = previous else {
                row[m] = (header(mode) + c, m);
                continue;
            };
            for (p, &(before, _)) in previous.iter().enumerate() {
                let switch = if p == m { 0 } else { header(mode) };
                let total = before.saturating_add(c).saturating_add(switch);
                if total < row[m].0 {
                    row[m] = (total, p);
                }
            }
        }
        best.push(row);
    }
    let Some(last) = best.last() else {
        return Vec::new();
    };
    let mut m = 0;
    for mode in 1..3 {
        if last[mode].0 < last[m].0 {
            m = mode;
        }
    }
    let (mut segments, mut end) = (Vec::new(), text.len());
    for i in (0..text.len()).rev() {
        let before = best[i][m].1;
        if i == 0 || before != m {
            segments.push((MODES[m], &text[i..end]));
            end = i;
        }
        m = before;
    }
    segments.reverse();
    segments
}

/// Error correction codewords per block at level M, by version (1 to 40; ISO/IEC 18004 Table 9).
const EC_PER_BLOCK: [u8; 40] = [
    10, 16, 26, 18, 24, 16, 18, 22, 22, 26, 30, 22, 22, 24, 24, 28, 28, 26, 26, 26, 26, 28, 28, 28,
    28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
];
/// Blocks at level M, by version (the same table).
const BLOCKS: [u8; 40] = [
    1, 1, 1, 2, 2, 4, 4, 4, 5, 5, 5, 8, 9, 9, 10, 10, 11, 13, 14, 16, 17, 17, 18, 20, 21, 23, 25,
    26, 28, 29, 31, 33, 35, 37, 38, 40, 43, 45, 47, 49,
];

/// `x` times `y` in GF(2^8) modulo the QR code's polynomial x^8 + x^4 + x^3 + x^2 + 1.
fn gf_mul(x: u8, y: u8) -> u8 {
    let mut product = 0u8;
    for i in (0..8).rev() {
        product = (product << 1) ^ ((product >> 7) * 0x1d);
        product ^= ((y >> i) & 1) * x;
    }
    product
}

/// The Reed-Solomon generator polynomial of `degree`, (x - 2^0)(x - 2^1)…(x - 2^(degree-1)),
/// its leading 1 left out, highest power first.
fn generator(degree: usize) -> Vec<u8> {
    let mut poly = vec![0u8; degree];
    poly[degree - 1] = 1;
    let mut root = 1u8;
    for _ in 0..degree {
        for j in 0..degree {
            poly[j] = gf_mul(poly[j], root);
            if j + 1 < degree {
                poly[j] ^= poly[j + 1];
            }
        }
        root = gf_mul(root, 2);
    }
    poly
}

/// The data's codewords and their error correction, each interleaved block by block, as a code of
/// `version` at level M places them: what qrcode's `ec::construct_codewords` gives, with the
/// generator computed for the one degree needed instead of its tables of every generator and of
/// GF(2^8)'s logarithms and of every version's blocks at every level (3.6 KB of the gzipped
/// download, which gzip cannot shrink).
fn codewords(data: &[u8], version: usize) -> (Vec<u8>, Vec<u8>) {
    let (ec_len, blocks) = (
        usize::from(EC_PER_BLOCK[version - 1]),
        usize::from(BLOCKS[version - 1]),
    );
    // Short blocks first, then those one data codeword longer.
    let (short, long) = (data.len() / blocks, data.len() % blocks);
    let divisor = generator(ec_len);
    let (mut split, mut ec, mut start) = (Vec::new(), Vec::new(), 0);
    for block in 0..blocks {
        let len = short + usize::from(block >= blocks - long);
        let part = &data[start..start + len];
        start += len;
        let mut remainder = vec![0u8; ec_len];
        for &byte in part {
            let factor = byte ^ remainder[0];
            remainder.rotate_left(1);
            remainder[ec_len - 1] = 0;
            for (r, &d) in remainder.iter_mut().zip(&divisor) {
                *r ^= gf_mul(d, factor);
            }
        }
        split.push(part);
        ec.push(remainder);
    }
    let mut data_out = Vec::with_capacity(data.len());
    for i in 0..=short {
        for part in &split {
            if let Some(&byte) = part.get(i) {
                data_out.push(byte);
            }
        }
    }
    let mut ec_out = Vec::with_capacity(ec_len * blocks);
    for i in 0..ec_len {
        for block in &ec {
            ec_out.push(block[i]);
        }
    }
    (data_out, ec_out)
}

/// The modules of a QR code holding `text` at level M, in the smallest version it fits, dark or
/// light, row by row; and its width. `None` if it fits in no version.
fn code(text: &str) -> Option<(Vec<Color>, usize)> {
    // Medium error correction: a phone camera reads it off a screen with glare. In the smallest
    // version it fits.
    let (version, bits) = (1..=40).find_map(|version| {
        let mut bits = Bits::new(Version::Normal(version));
        for (mode, part) in segments(text.as_bytes(), version) {
            match mode {
                Mode::Numeric => bits.push_numeric_data(part).ok()?,
                Mode::Alphanumeric => bits.push_alphanumeric_data(part).ok()?,
                _ => bits.push_byte_data(part).ok()?,
            }
        }
        bits.push_terminator(EcLevel::M).ok()?;
        Some((version, bits))
    })?;
    // What qrcode's `QrCode::with_bits` does, with the codewords made here.
    let (data, ec) = codewords(&bits.into_bytes(), version as usize);
    let mut canvas = Canvas::new(Version::Normal(version), EcLevel::M);
    canvas.draw_all_functional_patterns();
    canvas.draw_data(&data, &ec);
    let width = Version::Normal(version).width() as usize;
    Some((canvas.apply_best_mask().into_colors(), width))
}

/// The SVG of a QR code holding `text`, or none if it does not fit in a QR code.
pub fn svg(text: &str) -> Option<String> {
    let (colors, width) = code(text)?;
    let side = width + 2 * QUIET_ZONE;
    let mut path = String::with_capacity(width * width * 4);
    for (i, color) in colors.iter().enumerate() {
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
    use qrcode::QrCode;
    use usdt_checkout_protocol::{ChainId, TransferRequest};

    /// A fixed pseudo-random walk of bytes (xorshift).
    fn bytes(seed: &mut u64, n: usize) -> Vec<u8> {
        (0..n)
            .map(|_| {
                *seed ^= *seed << 13;
                *seed ^= *seed >> 7;
                *seed ^= *seed << 17;
                *seed as u8
            })
            .collect()
    }

    #[test]
    fn the_codewords_are_qrcodes_own_for_every_version() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for version in 1..=40i16 {
            // A code's full data capacity at level M, as qrcode pads it.
            let mut bits = Bits::new(Version::Normal(version));
            bits.push_terminator(EcLevel::M).unwrap();
            let capacity = bits.into_bytes().len();
            for _ in 0..3 {
                let data = bytes(&mut seed, capacity);
                let expected =
                    qrcode::ec::construct_codewords(&data, Version::Normal(version), EcLevel::M)
                        .unwrap();
                assert_eq!(codewords(&data, version as usize), expected, "{version}");
            }
        }
    }

    #[test]
    fn the_modules_are_qrcodes_own_for_the_same_segments() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut texts: Vec<String> = vec!["".into(), "ethereum:0x0@1".into(), "x".repeat(2_000)];
        for _ in 0..20 {
            let (token, to) = (bytes(&mut seed, 20), bytes(&mut seed, 20));
            texts.push(format!(
                "ethereum:0x{}@56/transfer?address=0x{}&uint256=24995001",
                usdt_checkout_protocol::hex::encode(&token),
                usdt_checkout_protocol::hex::encode(&to).to_uppercase()
            ));
        }
        for text in &texts {
            let (colors, width) = code(text).unwrap();
            let version = (1..=40)
                .find(|&v| Version::Normal(v).width() as usize == width)
                .unwrap();
            let mut bits = Bits::new(Version::Normal(version));
            for (mode, part) in segments(text.as_bytes(), version) {
                match mode {
                    Mode::Numeric => bits.push_numeric_data(part).unwrap(),
                    Mode::Alphanumeric => bits.push_alphanumeric_data(part).unwrap(),
                    _ => bits.push_byte_data(part).unwrap(),
                }
            }
            bits.push_terminator(EcLevel::M).unwrap();
            let expected = QrCode::with_bits(bits, EcLevel::M).unwrap();
            assert_eq!(colors, expected.to_colors(), "{text}");
        }
    }

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
    fn the_code_is_no_larger_than_qrcodes_own_optimisers_for_payment_uris() {
        // Addresses of every kind of mix of digits and letters, from a fixed pseudo-random walk.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut address = || {
            let bytes: Vec<u8> = (0..20)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            format!("0x{}", usdt_checkout_protocol::hex::encode(&bytes))
        };
        // No larger than qrcode's own choice of segments.
        let never_larger = |uri: &str| {
            let mixed = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
                .unwrap()
                .width();
            let (side, _) = modules(&svg(uri).unwrap());
            assert!(side - 2 * QUIET_ZONE <= mixed, "{uri}");
        };
        let random: Vec<(String, String)> = (0..60).map(|_| (address(), address())).collect();
        for (token, to) in &random {
            for units in [7u128, 24_995_001, 25 * 10u128.pow(18)] {
                let uri = TransferRequest {
                    chain: ChainId::BNB_SMART_CHAIN,
                    token: token.parse().unwrap(),
                    to: to.parse().unwrap(),
                    atomic_units: units,
                }
                .eip681();
                never_larger(&uri);
            }
        }
        for (chain, token, decimals) in [
            (
                ChainId::ETHEREUM,
                "0xdac17f958d2ee523a2206206994597c13d831ec7",
                6,
            ),
            (
                ChainId::BNB_SMART_CHAIN,
                "0x55d398326f99059ff775485246999027b3197955",
                18,
            ),
            (
                ChainId::LOCAL,
                "0x5fbdb2315678afecb367f032d93f642f64180aa3",
                6,
            ),
        ] {
            for units in [1u128, 24_995_001, 999_999_999_999] {
                let uri = TransferRequest {
                    chain,
                    token: token.parse().unwrap(),
                    to: "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
                        .parse()
                        .unwrap(),
                    atomic_units: units * 10u128.pow(decimals - 6),
                }
                .eip681();
                never_larger(&uri);
                assert_eq!(decode(&svg(&uri).unwrap()), uri);
            }
        }
    }

    #[test]
    fn text_too_long_for_a_qr_code_is_none() {
        assert_eq!(svg(&"x".repeat(5_000)), None);
    }
}
