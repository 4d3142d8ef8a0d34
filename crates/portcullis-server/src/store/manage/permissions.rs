//! Management queries: permissions.
