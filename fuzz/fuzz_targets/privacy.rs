//! Fuzz the privacy functions on their own: `mask_secrets` on any text and
//! `contains_otp_qr` on any bytes (the first byte chooses). A panic or a
//! hang is a finding; so is masking that changes text it reports as clean.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mfa_desk::privacy::{contains_otp_qr, mask_secrets};

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    if choice % 2 == 0 {
        let text = String::from_utf8_lossy(rest);
        let masked = mask_secrets(&text);
        if masked.found.is_empty() {
            assert_eq!(masked.text, text, "nothing found, yet the text changed");
        } else {
            assert!(masked.text.contains('•'));
        }
    } else {
        let _ = contains_otp_qr(rest);
    }
});
