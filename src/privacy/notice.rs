//! What the employee is told when their mail held a secret: what mfa-desk
//! did with it, and what they must do now. Put at the top of the reply.

use super::mask::{PASSWORD, RECOVERY_CODE};
use crate::verdict::Language;

/// The secrets found in one mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Kinds masked in the text (`mask::ONE_TIME_CODE`, `PASSWORD`, `RECOVERY_CODE`).
    pub masked: Vec<&'static str>,
    /// Names of image attachments that held an enrolment QR code.
    pub qr_images: Vec<String>,
}

impl Found {
    pub fn is_empty(&self) -> bool {
        self.masked.is_empty() && self.qr_images.is_empty()
    }

    /// The authenticator's secret left the phone: an admin must reset it.
    pub fn needs_reenrolment(&self) -> bool {
        !self.qr_images.is_empty() || self.masked.contains(&RECOVERY_CODE)
    }
}

/// The notice for the employee, empty when nothing was found.
pub fn notice(found: &Found, lang: Language) -> String {
    let mut parts = Vec::new();
    let ja = lang == Language::Ja;
    if !found.qr_images.is_empty() {
        parts.push(if ja {
            "【重要】お送りいただいたメールに、認証アプリ登録用のQRコードの画像が含まれていました。\n\
             このQRコードには認証の秘密鍵が含まれるため、画像は保存せずに破棄しました。\n\
             第三者に見られた可能性があるため、認証アプリの登録をやり直す必要があります。\n\
             担当者が登録をリセットしてからご連絡しますので、それまでお待ちください。\n\
             今後、QRコードの画像はメールで送らないでください。"
        } else {
            "IMPORTANT: your mail contained a picture of an enrolment QR code.\n\
             It holds the secret of your authenticator, so we dropped the image without keeping it.\n\
             Because someone else may have seen it, your authenticator must be registered again:\n\
             an admin will reset it and contact you. Please never send QR codes by mail."
        });
    }
    if found.masked.contains(&PASSWORD) {
        parts.push(if ja {
            "【重要】メールにパスワードらしき文字列が含まれていたため、記録では伏せ字にしました。\n\
             念のため、今すぐパスワードを変更してください。\n\
             パスワードや確認コードはメールで送らないでください（当部署がお尋ねすることはありません）。"
        } else {
            "IMPORTANT: your mail seemed to contain a password; we hid it in our records.\n\
             Please change your password now, and never send passwords or sign-in codes by mail\n\
             (we will never ask for them)."
        });
    } else if found.masked.contains(&RECOVERY_CODE) {
        parts.push(if ja {
            "【重要】メールにリカバリーコードが含まれていたため、記録では伏せ字にしました。\n\
             このコードは無効にする必要があります。担当者からご連絡します。"
        } else {
            "IMPORTANT: your mail contained recovery codes; we hid them in our records.\n\
             They must be replaced: an admin will contact you."
        });
    } else if !found.masked.is_empty() {
        parts.push(if ja {
            "ご注意：メールに確認コードが含まれていたため、記録では伏せ字にしました。\n\
             確認コードはメールで送らないでください。"
        } else {
            "Note: your mail contained a sign-in code; we hid it in our records.\n\
             Never send sign-in codes by mail."
        });
    }
    parts.join("\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::mask::ONE_TIME_CODE;

    #[test]
    fn nothing_found_says_nothing() {
        assert!(notice(&Found::default(), Language::Ja).is_empty());
    }

    #[test]
    fn a_qr_code_asks_for_reenrolment() {
        let f = Found {
            masked: vec![],
            qr_images: vec!["qr.png".into()],
        };
        assert!(f.needs_reenrolment());
        assert!(notice(&f, Language::Ja).contains("登録をやり直す"));
        assert!(notice(&f, Language::En).contains("registered again"));
    }

    #[test]
    fn a_password_asks_for_a_change() {
        let f = Found {
            masked: vec![ONE_TIME_CODE, PASSWORD],
            qr_images: vec![],
        };
        assert!(notice(&f, Language::En).contains("change your password"));
        assert!(!f.needs_reenrolment());
    }
}
