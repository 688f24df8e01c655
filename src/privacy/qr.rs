//! Enrolment QR codes in image attachments.
//!
//! An employee who cannot finish setting up an authenticator often sends a
//! screenshot of the enrolment QR code. That code is an `otpauth://` URI (or
//! Google Authenticator's `otpauth-migration://` export) holding the shared
//! secret: whoever has the image can make the employee's codes. mfa-desk must
//! not keep or forward it, and must tell the employee to enrol again.
//!
//! Images come from strangers' mail, so decoding is bounded: only PNG, JPEG,
//! GIF and WebP (the `image` crate built with those decoders alone), at most
//! [`MAX_PIXELS`] pixels, a capped decoder allocation, and a decoder panic is
//! caught and reported as [`QrScan::Unreadable`] rather than taking the
//! worker down.

use image::{ImageReader, Limits};
use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use std::io::Cursor;

/// Images above this many pixels are not decoded (a phone screenshot is 3 to
/// 4 million; a small file can claim billions and exhaust memory).
pub const MAX_PIXELS: u64 = 20_000_000;
/// At most this many image parts of one mail are looked at.
pub const MAX_IMAGES: usize = 10;
/// Image parts larger than this (decoded bytes) are not looked at.
pub const MAX_IMAGE_BYTES: usize = 10 * 1024 * 1024;
/// Forwarded mails (message/rfc822 parts) are searched this deep.
const MAX_MESSAGE_DEPTH: usize = 3;
/// Decoder working memory: 20 megapixels as RGBA16 plus headroom.
const MAX_DECODER_ALLOC: u64 = 256 * 1024 * 1024;

/// What a scanned image holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QrScan {
    /// At least one QR code in the image is an `otpauth://` or
    /// `otpauth-migration://` URI: an authenticator secret.
    Secret,
    /// The image was read; no QR code in it holds an authenticator secret
    /// (there may be no QR code at all, or one with a plain URL).
    NoSecret,
    /// Not an image mfa-desk can read (unknown format, broken, too large), or
    /// a QR code was found but could not be decoded, so it may be a secret.
    Unreadable,
}

/// Whether the image holds an enrolment QR code. Never panics.
pub fn contains_otp_qr(image_bytes: &[u8]) -> QrScan {
    // Third-party decoders on hostile bytes: a panic there must not end the
    // worker. The closure only reads its input, so unwinding leaves no state.
    std::panic::catch_unwind(|| scan(image_bytes)).unwrap_or(QrScan::Unreadable)
}

fn scan(image_bytes: &[u8]) -> QrScan {
    let Some(luma) = decode_grey(image_bytes) else {
        return QrScan::Unreadable;
    };
    let (w, h) = (luma.width() as usize, luma.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        // x < w and y < h by construction; 255 (white) is a safe default anyway.
        luma.get_pixel_checked(x as u32, y as u32)
            .map_or(255, |p| p.0[0])
    });
    let grids = prepared.detect_grids();
    let mut undecodable = false;
    for grid in &grids {
        let mut content = Vec::new();
        if grid.decode_to(&mut content).is_err() {
            undecodable = true;
            continue;
        }
        if is_otpauth(&content) {
            return QrScan::Secret;
        }
    }
    if undecodable {
        QrScan::Unreadable
    } else {
        QrScan::NoSecret
    }
}

/// Decode to 8-bit greyscale, refusing what is too large or not an image.
fn decode_grey(image_bytes: &[u8]) -> Option<image::GrayImage> {
    let reader = ImageReader::new(Cursor::new(image_bytes))
        .with_guessed_format()
        .ok()?;
    reader.format()?;
    // Read the header alone first: the pixel count decides whether to decode.
    let (w, h) = reader.into_dimensions().ok()?;
    if w == 0 || h == 0 || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return None;
    }
    let mut reader = ImageReader::new(Cursor::new(image_bytes))
        .with_guessed_format()
        .ok()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(w);
    limits.max_image_height = Some(h);
    limits.max_alloc = Some(MAX_DECODER_ALLOC);
    reader.limits(limits);
    Some(reader.decode().ok()?.to_luma8())
}

/// `otpauth://…` or `otpauth-migration://…`, any case, leading blanks allowed.
fn is_otpauth(content: &[u8]) -> bool {
    let start = content
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(content.len());
    let rest = content.get(start..).unwrap_or_default();
    [&b"otpauth://"[..], b"otpauth-migration://"]
        .iter()
        .any(|p| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p))
}

