//! Guide templates. Owned by the replies work.
