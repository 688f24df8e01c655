//! mfa-desk: the MFA help desk a small company does not have.
//!
//! One inbound mail flows through small steps, each its own module:
//!
//! ```text
//! source ─raw bytes─▶ parse ─Inbound─▶ classify ─Verdict─▶ workflow ─Effects─▶ store (one transaction)
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
//! - [`worker`] wires the steps together: the only place that knows their order.
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
