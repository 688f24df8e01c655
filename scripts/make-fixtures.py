#!/usr/bin/env python3
"""Write the parse fixtures (tests/fixtures/parse/*.eml) and the sample
inbox (examples/inbox/*.eml) deterministically, with CRLF line ends.

Standard library only. Run from anywhere: paths are relative to the repo.
The generated files are committed, so the Rust tests never need Python.

Every mail here was written for mfa-desk; none is taken from real mail.
"""

import base64
import os
import quopri
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "parse")
INBOX = os.path.join(ROOT, "examples", "inbox")

DATE = "Fri, 20 Nov 2026 10:00:00 +0900"


# ---------------------------------------------------------------- encoders

def jis(text):
    """ISO-2022-JP bytes, NEC row 13 (①, ㈱) included.

    Python's iso2022_jp codec refuses NEC extensions, so go through CP932
    and convert each double-byte Shift_JIS character to its JIS row/cell.
    """
    out = bytearray()
    in_kanji = False
    sjis = text.encode("cp932")
    i = 0
    while i < len(sjis):
        b = sjis[i]
        if b < 0x80:
            if in_kanji:
                out += b"\x1b(B"
                in_kanji = False
            out.append(b)
            i += 1
            continue
        if 0xA1 <= b <= 0xDF:
            raise ValueError("half-width kana cannot go into ISO-2022-JP here")
        c = sjis[i + 1]
        row = (b - 0x70 if b < 0xA0 else b - 0xB0) * 2
        if c < 0x9F:
            row -= 1
            cell = c - 0x1F if c < 0x7F else c - 0x20
        else:
            cell = c - 0x7E
        if row > 0x7E:
            raise ValueError("character outside JIS X 0208 rows: " + text)
        if not in_kanji:
            out += b"\x1b$B"
            in_kanji = True
        out += bytes([row, cell])
        i += 2
    if in_kanji:
        out += b"\x1b(B"
    return bytes(out)


def encode_text(text, charset):
    if charset.lower() == "iso-2022-jp":
        return jis(text)
    codec = {"shift_jis": "cp932", "cp932": "cp932", "euc-jp": "euc_jp"}.get(
        charset.lower(), charset
    )
    return text.encode(codec)


def bword(text, charset="UTF-8"):
    """One RFC 2047 B encoded word."""
    data = base64.b64encode(encode_text(text, charset)).decode("ascii")
    return "=?%s?B?%s?=" % (charset, data)


def qword(text, charset="UTF-8"):
    """One RFC 2047 Q encoded word."""
    out = []
    for byte in encode_text(text, charset):
        ch = chr(byte)
        if byte < 0x80 and ch.isalnum():
            out.append(ch)
        elif ch == " ":
            out.append("_")
        else:
            out.append("=%02X" % byte)
    return "=?%s?Q?%s?=" % (charset, "".join(out))


def qp(data):
    return quopri.encodestring(data).replace(b"\r\n", b"\n")


def b64(data):
    return base64.encodebytes(data)


