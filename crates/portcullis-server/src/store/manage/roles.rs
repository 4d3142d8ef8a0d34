//! Management queries: roles.
