//! mfa-desk: the MFA help desk a small company does not have.
//!
//! One inbound mail flows through small steps, each its own module:
//!
//! ```text
//! source ─raw bytes─▶ parse ─Inbound─▶ classify ─Verdict─▶ workflow ─Decision─▶ store (one transaction)
//!   ▲                                                                               │ outbox rows
//!   └──────────── ack (flag / move) only after the commit ◀────────────────────────┤
//!                                                                                   ▼
//!                                                              send: drains the outbox (file / SMTP)
//! ```
//!
//! - [`source`] knows where mail comes from (a folder, IMAP) and nothing else.
//! - [`parse`] turns bytes into an [`parse::Inbound`]: charset repairs, quote stripping, language.
//! - [`classify`] is a pure function of the message and the [`classify::Rules`].
//! - [`workflow`] is a pure function deciding what happens; [`store`] commits it.
//! - [`reply`] renders the guides (handlebars) and composes RFC 5322 mail; [`send`] delivers it.
//! - [`worker`] wires the steps together for one mail: the only place that knows their
//!   order; [`service`] runs it against IMAP with the outbox sender beside it.
//! - [`privacy`] masks codes and passwords employees paste, and finds enrolment QR codes;
//!   [`secret`] reads passwords and tokens from the environment or a command, never logged.
//! - [`verdict`] and [`ticket`] are the shared vocabulary: categories, actions, tickets.
//! - [`digest`] computes, renders and schedules the weekly report to the admins;
//!   [`faq`] renders the guides into a static site for the intranet.

pub mod classify;
pub mod config;
pub mod digest;
pub mod faq;
pub mod parse;
pub mod privacy;
pub mod reply;
pub mod secret;
pub mod send;
pub mod service;
pub mod source;
pub mod store;
pub mod ticket;
pub mod verdict;
pub mod worker;
pub mod workflow;
