//! Text files as Windows writes them: Windows PowerShell 5.1 `Export-Clixml`, `Out-File` and `>`
//! write UTF-16LE with BOM, `-Encoding UTF8` writes UTF-8 with BOM, `Set-Content` the ANSI code
//! page, PowerShell 7 UTF-8 without BOM. The BOM decides; without one, NUL bytes betray UTF-16;
//! bytes that are not UTF-8 are read as Windows-1252.

use std::borrow::Cow;

/// The encoding a file was read as, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
    Windows1252,
}

/// Decodes `bytes` to text; the BOM, if any, is removed. UTF-8 is borrowed, not copied: a
/// large organisation's bundle is megabytes.
pub fn decode_text(bytes: &[u8]) -> Result<(TextEncoding, Cow<'_, str>), String> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest)
            .map(|text| (TextEncoding::Utf8Bom, Cow::Borrowed(text)))
            .map_err(|e| {
                format!(
                    "invalid UTF-8 after a UTF-8 BOM at byte {}",
                    e.valid_up_to() + 3
                )
            });
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return decode_utf16(rest, u16::from_le_bytes).map(|t| (TextEncoding::Utf16Le, t.into()));
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return decode_utf16(rest, u16::from_be_bytes).map(|t| (TextEncoding::Utf16Be, t.into()));
    }
    // No BOM: ASCII text in UTF-16 has a NUL in every other byte. An odd length is still
    // UTF-16 (cut short), and is refused as such rather than read as UTF-8 full of NULs.
    if bytes.len() >= 4 {
        let sample = &bytes[..bytes.len().min(512)];
        let nul_at = |parity: usize| {
            sample
                .iter()
                .skip(parity)
                .step_by(2)
                .filter(|b| **b == 0)
                .count()
        };
        let half = sample.len() / 2;
        if nul_at(1) * 10 >= half * 9 && nul_at(0) == 0 {
            return decode_utf16(bytes, u16::from_le_bytes)
                .map(|t| (TextEncoding::Utf16Le, t.into()));
        }
        if nul_at(0) * 10 >= half * 9 && nul_at(1) == 0 {
            return decode_utf16(bytes, u16::from_be_bytes)
                .map(|t| (TextEncoding::Utf16Be, t.into()));
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((TextEncoding::Utf8, Cow::Borrowed(text))),
        Err(_) => Ok((
            TextEncoding::Windows1252,
            Cow::Owned(bytes.iter().map(|b| windows_1252(*b)).collect()),
        )),
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> Result<String, String> {
    if !bytes.len().is_multiple_of(2) {
        return Err("UTF-16 text with an odd number of bytes (truncated file?)".into());
    }
    let units = bytes.chunks_exact(2).map(|pair| unit([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|e| {
            format!(
                "invalid UTF-16 text (unpaired surrogate {:#06x})",
                e.unpaired_surrogate()
            )
        })
}

/// Windows-1252: Latin-1 except 0x80..=0x9F, where Windows puts typographic characters.
fn windows_1252(byte: u8) -> char {
    const HIGH: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    match byte {
        0x80..=0x9F => HIGH[(byte - 0x80) as usize],
        _ => byte as char,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16le(text: &str, bom: bool) -> Vec<u8> {
        let mut bytes = if bom { vec![0xFF, 0xFE] } else { Vec::new() };
        bytes.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
        bytes
    }

    #[test]
    fn boms_decide() {
        assert_eq!(
            decode_text(b"\xEF\xBB\xBF<Objs/>").unwrap(),
            (TextEncoding::Utf8Bom, "<Objs/>".into())
        );
        assert_eq!(
            decode_text(&utf16le("<Objs/>", true)).unwrap(),
            (TextEncoding::Utf16Le, "<Objs/>".into())
        );
        let mut be = vec![0xFE, 0xFF];
        be.extend("Zürich".encode_utf16().flat_map(u16::to_be_bytes));
        assert_eq!(
            decode_text(&be).unwrap(),
            (TextEncoding::Utf16Be, "Zürich".into())
        );
    }

    #[test]
    fn utf16_without_bom_is_recognised() {
        assert_eq!(
            decode_text(&utf16le("{\"a\": 1}", false)).unwrap().0,
            TextEncoding::Utf16Le
        );
    }

    #[test]
    fn utf16_without_bom_cut_to_an_odd_length_is_named() {
        let mut bytes = utf16le("<Objs Version=\"1.1.0.1\">", false);
        bytes.pop();
        assert_eq!(
            decode_text(&bytes).unwrap_err(),
            "UTF-16 text with an odd number of bytes (truncated file?)"
        );
    }

    #[test]
    fn ansi_falls_back_to_windows_1252() {
        let (encoding, text) = decode_text(b"M\xfcller \x80 \x93x\x94").unwrap();
        assert_eq!(encoding, TextEncoding::Windows1252);
        assert_eq!(text, "Müller € “x”");
    }

    #[test]
    fn broken_utf16_is_an_error() {
        assert!(decode_text(b"\xFF\xFE<\x00O").is_err());
        assert!(decode_text(b"\xFF\xFE\x00\xD8").is_err());
    }

    #[test]
    fn bom_only_is_empty_text() {
        assert_eq!(decode_text(b"\xFF\xFE").unwrap().1, "");
    }
}
