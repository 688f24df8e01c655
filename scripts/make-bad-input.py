#!/usr/bin/env python3
"""Write the bad-mail corpus of tests/bad_input/ (deterministic, stdlib only).

    scripts/make-bad-input.py                 # (re)write tests/bad_input/*.eml
    scripts/make-bad-input.py --large DIR     # also write the large mails to DIR

Every mail here is something a real support mailbox receives sooner or
later: broken MIME from old or hostile mailers, missing or repeated
Message-IDs, charsets that lie, raw 8-bit headers, absurd nesting, header
injection through encoded words, empty mail. tests/bad_input.rs feeds each to
parse, classify and the worker.

The large mails (a 30 MB attachment, a 1 MB line without a newline) are not
committed: tests/bad_input.rs builds the same bytes at run time in a temp
dir; `--large` writes them for fuzzing or a look by hand.
"""

import argparse
import base64
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "tests", "bad_input")

FROM = b"From: Taro Yamada <taro.yamada@example.co.jp>\r\n"
TO = b"To: support@example.co.jp\r\n"
DATE = b"Date: Wed, 25 Nov 2026 10:00:00 +0900\r\n"


def head(subject=b"Bad input", message_id=b"<bad@example.co.jp>", extra=b""):
    """A plain header block (no trailing blank line)."""
    h = FROM + TO + b"Subject: " + subject + b"\r\n" + DATE
    if message_id is not None:
        h += b"Message-ID: " + message_id + b"\r\n"
    return h + b"MIME-Version: 1.0\r\n" + extra


def mid(name):
    return b"<bad-" + name.encode() + b"@example.co.jp>"


def text_mail(name, body, subject=b"Bad input", charset=b"utf-8", cte=b"8bit", extra=b""):
    return (
        head(subject, mid(name), extra)
        + b"Content-Type: text/plain; charset=" + charset + b"\r\n"
        + b"Content-Transfer-Encoding: " + cte + b"\r\n\r\n"
        + body
    )


JA_CODE = "認証コードが届きません。何度か再送しましたが来ません。\r\n".encode("utf-8")
EN_CODE = b"Hi, the verification code never arrives when I sign in.\r\n"


