//! Reply: the guides and notices as handlebars templates (`replies/`), and
//! their composition into RFC 5322 mail.

pub mod templates;
