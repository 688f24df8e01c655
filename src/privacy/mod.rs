//! Privacy: keep the secrets employees paste into mail out of everything
//! mfa-desk keeps or sends on.
//!
//! - [`mask`] replaces one-time codes, passwords and recovery codes in text
//!   with dots, and says which kinds it found (for a note to the employee).
//! - [`qr`] finds enrolment QR codes (`otpauth://` URIs hold the
//!   authenticator's secret) in image attachments, so the worker can drop the
//!   image and tell the employee to enrol again.
//!
//! Both are pure functions of their input: no I/O, no logging of what they
//! found (a log line is one more place a secret would leak).

pub mod mask;
pub mod notice;
pub mod qr;

pub use mask::{Masked, mask_secrets};
pub use qr::{QrScan, contains_otp_qr, otp_qr_attachments};