def corpus():
    """name -> bytes, in a fixed order."""
    m = {}

    # Malformed MIME ------------------------------------------------------
    m["unterminated-boundary.eml"] = (
        head(b"Code not arriving", mid("unterminated"))
        + b'Content-Type: multipart/mixed; boundary="zzz"\r\n\r\n'
        + b"--zzz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + EN_CODE
        + b"--zzz\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n"
        + b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfs\r\n"
        # No closing --zzz-- : the mail was cut off in transit.
    )
    m["boundary-never-declared.eml"] = (
        head(b"Locked out", mid("undeclared"))
        + b"Content-Type: multipart/mixed\r\n\r\n"
        + b"--abc\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + b"I am locked out of my account.\r\n--abc--\r\n"
    )
    m["garbage-headers.eml"] = (
        FROM + TO
        + b"Subject: Garbage in headers\r\n"
        + b"Message-ID: " + mid("garbage") + b"\r\n"
        + b"this line has no colon at all\r\n"
        + b": no name\r\n"
        + b"X-" + b"A" * 2000 + b": very long name\r\n"
        + b"X-Empty:\r\n"
        + b"X-Binary: \x01\x02\x7f\x1b[31m\r\n"
        + b"Content-Type: text/plain; charset=\"utf-8; boundary=;;;\r\n"
        + b"Content-Transfer-Encoding: quantum\r\n"
        + b"Date: yesterday at tea time\r\n"
        + b"\r\n" + EN_CODE
    )
    m["bad-base64.eml"] = text_mail(
        "base64",
        base64.b64encode(JA_CODE)[:20] + b"!!!@@@###$$$\r\n***" + base64.b64encode(JA_CODE)[20:] + b"=\r\n=\r\n",
        subject=b"=?UTF-8?B?44Kz44O844OJ?=",
        cte=b"base64",
    )
    m["bad-quoted-printable.eml"] = text_mail(
        "qp",
        b"The code =E3=82=B3=XZ never =\r\narrives =0\r\n=\r\n",
        cte=b"quoted-printable",
    )

    # Message-ID ----------------------------------------------------------
    m["no-message-id.eml"] = text_mail("x", EN_CODE).replace(b"Message-ID: " + mid("x") + b"\r\n", b"")
    m["two-message-id-headers.eml"] = text_mail(
        "two", JA_CODE, extra=b"Message-ID: <second-id@example.co.jp>\r\n"
    )
    # Two different mails that claim the same Message-ID: the second is a duplicate.
    m["same-message-id-a.eml"] = text_mail("same", EN_CODE, subject=b"First mail")
    m["same-message-id-b.eml"] = text_mail(
        "same", b"I lost my phone yesterday.\r\n", subject=b"A different mail"
    )

    # Charsets ------------------------------------------------------------
    m["unknown-charset.eml"] = text_mail("unknown-charset", JA_CODE, charset=b"x-unknown-42")
    m["unknown-charset-encoded-word.eml"] = text_mail(
        "unknown-word", EN_CODE, subject=b"=?x-unknown-42?B?44Kz44O844OJ?= help"
    )
    m["sjis-labelled-utf8.eml"] = text_mail(
        "sjis-as-utf8",
        "機種変更したら認証アプリのコードが使えません。\r\n".encode("shift_jis"),
        charset=b"utf-8",
    )
    m["utf8-labelled-iso2022jp.eml"] = text_mail(
        "utf8-as-jis",
        "スマホをなくしました。サインインできません。\r\n".encode("utf-8"),
        subject="スマホ紛失".encode("utf-8"),
        charset=b"ISO-2022-JP",
        cte=b"7bit",
    )
    m["eight-bit-headers.eml"] = (
        b"From: \xff\xfe\xc0\xc1 Yamada \x80\x81 <taro.yamada@example.co.jp>\r\n"
        + TO
        + b"Subject: \xe3\x82\xb3\xe3\x83\xbc\xff\xfe code \xa0\xa1 lost\r\n"
        + b"Message-ID: " + mid("8bit") + b"\r\n"
        + b"X-\xe5\x90\x8d\xe5\x89\x8d: \xfe\r\n"
        + b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        + EN_CODE
    )

    # Structure -----------------------------------------------------------
    nested = head(b"Nested 100 levels", mid("nested"))
    body = b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + EN_CODE
    for level in range(100, 0, -1):
        b = b"n%03d" % level
        body = (
            b'Content-Type: multipart/mixed; boundary="' + b + b'"\r\n\r\n'
            + b"--" + b + b"\r\n" + body + b"\r\n--" + b + b"--\r\n"
        )
    m["nested-100.eml"] = nested + body
    m["empty.eml"] = b""
    m["only-headers.eml"] = head(b"Only headers", mid("only-headers")).rstrip(b"\r\n")
    m["nul.eml"] = b"\x00"
    m["nul-in-headers.eml"] = (
        FROM + TO + b"Subject: code\x00 lost\r\nMessage-ID: " + mid("nul") + b"\r\n\r\n"
        + b"the code\x00 never comes\r\n"
    )
    m["bare-cr-line-endings.eml"] = (
        b"From: taro.yamada@example.co.jp\rTo: support@example.co.jp\rSubject: Bare CR\r"
        + b"Message-ID: " + mid("bare-cr") + b"\r\r" + EN_CODE.replace(b"\r\n", b"\r")
    )

    # Header injection ----------------------------------------------------
    inj = base64.b64encode(b"x\r\nBcc: evil@attacker.test").decode().encode()
    m["crlf-subject-b.eml"] = text_mail(
        "crlf-b", EN_CODE, subject=b"=?UTF-8?B?" + inj + b"?="
    )
    m["crlf-subject-q.eml"] = text_mail(
        "crlf-q", JA_CODE, subject=b"=?UTF-8?Q?x=0D=0ABcc:_evil@attacker.test?="
    )
    name_inj = base64.b64encode(b"Eve\r\nBcc: evil@attacker.test").decode().encode()
    m["crlf-from-name.eml"] = text_mail("crlf-from", EN_CODE).replace(
        FROM, b"From: =?UTF-8?B?" + name_inj + b"?= <eve@example.co.jp>\r\n"
    )
    return m


def large():
    """The mails over 1 MB; tests/bad_input.rs builds the same at run time."""
    attachment = base64.encodebytes(bytes(range(256)) * (30 * 1024 * 1024 // 256))
    yield "attachment-30mb.eml", (
        head(b"Phone lost, photo attached", mid("30mb"))
        + b'Content-Type: multipart/mixed; boundary="big"\r\n\r\n'
        + b"--big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        + b"I lost my phone yesterday.\r\n"
        + b'--big\r\nContent-Type: application/octet-stream; name="photo.raw"\r\n'
        + b"Content-Transfer-Encoding: base64\r\n\r\n"
        + attachment.replace(b"\n", b"\r\n")
        + b"--big--\r\n"
    )
    yield "line-1mb.eml", text_mail("line", b"code " + b"a" * (1024 * 1024))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large", metavar="DIR", help="also write the large mails to DIR")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for name, data in corpus().items():
        assert len(data) <= 1024 * 1024, name
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    if args.large:
        os.makedirs(args.large, exist_ok=True)
        for name, data in large():
            with open(os.path.join(args.large, name), "wb") as f:
                f.write(data)
    print(f"wrote {len(corpus())} mails to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
