//! The pages, one module each with its handlers, its HTML and its routes.

pub(crate) mod alerts;
pub(crate) mod home;
pub(crate) mod record;
pub(crate) mod records;
pub(crate) mod related;
pub(crate) mod sites;
pub(crate) mod surrounding;
pub(crate) mod tail;