/// Names of the image attachments of a raw mail that hold an enrolment QR
/// code. An image without a file name is named by its MIME type, e.g.
/// `(unnamed image/png)`.
///
/// Only `image/*` parts are looked at, at most [`MAX_IMAGES`] of them, each at
/// most [`MAX_IMAGE_BYTES`]; forwarded mails inside the mail are searched
/// too. A mail that cannot be parsed holds no images: the list is empty.
pub fn otp_qr_attachments(raw: &[u8]) -> Vec<String> {
    if !may_hold_image(raw) {
        return Vec::new();
    }
    let Some(msg) = MessageParser::default().parse(raw) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut budget = MAX_IMAGES;
    walk(&msg, 0, &mut budget, &mut found);
    found
}

/// Whether the mail could have an image part at all: the part's
/// Content-Type must name `image`, in any case. Nearly all mail has none,
/// and finding out by parsing the whole MIME tree again costs as much as
/// parsing the mail did. A mail that merely says "image" is parsed.
fn may_hold_image(raw: &[u8]) -> bool {
    memchr::memchr2_iter(b'i', b'I', raw).any(|i| {
        raw.get(i..i + 5)
            .is_some_and(|w| w.eq_ignore_ascii_case(b"image"))
    })
}

fn walk(msg: &Message<'_>, depth: usize, budget: &mut usize, found: &mut Vec<String>) {
    for part in msg.attachments() {
        if *budget == 0 {
            return;
        }
        if let PartType::Message(inner) = &part.body {
            if depth < MAX_MESSAGE_DEPTH {
                walk(inner, depth + 1, budget, found);
            }
            continue;
        }
        let Some(ct) = part.content_type() else {
            continue;
        };
        if !ct.ctype().eq_ignore_ascii_case("image") {
            continue;
        }
        *budget -= 1;
        let bytes = part.contents();
        if bytes.len() > MAX_IMAGE_BYTES {
            continue;
        }
        if contains_otp_qr(bytes) == QrScan::Secret {
            let name = match part.attachment_name() {
                Some(n) if !n.trim().is_empty() => n.trim().to_string(),
                _ => format!(
                    "(unnamed {}/{})",
                    ct.ctype().to_ascii_lowercase(),
                    ct.subtype().unwrap_or("*").to_ascii_lowercase()
                ),
            };
            found.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, ImageFormat, Luma};
    use qrcode::{Color, QrCode};

    const ENROL: &str = "otpauth://totp/Example:taro?secret=JBSWY3DPEHPK3PXP&issuer=Example";

    /// A QR code as an image, 4 pixels a module with the 4-module quiet zone.
    fn qr_image(content: &str) -> GrayImage {
        let code = QrCode::new(content.as_bytes()).expect("qr fits");
        let width = code.width();
        let colors = code.to_colors();
        let (scale, quiet) = (4usize, 4usize);
        let side = ((width + 2 * quiet) * scale) as u32;
        GrayImage::from_fn(side, side, |x, y| {
            let mx = (x as usize / scale).checked_sub(quiet);
            let my = (y as usize / scale).checked_sub(quiet);
            let dark = match (mx, my) {
                (Some(mx), Some(my)) if mx < width && my < width => {
                    colors[my * width + mx] == Color::Dark
                }
                _ => false,
            };
            Luma([if dark { 0 } else { 255 }])
        })
    }

    fn encode(img: &GrayImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        // The GIF encoder takes colour only.
        let img = match format {
            ImageFormat::Gif => image::DynamicImage::ImageRgba8(
                image::DynamicImage::ImageLuma8(img.clone()).to_rgba8(),
            ),
            _ => image::DynamicImage::ImageLuma8(img.clone()),
        };
        img.write_to(&mut out, format).expect("encode");
        out.into_inner()
    }

    fn qr_png(content: &str) -> Vec<u8> {
        encode(&qr_image(content), ImageFormat::Png)
    }

    #[test]
    fn an_enrolment_qr_is_a_secret() {
        assert_eq!(contains_otp_qr(&qr_png(ENROL)), QrScan::Secret);
        let migration = "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU%3D";
        assert_eq!(contains_otp_qr(&qr_png(migration)), QrScan::Secret);
        let upper = "OTPAUTH://TOTP/X:Y?SECRET=JBSWY3DPEHPK3PXP";
        assert_eq!(contains_otp_qr(&qr_png(upper)), QrScan::Secret);
    }

    #[test]
    fn other_formats_are_read_too() {
        let img = qr_image(ENROL);
        for format in [ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP] {
            assert_eq!(
                contains_otp_qr(&encode(&img, format)),
                QrScan::Secret,
                "{format:?}"
            );
        }
    }

    #[test]
    fn a_plain_qr_or_no_qr_is_no_secret() {
        assert_eq!(
            contains_otp_qr(&qr_png("https://example.co.jp/mfa/setup")),
            QrScan::NoSecret
        );
        // The word inside a URL is not an otpauth URI.
        assert_eq!(
            contains_otp_qr(&qr_png("https://example.co.jp/?next=otpauth://x")),
            QrScan::NoSecret
        );
        let blank = GrayImage::from_pixel(200, 100, Luma([255]));
        assert_eq!(
            contains_otp_qr(&encode(&blank, ImageFormat::Png)),
            QrScan::NoSecret
        );
    }

    #[test]
    fn garbage_is_unreadable() {
        // A fixed xorshift sequence: random-looking, the same on every run.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..4096)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(contains_otp_qr(&noise), QrScan::Unreadable);
        assert_eq!(contains_otp_qr(&[]), QrScan::Unreadable);
        // A PNG signature followed by noise, and a cut-off real PNG.
        let mut fake = b"\x89PNG\r\n\x1a\n".to_vec();
        fake.extend_from_slice(&noise);
        assert_eq!(contains_otp_qr(&fake), QrScan::Unreadable);
        let png = qr_png(ENROL);
        assert_eq!(contains_otp_qr(&png[..png.len() / 2]), QrScan::Unreadable);
    }

    #[test]
    fn huge_dimensions_are_refused_before_decoding() {
        // A valid PNG header claiming 100000 x 100000 pixels, no pixel data.
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&100_000u32.to_be_bytes());
        ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
        png.extend_from_slice(&13u32.to_be_bytes());
        png.extend_from_slice(&ihdr);
        png.extend_from_slice(&crc32(&ihdr).to_be_bytes());
        assert_eq!(contains_otp_qr(&png), QrScan::Unreadable);
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn base64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn mail_with(parts: &[(&str, Option<&str>, Vec<u8>)]) -> Vec<u8> {
        let mut m = String::from(
            "From: taro@example.co.jp\r\nTo: support@example.co.jp\r\nSubject: QR\r\n\
             Message-ID: <qr@example.co.jp>\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nQRコードを読み込めません。\r\n",
        );
        for (ctype, name, bytes) in parts {
            m.push_str(&format!("--b\r\nContent-Type: {ctype}\r\n"));
            if let Some(n) = name {
                m.push_str(&format!(
                    "Content-Disposition: attachment; filename=\"{n}\"\r\n"
                ));
            }
            m.push_str("Content-Transfer-Encoding: base64\r\n\r\n");
            m.push_str(&base64(bytes));
            m.push_str("\r\n");
        }
        m.push_str("--b--\r\n");
        m.into_bytes()
    }

    #[test]
    fn attachments_with_an_enrolment_qr_are_named() {
        let raw = mail_with(&[
            ("image/png", Some("screenshot.png"), qr_png(ENROL)),
            (
                "image/png",
                Some("portal.png"),
                qr_png("https://example.co.jp/"),
            ),
            // Not an image part: not decoded, even though it is a PNG.
            ("application/octet-stream", Some("file.bin"), qr_png(ENROL)),
            ("image/png", None, qr_png(ENROL)),
        ]);
        assert_eq!(
            otp_qr_attachments(&raw),
            vec![
                "screenshot.png".to_string(),
                "(unnamed image/png)".to_string()
            ]
        );
    }

    #[test]
    fn at_most_ten_images_are_decoded() {
        let mut parts: Vec<(&str, Option<&str>, Vec<u8>)> = (0..MAX_IMAGES)
            .map(|_| ("image/png", Some("blank.png"), qr_png("https://x.test/")))
            .collect();
        parts.push(("image/png", Some("late.png"), qr_png(ENROL)));
        assert!(otp_qr_attachments(&mail_with(&parts)).is_empty());
    }

    #[test]
    fn broken_mail_holds_no_images() {
        assert!(otp_qr_attachments(b"").is_empty());
        assert!(otp_qr_attachments(b"\0").is_empty());
        let raw = mail_with(&[("image/png", Some("x.png"), b"not a png".to_vec())]);
        assert!(otp_qr_attachments(&raw).is_empty());
    }

    #[test]
    fn the_image_precheck_lets_every_image_part_through() {
        // Upper case and a folded header still name an image: scanned.
        let raw = mail_with(&[("IMAGE/PNG", Some("a.png"), qr_png(ENROL))]);
        assert!(may_hold_image(&raw));
        assert_eq!(otp_qr_attachments(&raw), vec!["a.png".to_string()]);
        let raw = mail_with(&[("\r\n Image/png", Some("b.png"), qr_png(ENROL))]);
        assert_eq!(otp_qr_attachments(&raw), vec!["b.png".to_string()]);
        // A text-only mail is not parsed a second time.
        assert!(!may_hold_image(
            b"Subject: code\r\nContent-Type: text/plain\r\n\r\nthe code never arrives\r\n"
        ));
    }
}
