//! The management API's queries, one file per resource. Each operation is one transaction.

mod apis;
mod applications;
mod flags;
mod management;
mod order;
mod organizations;
mod permissions;
mod roles;
mod users;

#[allow(unused_imports)]
pub use self::{
    apis::*, applications::*, flags::*, management::*, order::*, organizations::*, permissions::*,
    roles::*, users::*,
};
