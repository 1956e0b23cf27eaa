//! RFC 3875 both ways, as pure functions: a request becomes meta-variables,
//! argv and stdin; a guest's stdout becomes a validated response.

pub(crate) mod env;
pub(crate) mod output;

pub(crate) use env::{argv, meta_variables, EnvPolicy, Mount};
pub(crate) use output::Reply;
