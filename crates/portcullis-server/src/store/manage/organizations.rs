//! Management queries: organizations.
