//! The widget's colours against WCAG AA: every pair of text and background colour the stylesheet
//! uses, in both themes, must contrast at least 4.5:1. Read from the stylesheet itself, so a
//! change of palette is checked where it is made.

use crate::{Result, root};

/// Text colour on background colour, by custom property name.
const PAIRS: [(&str, &str); 8] = [
    ("fg", "bg"),
    ("muted", "bg"),
    ("fg", "surface"),
    ("muted", "surface"),
    ("accent-fg", "accent"),
    ("accent", "bg"),
    ("warn-fg", "warn-bg"),
    ("error-fg", "bg"),
];
const AA_NORMAL_TEXT: f64 = 4.5;

/// `--name: ... light-dark(#rrggbb, #rrggbb)`: the property's light and dark colour.
fn colour(css: &str, name: &str) -> Option<[[f64; 3]; 2]> {
    let declaration = css.split(&format!("--{name}:")).nth(1)?.split(';').next()?;
    let inside = declaration.split("light-dark(").nth(1)?.split(')').next()?;
    let mut themes = inside.split(',').map(|hex| rgb(hex.trim()));
    Some([themes.next()??, themes.next()??])
}

fn rgb(hex: &str) -> Option<[f64; 3]> {
    let hex = hex.strip_prefix('#').filter(|h| h.len() == 6)?;
    let channel = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([channel(0)?, channel(2)?, channel(4)?].map(|c| f64::from(c) / 255.0))
}

fn luminance([r, g, b]: [f64; 3]) -> f64 {
    let linear = |c: f64| {
        if c <= 0.03928 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

fn ratio(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

pub fn check() -> Result {
    let path = root().join("www/usdt-checkout.css");
    let css = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut failing = Vec::new();
    let mut lowest = f64::INFINITY;
    for (text, background) in PAIRS {
        let (Some(fg), Some(bg)) = (colour(&css, text), colour(&css, background)) else {
            return Err(format!(
                "--{text} or --{background} is not a light-dark(#rrggbb, #rrggbb) colour: \
                 the contrast check is out of date"
            ));
        };
        for (theme, i) in [("light", 0), ("dark", 1)] {
            let contrast = ratio(fg[i], bg[i]);
            lowest = lowest.min(contrast);
            if contrast < AA_NORMAL_TEXT {
                failing.push(format!(
                    "--{text} on --{background} ({theme}): {contrast:.2}:1"
                ));
            }
        }
    }
    if !failing.is_empty() {
        return Err(format!(
            "below WCAG AA ({AA_NORMAL_TEXT}:1): {}",
            failing.join(", ")
        ));
    }
    println!(
        "contrast: {} text/background pairs in light and dark, the lowest {lowest:.2}:1 (AA: {AA_NORMAL_TEXT}:1)",
        PAIRS.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_on_white_is_21_to_1_and_a_colour_is_read_per_theme() {
        assert!((ratio([0.0; 3], [1.0; 3]) - 21.0).abs() < 1e-9);
        let css = ".x { --fg: var(--usdt-checkout-fg, light-dark(#000000, #ffffff)); }";
        assert_eq!(colour(css, "fg"), Some([[0.0; 3], [1.0; 3]]));
        assert_eq!(colour(css, "bg"), None);
    }
}
