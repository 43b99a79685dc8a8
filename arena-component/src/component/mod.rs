//! The thin adapter between the WIT `arena` world and the domain modules: the exported `manager`
//! interface in [`guest`], the storage imports seen as a domain storage in [`host_storage`], and the
//! conversions between WIT and domain values in [`convert`].

mod bindings;
mod convert;
mod guest;
mod host_storage;

use guest::Component;

bindings::export!(Component with_types_in bindings);
