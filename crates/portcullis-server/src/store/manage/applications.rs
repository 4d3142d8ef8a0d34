//! Management queries: applications.
