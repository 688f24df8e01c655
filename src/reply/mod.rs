//! Reply: the guides and notices as handlebars templates (`replies/`), and
//! their composition into RFC 5322 mail.
//!
//! - [`templates`]: load `replies/`, check it at start-up, render a guide or
//!   an admin notice into a [`templates::Rendered`] (subject, text, html).
//! - [`compose`]: turn a rendered message plus threading headers into the
//!   bytes the outbox stores and [`crate::send`] delivers.

pub mod compose;
pub mod templates;
