//! Management queries: flags.
