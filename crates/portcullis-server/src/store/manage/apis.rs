//! Management queries: apis.