def crlf(data):
    """Normalise any line ends in bytes to CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def mail(headers, body):
    """headers: list of (name, ascii value); body: bytes (any line ends)."""
    head = "".join("%s: %s\n" % (k, v) for k, v in headers).encode("ascii")
    return crlf(head + b"\n" + body)


def base_headers(msgid, subject, frm, to="support@example.co.jp", extra=()):
    h = [("From", frm), ("To", to), ("Subject", subject), ("Date", DATE)]
    if msgid:
        h.append(("Message-ID", "<%s>" % msgid))
    h.append(("MIME-Version", "1.0"))
    h.extend(extra)
    return h


def text_mail(msgid, subject, frm, text, charset="UTF-8", cte="8bit", extra=(),
              declare_charset=True, to="support@example.co.jp"):
    raw = encode_text(text, charset)
    if cte == "base64":
        body = b64(raw)
    elif cte == "quoted-printable":
        body = qp(raw)
    else:
        body = raw
    ctype = "text/plain; charset=%s" % charset if declare_charset else "text/plain"
    h = base_headers(msgid, subject, frm, to=to, extra=extra)
    h += [("Content-Type", ctype), ("Content-Transfer-Encoding", cte)]
    return mail(h, body)


def html_mail(msgid, subject, frm, html, charset="UTF-8", extra=()):
    h = base_headers(msgid, subject, frm, extra=extra)
    h += [("Content-Type", "text/html; charset=%s" % charset),
          ("Content-Transfer-Encoding", "quoted-printable")]
    return mail(h, qp(encode_text(html, charset)))


def alternative_mail(msgid, subject, frm, text, html, extra=()):
    b = "alt-boundary-0001"
    h = base_headers(msgid, subject, frm, extra=extra)
    h.append(("Content-Type", 'multipart/alternative; boundary="%s"' % b))
    body = (
        ("--%s\nContent-Type: text/plain; charset=UTF-8\n"
         "Content-Transfer-Encoding: base64\n\n" % b).encode()
        + b64(text.encode("utf-8"))
        + ("--%s\nContent-Type: text/html; charset=UTF-8\n"
           "Content-Transfer-Encoding: quoted-printable\n\n" % b).encode()
        + qp(html.encode("utf-8"))
        + ("\n--%s--\n" % b).encode()
    )
    return mail(h, body)


# ------------------------------------------------------------- fixtures

TARO = "%s <taro.yamada@example.co.jp>" % bword("山田 太郎")
HANAKO = "%s <hanako.suzuki@example.co.jp>" % qword("鈴木 花子", "Shift_JIS")
JOHN = "John Smith <John.Smith@Example.co.jp>"


def fixtures():
    f = {}

    f["iso2022jp_declared.eml"] = text_mail(
        "jis-declared@example.co.jp",
        bword("【至急】二段階認証のコードが届かない件", "ISO-2022-JP"),
        "%s <taro.yamada@example.co.jp>" % bword("山田 太郎", "ISO-2022-JP"),
        "お疲れ様です。営業部の山田です。\n"
        "今朝から二段階認証のコードがSMSで届きません。\n"
        "手順①②は試しました。\nよろしくお願いします。\n",
        charset="ISO-2022-JP", cte="7bit")

    f["iso2022jp_undeclared_outlook.eml"] = text_mail(
        "outlook-nocharset@example.co.jp",
        bword("ログインできません", "ISO-2022-JP"),
        "%s <jiro.sato@example.co.jp>" % bword("佐藤 次郎", "ISO-2022-JP"),
        "お問い合わせありがとうございます。\n"
        "新しいスマートフォンに機種変更したので、認証アプリを移したいです。\n",
        charset="ISO-2022-JP", cte="7bit", declare_charset=False,
        extra=[("X-Mailer", "Microsoft Outlook 16.0")])

    f["shiftjis_qp.eml"] = text_mail(
        "sjis-qp@example.co.jp",
        bword("スマホを紛失しました", "Shift_JIS"),
        HANAKO,
        "総務部の鈴木です。\n昨日、電車の中でスマートフォンを紛失しました。\n"
        "認証アプリが使えないのでログインできません。\n",
        charset="Shift_JIS", cte="quoted-printable")

    f["cp932_labelled.eml"] = text_mail(
        "cp932@example.co.jp",
        bword("ログインできません①", "CP932"),
        "%s <ichiro.takahashi@example.co.jp>" % bword("髙橋 一郎", "CP932"),
        "㈱サンプル商事の髙橋です。\n手順①で止まってしまいます。\n",
        charset="CP932", cte="8bit")

    f["eucjp.eml"] = text_mail(
        "eucjp@example.co.jp",
        bword("YubiKeyが反応しません", "EUC-JP"),
        "%s <ken.kato@example.co.jp>" % bword("加藤 健", "EUC-JP"),
        "加藤です。\nYubiKeyを挿してもランプが点きません。壊れたかもしれません。\n",
        charset="EUC-JP", cte="8bit")

    f["utf8_base64.eml"] = text_mail(
        "utf8-b64@example.co.jp",
        bword("身に覚えのない承認リクエスト"),
        TARO,
        "先ほど、何もしていないのにAuthenticatorに承認リクエストが届きました。\n"
        "拒否しましたが大丈夫でしょうか。\n",
        cte="base64")

    # "二段階認証のコードが届きません" split inside 認 (byte 10 of UTF-8).
    subject = "二段階認証のコードが届きません".encode("utf-8")
    split = "=?UTF-8?B?%s?=\n =?UTF-8?B?%s?=" % (
        base64.b64encode(subject[:10]).decode(), base64.b64encode(subject[10:]).decode())
    f["subject_split_mid_char.eml"] = text_mail(
        "split-subject@example.co.jp", split, TARO,
        "件名のとおりです。\n")

    f["html_only.eml"] = html_mail(
        "html-only@example.co.jp",
        bword("Authenticatorのコードが無効と出ます"),
        TARO,
        '<html><head><style>p.MsoNormal{margin:0}</style></head><body>'
        '<p class="MsoNormal">お世話になっております。<o:p></o:p></p>'
        '<p class="MsoNormal">Authenticator&nbsp;のコードが&quot;無効&quot;と表示されます。<br>'
        'R&amp;D部&nbsp;山田</p></body></html>')

    f["multipart_alternative.eml"] = alternative_mail(
        "alternative@example.co.jp",
        "Cannot set up MFA", JOHN,
        "Hello,\n\nHow do I set up the authenticator app on my new laptop?\n\nThanks,\nJohn\n",
        "<div>HTML VERSION ONLY: How do I set up the authenticator app?</div>")

    f["outlook_en_reply.eml"] = text_mail(
        "outlook-en-reply@example.co.jp",
        "RE: [MFA] Your verification code", JOHN,
        "Hi,\n\nI followed the guide but the code still does not arrive by SMS.\n\n"
        "Regards,\nJohn\n\n"
        "-----Original Message-----\n"
        "From: MFA Support <support@example.co.jp>\n"
        "Sent: Thursday, November 19, 2026 5:00 PM\n"
        "To: John Smith <john.smith@example.co.jp>\n"
        "Subject: [MFA] Your verification code\n\n"
        "Please restart your phone and request a new code.\n",
        extra=[("In-Reply-To", "<guide-1@example.co.jp>"),
               ("References", "<case-1@example.co.jp> <guide-1@example.co.jp>"),
               ("X-Mailer", "Microsoft Outlook 16.0")])

    f["outlook_ja_reply.eml"] = text_mail(
        "outlook-ja-reply@example.co.jp",
        bword("RE: 認証コードについて", "ISO-2022-JP"),
        "%s <jiro.sato@example.co.jp>" % bword("佐藤 次郎", "ISO-2022-JP"),
        "佐藤です。\n再起動しましたが、まだロックされたままです。\n\n"
        "-----元のメッセージ-----\n"
        "差出人: MFAサポート <support@example.co.jp>\n"
        "送信日時: 2026年11月19日 17:00\n"
        "宛先: 佐藤 次郎 <jiro.sato@example.co.jp>\n"
        "件名: 認証コードについて\n\n"
        "スマートフォンを再起動してください。\n",
        charset="ISO-2022-JP", cte="7bit",
        extra=[("In-Reply-To", "<guide-2@example.co.jp>")])

    f["gmail_on_wrote.eml"] = text_mail(
        "gmail-en@example.co.jp",
        "Re: Locked out", "Mary Jones <mary.jones@example.co.jp>",
        "It worked after the reset, thank you!\n\n"
        "On Thu, Nov 19, 2026 at 5:00 PM MFA Support <support@example.co.jp>\n"
        "wrote:\n\n"
        "> Your account has been unlocked. Please try signing in again.\n"
        "> MFA Support\n")

    f["gmail_ja_attribution.eml"] = text_mail(
        "gmail-ja@example.co.jp",
        bword("Re: 機種変更の手順"), TARO,
        "ありがとうございます。新しいiPhoneで設定できました。\n\n"
        "2026年11月20日(金) 10:00 MFAサポート <support@example.co.jp>:\n\n"
        "> 古いスマートフォンで移行用のQRコードを表示してください。\n")

    f["signature_dashdash.eml"] = text_mail(
        "sig-dashdash@example.co.jp",
        "Push notifications stopped", JOHN,
        "Since yesterday I no longer get push notifications from the authenticator.\n\n"
        "-- \nJohn Smith\nSales Department\nTEL: 03-0000-0000\n")

    f["iphone_footer.eml"] = text_mail(
        "iphone@example.co.jp",
        bword("コードが届かない"), TARO,
        "外出先ですがSMSのコードが届きません。\n\niPhoneから送信\n")

    f["english_over_japanese_quote.eml"] = text_mail(
        "en-over-ja@example.co.jp",
        bword("Re: 認証コードが届きません"), JOHN,
        "Sorry, I do not read Japanese well. The code still does not arrive. "
        "Could you answer in English?\n\n"
        "2026年11月19日(木) 17:00 MFAサポート <support@example.co.jp>:\n"
        "> お問い合わせありがとうございます。\n"
        "> スマートフォンを再起動してから、もう一度コードを要求してください。\n"
        "> 電波の良い場所でお試しください。\n")

    f["missing_message_id.eml"] = text_mail(
        None, "No message id here", JOHN,
        "I lost my phone on the train.\n")

    b = "broken-boundary-77"
    h = base_headers("broken-mime@example.co.jp", "Broken", JOHN)
    h.append(("Content-Type", 'multipart/mixed; boundary="%s"' % b))
    f["broken_mime.eml"] = mail(h, (
        "--%s\nContent-Type: text/plain; charset=UTF-8\n\n"
        "My YubiKey is broken, the light does not turn on.\n"
        "--%s\nContent-Type: application/pdf; name=\"photo.pdf\"\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\nJVBERi0x" % (b, b)).encode())

    f["empty.eml"] = b""

    # Extra cases the pipeline needs: auto-reply headers, a bounce, an
    # attachment, Shift_JIS mislabelled as ISO-2022-JP, Outlook HTML reply.
    f["auto_reply_headers.eml"] = text_mail(
        "ooo@example.co.jp",
        bword("自動応答: 認証コードが届きません"),
        "%s <hanako.suzuki@example.co.jp>" % bword("鈴木 花子"),
        "11月23日まで不在にしております。\n",
        extra=[("Auto-Submitted", "auto-replied"),
               ("X-Autoreply", "yes"),
               ("Precedence", "auto_reply"),
               ("Return-Path", "<>")])

    b = "report-boundary-9"
    h = base_headers("bounce@example.co.jp", "Undelivered Mail Returned to Sender",
                     "MAILER-DAEMON@example.co.jp")
    h.append(("Content-Type",
              'multipart/report; report-type=delivery-status; boundary="%s"' % b))
    f["bounce_report.eml"] = mail(h, (
        "--%s\nContent-Type: text/plain; charset=us-ascii\n\n"
        "The mail could not be delivered.\n"
        "--%s\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.co.jp\n\nFinal-Recipient: rfc822; nobody@example.co.jp\n"
        "Action: failed\nStatus: 5.1.1\n"
        "--%s--\n" % (b, b, b)).encode())

    b = "mixed-boundary-3"
    h = base_headers("attachment@example.co.jp", bword("エラー画面のスクリーンショット"), TARO)
    h.append(("Content-Type", 'multipart/mixed; boundary="%s"' % b))
    png = bytes(range(256)) * 4
    f["with_attachment.eml"] = mail(h, (
        "--%s\nContent-Type: text/plain; charset=UTF-8\n\n"
        "エラー画面を添付します。\n"
        "--%s\nContent-Type: image/png; name=\"%s\"\n"
        "Content-Disposition: attachment; filename=\"%s\"\n"
        "Content-Transfer-Encoding: base64\n\n" % (b, b, bword("画面.png"), bword("画面.png"))
    ).encode() + b64(png) + ("--%s--\n" % b).encode())

    h = base_headers("sjis-as-jis@example.co.jp", bword("コードが届きません"), TARO)
    h += [("Content-Type", "text/plain; charset=ISO-2022-JP"),
          ("Content-Transfer-Encoding", "8bit")]
    f["sjis_labelled_as_jis.eml"] = mail(
        h, "髙橋です。認証コードが届きません。手順①を試しました。\n".encode("cp932"))

    f["outlook_html_reply.eml"] = html_mail(
        "outlook-html-reply@example.co.jp",
        "RE: Unlock request", JOHN,
        '<html><body><div><p class="MsoNormal">Still locked out after 30 minutes.</p></div>'
        '<div style="border:none;border-top:solid #E1E1E1 1.0pt">'
        '<p class="MsoNormal"><b>From:</b> MFA Support &lt;support@example.co.jp&gt;<br>'
        '<b>Sent:</b> Thursday, November 19, 2026 5:00 PM<br>'
        '<b>To:</b> John Smith &lt;john.smith@example.co.jp&gt;<br>'
        '<b>Subject:</b> Unlock request</p></div>'
        '<p class="MsoNormal">Your account will unlock itself in 30 minutes.</p>'
        '</body></html>')

    return f


# ------------------------------------------------------------ sample inbox

def inbox():
    f = {}
    f["01-code-not-received-jis.eml"] = text_mail(
        "inbox-01@example.co.jp",
        bword("認証コードが届きません", "ISO-2022-JP"),
        "%s <taro.yamada@example.co.jp>" % bword("山田 太郎", "ISO-2022-JP"),
        "情報システム部 御中\n\nお疲れ様です。営業部の山田です。\n"
        "本日朝から、サインイン時のSMS認証コードが届きません。\n"
        "電話番号は変えていません。確認をお願いできますでしょうか。\n\n"
        "━━━━━━━━━━━━━━━━\n山田 太郎\n営業部 第一課\nTEL: 03-0000-1111\n"
        "━━━━━━━━━━━━━━━━\n",
        charset="ISO-2022-JP", cte="7bit")

    f["02-new-phone-sjis.eml"] = text_mail(
        "inbox-02@example.co.jp",
        bword("機種変更に伴う認証アプリの移行について", "Shift_JIS"),
        HANAKO,
        "お疲れ様です。総務部の鈴木です。\n\n"
        "来週、社用スマートフォンが新しい機種に交換になります。\n"
        "Microsoft Authenticatorを新しいスマホに移すにはどうすればよいでしょうか。\n"
        "古い端末は手元にあります。\n\nよろしくお願いいたします。\n",
        charset="Shift_JIS", cte="quoted-printable")

    f["03-lost-phone-utf8.eml"] = text_mail(
        "inbox-03@example.co.jp",
        bword("【至急】スマホを紛失しました"),
        "%s <ken.kato@example.co.jp>" % bword("加藤 健"),
        "加藤です。\n昨夜、帰宅途中にスマートフォンを落としてしまいました。\n"
        "認証アプリが入っていたので、今朝からPCにサインインできません。\n"
        "警察には届けました。至急対応をお願いします。\n\niPhoneから送信\n",
        cte="base64")

    f["04-yubikey-broken-en.eml"] = text_mail(
        "inbox-04@example.co.jp",
        "YubiKey not working anymore", JOHN,
        "Hello IT,\n\nMy YubiKey stopped working this morning. When I plug it in, the light "
        "does not turn on and the sign-in page says the security key was not recognised.\n"
        "I think it is physically broken (it got bent in my bag).\n\nBest regards,\n"
        "John\n-- \nJohn Smith | Sales | Example Co., Ltd.\n")

    f["05-unexpected-push-html.eml"] = html_mail(
        "inbox-05@example.co.jp",
        bword("身に覚えのない承認リクエストが来ました"),
        "%s <mika.ito@example.co.jp>" % bword("伊藤 美香"),
        '<html><body><div dir="ltr"><div>お疲れ様です。経理部の伊藤です。</div>'
        '<div><br></div><div>夜中の2時ごろ、Authenticatorに&quot;サインインを承認しますか?&quot;'
        'という通知が何度も来ました。</div><div>自分では何もしていないので、すべて拒否しました。</div>'
        '<div>パスワードが漏れているのでしょうか。&nbsp;確認をお願いします。</div></div>'
        '</body></html>')

    f["06-locked-out-en.eml"] = text_mail(
        "inbox-06@example.co.jp",
        "Account locked - cannot sign in",
        "Mary Jones <mary.jones@example.co.jp>",
        "Hi support,\n\nI entered the wrong code too many times and now my account says it is "
        "locked. I have a customer meeting in an hour and need access to my mail.\n"
        "Can you unlock it please?\n\nThanks,\nMary\n\nSent from my iPhone\n")

    f["07-setup-help-jis.eml"] = text_mail(
        "inbox-07@example.co.jp",
        bword("多要素認証の設定方法を教えてください", "ISO-2022-JP"),
        "%s <yuki.tanaka@example.co.jp>" % bword("田中 由紀", "ISO-2022-JP"),
        "はじめまして。今月入社した田中です。\n"
        "多要素認証(MFA)の初期設定をするように案内がありましたが、\n"
        "QRコードの読み取り方がわかりません。手順を教えていただけますか。\n",
        charset="ISO-2022-JP", cte="7bit")

    f["08-setup-help-en.eml"] = alternative_mail(
        "inbox-08@example.co.jp",
        "How do I register a second sign-in method?",
        "Raj Patel <raj.patel@example.co.jp>",
        "Hello,\n\nI would like to add a backup method (a phone number) to my account in "
        "case I lose my phone. Where do I do that?\n\nThank you,\nRaj\n",
        "<div>Hello,</div><div><br></div><div>I would like to add a backup method "
        "(a phone number) to my account in case I lose my phone. Where do I do that?</div>"
        "<div><br></div><div>Thank you,</div><div>Raj</div>")

    f["09-not-mfa-sjis.eml"] = text_mail(
        "inbox-09@example.co.jp",
        bword("会議室のプロジェクターが映りません", "Shift_JIS"),
        "%s <goro.kimura@example.co.jp>" % bword("木村 五郎", "Shift_JIS"),
        "お疲れ様です。木村です。\n3階の会議室Bのプロジェクターに、"
        "ノートPCの画面が映りません。\nケーブルは交換してみました。見ていただけますか。\n",
        charset="Shift_JIS", cte="8bit")

    f["10-out-of-office.eml"] = text_mail(
        "inbox-10@example.co.jp",
        bword("自動応答: Re: 認証コードが届きません"),
        "%s <hanako.suzuki@example.co.jp>" % bword("鈴木 花子"),
        "誠に恐れ入りますが、11月23日(月)まで不在にしております。\n"
        "お急ぎの場合は総務部(内線 1234)までご連絡ください。\n\n"
        "I am out of the office until Monday, November 23.\n",
        extra=[("Auto-Submitted", "auto-replied"), ("X-Autoreply", "yes"),
               ("In-Reply-To", "<reply-10@example.co.jp>")])

    f["11-quoted-reply-jis.eml"] = text_mail(
        "inbox-11@example.co.jp",
        bword("RE: 認証コードが届きません", "ISO-2022-JP"),
        "%s <taro.yamada@example.co.jp>" % bword("山田 太郎", "ISO-2022-JP"),
        "山田です。\nご案内いただいた手順で再起動しましたが、やはりコードが届きません。\n"
        "他に確認することはありますか。\n\n"
        "-----元のメッセージ-----\n"
        "差出人: MFAサポート <support@example.co.jp>\n"
        "送信日時: 2026年11月20日 10:30\n"
        "宛先: 山田 太郎 <taro.yamada@example.co.jp>\n"
        "件名: Re: 認証コードが届きません\n\n"
        "スマートフォンを再起動してから、もう一度コードを要求してください。\n",
        charset="ISO-2022-JP", cte="7bit",
        extra=[("In-Reply-To", "<reply-01@example.co.jp>"),
               ("References", "<inbox-01@example.co.jp> <reply-01@example.co.jp>"),
               ("X-Mailer", "Microsoft Outlook 16.0")])

    f["12-unexpected-push-en.eml"] = text_mail(
        "inbox-12@example.co.jp",
        "Strange approval requests on my phone",
        "Anna Berg <anna.berg@example.co.jp>",
        "Hi,\n\nI just got three \"Approve sign-in?\" notifications from the authenticator app "
        "while I was not signing in anywhere. I denied all of them.\n"
        "Is someone trying to get into my account?\n\nAnna\n",
        cte="quoted-printable")

    return f


def write_all(directory, files):
    os.makedirs(directory, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(directory, name), "wb") as fh:
            fh.write(data)
    print("wrote %d files to %s" % (len(files), os.path.relpath(directory, ROOT)))


def main():
    write_all(FIXTURES, fixtures())
    write_all(INBOX, inbox())
    return 0


if __name__ == "__main__":
    sys.exit(main())
