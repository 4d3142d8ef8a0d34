//! The management API's queries, one file per resource, reached through
//! [`Store::management`]. Each operation is one transaction.

mod apis;
mod applications;
mod flags;
mod order;
mod organizations;
mod permissions;
mod registration;
mod roles;
mod users;

#[allow(unused_imports)]
pub use self::{
    apis::*, applications::*, flags::*, order::*, organizations::*, permissions::*,
    registration::*, roles::*, users::*,
};

use crate::store::Store;

/// The management API's view of the store: `store.management().users(…)`. Everything it
/// reads and writes is what the management API shows and changes; the sign-in paths read the
/// store directly.
#[derive(Clone, Copy)]
pub struct Management<'a>(&'a Store);

impl Store {
    /// The queries of the management API.
    pub fn management(&self) -> Management<'_> {
        Management(self)
    }
}

impl std::ops::Deref for Management<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}
